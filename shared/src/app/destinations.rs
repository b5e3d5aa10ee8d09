//! Destination use cases: create, read, list, update, save, discard, delete, activity.
//! Each has its own error enum; `shared::http` maps them to problems in one table.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::domain::revalidation::RevalidationSettings;
use crate::domain::{
    Activity, ActivityEntry, AuthModeKind, Configuration, Destination, DestinationId,
    DestinationPatch, IdempotencyKey, NewDestination, NothingToDiscard, PatchError,
    PlatformIdentity, SaveError, TenantId,
};
use crate::ports::{
    ActivityLog, ActivityPage, CreateOutcome, DestinationRepository, IdempotencyRecord, NewRecord,
    Page, RateLimitedAction, RateLimiter, RetryAfter, StoreError,
};

use super::modify::{Caller, Change, ModifyError, Precondition, modify};

/// How long a `POST /destinations` retry with the same `Idempotency-Key` replays the first answer.
pub const IDEMPOTENCY_WINDOW: time::Duration = time::Duration::hours(24);

/// Per-tenant limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub destinations_per_tenant: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            destinations_per_tenant: 100,
        }
    }
}

/// A field whose account is one of the platform's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformAccountField {
    BucketOwnerAccountId,
    RoleArn,
    KmsKeyArn,
}

impl PlatformAccountField {
    pub fn api_name(self) -> &'static str {
        match self {
            PlatformAccountField::BucketOwnerAccountId => "bucketOwnerAccountId",
            PlatformAccountField::RoleArn => "roleArn",
            PlatformAccountField::KmsKeyArn => "kmsKeyArn",
        }
    }
}

/// The client's idempotency key and the body it fingerprints.
#[derive(Debug)]
pub struct IdempotentRequest {
    pub key: IdempotencyKey,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("too many create requests")]
    RateLimited(RetryAfter),
    #[error("the tenant has reached its limit of {cap} destinations")]
    LimitReached { cap: u32 },
    #[error("a bucket-policy destination needs the bucket owner's account id")]
    BucketOwnerRequired,
    #[error("the {} is in one of the platform's own accounts", .0.api_name())]
    PlatformAccount(PlatformAccountField),
    /// A role or key in another partition than the region, or a partition not served.
    #[error(transparent)]
    Partition(PatchError),
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("could not generate an External ID")]
    Entropy,
    #[error(transparent)]
    Store(StoreError),
}

pub struct Created {
    pub destination: Destination,
    /// The answer to an earlier request with the same idempotency key.
    pub replayed: bool,
}

#[allow(clippy::too_many_arguments)]
pub async fn create<S: DestinationRepository, L: RateLimiter>(
    store: &S,
    limiter: &L,
    platform: &PlatformIdentity,
    limits: Limits,
    caller: Caller<'_>,
    input: NewDestination,
    idempotency: Option<IdempotentRequest>,
    now: OffsetDateTime,
) -> Result<Created, CreateError> {
    limiter
        .acquire(caller.tenant, RateLimitedAction::CreateDestination, now)
        .await
        .map_err(CreateError::Store)?
        .map_err(CreateError::RateLimited)?;
    refuse_new(platform, &input)?;
    let destination = Destination::new_draft(
        DestinationId::generate(),
        caller.tenant.clone(),
        input,
        platform.home(),
        now,
    )
    .map_err(|_| CreateError::Entropy)?;
    refuse_other_partitions(platform, destination.configuration())
        .map_err(CreateError::Partition)?;
    let record = idempotency.map(|request| IdempotencyRecord {
        key: request.key,
        request_hash: request_hash(&request.body),
        created: destination.clone(),
        expires_at: now + IDEMPOTENCY_WINDOW,
    });
    let activity = ActivityEntry {
        at: now,
        actor: caller.actor.clone(),
        activity: Activity::Created,
        version: destination.version(),
    };
    let outcome = store
        .create(NewRecord {
            destination: &destination,
            activity: &activity,
            idempotency: record.as_ref(),
            cap: limits.destinations_per_tenant,
        })
        .await;
    match outcome {
        Ok(CreateOutcome::Created) => Ok(Created {
            destination,
            replayed: false,
        }),
        Ok(CreateOutcome::Replayed(previous)) => {
            if Some(previous.request_hash.as_str())
                != record.as_ref().map(|r| r.request_hash.as_str())
            {
                return Err(CreateError::IdempotencyKeyReused);
            }
            Ok(Created {
                destination: previous.created,
                replayed: true,
            })
        }
        Err(StoreError::LimitReached { cap }) => Err(CreateError::LimitReached { cap }),
        Err(e) => Err(CreateError::Store(e)),
    }
}

