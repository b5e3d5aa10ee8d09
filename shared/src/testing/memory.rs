//! In-memory adapters with the same contracts as the AWS ones: conditional writes, tenant-bound
//! cursors, expiring locks. Every operation yields to the runtime between its read and its write,
//! so concurrent callers really interleave.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::check::CheckResult;
use crate::domain::delivery::{Delivery, DeliveryId, DeliveryRef, StagedSource};
use crate::domain::revalidation::{ConnectionEvent, RevalidationRequest, due_shard};
use crate::domain::{ActivityEntry, Destination, DestinationId, TenantId};
use crate::ports::{
    ActivityLog, ActivityPage, ActivityRecorder, AssumeRoleRequest, CheckHistory, CheckKind,
    CheckLock, CheckSlot, CheckSlots, CreateOutcome, DeliveryPage, DeliveryQueue, DeliveryRecords,
    DestinationRepository, DueDeliveries, DueDeliveryPage, DueIndex, DuePage, EventPublisher,
    FullObjectChecksum, IdempotencyRecord, InMemorySource, NewRecord, ObjectBody, ObjectTarget,
    ObjectWriter, Outbox, OutboxPage, Page, ProbeError, PublishError, QueueError,
    RateLimitedAction, RateLimiter, Recorded, RetryAfter, RevalidationQueue, SessionCredentials,
    SideEffects, SourceError, StagedFiles, StoreError, UploadedPart, WrittenObject, slot_indexes,
};

type Key = (TenantId, DestinationId);

#[derive(Default)]
struct State {
    destinations: BTreeMap<Key, (Destination, Option<OffsetDateTime>)>,
    history: Vec<(Key, CheckResult)>,
    activity: Vec<(Key, ActivityEntry)>,
    idempotency: HashMap<(TenantId, String), IdempotencyRecord>,
    outbox: BTreeMap<(TenantId, String), ConnectionEvent>,
    counts: HashMap<TenantId, u32>,
    rate: HashMap<(TenantId, RateLimitedAction, i64), u32>,
    deliveries: BTreeMap<(Key, DeliveryId), Delivery>,
    /// Held check slots: `(tenant, index)` → `(holder, lease end)`.
    slots: HashMap<(TenantId, u16), (String, OffsetDateTime)>,
}

/// Every store port over one shared state; clones share it.
#[derive(Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
    unavailable: Arc<AtomicBool>,
    corrupt: Arc<AtomicBool>,
    lose_races: Arc<AtomicBool>,
    /// Destination updates tried, won or lost.
    updates_tried: Arc<AtomicUsize>,
    /// Calls per minute per action; `None`: unlimited.
    rate_limit: Option<u32>,
    /// API requests per minute per tenant; `None`: unlimited.
    api_quota: Option<u32>,
    /// Checks a tenant may run at once; `None`: unlimited.
    check_slots: Option<u16>,
}

