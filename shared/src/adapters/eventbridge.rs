//! Destination events on EventBridge.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::revalidation::{ConnectionEvent, EVENT_SOURCE};
use crate::ports::{EventPublisher, PublishError};

pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    pub fn from_config(config: &aws_config::SdkConfig, bus_name: impl Into<String>) -> Self {
        Self::new(Client::new(config), bus_name)
    }
}

impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &ConnectionEvent) -> Result<(), PublishError> {
        let detail = serde_json::to_string(event).map_err(|e| PublishError(Box::new(e)))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type())
            .detail(detail)
            .resources(format!("destination/{}", event.destination_id))
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| PublishError(Box::new(e)))?;
        if output.failed_entry_count > 0 {
            let code = output
                .entries
                .unwrap_or_default()
                .into_iter()
                .find_map(|e| e.error_code)
                .unwrap_or_default();
            return Err(PublishError(
                format!("PutEvents refused the event: {code}").into(),
            ));
        }
        Ok(())
    }
}