/// SHA-256 of the body with object members sorted: the same JSON with other spacing or member
/// order is the same request.
fn request_hash(body: &[u8]) -> String {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(
                    entries.into_iter().map(|(k, v)| (k, sorted(v))).collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let canonical = serde_json::from_slice(body)
        .map(|value| sorted(value).to_string())
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no such destination")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

/// The caller's destination; a missing one and another tenant's one look the same.
pub async fn get<S: DestinationRepository>(
    store: &S,
    tenant: &TenantId,
    id: &DestinationId,
) -> Result<Destination, ReadError> {
    store
        .get(tenant, id)
        .await
        .map_err(ReadError::Store)?
        .ok_or(ReadError::NotFound)
}

/// # Errors
/// `InvalidCursor` and storage errors, as the store reports them.
pub async fn list<S: DestinationRepository>(
    store: &S,
    tenant: &TenantId,
    limit: u16,
    cursor: Option<&str>,
) -> Result<Page, StoreError> {
    store.list(tenant, limit, cursor).await
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Patch(PatchError),
    #[error("the {} is in one of the platform's own accounts", .0.api_name())]
    PlatformAccount(PlatformAccountField),
    #[error(transparent)]
    Modify(ModifyError<PatchError>),
}

/// Applies a patch. A saved destination keeps delivering to its active configuration while
/// changes to it are pending.
pub async fn update<S: DestinationRepository>(
    store: &S,
    platform: &PlatformIdentity,
    caller: Caller<'_>,
    id: &DestinationId,
    patch: DestinationPatch,
    precondition: Precondition,
    now: OffsetDateTime,
) -> Result<Destination, UpdateError> {
    refuse_platform_accounts(platform, &patch).map_err(UpdateError::PlatformAccount)?;
    let fields = patch_fields(&patch);
    modify(store, caller, id, precondition, now, |destination| {
        let outcome = destination.apply(patch.clone(), now)?;
        refuse_other_partitions(platform, destination.configuration())?;
        Ok(if outcome.changed {
            Change::recorded(Activity::Updated {
                fields: fields.clone(),
            })
        } else {
            Change::nothing()
        })
    })
    .await
    .map_err(|e| match e {
        ModifyError::Rejected(patch) => UpdateError::Patch(patch),
        other => UpdateError::Modify(other),
    })
}

/// What a new destination may not be: a bucket-policy one without its owner, or one in the
/// platform's own accounts.
fn refuse_new(platform: &PlatformIdentity, input: &NewDestination) -> Result<(), CreateError> {
    match &input.configuration.bucket_owner {
        None if input.auth == AuthModeKind::BucketPolicy => {
            return Err(CreateError::BucketOwnerRequired);
        }
        Some(owner) if platform.is_platform_account(owner) => {
            return Err(CreateError::PlatformAccount(
                PlatformAccountField::BucketOwnerAccountId,
            ));
        }
        _ => {}
    }
    if let Some(key) = &input.configuration.kms_key
        && platform.is_platform_account(&key.account())
    {
        return Err(CreateError::PlatformAccount(
            PlatformAccountField::KmsKeyArn,
        ));
    }
    Ok(())
}

/// A configuration must live in one partition, and in one this deployment serves (where it has a
/// connector and a writer): the partition comes from the region, role or key, else the
/// deployment's own.
pub fn refuse_other_partitions(
    platform: &PlatformIdentity,
    configuration: &Configuration,
) -> Result<(), PatchError> {
    if let Some(conflict) = configuration.partition_conflict() {
        return Err(PatchError::PartitionConflict(conflict));
    }
    let partition = configuration.partition();
    match platform.for_partition(partition) {
        Some(_) => Ok(()),
        None => Err(PatchError::PartitionNotServed(partition)),
    }
}

/// A patch may not point a destination at one of the platform's own accounts (its role, bucket
/// owner or key): we would write with our own rights there.
pub fn refuse_platform_accounts(
    platform: &PlatformIdentity,
    patch: &DestinationPatch,
) -> Result<(), PlatformAccountField> {
    if let Some(Some(role)) = &patch.role_arn
        && platform.is_platform_account(role.account())
    {
        return Err(PlatformAccountField::RoleArn);
    }
    if let Some(Some(owner)) = &patch.bucket_owner
        && platform.is_platform_account(owner)
    {
        return Err(PlatformAccountField::BucketOwnerAccountId);
    }
    if let Some(Some(key)) = &patch.kms_key
        && platform.is_platform_account(&key.account())
    {
        return Err(PlatformAccountField::KmsKeyArn);
    }
    Ok(())
}

/// The API names of the fields a patch sets, for the audit trail.
fn patch_fields(patch: &DestinationPatch) -> Vec<String> {
    [
        ("name", patch.name.is_some()),
        ("description", patch.description.is_some()),
        ("objectKeyTemplate", patch.key_template.is_some()),
        ("bucket", patch.bucket.is_some()),
        ("folder", patch.folder.is_some()),
        ("region", patch.region.is_some()),
        ("roleArn", patch.role_arn.is_some()),
        ("kmsKeyArn", patch.kms_key.is_some()),
        ("bucketOwnerAccountId", patch.bucket_owner.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name.to_owned())
    .collect()
}

/// The guide's Save: the tested configuration becomes the one deliveries use.
pub async fn save<S: DestinationRepository>(
    store: &S,
    settings: &RevalidationSettings,
    caller: Caller<'_>,
    id: &DestinationId,
    now: OffsetDateTime,
) -> Result<Destination, ModifyError<SaveError>> {
    modify(store, caller, id, Precondition::None, now, |destination| {
        let moved = destination.save(settings, now)?;
        Ok(Change {
            activity: Some(Activity::Saved),
            // A saved destination's deliveries now go elsewhere, or another role writes them:
            // the tenant's other users (and their alerting) learn who did it.
            events: moved
                .map(|change| destination.configuration_changed(change, caller.actor, now))
                .into_iter()
                .collect(),
        })
    })
    .await
}

/// Drops pending changes: the configuration under edit returns to the active one.
pub async fn discard<S: DestinationRepository>(
    store: &S,
    caller: Caller<'_>,
    id: &DestinationId,
    now: OffsetDateTime,
) -> Result<Destination, ModifyError<NothingToDiscard>> {
    modify(store, caller, id, Precondition::None, now, |destination| {
        destination.discard(now)?;
        Ok(Change::recorded(Activity::Discarded))
    })
    .await
}

/// Deletes the destination; its activity stays, ending with who deleted it.
pub async fn delete<S: DestinationRepository>(
    store: &S,
    caller: Caller<'_>,
    id: &DestinationId,
    now: OffsetDateTime,
) -> Result<(), ReadError> {
    let destination = get(store, caller.tenant, id).await?;
    let activity = ActivityEntry {
        at: now,
        actor: caller.actor.clone(),
        activity: Activity::Deleted,
        version: destination.version() + 1,
    };
    match store.delete(caller.tenant, id, &activity).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ReadError::NotFound),
        Err(e) => Err(ReadError::Store(e)),
    }
}

/// Who changed the destination, newest first. A destination that never existed (for this
/// tenant) is `NotFound`; a deleted one still shows its history.
pub async fn activity<S: DestinationRepository, A: ActivityLog>(
    store: &S,
    log: &A,
    tenant: &TenantId,
    id: &DestinationId,
    limit: u16,
    cursor: Option<&str>,
) -> Result<ActivityPage, ReadError> {
    let page = log
        .activity(tenant, id, limit, cursor)
        .await
        .map_err(ReadError::Store)?;
    if page.items.is_empty() && cursor.is_none() {
        get(store, tenant, id).await?;
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_json_in_another_order_or_spacing_hashes_alike() {
        assert_eq!(
            request_hash(br#"{"a":1,"b":{"d":2,"c":3}}"#),
            request_hash(b"{ \"b\" : {\"c\":3,\"d\":2}, \"a\":1 }")
        );
        assert_ne!(request_hash(br#"{"a":1}"#), request_hash(br#"{"a":2}"#));
    }
}
