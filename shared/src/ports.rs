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

    /// Appends to the short, expiring history of test results.
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
}
