//! Storage capabilities, split so that each function depends on what it uses.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;
use time::OffsetDateTime;

use crate::domain::check::CheckResult;
use crate::domain::delivery::{Delivery, DeliveryId, DeliveryRef};
use crate::domain::revalidation::{ConnectionEvent, RevalidationRequest};
use crate::domain::{ActivityEntry, Destination, DestinationId, IdempotencyKey, TenantId};

/// Storage failures as use cases need to tell them apart. Adapters log the underlying cause.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the destination was changed concurrently (expected version {expected})")]
    VersionConflict { expected: u64 },
    #[error("an item with this key already exists")]
    AlreadyExists,
    #[error("the tenant already has {cap} destinations, the most allowed")]
    LimitReached { cap: u32 },
    #[error("the pagination cursor is not valid for this listing")]
    InvalidCursor,
    #[error("storage is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data that does not read back as what we wrote: a bug, not an outage.
    #[error("stored data is corrupt")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A stored answer to a `POST /destinations` carrying an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    /// SHA-256 of the canonical request body: the same key with another body is refused.
    pub request_hash: String,
    /// The destination as first created: a replay answers with exactly this.
    pub created: Destination,
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
    Replayed(Box<IdempotencyRecord>),
}

/// A new destination and what is written with it, atomically.
pub struct NewRecord<'a> {
    pub destination: &'a Destination,
    pub activity: &'a ActivityEntry,
    pub idempotency: Option<&'a IdempotencyRecord>,
    /// The most destinations the tenant may have.
    pub cap: u32,
}

/// What is written with a destination change, in the same conditional write.
#[derive(Default)]
pub struct SideEffects<'a> {
    pub activity: Option<&'a ActivityEntry>,
    /// Status transitions to announce; published from storage, so none is lost with a crash.
    pub events: &'a [ConnectionEvent],
}

pub trait DestinationRepository: Send + Sync {
    /// # Errors
    /// `Unavailable` when storage cannot be reached, `Corrupt` when the item does not read back.
    fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> impl Future<Output = Result<Option<Destination>, StoreError>> + Send;

