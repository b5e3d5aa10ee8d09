//! The `destinations-api` Lambda: create, read, list, update, save, discard and delete
//! destinations, their activity, and the platform's facts. The library holds the handler and its
//! wiring, so that `main.rs`, the local run and the tests build the same thing.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

mod deliveries;
pub mod handler;
mod platform;
mod rotation;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::config::{ConfigError, Settings};

/// The handler's dependencies, from configuration and the function's SDK configuration.
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<handler::App<DynamoDbStore>, ConfigError> {
    Ok(handler::App {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        platform: settings.platform()?,
        staging_bucket: settings.staging_bucket()?,
        limits: settings.limits()?,
        settings: settings.revalidation()?,
    })
}
