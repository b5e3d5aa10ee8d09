//! Deliveries: the platform's files written into a destination's *active* configuration, through
//! the same writer ([`super::writer`]) that Test Connection and re-validation prove, so a passing
//! check means exactly this path works.

use super::writer::{
    self, Deadline, PlanError, StreamFailure, StreamSettings, Streamed, Upload, WriteTarget,
};
use crate::domain::{Destination, PlatformIdentity};
use crate::ports::{ObjectSource, ObjectWriter, ProbeError};

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

#[cfg(test)]
mod tests;
