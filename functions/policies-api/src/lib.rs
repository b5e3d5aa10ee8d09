//! The `policies-api` Lambda: rendered IAM documents, the setup kit and bucket-policy merging.
//! The library holds the handler and its wiring, so that `main.rs`, the local run and the tests
//! build the same thing.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::config::{ConfigError, Settings};

/// Where the kit's templates are published (`SETUP_KIT_TEMPLATES_URL`, ending in `/`), and
/// whether its CLI script sends the tenant as a header (`SETUP_KIT_TENANT_HEADER=true`, the local
/// run only) instead of a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitConfig {
    pub templates_url: String,
    pub tenant_header: bool,
}

/// The handler's dependencies, from configuration and the function's SDK configuration.
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<handler::App<DynamoDbStore>, ConfigError> {
    let mut templates_url = settings.required("SETUP_KIT_TEMPLATES_URL")?;
    if !templates_url.ends_with('/') {
        templates_url.push('/');
    }
    Ok(handler::App {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        platform: settings.platform()?,
        kit: KitConfig {
            templates_url,
            tenant_header: settings
                .optional("SETUP_KIT_TENANT_HEADER")
                .is_some_and(|v| v == "true"),
        },
    })
}
