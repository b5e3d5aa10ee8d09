//! Deliveries: the platform's files written into a destination's *active* configuration, through
//! the same writer ([`super::writer`]) that Test Connection and re-validation prove, so a passing
//! check means exactly this path works.

use time::OffsetDateTime;

use super::writer::{
    self, Deadline, NoJournal, PlanError, StreamFailure, StreamSettings, Streamed, Upload,
    UploadJournal, WriteTarget,
};
use crate::domain::check::FailureCategory;
use crate::domain::delivery::{Delivery, NotWaiting, RetryPolicy, Written};
use crate::domain::{Destination, PlatformIdentity};
use crate::ports::{ObjectSource, ObjectWriter, ProbeError, ProbeFailure, SourceError};

mod credentials;
mod requests;
mod worker;

pub use credentials::{VendError, Vended, vend};
pub use requests::{DeliveryReadError, RequestError, Requested, delivery, list, request};
pub use worker::{DeliverOutcome, Deliverer, Skipped, SweepError, sweep};

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

/// A delivery's write: the object, the upload a lost attempt left (aborted first), and where a
/// new upload's id is recorded.
pub struct DeliveryWrite<'a, S, J> {
    pub upload: Upload<'a, S>,
    pub leftover_upload: Option<&'a str>,
    pub journal: &'a J,
}

/// Streams `write.upload` into `destination`'s active configuration: the writer's plan, its
/// session, its streamed write. Pending changes are never written to.
///
/// # Errors
/// [`DeliveryWriteError`], with AWS's answer classified.
pub async fn write_object<W: ObjectWriter, S: ObjectSource, J: UploadJournal>(
    writer: &W,
    destination: &Destination,
    platform: &PlatformIdentity,
    write: DeliveryWrite<'_, S, J>,
    settings: StreamSettings,
    deadline: Deadline,
) -> Result<Streamed, DeliveryWriteError> {
    let target = WriteTarget::active(destination).ok_or(DeliveryWriteError::NotSaved)?;
    let plan = writer::plan(&target, platform).map_err(DeliveryWriteError::Plan)?;
    let session = writer::open_session(writer, &plan, deadline)
        .await
        .map_err(DeliveryWriteError::Session)?;
    if let Some(upload_id) = write.leftover_upload {
        let aborted =
            writer::abort_leftover(writer, &plan, &session, write.upload.key, upload_id).await;
        tracing::info!(aborted, "upload of a lost attempt");
    }
    writer::stream(
        writer,
        &plan,
        &session,
        write.upload,
        settings,
        deadline,
        write.journal,
    )
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
    /// How long an attempt holds its delivery before another may take over (past the function's
    /// timeout, so a live attempt is never overtaken).
    pub lease: time::Duration,
}

/// One attempt at `delivery`, from start to recorded outcome (no storage: for callers that hold
/// the delivery alone).
///
/// # Errors
/// [`NotWaiting`] for a delivery that is not due.
pub async fn attempt<W: ObjectWriter, S: ObjectSource>(
    writer: &W,
    delivery: &mut Delivery,
    destination: &Destination,
    source: S,
    settings: &AttemptSettings<'_>,
    now: OffsetDateTime,
) -> Result<Attempted, NotWaiting> {
    delivery.start_attempt(now, settings.lease)?;
    Ok(finish_attempt(
        writer,
        delivery,
        destination,
        Ok(source),
        &NoJournal,
        settings,
        now,
    )
    .await)
}

/// The write of an attempt already started (and stored), and its outcome recorded in
/// `delivery`: into a verified destination only, through the one writer, from the staged file.
pub async fn finish_attempt<W: ObjectWriter, S: ObjectSource, J: UploadJournal>(
    writer: &W,
    delivery: &mut Delivery,
    destination: &Destination,
    source: Result<S, SourceError>,
    journal: &J,
    settings: &AttemptSettings<'_>,
    now: OffsetDateTime,
) -> Attempted {
    let started = std::time::Instant::now();
    let leftover = delivery.upload_id.clone();
    let outcome = match (Delivery::may_write_to(destination), source) {
        (Err(category), _) => Err(category),
        (Ok(()), Err(e)) => Err(category_of(&DeliveryWriteError::Write(
            StreamFailure::Source(e),
        ))),
        (Ok(()), Ok(source)) => write_object(
            writer,
            destination,
            settings.platform,
            DeliveryWrite {
                upload: Upload {
                    key: &delivery.key,
                    source,
                    content_type: "application/octet-stream",
                },
                leftover_upload: leftover.as_deref(),
                journal,
            },
            settings.stream,
            settings.deadline,
        )
        .await
        .map_err(|e| category_of(&e)),
    };
    if leftover.is_some() {
        delivery.upload_cleared(now);
    }
    match outcome {
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
    }
}

/// The category a failed delivery reports, in the check's terms.
fn category_of(error: &DeliveryWriteError) -> FailureCategory {
    match error {
        DeliveryWriteError::NotSaved | DeliveryWriteError::Plan(_) => {
            FailureCategory::InvalidConfiguration
        }
        DeliveryWriteError::Session(e) if e.is_transient() => transient(&e.failure),
        DeliveryWriteError::Session(_) => FailureCategory::RoleNotAssumable,
        // The staged file could not be read, or the upload not recorded: ours to retry, not the
        // customer's to fix.
        DeliveryWriteError::Write(StreamFailure::Source(_) | StreamFailure::Journal(_)) => {
            FailureCategory::Transient
        }
        DeliveryWriteError::Write(StreamFailure::Write { failure, .. }) => {
            match &failure.error.failure {
                ProbeFailure::AccessDenied | ProbeFailure::Other => {
                    FailureCategory::PutAccessDenied
                }
                ProbeFailure::OwnerMismatch => FailureCategory::UnexpectedBucketOwner,
                ProbeFailure::NoSuchBucket => FailureCategory::BucketNotFound,
                ProbeFailure::WrongRegion { .. } => FailureCategory::WrongRegion,
                ProbeFailure::KmsDenied(_) => FailureCategory::KmsKeyNotUsable,
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