fn outage() -> StoreError {
    StoreError::Unavailable("the in-memory store is switched off".into())
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every tenant may make at most `per_minute` calls of each rate-limited action.
    pub fn with_rate_limit(per_minute: u32) -> Self {
        Self {
            rate_limit: Some(per_minute),
            ..Self::default()
        }
    }

    /// Every tenant may make at most `per_minute` API requests.
    pub fn with_api_quota(mut self, per_minute: u32) -> Self {
        self.api_quota = Some(per_minute);
        self
    }

    /// Every tenant may run at most `slots` checks at once.
    pub fn with_check_slots(mut self, slots: u16) -> Self {
        self.check_slots = Some(slots);
        self
    }

    /// Makes every later call fail as an outage (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Makes every later read fail as data that does not read back (or read fine again).
    pub fn corrupt_reads(&self, corrupt: bool) {
        self.corrupt.store(corrupt, Ordering::SeqCst);
    }

    /// Makes every later update lose its race, as if another writer always got there first.
    pub fn lose_every_race(&self, lose: bool) {
        self.lose_races.store(lose, Ordering::SeqCst);
    }

    /// How many destination updates were tried, won or lost.
    pub fn updates_tried(&self) -> usize {
        self.updates_tried.load(Ordering::SeqCst)
    }

    /// Holds the check lock of destination `id` (any tenant) until `ttl` from now.
    pub fn hold_check_lock(&self, id: &str, ttl: time::Duration) {
        let mut state = self.lock();
        for ((_, key), (_, lock)) in state.destinations.iter_mut() {
            if key.as_str() == id {
                *lock = Some(OffsetDateTime::now_utc() + ttl);
            }
        }
    }

    /// Stores `destination` as is (a fixture, bypassing the use cases).
    pub fn insert(&self, destination: Destination) {
        let key = (destination.tenant().clone(), destination.id().clone());
        self.lock().destinations.insert(key, (destination, None));
    }

    /// An event waiting in the outbox (a fixture).
    /// Removes a destination as if deleted (its count and trail untouched).
    pub fn remove(&self, tenant: &TenantId, id: &DestinationId) {
        self.lock()
            .destinations
            .remove(&(tenant.clone(), id.clone()));
    }

    pub fn insert_outbox(&self, event: ConnectionEvent) {
        self.lock()
            .outbox
            .insert((event.tenant_id.clone(), event.event_id.clone()), event);
    }

    pub fn outbox_len(&self) -> usize {
        self.lock().outbox.len()
    }

    /// The events waiting in the outbox, in key order.
    pub fn outbox_events(&self) -> Vec<ConnectionEvent> {
        self.lock().outbox.values().cloned().collect()
    }

    async fn open(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        tokio::task::yield_now().await;
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(outage());
        }
        Ok(self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn record_effects(state: &mut State, key: &Key, effects: &SideEffects<'_>) {
    if let Some(entry) = effects.activity {
        state.activity.push((key.clone(), entry.clone()));
    }
    for event in effects.events {
        state
            .outbox
            .entry((event.tenant_id.clone(), event.event_id.clone()))
            .or_insert_with(|| event.clone());
    }
}

impl DestinationRepository for InMemoryStore {
    async fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> Result<Option<Destination>, StoreError> {
        let state = self.open().await?;
        if self.corrupt.load(Ordering::SeqCst) {
            return Err(StoreError::Corrupt(
                "the in-memory store reads garbage".into(),
            ));
        }
        Ok(state
            .destinations
            .get(&(tenant.clone(), id.clone()))
            .map(|(d, _)| d.clone()))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let state = self.open().await?;
        let mut mine: Vec<&Destination> = state
            .destinations
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, (d, _))| d)
            .collect();
        mine.sort_by(|a, b| {
            (b.created_at(), b.id().as_str()).cmp(&(a.created_at(), a.id().as_str()))
        });
        let start = match cursor {
            None => 0,
            Some(c) => mine
                .iter()
                .position(|d| d.id().as_str() == c)
                .map(|i| i + 1)
                .ok_or(StoreError::InvalidCursor)?,
        };
        let page: Vec<Destination> = mine
            .iter()
            .skip(start)
            .take(usize::from(limit))
            .map(|d| (*d).clone())
            .collect();
        let next_cursor = (start + page.len() < mine.len())
            .then(|| page.last().map(|d| d.id().as_str().to_owned()))
            .flatten();
        Ok(Page {
            items: page,
            next_cursor,
        })
    }

    async fn create(&self, record: NewRecord<'_>) -> Result<CreateOutcome, StoreError> {
        let mut state = self.open().await?;
        let destination = record.destination;
        let tenant = destination.tenant().clone();
        if let Some(idempotency) = record.idempotency {
            let key = (tenant.clone(), idempotency.key.as_str().to_owned());
            if let Some(previous) = state.idempotency.get(&key)
                && previous.expires_at >= OffsetDateTime::now_utc()
            {
                return Ok(CreateOutcome::Replayed(Box::new(previous.clone())));
            }
        }
        let count = state.counts.get(&tenant).copied().unwrap_or(0);
        if count >= record.cap {
            return Err(StoreError::LimitReached { cap: record.cap });
        }
        let key = (tenant.clone(), destination.id().clone());
        if state.destinations.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        state
            .destinations
            .insert(key.clone(), (destination.clone(), None));
        state.counts.insert(tenant.clone(), count + 1);
        state.activity.push((key, record.activity.clone()));
        if let Some(idempotency) = record.idempotency {
            state.idempotency.insert(
                (tenant, idempotency.key.as_str().to_owned()),
                idempotency.clone(),
            );
        }
        Ok(CreateOutcome::Created)
    }

    async fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
        effects: SideEffects<'_>,
    ) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        self.updates_tried.fetch_add(1, Ordering::SeqCst);
        if self.lose_races.load(Ordering::SeqCst) {
            return Err(StoreError::VersionConflict {
                expected: expected_version,
            });
        }
        let key = (destination.tenant().clone(), destination.id().clone());
        match state.destinations.get(&key) {
            Some((stored, _)) if stored.version() == expected_version => {}
            _ => {
                return Err(StoreError::VersionConflict {
                    expected: expected_version,
                });
            }
        }
        state
            .destinations
            .insert(key.clone(), (destination.clone(), None));
        record_effects(&mut state, &key, &effects);
        Ok(())
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        activity: &ActivityEntry,
    ) -> Result<bool, StoreError> {
        let mut state = self.open().await?;
        let key = (tenant.clone(), id.clone());
        if state.destinations.remove(&key).is_none() {
            return Ok(false);
        }
        if let Some(count) = state.counts.get_mut(tenant) {
            *count = count.saturating_sub(1);
        }
        state.activity.push((key, activity.clone()));
        Ok(true)
    }
}

