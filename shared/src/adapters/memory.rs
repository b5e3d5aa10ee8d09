//! An in-memory [`DestinationStore`] with the same semantics as the DynamoDB adapter, for handler tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::connection_test::ConnectionTestResult;
use crate::domain::{Destination, DestinationId, TenantId};
use crate::ports::{
    CreateOutcome, DestinationStore, DuePage, IdempotencyRecord, Page, StoreError, due_shard,
};
use crate::revalidation::RevalidationRequest;

type Key = (String, String);

#[derive(Default)]
struct Tables {
    destinations: BTreeMap<Key, Destination>,
    locks: BTreeMap<Key, OffsetDateTime>,
    idempotency: BTreeMap<Key, IdempotencyRecord>,
    history: BTreeMap<Key, Vec<ConnectionTestResult>>,
}

#[derive(Default)]
pub struct InMemoryStore {
    tables: Mutex<Tables>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn key(tenant: &TenantId, id: &DestinationId) -> Key {
    (tenant.as_str().to_owned(), id.as_str().to_owned())
}

#[async_trait]
impl DestinationStore for InMemoryStore {
    async fn create(
        &self,
        destination: &Destination,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        let mut tables = self.tables();
        let k = key(&destination.tenant, &destination.id);
        if let Some(record) = idempotency {
            let idem_key = (destination.tenant.as_str().to_owned(), record.key.clone());
            if let Some(existing) = tables.idempotency.get(&idem_key)
                && existing.expires_at > OffsetDateTime::now_utc()
            {
                return Ok(CreateOutcome::Replayed(existing.clone()));
            }
            if tables.destinations.contains_key(&k) {
                return Err(StoreError::AlreadyExists);
            }
            tables.idempotency.insert(idem_key, record.clone());
        }
        if tables.destinations.contains_key(&k) {
            return Err(StoreError::AlreadyExists);
        }
        tables.destinations.insert(k, destination.clone());
        Ok(CreateOutcome::Created)
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> Result<Option<Destination>, StoreError> {
        Ok(self.tables().destinations.get(&key(tenant, id)).cloned())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let tables = self.tables();
        let mut mine: Vec<&Destination> = tables
            .destinations
            .values()
            .filter(|d| &d.tenant == tenant)
            .collect();
        mine.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        let start = match cursor {
            None => 0,
            Some(c) => {
                let (tenant_part, id) = c.split_once('/').ok_or(StoreError::InvalidCursor)?;
                if tenant_part != tenant.as_str() {
                    return Err(StoreError::InvalidCursor);
                }
                mine.iter()
                    .position(|d| d.id.as_str() == id)
                    .ok_or(StoreError::InvalidCursor)?
                    + 1
            }
        };
        let items: Vec<Destination> = mine
            .iter()
            .skip(start)
            .take(limit as usize)
            .map(|d| (*d).clone())
            .collect();
        let next_cursor = (start + items.len() < mine.len())
            .then(|| items.last().map(|d| format!("{}/{}", tenant, d.id)))
            .flatten();
        Ok(Page { items, next_cursor })
    }

    async fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let k = key(&destination.tenant, &destination.id);
        match tables.destinations.get(&k) {
            Some(stored) if stored.version == expected_version => {
                tables.destinations.insert(k.clone(), destination.clone());
                tables.locks.remove(&k);
                Ok(())
            }
            _ => Err(StoreError::VersionConflict {
                expected: expected_version,
            }),
        }
    }

    async fn delete(&self, tenant: &TenantId, id: &DestinationId) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let k = key(tenant, id);
        tables.locks.remove(&k);
        Ok(tables.destinations.remove(&k).is_some())
    }

    async fn try_lock_test(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables();
        let k = key(tenant, id);
        if !tables.destinations.contains_key(&k) {
            return Ok(false);
        }
        if tables.locks.get(&k).is_some_and(|held| *held > now) {
            return Ok(false);
        }
        tables.locks.insert(k, until);
        Ok(true)
    }

    async fn unlock_test(&self, tenant: &TenantId, id: &DestinationId) -> Result<(), StoreError> {
        self.tables().locks.remove(&key(tenant, id));
        Ok(())
    }

    async fn record_test_result(
        &self,
        destination: &Destination,
        expected_version: u64,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError> {
        self.append_test_history(destination, result).await?;
        self.update(destination, expected_version).await
    }

    async fn append_test_history(
        &self,
        destination: &Destination,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError> {
        self.tables()
            .history
            .entry(key(&destination.tenant, &destination.id))
            .or_default()
            .push(result.clone());
        Ok(())
    }

    async fn test_history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> Result<Vec<ConnectionTestResult>, StoreError> {
        let tables = self.tables();
        let mut results = tables
            .history
            .get(&key(tenant, id))
            .cloned()
            .unwrap_or_default();
        results.reverse();
        results.truncate(limit as usize);
        Ok(results)
    }

    async fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DuePage, StoreError> {
        if cursor.is_some() {
            return Err(StoreError::InvalidCursor);
        }
        let tables = self.tables();
        let mut due: Vec<&Destination> = tables
            .destinations
            .values()
            .filter(|d| d.is_saved() && due_shard(&d.id) == shard)
            .filter(|d| d.revalidation.next_check_at.is_some_and(|at| at <= now))
            .collect();
        due.sort_by_key(|d| d.revalidation.next_check_at);
        Ok(DuePage {
            items: due
                .into_iter()
                .map(RevalidationRequest::for_destination)
                .collect(),
            next_cursor: None,
        })
    }
}

/// A queue that keeps what it is given, for tests and the local run.
#[derive(Default)]
pub struct InMemoryQueue {
    messages: Mutex<Vec<crate::revalidation::RevalidationRequest>>,
}

impl InMemoryQueue {
    /// Takes every queued message.
    pub fn drain(&self) -> Vec<crate::revalidation::RevalidationRequest> {
        std::mem::take(&mut *self.messages.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl crate::ports::RevalidationQueue for InMemoryQueue {
    async fn enqueue(
        &self,
        requests: &[crate::revalidation::RevalidationRequest],
    ) -> Result<(), crate::ports::QueueError> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(requests);
        Ok(())
    }
}

/// Records published events, for tests.
#[derive(Default)]
pub struct RecordingPublisher {
    events: Mutex<Vec<crate::revalidation::ConnectionEvent>>,
}

impl RecordingPublisher {
    pub fn events(&self) -> Vec<crate::revalidation::ConnectionEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl crate::ports::EventPublisher for RecordingPublisher {
    async fn publish(
        &self,
        event: &crate::revalidation::ConnectionEvent,
    ) -> Result<(), crate::ports::PublishError> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }
}
