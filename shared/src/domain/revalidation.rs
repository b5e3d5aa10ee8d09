//! Re-validation vocabulary: its settings, what it keeps between checks of a saved destination,
//! the events a status change raises, and the due-index shard of a destination.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::actor::Actor;
use super::check::{CheckResult, FailureCategory};
use super::delivery::DeliveryId;
use super::{AccountId, BucketName, DestinationId, Folder, KmsKeyArn, RoleArn, TenantId};

/// EventBridge `source` of every event this service puts.
pub const EVENT_SOURCE: &str = "destinations";
pub const FAILED_DETAIL_TYPE: &str = "Destination Connection Failed";
pub const RESTORED_DETAIL_TYPE: &str = "Destination Connection Restored";
/// A delivery was parked: every attempt failed.
pub const DELIVERY_FAILED_DETAIL_TYPE: &str = "Delivery Failed";
/// A Save changed where deliveries go or who writes them.
pub const CONFIGURATION_CHANGED_DETAIL_TYPE: &str = "Destination Configuration Changed";
/// An External ID rotation started: the role's trust policy must now accept the next ID too.
pub const ROTATION_STARTED_DETAIL_TYPE: &str = "Destination External ID Rotation Started";
/// An External ID rotation completed: only the new ID is sent from now on.
pub const ROTATION_COMPLETED_DETAIL_TYPE: &str = "Destination External ID Rotation Completed";
/// A rotation's grace window ended and the role still accepts the retired ID.
pub const ROTATION_OVERDUE_DETAIL_TYPE: &str = "Destination External ID Rotation Overdue";
/// Detail-type of the on-demand request: `{"tenantId": "...", "destinationId": "..."?}`.
pub const REVALIDATE_DETAIL_TYPE: &str = "Revalidate Destinations";

/// Destinations due for a check are spread over this many index partitions, so the scheduler reads
/// them in parallel and no partition grows hot.
pub const DUE_SHARDS: u16 = 16;

/// The shard of a destination: from its random id, so shards fill evenly.
pub fn due_shard(id: &DestinationId) -> u16 {
    u16::from_str_radix(&id.as_str()[..4], 16).unwrap_or(0) % DUE_SHARDS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevalidationSettings {
    pub interval: time::Duration,
    /// Transient failures in a row before a verified destination counts as failing.
    pub transient_failures_before_failing: u32,
    /// How long after an External ID rotation completes the role may still accept the old ID.
    pub external_id_grace: time::Duration,
}

impl Default for RevalidationSettings {
    fn default() -> Self {
        Self {
            interval: time::Duration::hours(1),
            transient_failures_before_failing: 3,
            external_id_grace: super::rotation::DEFAULT_GRACE,
        }
    }
}

/// What re-validation keeps between checks of a saved destination's active configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevalidationState {
    /// Transient failures in a row; the status turns failing only past a threshold, so it does not flap.
    pub consecutive_transient_failures: u32,
    /// Start of the current run of failures.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub first_failure_at: Option<OffsetDateTime>,
    /// When the scheduler should next check it; `None` for destinations never saved.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_check_at: Option<OffsetDateTime>,
    /// The latest re-validation of the active configuration.
    #[serde(default)]
    pub last_check: Option<CheckResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionEventKind {
    Failed,
    Restored,
    DeliveryFailed,
    ConfigurationChanged,
    RotationStarted,
    RotationCompleted,
    RotationOverdue,
}

impl ConnectionEventKind {
    pub const ALL: [ConnectionEventKind; 7] = [
        ConnectionEventKind::Failed,
        ConnectionEventKind::Restored,
        ConnectionEventKind::DeliveryFailed,
        ConnectionEventKind::ConfigurationChanged,
        ConnectionEventKind::RotationStarted,
        ConnectionEventKind::RotationCompleted,
        ConnectionEventKind::RotationOverdue,
    ];

    pub fn detail_type(self) -> &'static str {
        match self {
            ConnectionEventKind::Failed => FAILED_DETAIL_TYPE,
            ConnectionEventKind::Restored => RESTORED_DETAIL_TYPE,
            ConnectionEventKind::DeliveryFailed => DELIVERY_FAILED_DETAIL_TYPE,
            ConnectionEventKind::ConfigurationChanged => CONFIGURATION_CHANGED_DETAIL_TYPE,
            ConnectionEventKind::RotationStarted => ROTATION_STARTED_DETAIL_TYPE,
            ConnectionEventKind::RotationCompleted => ROTATION_COMPLETED_DETAIL_TYPE,
            ConnectionEventKind::RotationOverdue => ROTATION_OVERDUE_DETAIL_TYPE,
        }
    }

    pub fn from_detail_type(detail_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.detail_type() == detail_type)
    }
}