impl CheckLock for InMemoryStore {
    async fn try_lock(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<Destination>, StoreError> {
        let mut state = self.open().await?;
        match state.destinations.get_mut(&(tenant.clone(), id.clone())) {
            Some((destination, lock)) if lock.is_none_or(|held| held < now) => {
                *lock = Some(until);
                Ok(Some(destination.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn unlock(&self, tenant: &TenantId, id: &DestinationId) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        if let Some((_, lock)) = state.destinations.get_mut(&(tenant.clone(), id.clone())) {
            *lock = None;
        }
        Ok(())
    }
}

impl CheckHistory for InMemoryStore {
    async fn append(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        result: &CheckResult,
    ) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        let key = (tenant.clone(), id.clone());
        state
            .history
            .retain(|(k, r)| !(k == &key && r.started_at == result.started_at));
        state.history.push((key, result.clone()));
        Ok(())
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> Result<Vec<CheckResult>, StoreError> {
        let state = self.open().await?;
        let key = (tenant.clone(), id.clone());
        let mut mine: Vec<CheckResult> = state
            .history
            .iter()
            .filter(|(k, _)| k == &key)
            .map(|(_, r)| r.clone())
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        mine.truncate(usize::from(limit));
        Ok(mine)
    }
}

impl DueIndex for InMemoryStore {
    async fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DuePage, StoreError> {
        if cursor.is_some() {
            return Err(StoreError::InvalidCursor);
        }
        let state = self.open().await?;
        let items = state
            .destinations
            .values()
            .map(|(d, _)| d)
            .filter(|d| d.is_saved() && due_shard(d.id()) == shard)
            .filter(|d| d.revalidation().next_check_at.is_some_and(|at| at <= now))
            .map(|d| RevalidationRequest {
                tenant_id: d.tenant().clone(),
                destination_id: d.id().clone(),
                version: d.version(),
            })
            .collect();
        Ok(DuePage {
            items,
            next_cursor: None,
        })
    }
}

impl ActivityRecorder for InMemoryStore {
    async fn record_activity(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        entry: &ActivityEntry,
    ) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        state
            .activity
            .push(((tenant.clone(), id.clone()), entry.clone()));
        Ok(())
    }
}

impl ActivityLog for InMemoryStore {
    async fn activity(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<ActivityPage, StoreError> {
        let state = self.open().await?;
        let key = (tenant.clone(), id.clone());
        let mut mine: Vec<ActivityEntry> = state
            .activity
            .iter()
            .filter(|(k, _)| k == &key)
            .map(|(_, e)| e.clone())
            .collect();
        mine.sort_by_key(|e| std::cmp::Reverse((e.at, e.version)));
        let start: usize = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| StoreError::InvalidCursor)?,
        };
        let page: Vec<ActivityEntry> = mine
            .iter()
            .skip(start)
            .take(usize::from(limit))
            .cloned()
            .collect();
        let end = start + page.len();
        Ok(ActivityPage {
            items: page,
            next_cursor: (end < mine.len()).then(|| end.to_string()),
        })
    }
}

impl Outbox for InMemoryStore {
    async fn pending(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> Result<Option<ConnectionEvent>, StoreError> {
        let state = self.open().await?;
        Ok(state
            .outbox
            .get(&(tenant.clone(), event_id.to_owned()))
            .cloned())
    }

    async fn backlog(
        &self,
        before: OffsetDateTime,
        _cursor: Option<&str>,
    ) -> Result<OutboxPage, StoreError> {
        let state = self.open().await?;
        let items = state
            .outbox
            .values()
            .filter(|e| e.occurred_at <= before)
            .cloned()
            .collect();
        Ok(OutboxPage {
            items,
            next_cursor: None,
        })
    }

    async fn published(&self, tenant: &TenantId, event_id: &str) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        state.outbox.remove(&(tenant.clone(), event_id.to_owned()));
        Ok(())
    }
}

impl DeliveryRecords for InMemoryStore {
    async fn record(
        &self,
        delivery: &Delivery,
        activity: &ActivityEntry,
    ) -> Result<Recorded, StoreError> {
        let mut state = self.open().await?;
        let key = (
            (delivery.tenant.clone(), delivery.destination.clone()),
            delivery.id.clone(),
        );
        if let Some(existing) = state.deliveries.get(&key) {
            return Ok(Recorded::Existing(Box::new(existing.clone())));
        }
        state.deliveries.insert(key.clone(), delivery.clone());
        state.activity.push((key.0, activity.clone()));
        Ok(Recorded::New)
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        destination: &DestinationId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let state = self.open().await?;
        Ok(state
            .deliveries
            .get(&((tenant.clone(), destination.clone()), id.clone()))
            .cloned())
    }

    async fn save_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        event: Option<&ConnectionEvent>,
    ) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        let key = (
            (delivery.tenant.clone(), delivery.destination.clone()),
            delivery.id.clone(),
        );
        match state.deliveries.get(&key) {
            Some(stored) if stored.version == expected_version => {}
            _ => {
                return Err(StoreError::VersionConflict {
                    expected: expected_version,
                });
            }
        }
        state.deliveries.insert(key, delivery.clone());
        if let Some(event) = event {
            state.outbox.insert(
                (event.tenant_id.clone(), event.event_id.clone()),
                event.clone(),
            );
        }
        Ok(())
    }

    async fn note_upload(
        &self,
        reference: &DeliveryRef,
        version: u64,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        let key = (
            (
                reference.tenant_id.clone(),
                reference.destination_id.clone(),
            ),
            reference.delivery_id.clone(),
        );
        match state.deliveries.get_mut(&key) {
            Some(stored) if stored.version == version => {
                stored.upload_id = Some(upload_id.to_owned());
                Ok(())
            }
            _ => Err(StoreError::VersionConflict { expected: version }),
        }
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        destination: &DestinationId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, StoreError> {
        let state = self.open().await?;
        let mut mine: Vec<&Delivery> = state
            .deliveries
            .iter()
            .filter(|(((t, d), _), _)| t == tenant && d == destination)
            .map(|(_, delivery)| delivery)
            .collect();
        mine.sort_by(|a, b| (b.requested_at, &b.id).cmp(&(a.requested_at, &a.id)));
        let start: usize = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| StoreError::InvalidCursor)?,
        };
        let items: Vec<Delivery> = mine
            .iter()
            .skip(start)
            .take(usize::from(limit))
            .map(|d| (*d).clone())
            .collect();
        let end = start + items.len();
        Ok(DeliveryPage {
            items,
            next_cursor: (end < mine.len()).then(|| end.to_string()),
        })
    }
}