    /// A tenant's destinations, newest first.
    /// # Errors
    /// `InvalidCursor` for a cursor this listing did not issue; `Unavailable`, `Corrupt`.
    fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Stores a new destination (never overwriting one) with its activity entry, its idempotency
    /// record, and the tenant's destination count, all or nothing.
    /// # Errors
    /// `LimitReached` at the tenant's cap; `AlreadyExists` on an id collision; `Unavailable`.
    fn create(
        &self,
        record: NewRecord<'_>,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    /// Replaces the stored destination only if its version is still `expected_version`, together
    /// with `effects`. Releases a held check lock.
    /// # Errors
    /// `VersionConflict` when someone else changed it first (or it was deleted); `Unavailable`.
    fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
        effects: SideEffects<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the destination and records `activity`. Returns whether something was deleted.
    /// # Errors
    /// `Unavailable`.
    fn delete(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        activity: &ActivityEntry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One Test Connection at a time per destination.
pub trait CheckLock: Send + Sync {
    /// Takes the lock until `until` and returns the destination as stored (the test needs it, and
    /// the same call reads it); `None` if another test still holds it or the destination does not
    /// exist. Any update of the destination releases it.
    /// # Errors
    /// `Unavailable`.
    fn try_lock(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Destination>, StoreError>> + Send;

    /// Releases a lock without changing the destination (a test whose result is not stored).
    /// # Errors
    /// `Unavailable`.
    fn unlock(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The short, expiring history of connection tests.
pub trait CheckHistory: Send + Sync {
    /// Appends `result`; appending the same result twice keeps one entry.
    /// # Errors
    /// `Unavailable`.
    fn append(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        result: &CheckResult,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Newest first.
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> impl Future<Output = Result<Vec<CheckResult>, StoreError>> + Send;
}

/// One page of destinations whose next check is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePage {
    pub items: Vec<RevalidationRequest>,
    pub next_cursor: Option<String>,
}

pub trait DueIndex: Send + Sync {
    /// Saved destinations of one shard whose next check is at or before `now`, oldest first.
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityPage {
    pub items: Vec<ActivityEntry>,
    pub next_cursor: Option<String>,
}

pub trait ActivityLog: Send + Sync {
    /// A destination's activity, newest first (kept after the destination is deleted).
    /// # Errors
    /// `InvalidCursor`, `Unavailable`, `Corrupt`.
    fn activity(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<ActivityPage, StoreError>> + Send;
}

/// Records what happened to a destination without changing it (a vending of credentials).
pub trait ActivityRecorder: Send + Sync {
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn record_activity(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        entry: &ActivityEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPage {
    pub items: Vec<ConnectionEvent>,
    pub next_cursor: Option<String>,
}

/// Events written with the transition they announce, until they are published.
pub trait Outbox: Send + Sync {
    /// The event if it is still waiting to be published.
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn pending(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<ConnectionEvent>, StoreError>> + Send;

    /// Events written before `before` and still unpublished, oldest first.
    /// # Errors
    /// `InvalidCursor`, `Unavailable`, `Corrupt`.
    fn backlog(
        &self,
        before: OffsetDateTime,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<OutboxPage, StoreError>> + Send;

    /// Marks the event published. Removing it twice is not an error.
    /// # Errors
    /// `Unavailable`.
    fn published(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What storing a new delivery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored, with its activity entry.
    New,
    /// A delivery with this id was already stored: here it is, unchanged.
    Existing(Box<Delivery>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

/// Deliveries, kept in the table beside their destination.
pub trait DeliveryRecords: Send + Sync {
    /// Stores a new delivery and the activity entry of who asked for it, unless one with its id
    /// exists for that destination; then returns that one and writes nothing.
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn record(
        &self,
        delivery: &Delivery,
        activity: &ActivityEntry,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// # Errors
    /// `Unavailable`, `Corrupt`.
    fn delivery(
        &self,
        tenant: &TenantId,
        destination: &DestinationId,
        id: &DeliveryId,
    ) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    /// Replaces the stored delivery only if its version is still `expected_version`, together with
    /// `event` (into the outbox).
    /// # Errors
    /// `VersionConflict` when another attempt changed it first; `Unavailable`.
    fn save_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        event: Option<&ConnectionEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records on the stored delivery the multipart upload its current attempt started, only if
    /// it is still at `version` (the attempt's own), without changing that version.
    /// # Errors
    /// `VersionConflict` when the attempt was overtaken; `Unavailable`.
    fn note_upload(
        &self,
        reference: &DeliveryRef,
        version: u64,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A destination's deliveries, newest first.
    /// # Errors
    /// `InvalidCursor`, `Unavailable`, `Corrupt`.
    fn deliveries(
        &self,
        tenant: &TenantId,
        destination: &DestinationId,
        limit: u16,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<DeliveryPage, StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeliveryPage {
    pub items: Vec<DeliveryRef>,
    pub next_cursor: Option<String>,
}

/// Deliveries waiting for an attempt: queued, backing off, or held by a lost attempt.
pub trait DueDeliveries: Send + Sync {
    /// Those whose next attempt is at or before `now`, oldest first.
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    fn due_deliveries(
        &self,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<DueDeliveryPage, StoreError>> + Send;
}

/// The calls a tenant's rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitedAction {
    TestConnection,
    CreateDestination,
    MergeBucketPolicy,
    /// Every authenticated API request of the tenant: its share beside the stage's throttle.
    ApiRequest,
}

impl RateLimitedAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitedAction::TestConnection => "test-connection",
            RateLimitedAction::CreateDestination => "create-destination",
            RateLimitedAction::MergeBucketPolicy => "merge-bucket-policy",
            RateLimitedAction::ApiRequest => "api-request",
        }
    }
}

/// How long until the limit lets the caller through again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

pub trait RateLimiter: Send + Sync {
    /// Counts one call of `action` for `tenant` in the current window.
    /// # Errors
    /// `Ok(Err(RetryAfter))` when the tenant is over its limit; `Unavailable`.
    fn acquire(
        &self,
        tenant: &TenantId,
        action: RateLimitedAction,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Result<(), RetryAfter>, StoreError>> + Send;
}

/// Who wants a check slot. Re-validation may not take a tenant's last slot: a tenant's own
/// scheduled checks never keep its user's Test Connection waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    TestConnection,
    Revalidation,
}

/// A check slot held until released or until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSlot {
    pub index: u16,
    /// Tells this holder apart from one that took the slot after our lease ended.
    pub holder: String,
}

/// A tenant's checks running at once (Test Connection and re-validation together), capped: one
/// tenant cannot take every check the platform runs.
pub trait CheckSlots: Send + Sync {
    /// Takes a free slot of `tenant`'s until `until` (a slot whose lease ended is free); `None`
    /// when every slot `kind` may take is held.
    /// # Errors
    /// `Unavailable`.
    fn take_slot(
        &self,
        tenant: &TenantId,
        kind: CheckKind,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<CheckSlot>, StoreError>> + Send;

    /// Frees `slot`, unless another holder took it after our lease ended.
    /// # Errors
    /// `Unavailable`.
    fn release_slot(
        &self,
        tenant: &TenantId,
        slot: &CheckSlot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The slot indexes `kind` may take of a tenant's `limit`, starting at `start` (spread, so that
/// takers do not all contend for slot 0).
pub fn slot_indexes(kind: CheckKind, limit: u16, start: u16) -> impl Iterator<Item = u16> {
    let usable = match kind {
        CheckKind::TestConnection => limit,
        CheckKind::Revalidation => limit.saturating_sub(1).max(1),
    };
    (0..usable).map(move |i| (start.wrapping_add(i)) % usable)
}
