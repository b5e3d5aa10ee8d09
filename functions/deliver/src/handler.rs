//! Delivery queue batch → one attempt per delivery; schedule → the sweep. No SDK calls, no
//! environment reads.
//!
//! A queue message is either a whole delivery request (exporters that fire and forget; the same
//! fields as `POST /internal/deliveries`) or a reference to a stored delivery (what the internal
//! route and the sweep send).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use shared::app::delivery::{self, DeliverOutcome, Deliverer, RequestError, sweep};
use shared::domain::delivery::{DeliveryRef, DeliveryRequest};
use shared::domain::{Actor, BucketName};
use shared::http::dto;
use shared::ports::{
    DeliveryQueue, DeliveryRecords, DestinationRepository, DueDeliveries, ObjectWriter, StagedFiles,
};

/// How long past its due time a delivery waits before the sweep queues it again: its own message
/// is usually on the way.
pub const SWEEP_AFTER: time::Duration = time::Duration::minutes(1);

/// What invokes the function: the delivery queue, or the sweep's schedule.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Trigger {
    Queue(SqsEvent),
    Schedule(Box<EventBridgeEvent<Value>>),
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Sweep(#[from] delivery::SweepError),
}

impl From<DeliverError> for lambda_runtime::Diagnostic {
    fn from(error: DeliverError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "SweepFailed".to_owned(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle(worker: &crate::Worker, trigger: Trigger) -> Result<Value, DeliverError> {
    match trigger {
        Trigger::Queue(event) => Ok(json!(
            deliver_messages(&worker.deliverer(), &worker.staging_bucket, event).await
        )),
        Trigger::Schedule(_) => {
            let queued = sweep_due(&worker.store, &worker.queue, OffsetDateTime::now_utc()).await?;
            Ok(json!({ "queued": queued }))
        }
    }
}

/// Queues every delivery due before `now - SWEEP_AFTER`.
///
/// # Errors
/// The store or the queue failed; the next run queues the rest.
pub async fn sweep_due<S: DueDeliveries, Q: DeliveryQueue>(
    store: &S,
    queue: &Q,
    now: OffsetDateTime,
) -> Result<usize, DeliverError> {
    let queued = sweep(store, queue, now - SWEEP_AFTER).await?;
    tracing::info!(queued, "due deliveries queued");
    Ok(queued)
}

/// Each message's delivery, one after the other (one file's parts are what memory is sized for).
/// A message that cannot be read or accepted, or whose outcome could not be stored, is reported
/// as failed, alone: SQS retries just it, then moves it to the dead-letter queue, so a request is
/// never dropped silently.
pub async fn deliver_messages<S, W, F>(
    deliverer: &Deliverer<'_, S, W, F>,
    staging: &BucketName,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: DestinationRepository + DeliveryRecords,
    W: ObjectWriter,
    F: StagedFiles,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        if let Err(why) = deliver_message(deliverer, staging, &record).await {
            tracing::error!(message_id = %id, error = %why, "delivery message not done");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

enum Message {
    Request(DeliveryRequest),
    Stored(DeliveryRef),
}

async fn deliver_message<S, W, F>(
    deliverer: &Deliverer<'_, S, W, F>,
    staging: &BucketName,
    record: &SqsMessage,
) -> Result<(), String>
where
    S: DestinationRepository + DeliveryRecords,
    W: ObjectWriter,
    F: StagedFiles,
{
    let now = OffsetDateTime::now_utc();
    let reference = match read(record)? {
        Message::Stored(reference) => reference,
        Message::Request(request) => {
            match delivery::request(deliverer.store, staging, request, now).await {
                Ok(requested) => requested.delivery.reference(),
                Err(RequestError::Store(e)) => return Err(format!("store: {e}")),
                // Will never be accepted: the dead-letter queue keeps it for the platform's team.
                Err(refused) => return Err(format!("request refused: {refused}")),
            }
        }
    };
    match Box::pin(deliverer.deliver(&reference, now)).await {
        Ok(outcome) => {
            match outcome {
                DeliverOutcome::Attempted(attempted) => {
                    tracing::info!(delivery_id = %reference.delivery_id, destination_id = %reference.destination_id, ?attempted, "delivery attempted");
                }
                DeliverOutcome::Skipped(skipped) => {
                    tracing::info!(delivery_id = %reference.delivery_id, ?skipped, "delivery not attempted");
                }
            }
            Ok(())
        }
        Err(e) => Err(format!("store: {e}")),
    }
}

/// A message body: a delivery request (it names a `source`) or a stored delivery's reference.
fn read(record: &SqsMessage) -> Result<Message, String> {
    let body: Value = serde_json::from_str(record.body.as_deref().unwrap_or_default())
        .map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(fields) = body else {
        return Err("not a JSON object".to_owned());
    };
    if fields.contains_key("source") {
        // Queue messages carry no signed caller; SQS names the identity that sent it.
        let sender = record
            .attributes
            .get("SenderId")
            .map_or("unknown", String::as_str);
        let requested_by =
            Actor::platform(&format!("queue:{sender}")).map_err(|e| format!("sender: {e}"))?;
        dto::delivery_request(fields, requested_by)
            .map(Message::Request)
            .map_err(|problem| {
                let fields: Vec<String> = problem
                    .errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect();
                format!("invalid request: {} {}", problem.detail, fields.join("; "))
            })
    } else {
        serde_json::from_value(Value::Object(fields))
            .map(Message::Stored)
            .map_err(|e| format!("not a delivery reference: {e}"))
    }
}
