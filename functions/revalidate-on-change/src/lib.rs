//! The `revalidate-on-change` Lambda: table stream → checks for saves that changed an active
//! configuration. The library holds the handler and its wiring, so that `main.rs`, the local run
//! and the tests build the same thing.

pub mod handler;

use shared::adapters::sqs::SqsQueue;
use shared::config::{ConfigError, Settings};

/// The handler's dependency: the re-validation queue.
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<SqsQueue, ConfigError> {
    Ok(SqsQueue::from_config(aws, settings.queue_url()?))
}
