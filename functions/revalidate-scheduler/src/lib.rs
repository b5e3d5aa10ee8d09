//! The `revalidate-scheduler` Lambda: schedule or on-demand event → checks queued. The library
//! holds the handler and its wiring, so that `main.rs`, the local run and the tests build the same
//! thing.

pub mod handler;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::sqs::SqsQueue;
use shared::config::{ConfigError, Settings};

/// The handler's dependencies: the table and the re-validation queue.
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<(DynamoDbStore, SqsQueue), ConfigError> {
    Ok((
        DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        SqsQueue::from_config(aws, settings.queue_url()?),
    ))
}