/// Where a saved destination's deliveries go and who writes them: what a `Destination
/// Configuration Changed` event shows before and after. The region is left out: correcting it
/// moves no data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTarget {
    pub bucket: BucketName,
    pub folder: Folder,
    /// The owner every write is pinned to (`ExpectedBucketOwner`).
    pub bucket_owner: Option<AccountId>,
    pub role_arn: Option<RoleArn>,
    pub kms_key_arn: Option<KmsKeyArn>,
}

/// A status transition of a saved destination, a parked delivery or a changed delivery target,
/// and the `detail` of the event that announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEvent {
    /// One per transition (`<destination id>/<version>`): a redelivery carries the same id, so
    /// publishing and consumers can drop duplicates.
    pub event_id: String,
    #[serde(skip_serializing, default = "failed")]
    pub kind: ConnectionEventKind,
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub destination_name: String,
    /// The failure category (for a restore: the one it recovered from; null for a change). Always
    /// present, as consumers of the first events have it.
    pub category: Option<FailureCategory>,
    /// Only in `Delivery Failed`: the delivery that was parked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delivery_id: Option<DeliveryId>,
    /// For a delivery: when it was asked for. None for a configuration change.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub first_failure_at: Option<OffsetDateTime>,
    /// In `Destination Configuration Changed`: who saved the change; in a rotation's started and
    /// completed events: who started or completed it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub changed_by: Option<Actor>,
    /// Only in `Destination Configuration Changed`: the target before the Save.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<DeliveryTarget>,
    /// Only in `Destination Configuration Changed`: the target deliveries use from now on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<DeliveryTarget>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

fn failed() -> ConnectionEventKind {
    ConnectionEventKind::Failed
}

impl ConnectionEvent {
    pub fn detail_type(&self) -> &'static str {
        self.kind.detail_type()
    }
}

/// One check to run, as queued. `version` is the destination's version when it was queued: a
/// message whose version is no longer current was overtaken (duplicate delivery, newer change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevalidationRequest {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub version: u64,
}

impl RevalidationRequest {
    /// A check of `destination` as it is now.
    pub fn of(destination: &super::Destination) -> Self {
        Self {
            tenant_id: destination.tenant().clone(),
            destination_id: destination.id().clone(),
            version: destination.version(),
        }
    }
}

/// The on-demand request: one destination, or every saved destination of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnDemandRequest {
    pub tenant_id: TenantId,
    #[serde(default)]
    pub destination_id: Option<DestinationId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_over_the_due_index() {
        let shards: std::collections::HashSet<u16> = (0..2000)
            .map(|_| due_shard(&DestinationId::generate()))
            .collect();
        assert_eq!(shards.len(), usize::from(DUE_SHARDS));
        assert!(shards.iter().all(|s| *s < DUE_SHARDS));
    }

    #[test]
    fn the_event_detail_carries_its_id_but_not_its_kind() {
        let event = ConnectionEvent {
            event_id: "d/7".into(),
            kind: ConnectionEventKind::Restored,
            tenant_id: TenantId::new("t").unwrap(),
            destination_id: DestinationId::generate(),
            destination_name: "Lake".into(),
            category: Some(FailureCategory::BucketNotFound),
            delivery_id: None,
            first_failure_at: Some(OffsetDateTime::UNIX_EPOCH),
            changed_by: None,
            before: None,
            after: None,
            occurred_at: OffsetDateTime::UNIX_EPOCH,
        };
        let detail = serde_json::to_value(&event).unwrap();
        assert_eq!(detail["eventId"], "d/7");
        assert!(detail.get("kind").is_none());
        assert!(detail.get("deliveryId").is_none());
        assert_eq!(event.detail_type(), RESTORED_DETAIL_TYPE);
    }
}
