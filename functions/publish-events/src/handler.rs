//! Outbox stream records (or a scheduled sweep) → events on the bus → outbox entries removed.
//! No SDK calls, no environment reads.

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use shared::adapters::dynamodb::stream;
use shared::app::events::{self, EventsError};
use shared::ports::{EventPublisher, Outbox};

/// How old an unpublished event must be before the sweep takes it over from the stream path.
pub const SWEEP_AFTER: time::Duration = time::Duration::minutes(2);

/// What invokes the function: the table's stream (outbox items only), or the schedule.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Trigger {
    Stream(StreamEvent),
    Schedule(Box<EventBridgeEvent<Value>>),
}

#[derive(Debug, thiserror::Error)]
pub enum PublishEventsError {
    #[error(transparent)]
    Events(#[from] EventsError),
}

impl From<PublishEventsError> for lambda_runtime::Diagnostic {
    fn from(error: PublishEventsError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "PublishFailed".to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle<O: Outbox, E: EventPublisher>(
    outbox: &O,
    publisher: &E,
    trigger: Trigger,
) -> Result<Value, PublishEventsError> {
    match trigger {
        Trigger::Stream(event) => Ok(json!(publish_records(outbox, publisher, event).await)),
        Trigger::Schedule(_) => {
            let published =
                events::sweep(outbox, publisher, OffsetDateTime::now_utc() - SWEEP_AFTER).await?;
            tracing::info!(published, "outbox swept");
            Ok(json!({ "published": published }))
        }
    }
}

/// Publishes the records in order. At the first failure it stops and reports that record, so
/// Lambda retries from there (and, after its retries, hands the batch to the failure queue; the
/// sweep publishes it then).
pub async fn publish_records<O: Outbox, E: EventPublisher>(
    outbox: &O,
    publisher: &E,
    event: StreamEvent,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let pending = match stream::outbox_event(&record.change) {
            Ok(Some(pending)) => pending,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(event_id = %record.event_id, error = %e, "unreadable outbox record");
                continue;
            }
        };
        if let Err(e) =
            events::publish(outbox, publisher, &pending.tenant_id, &pending.event_id).await
        {
            tracing::error!(event_id = %pending.event_id, error = %e, "destination event not published yet");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}