impl DueDeliveries for InMemoryStore {
    async fn due_deliveries(
        &self,
        now: OffsetDateTime,
        _cursor: Option<&str>,
    ) -> Result<DueDeliveryPage, StoreError> {
        let state = self.open().await?;
        let mut due: Vec<&Delivery> = state.deliveries.values().filter(|d| d.due(now)).collect();
        due.sort_by_key(|d| d.next_attempt_at);
        Ok(DueDeliveryPage {
            items: due.iter().map(|d| d.reference()).collect(),
            next_cursor: None,
        })
    }
}

impl RateLimiter for InMemoryStore {
    async fn acquire(
        &self,
        tenant: &TenantId,
        action: RateLimitedAction,
        now: OffsetDateTime,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let mut state = self.open().await?;
        let limit = match action {
            RateLimitedAction::ApiRequest => self.api_quota,
            _ => self.rate_limit,
        };
        let Some(limit) = limit else {
            return Ok(Ok(()));
        };
        let window = now.unix_timestamp().div_euclid(60);
        let count = state
            .rate
            .entry((tenant.clone(), action, window))
            .or_insert(0);
        if *count >= limit {
            let wait = 60 - now.unix_timestamp().rem_euclid(60);
            return Ok(Err(RetryAfter(Duration::from_secs(
                wait.unsigned_abs().max(1),
            ))));
        }
        *count += 1;
        Ok(Ok(()))
    }
}

