//! A delivery: one staged file of the platform written into one destination's active
//! configuration, at most once per delivery id. Its key is decided when it is asked for (from the
//! destination's key template), so every attempt writes the same object.

use std::fmt;

use thiserror::Error;
use time::{Duration, OffsetDateTime};

use serde::{Deserialize, Serialize};

use super::check::FailureCategory;
use super::{Actor, BucketName, Destination, DestinationId, Status, TenantId};

/// The exporter's id for a delivery: 1 to 128 of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeliveryId(String);

impl TryFrom<String> for DeliveryId {
    type Error = DeliveryIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<DeliveryId> for String {
    fn from(value: DeliveryId) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be 1 to 128 letters, digits, '.', '_' or '-', and not '.' or '..'")]
pub struct DeliveryIdError;

impl DeliveryId {
    pub fn new(raw: &str) -> Result<Self, DeliveryIdError> {
        let valid = (1..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && raw != "."
            && raw != "..";
        valid.then(|| Self(raw.to_owned())).ok_or(DeliveryIdError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file's name as it appears in the key: 1 to 255 bytes, no `/`, backslash or control
/// characters, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be 1 to 255 bytes without '/', '\\' or control characters, and not '.' or '..'")]
pub struct ObjectNameError;

impl ObjectName {
    pub fn new(raw: &str) -> Result<Self, ObjectNameError> {
        let valid = (1..=255).contains(&raw.len())
            && !raw.contains(['/', '\\'])
            && !raw.chars().any(char::is_control)
            && raw != "."
            && raw != "..";
        valid.then(|| Self(raw.to_owned())).ok_or(ObjectNameError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the exporter staged the file: an object of the platform's staging bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedSource {
    pub bucket: BucketName,
    /// 1 to 1,024 bytes.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be 1 to 1024 bytes without control characters")]
pub struct StagedKeyError;

impl StagedSource {
    pub fn new(bucket: BucketName, key: &str) -> Result<Self, StagedKeyError> {
        let valid = (1..=1024).contains(&key.len()) && !key.chars().any(char::is_control);
        valid
            .then(|| Self {
                bucket,
                key: key.to_owned(),
            })
            .ok_or(StagedKeyError)
    }
}

/// What an exporter asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    pub tenant: TenantId,
    pub destination: DestinationId,
    pub id: DeliveryId,
    pub source: StagedSource,
    pub name: ObjectName,
    /// Who asked: the exporter's IAM identity, or the queue.
    pub requested_by: Actor,
}

/// One delivery, by its keys: what the delivery queue carries between attempts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryRef {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub delivery_id: DeliveryId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryStatus {
    /// Asked for; not attempted yet.
    Queued,
    /// An attempt is writing; if its worker dies, another may start once `next_attempt_at`
    /// (the attempt's lease) has passed.
    Delivering,
    Delivered,
    /// The last attempt failed; another follows at `next_attempt_at`.
    Failed,
    /// Every attempt failed: no more are made until someone asks again.
    Parked,
}

/// Why a delivery is not accepted at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeliveryRefused {
    /// Only a saved destination's active configuration receives data.
    #[error("the destination has never been saved, so no configuration receives data yet")]
    NotSaved,
    #[error("the destination's key template cannot name this file: {0}")]
    Key(String),
}

/// The same delivery id asked for again with another file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("delivery {0} was already asked for with another source or name")]
pub struct DeliveryConflict(pub DeliveryId);

/// How failed attempts are retried: exponential backoff, then parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_backoff: Duration::minutes(1),
            max_backoff: Duration::hours(1),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th failure (1-based): doubling from the first backoff.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        (self.first_backoff * 2i32.saturating_pow(doublings)).min(self.max_backoff)
    }
}

/// What a successful attempt wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    /// Base64 CRC-64/NVME of the whole object, as S3 checked it.
    pub checksum: String,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub duration_ms: u64,
}

/// An attempt was asked of a delivery that is not waiting for one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("delivery {id} is {status:?}, not waiting for an attempt")]
pub struct NotWaiting {
    pub id: DeliveryId,
    pub status: DeliveryStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub tenant: TenantId,
    pub destination: DestinationId,
    pub id: DeliveryId,
    pub source: StagedSource,
    pub name: ObjectName,
    pub requested_by: Actor,
    /// Decided when asked for; every attempt writes this key.
    pub key: String,
    pub status: DeliveryStatus,
    /// Counts every change, for conditional writes.
    pub version: u64,
    pub attempts: u32,
    /// The multipart upload the current (or a lost) attempt started: the next attempt aborts it
    /// first, so a crashed attempt leaves no parts behind.
    pub upload_id: Option<String>,
    pub requested_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub written: Option<Written>,
    pub failure: Option<FailureCategory>,
}

impl Delivery {
    /// Accepts a request for `destination` (already found for the request's tenant): its key
    /// comes from the destination's template and the *active* folder.
    pub fn accept(
        request: DeliveryRequest,
        destination: &Destination,
        now: OffsetDateTime,
    ) -> Result<Self, DeliveryRefused> {
        let active = destination.active().ok_or(DeliveryRefused::NotSaved)?;
        let key = destination
            .key_template()
            .render(
                &active.configuration.folder,
                now,
                request.id.as_str(),
                request.name.as_str(),
            )
            .map_err(|e| DeliveryRefused::Key(e.to_string()))?;
        Ok(Self {
            tenant: request.tenant,
            destination: request.destination,
            id: request.id,
            source: request.source,
            name: request.name,
            requested_by: request.requested_by,
            key,
            status: DeliveryStatus::Queued,
            version: 1,
            attempts: 0,
            upload_id: None,
            requested_at: now,
            updated_at: now,
            next_attempt_at: Some(now),
            written: None,
            failure: None,
        })
    }

    /// Asking again for the same delivery changes nothing; asking with another file is a
    /// conflict.
    pub fn same_request(&self, request: &DeliveryRequest) -> Result<(), DeliveryConflict> {
        self.same_file(&request.source, &request.name)
    }

    /// The same check against another accepted delivery (two asks racing).
    pub fn same_request_as(&self, other: &Delivery) -> Result<(), DeliveryConflict> {
        self.same_file(&other.source, &other.name)
    }

    fn same_file(&self, source: &StagedSource, name: &ObjectName) -> Result<(), DeliveryConflict> {
        if self.source == *source && self.name == *name {
            Ok(())
        } else {
            Err(DeliveryConflict(self.id.clone()))
        }
    }

    pub fn reference(&self) -> DeliveryRef {
        DeliveryRef {
            tenant_id: self.tenant.clone(),
            destination_id: self.destination.clone(),
            delivery_id: self.id.clone(),
        }
    }

    /// Whether an attempt may start now: queued, failed and past its backoff, or delivering past
    /// its lease (its worker died).
    pub fn due(&self, now: OffsetDateTime) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Queued | DeliveryStatus::Failed | DeliveryStatus::Delivering
        ) && self.next_attempt_at.is_some_and(|at| at <= now)
    }

    /// Whether an attempt may write: only into a verified destination. An attempt at a failing
    /// one fails with the destination's own category, and so counts toward parking.
    pub fn may_write_to(destination: &Destination) -> Result<(), FailureCategory> {
        match destination.status() {
            Status::Verified => Ok(()),
            _ => Err(destination
                .revalidation()
                .last_check
                .as_ref()
                .and_then(|c| c.category)
                .unwrap_or(FailureCategory::InvalidConfiguration)),
        }
    }

    /// Starts an attempt that holds the delivery for `lease`: past it, the attempt counts as lost
    /// and another may start.
    pub fn start_attempt(
        &mut self,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<(), NotWaiting> {
        if !self.due(now) {
            return Err(NotWaiting {
                id: self.id.clone(),
                status: self.status,
            });
        }
        self.status = DeliveryStatus::Delivering;
        self.attempts += 1;
        self.next_attempt_at = Some(now + lease);
        self.touch(now);
        Ok(())
    }

    /// The attempt started a multipart upload (recorded before any part is sent).
    pub fn upload_started(&mut self, upload_id: &str, now: OffsetDateTime) {
        self.upload_id = Some(upload_id.to_owned());
        self.touch(now);
    }

    /// The upload a lost attempt left was aborted (or is gone).
    pub fn upload_cleared(&mut self, now: OffsetDateTime) {
        self.upload_id = None;
        self.touch(now);
    }

    pub fn delivered(&mut self, written: Written, now: OffsetDateTime) {
        self.written = Some(written);
        self.upload_id = None;
        self.settle(DeliveryStatus::Delivered, None, now);
    }

    /// Parks it at once: nothing could ever receive it (its destination was deleted).
    pub fn park(&mut self, category: FailureCategory, now: OffsetDateTime) {
        self.settle(DeliveryStatus::Parked, Some(category), now);
    }

    /// Ends its attempts for good: no next attempt is due.
    fn settle(
        &mut self,
        status: DeliveryStatus,
        failure: Option<FailureCategory>,
        now: OffsetDateTime,
    ) {
        self.status = status;
        self.failure = failure;
        self.next_attempt_at = None;
        self.touch(now);
    }

    fn touch(&mut self, now: OffsetDateTime) {
        self.version += 1;
        self.updated_at = now;
    }

    /// Records a failed attempt: retried after the policy's backoff, parked after its last
    /// attempt. Returns `true` when this failure parked it (the moment to raise an event).
    pub fn attempt_failed(
        &mut self,
        category: FailureCategory,
        policy: &RetryPolicy,
        now: OffsetDateTime,
    ) -> bool {
        if self.attempts >= policy.max_attempts {
            self.settle(DeliveryStatus::Parked, Some(category), now);
            true
        } else {
            self.status = DeliveryStatus::Failed;
            self.failure = Some(category);
            self.next_attempt_at = Some(now + policy.backoff(self.attempts));
            self.touch(now);
            false
        }
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
