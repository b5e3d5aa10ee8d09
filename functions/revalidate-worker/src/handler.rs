//! SQS batch → one check per message, several at a time → the messages that must be retried.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;

use shared::app::revalidation::Checker;
use shared::domain::revalidation::RevalidationRequest;
use shared::ports::{
    CheckHistory, CheckSlots, DestinationRepository, ObjectWriter, RevalidationQueue,
};

/// Runs every message's check, at most `concurrency` at once. A message that cannot be parsed or
/// whose check could not be stored is reported as failed, alone: SQS retries just it (and moves it
/// to the dead-letter queue after too many tries), never the whole batch.
pub async fn handle<S, P, Q>(
    checker: &Checker<'_, S, P, Q>,
    concurrency: usize,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: DestinationRepository + CheckHistory + CheckSlots,
    P: ObjectWriter,
    Q: RevalidationQueue,
{
    let failures = futures::stream::iter(event.records)
        .map(|record| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let request: RevalidationRequest = match record.body.as_deref().map(serde_json::from_str) {
                Some(Ok(request)) => request,
                _ => {
                    tracing::error!(message_id = %id, "unreadable re-validation message");
                    return Some(id);
                }
            };
            match checker.check(&request).await {
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(message_id = %id, destination_id = %request.destination_id, error = %e, "re-validation failed");
                    Some(id)
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .collect::<Vec<String>>()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|item_identifier| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    response
}