impl CheckSlots for InMemoryStore {
    async fn take_slot(
        &self,
        tenant: &TenantId,
        kind: CheckKind,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<CheckSlot>, StoreError> {
        let mut state = self.open().await?;
        let holder = uuid::Uuid::new_v4().to_string();
        let Some(limit) = self.check_slots else {
            return Ok(Some(CheckSlot { index: 0, holder }));
        };
        for index in slot_indexes(kind, limit, 0) {
            let slot = (tenant.clone(), index);
            if state.slots.get(&slot).is_none_or(|(_, lease)| *lease < now) {
                state.slots.insert(slot, (holder.clone(), until));
                return Ok(Some(CheckSlot { index, holder }));
            }
        }
        Ok(None)
    }

    async fn release_slot(&self, tenant: &TenantId, slot: &CheckSlot) -> Result<(), StoreError> {
        let mut state = self.open().await?;
        let key = (tenant.clone(), slot.index);
        if state
            .slots
            .get(&key)
            .is_some_and(|(holder, _)| *holder == slot.holder)
        {
            state.slots.remove(&key);
        }
        Ok(())
    }
}

/// Records what is queued; clones share the record.
#[derive(Clone, Default)]
pub struct RecordingQueue {
    pub queued: Arc<Mutex<Vec<RevalidationRequest>>>,
    /// Requests queued again for later, with their delay.
    pub deferred: Arc<Mutex<Vec<(RevalidationRequest, std::time::Duration)>>>,
    pub fail: Arc<AtomicBool>,
}

impl RevalidationQueue for RecordingQueue {
    async fn enqueue(&self, requests: &[RevalidationRequest]) -> Result<(), QueueError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(QueueError("the recording queue is switched off".into()));
        }
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(requests);
        Ok(())
    }

    async fn defer(
        &self,
        request: &RevalidationRequest,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(QueueError("the recording queue is switched off".into()));
        }
        self.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((request.clone(), delay));
        Ok(())
    }
}

/// Records the deliveries queued; clones share the record.
#[derive(Clone, Default)]
pub struct RecordingDeliveryQueue {
    pub queued: Arc<Mutex<Vec<DeliveryRef>>>,
    pub fail: Arc<AtomicBool>,
}

impl DeliveryQueue for RecordingDeliveryQueue {
    async fn enqueue_deliveries(&self, deliveries: &[DeliveryRef]) -> Result<(), QueueError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(QueueError("the recording queue is switched off".into()));
        }
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(deliveries);
        Ok(())
    }
}

/// A staging bucket in memory: `key → bytes`; a missing key is `NotFound`.
#[derive(Clone, Default)]
pub struct InMemoryStaging {
    pub files: Arc<Mutex<HashMap<String, bytes::Bytes>>>,
}

impl InMemoryStaging {
    pub fn with(key: &str, bytes: impl Into<bytes::Bytes>) -> Self {
        let staging = Self::default();
        staging
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), bytes.into());
        staging
    }
}

impl StagedFiles for InMemoryStaging {
    type Source = InMemorySource;

    async fn open(&self, source: &StagedSource) -> Result<InMemorySource, SourceError> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&source.key)
            .cloned()
            .map(InMemorySource)
            .ok_or(SourceError::NotFound)
    }
}

/// Records what is published; clones share the record. `fail` simulates an event-bus outage.
#[derive(Clone, Default)]
pub struct RecordingPublisher {
    pub events: Arc<Mutex<Vec<ConnectionEvent>>>,
    pub fail: Arc<AtomicBool>,
}

impl RecordingPublisher {
    pub fn published(&self) -> Vec<ConnectionEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &ConnectionEvent) -> Result<(), PublishError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(PublishError("the recording bus is switched off".into()));
        }
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }
}

/// What a scripted AssumeRole call saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeCall {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub session_policy: Option<String>,
}

type AssumeScript = dyn Fn(&AssumeCall) -> Result<(), ProbeError> + Send + Sync;
type PutScript = dyn Fn(&PutCall) -> Result<(), ProbeError> + Send + Sync;

/// Open multipart uploads by id: the key and the parts received so far.
pub type OpenUploads = HashMap<String, (String, BTreeMap<u16, bytes::Bytes>)>;

