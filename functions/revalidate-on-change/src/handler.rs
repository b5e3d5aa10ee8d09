//! Stream records → the saves that changed an active configuration → checks queued.
//! No SDK calls, no environment reads.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use serde_json::{Value, json};

use shared::adapters::dynamodb::stream;
use shared::app::revalidation::check_after_change;
use shared::domain::revalidation::RevalidationRequest;
use shared::ports::{QueueError, RevalidationQueue};

#[derive(Debug, thiserror::Error)]
pub enum OnChangeError {
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<OnChangeError> for lambda_runtime::Diagnostic {
    fn from(error: OnChangeError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "QueueUnavailable".to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The check a record asks for, if any. A record that does not read back as a destination is
/// logged and skipped: retrying it would block the shard without ever succeeding.
pub fn checks_for(record: &EventRecord) -> Option<RevalidationRequest> {
    match stream::destination_change(&record.change) {
        Ok((old, new)) => check_after_change(old.as_ref(), new.as_ref()),
        Err(e) => {
            tracing::error!(event_id = %record.event_id, error = %e, "unreadable stream record");
            None
        }
    }
}

/// Queues the checks; an error makes Lambda retry the batch (queueing twice is harmless: the
/// worker skips a check whose destination version has moved on).
pub async fn handle<Q: RevalidationQueue>(queue: &Q, event: Event) -> Result<Value, OnChangeError> {
    let requests: Vec<RevalidationRequest> = event.records.iter().filter_map(checks_for).collect();
    queue.enqueue(&requests).await?;
    if !requests.is_empty() {
        tracing::info!(queued = requests.len(), "re-validation queued after a save");
    }
    Ok(json!({ "queued": requests.len() }))
}
