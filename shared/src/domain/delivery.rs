//! A delivery: one staged file of the platform written into one destination's active
//! configuration, at most once per delivery id. Its key is decided when it is asked for (from the
//! destination's key template), so every attempt writes the same object.

use std::fmt;

use thiserror::Error;
use time::{Duration, OffsetDateTime};

use super::check::FailureCategory;
use super::{BucketName, Destination, DestinationId, Status, TenantId};

/// The exporter's id for a delivery: 1 to 128 of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(String);

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Asked for; not attempted yet.
    Queued,
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
    /// Decided when asked for; every attempt writes this key.
    pub key: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
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
            key,
            status: DeliveryStatus::Queued,
            attempts: 0,
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
        if self.source == request.source && self.name == request.name {
            Ok(())
        } else {
            Err(DeliveryConflict(self.id.clone()))
        }
    }

    /// Whether an attempt may start now: queued, or failed and past its backoff.
    pub fn due(&self, now: OffsetDateTime) -> bool {
        matches!(self.status, DeliveryStatus::Queued | DeliveryStatus::Failed)
            && self.next_attempt_at.is_some_and(|at| at <= now)
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

    pub fn start_attempt(&mut self, now: OffsetDateTime) -> Result<(), NotWaiting> {
        if !matches!(self.status, DeliveryStatus::Queued | DeliveryStatus::Failed) {
            return Err(NotWaiting {
                id: self.id.clone(),
                status: self.status,
            });
        }
        self.status = DeliveryStatus::Delivering;
        self.attempts += 1;
        self.next_attempt_at = None;
        self.updated_at = now;
        Ok(())
    }

    pub fn delivered(&mut self, written: Written, now: OffsetDateTime) {
        self.status = DeliveryStatus::Delivered;
        self.written = Some(written);
        self.failure = None;
        self.next_attempt_at = None;
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
        self.failure = Some(category);
        self.updated_at = now;
        if self.attempts >= policy.max_attempts {
            self.status = DeliveryStatus::Parked;
            self.next_attempt_at = None;
            true
        } else {
            self.status = DeliveryStatus::Failed;
            self.next_attempt_at = Some(now + policy.backoff(self.attempts));
            false
        }
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
