//! Deliveries: the platform's files written into a destination's *active* configuration, through
//! the same writer ([`super::writer`]) that Test Connection and re-validation prove, so a passing
//! check means exactly this path works.

use time::OffsetDateTime;

use super::writer::{
    self, Deadline, PlanError, StreamFailure, StreamSettings, Streamed, Upload, WriteTarget,
};
use crate::domain::check::FailureCategory;
use crate::domain::delivery::{Delivery, NotWaiting, RetryPolicy, Written};
use crate::domain::{Destination, PlatformIdentity};
use crate::ports::{ObjectSource, ObjectWriter, ProbeError, ProbeFailure};

/// Why a delivery's write did not happen.
#[derive(Debug)]
pub enum DeliveryWriteError {
    /// Never saved: only an active configuration receives data, never one under edit.
    NotSaved,
    /// Nobody may write to the active configuration (its partition is not served, or it names one
    /// of the platform's own accounts).
    Plan(PlanError),
    /// The identity the check proved could not be taken on.
    Session(ProbeError),
    Write(StreamFailure),
}

/// Streams `upload` into `destination`'s active configuration: the writer's plan, its
/// session, its streamed write. Pending changes are never written to.
///
/// # Errors
/// [`DeliveryWriteError`], with AWS's answer classified.
pub async fn write_object<W: ObjectWriter, S: ObjectSource>(
    writer: &W,
    destination: &Destination,
    platform: &PlatformIdentity,
    upload: Upload<'_, S>,
    settings: StreamSettings,
    deadline: Deadline,
) -> Result<Streamed, DeliveryWriteError> {
    let target = WriteTarget::active(destination).ok_or(DeliveryWriteError::NotSaved)?;
    let plan = writer::plan(&target, platform).map_err(DeliveryWriteError::Plan)?;
    let session = writer::open_session(writer, &plan, deadline)
        .await
        .map_err(DeliveryWriteError::Session)?;
    writer::stream(writer, &plan, &session, upload, settings, deadline)
        .await
        .map_err(DeliveryWriteError::Write)
}

/// What one attempt at a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    Delivered,
    /// Failed; another attempt follows after the backoff.
    WillRetry(FailureCategory),
    /// Failed for the last time: the moment to raise `Delivery Failed`.
    Parked(FailureCategory),
}

/// Everything an attempt is made with besides the delivery and its destination.
pub struct AttemptSettings<'a> {
    pub platform: &'a PlatformIdentity,
    pub stream: StreamSettings,
    pub retry: &'a RetryPolicy,
    pub deadline: Deadline,
}

/// One attempt at `delivery`: into a verified destination only, through the one writer, from
/// `source` (the staged file). The delivery records the outcome; the caller stores it.
///
/// # Errors
/// [`NotWaiting`] for a delivery that is delivering, delivered or parked.
pub async fn attempt<W: ObjectWriter, S: ObjectSource>(
    writer: &W,
    delivery: &mut Delivery,
    destination: &Destination,
    source: S,
    settings: &AttemptSettings<'_>,
    now: OffsetDateTime,
) -> Result<Attempted, NotWaiting> {
    delivery.start_attempt(now)?;
    let started = std::time::Instant::now();
    let outcome = match Delivery::may_write_to(destination) {
        Err(category) => Err(category),
        Ok(()) => write_object(
            writer,
            destination,
            settings.platform,
            Upload {
                key: &delivery.key,
                source,
                content_type: "application/octet-stream",
            },
            settings.stream,
            settings.deadline,
        )
        .await
        .map_err(|e| category_of(&e)),
    };
    Ok(match outcome {
        Ok(streamed) => {
            delivery.delivered(
                Written {
                    bytes: streamed.bytes,
                    checksum: streamed.checksum.to_base64(),
                    etag: streamed.written.etag,
                    version_id: streamed.written.version_id,
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                },
                now,
            );
            Attempted::Delivered
        }
        Err(category) if delivery.attempt_failed(category, settings.retry, now) => {
            Attempted::Parked(category)
        }
        Err(category) => Attempted::WillRetry(category),
    })
}

/// The category a failed delivery reports, in the check's terms.
fn category_of(error: &DeliveryWriteError) -> FailureCategory {
    match error {
        DeliveryWriteError::NotSaved | DeliveryWriteError::Plan(_) => {
            FailureCategory::InvalidConfiguration
        }
        DeliveryWriteError::Session(e) if e.is_transient() => transient(&e.failure),
        DeliveryWriteError::Session(_) => FailureCategory::RoleNotAssumable,
        // The staged file could not be read: ours to retry, not the customer's to fix.
        DeliveryWriteError::Write(StreamFailure::Source(_)) => FailureCategory::Transient,
        DeliveryWriteError::Write(StreamFailure::Write { failure, .. }) => {
            match &failure.error.failure {
                ProbeFailure::AccessDenied | ProbeFailure::Other => {
                    FailureCategory::PutAccessDenied
                }
                ProbeFailure::OwnerMismatch => FailureCategory::UnexpectedBucketOwner,
                ProbeFailure::NoSuchBucket => FailureCategory::BucketNotFound,
                ProbeFailure::WrongRegion { .. } => FailureCategory::WrongRegion,
                ProbeFailure::KmsDenied => FailureCategory::KmsKeyNotUsable,
                ProbeFailure::AclRejected => FailureCategory::AclRejected,
                other => transient(other),
            }
        }
    }
}

fn transient(failure: &ProbeFailure) -> FailureCategory {
    if *failure == ProbeFailure::Timeout {
        FailureCategory::TimedOut
    } else {
        FailureCategory::Transient
    }
}

#[cfg(test)]
mod tests;
