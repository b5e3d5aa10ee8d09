//! The narrow interfaces handlers depend on. Adapters (DynamoDB, STS+S3, in-memory) implement them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::domain::connection_test::ConnectionTestResult;
use crate::domain::{Destination, DestinationId, TenantId};

/// Storage failures as handlers need to tell them apart. Adapters log the underlying cause.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the destination was changed concurrently (expected version {expected})")]
    VersionConflict { expected: u64 },
    #[error("an item with this key already exists")]
    AlreadyExists,
    #[error("the pagination cursor is not valid for this listing")]
    InvalidCursor,
    #[error("storage is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A stored answer to a `POST /destinations` carrying an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is refused.
    pub request_hash: String,
    pub status: u16,
    pub response_body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Destination>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The idempotency key was used before; here is what it recorded.
    Replayed(IdempotencyRecord),
}

/// Destinations due for a check are spread over this many index partitions, so the scheduler reads
/// them in parallel and no partition grows hot.
pub const DUE_SHARDS: u16 = 16;

/// The shard of a destination: from its random id, so shards fill evenly.
pub fn due_shard(id: &DestinationId) -> u16 {
    u16::from_str_radix(&id.as_str()[..4], 16).unwrap_or(0) % DUE_SHARDS
}

/// One page of destinations whose next check is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePage {
    pub items: Vec<crate::revalidation::RevalidationRequest>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait DestinationStore: Send + Sync {
    /// Stores a new destination (never overwriting one), atomically with its idempotency record.
    async fn create(
        &self,
        destination: &Destination,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError>;

    async fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> Result<Option<Destination>, StoreError>;

    /// Newest first.
    async fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError>;

    /// Replaces the stored destination only if its version is still `expected_version`.
    async fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// Returns whether something was deleted.
    async fn delete(&self, tenant: &TenantId, id: &DestinationId) -> Result<bool, StoreError>;

    /// Marks a connection test as running until `until`; false if another one still holds it or
    /// the destination does not exist. An update of the destination releases it.
    async fn try_lock_test(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Releases a test lock without changing the destination (used when the test could not finish).
    async fn unlock_test(&self, tenant: &TenantId, id: &DestinationId) -> Result<(), StoreError>;

    /// Stores `destination` (its `latest_test` set to `result`) if it is still at `expected_version`,
    /// and appends `result` to the history either way (the test ran; repeating the call rewrites the
    /// same entry; a history entry that cannot be written is logged, not returned). Releases the
    /// test lock.
    async fn record_test_result(
        &self,
        destination: &Destination,
        expected_version: u64,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError>;

    /// Appends to the short, expiring history of test results only (a result about a configuration
    /// that has changed since is history, not the latest).
    async fn append_test_history(
        &self,
        destination: &Destination,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError>;

    async fn test_history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> Result<Vec<ConnectionTestResult>, StoreError>;

    /// Saved destinations of one shard whose next check is at or before `now`, oldest first.
    async fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DuePage, StoreError>;
}

/// Lets several handlers (and the local server) share one store.
#[async_trait]
impl<T: DestinationStore + ?Sized> DestinationStore for std::sync::Arc<T> {
    async fn create(
        &self,
        destination: &Destination,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        (**self).create(destination, idempotency).await
    }
    async fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> Result<Option<Destination>, StoreError> {
        (**self).get(tenant, id).await
    }
    async fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        (**self).list(tenant, limit, cursor).await
    }
    async fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        (**self).update(destination, expected_version).await
    }
    async fn delete(&self, tenant: &TenantId, id: &DestinationId) -> Result<bool, StoreError> {
        (**self).delete(tenant, id).await
    }
    async fn try_lock_test(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        (**self).try_lock_test(tenant, id, now, until).await
    }
    async fn unlock_test(&self, tenant: &TenantId, id: &DestinationId) -> Result<(), StoreError> {
        (**self).unlock_test(tenant, id).await
    }
    async fn record_test_result(
        &self,
        destination: &Destination,
        expected_version: u64,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError> {
        (**self)
            .record_test_result(destination, expected_version, result)
            .await
    }
    async fn append_test_history(
        &self,
        destination: &Destination,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError> {
        (**self).append_test_history(destination, result).await
    }
    async fn test_history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> Result<Vec<ConnectionTestResult>, StoreError> {
        (**self).test_history(tenant, id, limit).await
    }
    async fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DuePage, StoreError> {
        (**self).due_for_check(shard, now, cursor).await
    }
}

#[derive(Debug, Error)]
#[error("the queue is unavailable")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where checks wait for a worker.
#[async_trait]
pub trait RevalidationQueue: Send + Sync {
    async fn enqueue(
        &self,
        requests: &[crate::revalidation::RevalidationRequest],
    ) -> Result<(), QueueError>;
}

#[derive(Debug, Error)]
#[error("the event bus is unavailable")]
pub struct PublishError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where the platform hears that a destination broke or recovered.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(
        &self,
        event: &crate::revalidation::ConnectionEvent,
    ) -> Result<(), PublishError>;
}

/// Temporary credentials from AssumeRole. They never leave the function: no `Serialize`, and
/// `Debug` shows only the access key id's prefix.
#[derive(Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCredentials(<redacted>)")
    }
}

pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a crate::domain::RoleArn,
    /// `None` on purpose for the confused-deputy guard.
    pub external_id: Option<&'a crate::domain::ExternalId>,
    pub session_name: &'a str,
    /// Scopes the session below what the role allows.
    pub session_policy: Option<&'a str>,
}

pub struct PutTestObjectRequest<'a> {
    /// `None` writes with the platform's own credentials (bucket-policy mode).
    pub session: Option<&'a SessionCredentials>,
    pub bucket: &'a crate::domain::BucketName,
    pub key: &'a str,
    pub region: &'a str,
    pub expected_bucket_owner: Option<&'a crate::domain::AccountId>,
    pub kms_key: Option<&'a crate::domain::KmsKeyArn>,
    pub body: &'a [u8],
}

/// How an AWS call failed, as far as the caller can see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsFailure {
    pub kind: AwsFailureKind,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub http_status: Option<u16>,
    /// `x-amz-bucket-region`, which S3 sends on redirects and many errors.
    pub bucket_region: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AwsFailureKind {
    /// AWS answered with an error.
    #[default]
    Service,
    /// No answer in time.
    Timeout,
    /// Could not reach AWS (DNS, connection refused, TLS).
    Unreachable,
}

/// The two AWS operations a connection test needs, and nothing else.
#[async_trait]
pub trait ConnectionProber: Send + Sync {
    async fn assume_role(
        &self,
        request: AssumeRoleRequest<'_>,
    ) -> Result<SessionCredentials, AwsFailure>;
    async fn put_test_object(&self, request: PutTestObjectRequest<'_>) -> Result<(), AwsFailure>;
}
