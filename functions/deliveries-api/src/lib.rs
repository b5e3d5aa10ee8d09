//! The `deliveries-api` Lambda: the platform's exporters ask for a delivery and get its record
//! back. Its routes are authorized by IAM (the platform's own identities), never by a tenant's
//! token. The library holds the handler and its wiring, so that `main.rs`, the local run and the
//! tests build the same thing.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::sqs::SqsQueue;
use shared::config::{ConfigError, Settings};

/// The handler's dependencies, from configuration and the function's SDK configuration.
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<handler::App<DynamoDbStore, SqsQueue>, ConfigError> {
    Ok(handler::App {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        queue: SqsQueue::from_config(aws, settings.delivery_queue_url()?),
        staging_bucket: settings.staging_bucket()?,
    })
}
