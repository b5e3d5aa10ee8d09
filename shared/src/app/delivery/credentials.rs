//! Credentials for exporters not written in Rust: a short session of the very identity deliveries
//! write as (the customer's role with the External ID, or this destination's writer session),
//! scoped by the same session policy, with everything a client must send. Each vending is
//! recorded in the destination's activity.

use thiserror::Error;
use time::OffsetDateTime;

use crate::app::writer::{self, Deadline, PlanError, WriteTarget};
use crate::domain::check::FailureCategory;
use crate::domain::delivery::Delivery;
use crate::domain::{
    AccountId, Activity, ActivityEntry, Actor, BucketName, DestinationId, KmsKeyArn,
    PlatformIdentity, TenantId,
};
use crate::ports::{
    ActivityRecorder, DestinationRepository, ObjectWriter, ProbeError, SessionCredentials,
    StoreError,
};

/// How long vending may wait for STS.
const BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum VendError {
    #[error("destination not found")]
    NotFound,
    #[error("the destination has never been saved")]
    NotSaved,
    /// Only a verified destination receives data.
    #[error("the destination is not verified ({0:?})")]
    NotVerified(FailureCategory),
    #[error("nobody may write to this destination: {0:?}")]
    Plan(PlanError),
    #[error("the destination's identity could not be taken on: {0:?}")]
    Session(ProbeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session for one destination's folder, and how to write with it.
#[derive(Debug)]
pub struct Vended {
    pub credentials: SessionCredentials,
    pub bucket: BucketName,
    /// Every key must start with it: the active folder (`exports/`; empty for the whole bucket).
    pub key_prefix: String,
    /// The configured region, else the partition's default (S3 redirects to the bucket's own).
    pub region: String,
    pub expected_bucket_owner: Option<AccountId>,
    pub kms_key: Option<KmsKeyArn>,
}

/// Vends a session for `tenant`'s destination `id`, recorded as asked for by `requested_by`.
///
/// # Errors
/// [`VendError`].
pub async fn vend<S, W>(
    store: &S,
    writer: &W,
    platform: &PlatformIdentity,
    tenant: &TenantId,
    id: &DestinationId,
    requested_by: &Actor,
    now: OffsetDateTime,
) -> Result<Vended, VendError>
where
    S: DestinationRepository + ActivityRecorder,
    W: ObjectWriter,
{
    let destination = store.get(tenant, id).await?.ok_or(VendError::NotFound)?;
    let target = WriteTarget::active(&destination).ok_or(VendError::NotSaved)?;
    Delivery::may_write_to(&destination).map_err(VendError::NotVerified)?;
    let plan = writer::plan(&target, platform)
        .map_err(VendError::Plan)?
        .single_puts_only();
    let credentials = writer::open_session(writer, &plan, Deadline::after(BUDGET))
        .await
        .map_err(VendError::Session)?;
    store
        .record_activity(
            tenant,
            id,
            &ActivityEntry {
                at: now,
                actor: requested_by.clone(),
                activity: Activity::CredentialsVended,
                version: destination.version(),
            },
        )
        .await?;
    Ok(Vended {
        credentials,
        bucket: plan.bucket().clone(),
        key_prefix: target.configuration.folder.as_str().to_owned(),
        region: plan.first_region(),
        expected_bucket_owner: target.expected_owner.clone(),
        kms_key: plan.kms_key().cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthModeKind;
    use crate::domain::revalidation::RevalidationSettings;
    use crate::testing::memory::{InMemoryStore, ScriptedWriter};
    use crate::testing::{DestinationBuilder, NOW, failed, platform};

    #[tokio::test]
    async fn a_failing_destination_gets_no_session_and_nothing_is_assumed() {
        // GIVEN a saved destination whose last re-validation failed
        let store = InMemoryStore::new();
        let mut destination = DestinationBuilder::new(AuthModeKind::BucketPolicy).saved();
        let version = destination.active().unwrap().config_version;
        destination
            .record_check(
                failed(version, FailureCategory::BucketNotFound),
                &RevalidationSettings::default(),
                NOW,
            )
            .unwrap();
        store.insert(destination.clone());
        let writer = ScriptedWriter::permissive();
        // WHEN an exporter asks for a session
        let outcome = vend(
            &store,
            &writer,
            &platform(),
            destination.tenant(),
            destination.id(),
            &Actor::new("platform:exporter").unwrap(),
            NOW,
        )
        .await;
        // THEN it is refused with the destination's category, before any AssumeRole
        assert!(matches!(
            outcome,
            Err(VendError::NotVerified(FailureCategory::BucketNotFound))
        ));
        assert!(writer.assume_calls().is_empty());
    }
}
