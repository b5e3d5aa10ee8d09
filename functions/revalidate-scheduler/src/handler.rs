//! EventBridge event → which destinations to check → queue. No SDK calls, no environment reads.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};
use time::OffsetDateTime;

use shared::app::revalidation::{RevalidationError, enqueue_due, enqueue_on_demand};
use shared::domain::revalidation::{OnDemandRequest, REVALIDATE_DETAIL_TYPE};
use shared::ports::{DestinationRepository, DueIndex, RevalidationQueue};

/// EventBridge Scheduler and scheduled rules both send this detail-type.
pub const SCHEDULED_DETAIL_TYPE: &str = "Scheduled Event";

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("unsupported event detail-type {0:?}")]
    UnknownEvent(String),
    #[error("the on-demand request is invalid: {0}")]
    InvalidRequest(serde_json::Error),
    #[error(transparent)]
    Revalidation(#[from] RevalidationError),
}

pub async fn handle<S: DestinationRepository + DueIndex, Q: RevalidationQueue>(
    store: &S,
    queue: &Q,
    event: EventBridgeEvent<Value>,
) -> Result<Value, SchedulerError> {
    let queued = match event.detail_type.as_str() {
        SCHEDULED_DETAIL_TYPE => enqueue_due(store, queue, OffsetDateTime::now_utc()).await?,
        REVALIDATE_DETAIL_TYPE => {
            let request: OnDemandRequest =
                serde_json::from_value(event.detail).map_err(SchedulerError::InvalidRequest)?;
            enqueue_on_demand(store, queue, &request).await?
        }
        other => return Err(SchedulerError::UnknownEvent(other.to_owned())),
    };
    tracing::info!(detail_type = %event.detail_type, queued, "re-validation queued");
    Ok(json!({ "queued": queued }))
}

impl From<SchedulerError> for lambda_runtime::Diagnostic {
    fn from(error: SchedulerError) -> Self {
        let error_type = match &error {
            SchedulerError::UnknownEvent(_) => "UnknownEvent",
            SchedulerError::InvalidRequest(_) => "InvalidRequest",
            SchedulerError::Revalidation(_) => "RevalidationUnavailable",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}
