//! Deliveries: the platform's files written into a destination's *active* configuration, through
//! the same writer ([`super::writer`]) that Test Connection and re-validation prove, so a passing
//! check means exactly this path works.

use super::writer::{self, Deadline, PlanError, Put, PutFailure, WriteTarget};
use crate::domain::{Destination, PlatformIdentity};
use crate::ports::{ObjectBody, ObjectWriter, ProbeError};

/// Why a delivery's write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryWriteError {
    /// Never saved: only an active configuration receives data, never one under edit.
    NotSaved,
    /// Nobody may write to the active configuration (its partition is not served, or it names one
    /// of the platform's own accounts).
    Plan(PlanError),
    /// The identity the check proved could not be taken on.
    Session(ProbeError),
    Write(PutFailure),
}

/// Writes `body` under `key` into `destination`'s active configuration: the writer's plan, its
/// session, its write. Pending changes are never written to.
///
/// # Errors
/// [`DeliveryWriteError`], with AWS's answer classified.
pub async fn write_object<W: ObjectWriter>(
    writer: &W,
    destination: &Destination,
    platform: &PlatformIdentity,
    key: &str,
    body: ObjectBody,
    deadline: Deadline,
) -> Result<Put, DeliveryWriteError> {
    let target = WriteTarget::active(destination).ok_or(DeliveryWriteError::NotSaved)?;
    let plan = writer::plan(&target, platform).map_err(DeliveryWriteError::Plan)?;
    let session = writer::open_session(writer, &plan, deadline)
        .await
        .map_err(DeliveryWriteError::Session)?;
    writer::put(writer, &plan, &session, key, body, deadline)
        .await
        .map_err(DeliveryWriteError::Write)
}

#[cfg(test)]
mod tests;