/// What a scripted PutObject (or the start of a multipart upload) saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutCall {
    pub bucket: String,
    pub key: String,
    pub region: String,
    pub expected_bucket_owner: Option<String>,
    pub kms_key: Option<String>,
    /// The access key of the session that wrote: `<role>|<session name>` for scripted sessions.
    pub session_access_key: String,
    pub bytes: usize,
}

/// A writer whose answers a test scripts, recording every call.
#[derive(Clone)]
pub struct ScriptedWriter {
    assume: Arc<AssumeScript>,
    put: Arc<PutScript>,
    pub assumed: Arc<Mutex<Vec<AssumeCall>>>,
    pub puts: Arc<Mutex<Vec<PutCall>>>,
    /// How long every call takes.
    pub latency: Duration,
    /// The scripted bucket: what each write left there, by key.
    pub objects: Arc<Mutex<HashMap<String, bytes::Bytes>>>,
    /// Multipart uploads started and neither completed nor aborted, with their parts.
    pub uploads: Arc<Mutex<OpenUploads>>,
    /// `UploadPart` fails with this error for this part number.
    pub failing_part: Option<(u16, ProbeError)>,
    /// The most bytes held by parts in flight at once.
    pub peak_part_bytes: Arc<Mutex<(usize, usize)>>,
    /// Whether the scripted bucket policy lets any session of the writer role put (as one naming
    /// the role, the account or `*` would), or only each destination's own session.
    pub bucket_policy_grants_any_writer_session: bool,
    /// Puts with `If-None-Match: *` (the bucket-policy guard's probes), kept apart from `puts`.
    pub conditional_puts: Arc<Mutex<Vec<PutCall>>>,
}

