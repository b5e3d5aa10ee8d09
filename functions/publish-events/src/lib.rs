//! The `publish-events` Lambda: destination events from the table's outbox to the event bus. The
//! library holds the handler and its wiring, so that `main.rs`, the local run and the tests build
//! the same thing.

pub mod handler;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::config::{ConfigError, Settings};

/// The handler's dependencies: the table (its outbox) and the event bus.
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<(DynamoDbStore, EventBridgePublisher), ConfigError> {
    Ok((
        DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        EventBridgePublisher::from_config(aws, settings.event_bus_name()?),
    ))
}
