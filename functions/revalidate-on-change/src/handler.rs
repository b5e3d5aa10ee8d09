//! Stream records → the changes that need a new check → queue. No SDK calls, no environment reads.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use shared::domain::Destination;
use shared::ports::{QueueError, RevalidationQueue};
use shared::revalidation::{RevalidationRequest, check_after_change};

/// Only destination items; test history and idempotency records share the table.
fn destination_image(item: &serde_dynamo::Item) -> Option<Destination> {
    let sk = item.get("SK")?;
    let serde_dynamo::AttributeValue::S(sk) = sk else {
        return None;
    };
    if !sk.starts_with("DESTINATION#") || sk.contains("#TEST#") {
        return None;
    }
    serde_dynamo::from_item(item.clone()).ok()
}

pub fn checks_for(record: &EventRecord) -> Option<RevalidationRequest> {
    let old = destination_image(&record.change.old_image);
    let new = destination_image(&record.change.new_image);
    check_after_change(old.as_ref(), new.as_ref())
}

/// Queues the checks; an error makes Lambda retry the batch (queueing twice is harmless).
pub async fn handle<Q: RevalidationQueue>(queue: &Q, event: Event) -> Result<usize, QueueError> {
    let requests: Vec<RevalidationRequest> = event.records.iter().filter_map(checks_for).collect();
    queue.enqueue(&requests).await?;
    if !requests.is_empty() {
        tracing::info!(
            queued = requests.len(),
            "re-validation queued after configuration changes"
        );
    }
    Ok(requests.len())
}