impl ScriptedWriter {
    pub fn new(
        assume: impl Fn(&AssumeCall) -> Result<(), ProbeError> + Send + Sync + 'static,
        put: impl Fn(&PutCall) -> Result<(), ProbeError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            assume: Arc::new(assume),
            put: Arc::new(put),
            assumed: Arc::default(),
            puts: Arc::default(),
            latency: Duration::ZERO,
            objects: Arc::default(),
            uploads: Arc::default(),
            failing_part: None,
            peak_part_bytes: Arc::default(),
            bucket_policy_grants_any_writer_session: false,
            conditional_puts: Arc::default(),
        }
    }

    /// Every call succeeds.
    pub fn permissive() -> Self {
        Self::new(|_| Ok(()), |_| Ok(()))
    }

    /// A role that trusts only `external_id`, and a bucket that takes every write.
    pub fn strict_role(external_id: String) -> Self {
        Self::new(
            move |call| match (
                &call.external_id,
                call.role_arn.contains(":role/destinations-platform-writer"),
            ) {
                (_, true) => Ok(()),
                (Some(id), _) if *id == external_id => Ok(()),
                _ => Err(ProbeError::new(crate::ports::ProbeFailure::AccessDenied)),
            },
            |_| Ok(()),
        )
    }

    /// The same sessions, with writes answered by `put`.
    pub fn with_puts(
        mut self,
        put: impl Fn(&PutCall) -> Result<(), ProbeError> + Send + Sync + 'static,
    ) -> Self {
        self.put = Arc::new(put);
        self
    }

    pub fn assume_calls(&self) -> Vec<AssumeCall> {
        self.assumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn put_calls(&self) -> Vec<PutCall> {
        self.puts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn put_call(target: &ObjectTarget<'_>, bytes: usize) -> PutCall {
    PutCall {
        bucket: target.bucket.as_str().to_owned(),
        key: target.key.to_owned(),
        region: target.region.to_owned(),
        expected_bucket_owner: target.expected_bucket_owner.map(|a| a.as_str().to_owned()),
        kms_key: target.kms_key.map(|k| k.as_str().to_owned()),
        session_access_key: target.session.access_key_id.clone(),
        bytes,
    }
}

/// Credentials that say which AssumeRole made them, so a test can tell which session wrote.
fn credentials(call: &AssumeCall) -> SessionCredentials {
    SessionCredentials {
        access_key_id: format!("{}|{}", call.role_arn, call.session_name),
        secret_access_key: "scripted".into(),
        session_token: "scripted".into(),
        // Fifteen minutes, as the AWS writer asks STS for.
        expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::minutes(15)),
    }
}

impl ObjectWriter for ScriptedWriter {
    async fn assume_role(
        &self,
        request: AssumeRoleRequest<'_>,
    ) -> Result<SessionCredentials, ProbeError> {
        tokio::time::sleep(self.latency).await;
        let call = AssumeCall {
            role_arn: request.role_arn.as_str().to_owned(),
            external_id: request.external_id.map(|e| e.expose().to_owned()),
            session_name: request.session_name.as_str().to_owned(),
            session_policy: request.session_policy.map(str::to_owned),
        };
        self.assumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call.clone());
        (self.assume)(&call).map(|()| credentials(&call))
    }

    async fn put_object(
        &self,
        target: ObjectTarget<'_>,
        body: ObjectBody,
    ) -> Result<WrittenObject, ProbeError> {
        tokio::time::sleep(self.latency).await;
        let call = put_call(&target, body.bytes.len());
        if body.only_if_absent {
            lock(&self.conditional_puts).push(call.clone());
            if !self.bucket_policy_grants_any_writer_session {
                return Err(ProbeError::new(crate::ports::ProbeFailure::AccessDenied));
            }
            (self.put)(&call)?;
            if lock(&self.objects).contains_key(target.key) {
                return Err(ProbeError::new(crate::ports::ProbeFailure::AlreadyExists));
            }
        } else {
            lock(&self.puts).push(call.clone());
            (self.put)(&call)?;
        }
        if let Some(checksum) = body.checksum {
            assert_eq!(
                checksum,
                crate::app::writer::crc64nvme(&[&body.bytes]),
                "S3 refuses a body whose checksum does not match"
            );
        }
        lock(&self.objects).insert(target.key.to_owned(), body.bytes.clone());
        Ok(WrittenObject {
            etag: Some(format!("\"scripted-{}\"", body.bytes.len())),
            version_id: None,
        })
    }

    async fn start_upload(
        &self,
        target: ObjectTarget<'_>,
        _content_type: &'static str,
    ) -> Result<String, ProbeError> {
        tokio::time::sleep(self.latency).await;
        let call = put_call(&target, 0);
        lock(&self.puts).push(call.clone());
        (self.put)(&call)?;
        let mut uploads = lock(&self.uploads);
        let id = format!("upload-{}", uploads.len() + 1);
        uploads.insert(id.clone(), (target.key.to_owned(), BTreeMap::new()));
        Ok(id)
    }

    async fn upload_part(
        &self,
        _target: ObjectTarget<'_>,
        upload_id: &str,
        number: u16,
        bytes: bytes::Bytes,
    ) -> Result<UploadedPart, ProbeError> {
        {
            let mut peak = lock(&self.peak_part_bytes);
            peak.0 += bytes.len();
            peak.1 = peak.1.max(peak.0);
        }
        tokio::time::sleep(self.latency).await;
        lock(&self.peak_part_bytes).0 -= bytes.len();
        if let Some((failing, error)) = &self.failing_part
            && *failing == number
        {
            return Err(error.clone());
        }
        let etag = format!("\"part-{number}\"");
        lock(&self.uploads)
            .get_mut(upload_id)
            .ok_or_else(|| ProbeError::new(crate::ports::ProbeFailure::Other))?
            .1
            .insert(number, bytes);
        Ok(UploadedPart { number, etag })
    }

    async fn complete_upload(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
        parts: &[UploadedPart],
        checksum: FullObjectChecksum,
    ) -> Result<WrittenObject, ProbeError> {
        let (key, stored) = lock(&self.uploads)
            .remove(upload_id)
            .ok_or_else(|| ProbeError::new(crate::ports::ProbeFailure::Other))?;
        assert_eq!(key, target.key);
        let numbers: Vec<u16> = parts.iter().map(|p| p.number).collect();
        assert_eq!(
            numbers,
            stored.keys().copied().collect::<Vec<_>>(),
            "every part, in order"
        );
        let whole: Vec<u8> = stored.values().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(
            checksum,
            crate::app::writer::crc64nvme(&[&whole]),
            "S3 checks the whole"
        );
        lock(&self.objects).insert(key, whole.into());
        Ok(WrittenObject {
            etag: Some(format!("\"scripted-{}-parts\"", parts.len())),
            version_id: None,
        })
    }

    async fn abort_upload(
        &self,
        _target: ObjectTarget<'_>,
        upload_id: &str,
    ) -> Result<(), ProbeError> {
        lock(&self.uploads).remove(upload_id);
        Ok(())
    }
}
