//! What the table stores, as record types of their own, apart from the domain: renaming a field of
//! the domain cannot change a stored item, and every stored version keeps reading.
//!
//! Each item carries `record_version`; an item without one was written before records were
//! versioned and has version 1's shape (`golden/` holds such items, and a test reads each of them).
//! A new version adds a `…V2` type beside `…V1`, reads both, and writes only the newest.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::corrupt;
use super::keys::{Item, n};
use crate::domain::check::{
    CheckResult, FailureCategory, Stage, StageFailure, StageResult, StageStatus,
};
use crate::domain::delivery::{Delivery, DeliveryStatus, ObjectName, StagedSource, Written};
use crate::domain::revalidation::{
    ConnectionEvent, ConnectionEventKind, DeliveryTarget, RevalidationState,
};
use crate::domain::{
    ActiveConfiguration, Activity, ActivityEntry, AuthMode, Configuration, Destination,
    DestinationParts, ExternalIdRotation, KeyTemplate, NextExternalId, Partition,
    RetiredExternalId, RotationProof, Status,
};
use crate::ports::{IdempotencyRecord, StoreError};

/// The attribute naming an item's record version.
pub const RECORD_VERSION: &str = "record_version";

/// The version every write uses.
const CURRENT: u8 = 1;

fn version_of(item: &Item) -> Result<u8, StoreError> {
    match item.get(RECORD_VERSION) {
        None => Ok(1),
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid(RECORD_VERSION, "not a small number")),
    }
}

fn invalid(field: &str, why: impl std::fmt::Display) -> StoreError {
    corrupt(std::io::Error::other(format!(
        "stored field {field} is invalid: {why}"
    )))
}

/// A stored string read back into its validated domain value.
fn parse<T>(field: &str, raw: String) -> Result<T, StoreError>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    T::try_from(raw).map_err(|e| invalid(field, e))
}

fn parse_opt<T>(field: &str, raw: Option<String>) -> Result<Option<T>, StoreError>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    raw.map(|r| parse(field, r)).transpose()
}

/// The item a destination is stored as (without its keys), in the current version.
pub fn destination_to_item(destination: &Destination) -> Result<Item, StoreError> {
    let record = DestinationRecordV1::from(&DestinationParts::from(destination));
    let mut item: Item = serde_dynamo::to_item(record).map_err(corrupt)?;
    item.insert(RECORD_VERSION.into(), n(CURRENT));
    Ok(item)
}

/// A destination from an item of any stored version.
pub fn destination_from_item(item: Item) -> Result<Destination, StoreError> {
    match version_of(&item)? {
        1 => {
            let record: DestinationRecordV1 = serde_dynamo::from_item(item).map_err(corrupt)?;
            Ok(Destination::from(DestinationParts::try_from(record)?))
        }
        other => Err(invalid(RECORD_VERSION, format!("unknown version {other}"))),
    }
}

/// The item a check result is stored as in the history (without its keys).
pub fn check_to_item(result: &CheckResult) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(CheckRecordV1::from(result)).map_err(corrupt)?;
    item.insert(RECORD_VERSION.into(), n(CURRENT));
    Ok(item)
}

/// A history entry from an item of any stored version.
pub fn check_from_item(item: Item) -> Result<CheckResult, StoreError> {
    match version_of(&item)? {
        1 => {
            let record: CheckRecordV1 = serde_dynamo::from_item(item).map_err(corrupt)?;
            CheckResult::try_from(record)
        }
        other => Err(invalid(RECORD_VERSION, format!("unknown version {other}"))),
    }
}

/// The item an idempotency record is stored as (without its keys).
pub fn idempotency_to_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
    let record = IdempotencyRecordV1 {
        key: record.key.as_str().to_owned(),
        request_hash: record.request_hash.clone(),
        created: DestinationRecordV1::from(&DestinationParts::from(&record.created)),
        expires_at: record.expires_at,
    };
    let mut item: Item = serde_dynamo::to_item(record).map_err(corrupt)?;
    item.insert(RECORD_VERSION.into(), n(CURRENT));
    Ok(item)
}

/// An idempotency record from an item of any stored version.
pub fn idempotency_from_item(item: Item) -> Result<IdempotencyRecord, StoreError> {
    match version_of(&item)? {
        1 => {
            let record: IdempotencyRecordV1 = serde_dynamo::from_item(item).map_err(corrupt)?;
            Ok(IdempotencyRecord {
                key: parse("key", record.key)?,
                request_hash: record.request_hash,
                created: Destination::from(DestinationParts::try_from(record.created)?),
                expires_at: record.expires_at,
            })
        }
        other => Err(invalid(RECORD_VERSION, format!("unknown version {other}"))),
    }
}

/// The item a delivery is stored as (without its keys), in the current version.
pub fn delivery_to_item(delivery: &Delivery) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(DeliveryRecordV1::from(delivery)).map_err(corrupt)?;
    item.insert(RECORD_VERSION.into(), n(CURRENT));
    Ok(item)
}

/// A delivery from an item of any stored version.
pub fn delivery_from_item(item: Item) -> Result<Delivery, StoreError> {
    match version_of(&item)? {
        1 => {
            let record: DeliveryRecordV1 = serde_dynamo::from_item(item).map_err(corrupt)?;
            Delivery::try_from(record)
        }
        other => Err(invalid(RECORD_VERSION, format!("unknown version {other}"))),
    }
}

/// The item an activity entry is stored as (without its keys and expiry), in the current version.
pub fn activity_to_item(entry: &ActivityEntry) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(ActivityRecordV1::from(entry)).map_err(corrupt)?;
    item.insert(RECORD_VERSION.into(), n(CURRENT));
    Ok(item)
}

/// An activity entry from an item of any stored version.
pub fn activity_from_item(item: Item) -> Result<ActivityEntry, StoreError> {
    match version_of(&item)? {
        1 => {
            let record: ActivityRecordV1 = serde_dynamo::from_item(item).map_err(corrupt)?;
            record.try_into()
        }
        other => Err(invalid(RECORD_VERSION, format!("unknown version {other}"))),
    }
}

/// The map an outbox event is stored as (under the item's `event`), in the current version.
pub fn event_to_map(event: &ConnectionEvent) -> Result<Item, StoreError> {
    let mut map: Item = serde_dynamo::to_item(EventRecordV1::from(event)).map_err(corrupt)?;
    map.insert(RECORD_VERSION.into(), n(CURRENT));
    Ok(map)
}

/// An outbox event from its stored map of any version; its kind is stored beside it, as the
/// event's detail-type.
pub fn event_from_map(map: Item, kind: ConnectionEventKind) -> Result<ConnectionEvent, StoreError> {
    match version_of(&map)? {
        1 => {
            let record: EventRecordV1 = serde_dynamo::from_item(map).map_err(corrupt)?;
            record.into_event(kind)
        }
        other => Err(invalid(RECORD_VERSION, format!("unknown version {other}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Activity entries, version 1 (November 2026; later actions were added as new variants).

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityRecordV1 {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    actor: String,
    #[serde(flatten)]
    action: ActionRecordV1,
    version: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
enum ActionRecordV1 {
    Created,
    Updated {
        fields: Vec<String>,
    },
    Saved,
    Discarded,
    Deleted,
    Tested {
        passed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<CategoryRecordV1>,
    },
    #[serde(rename_all = "camelCase")]
    DeliveryRequested {
        delivery_id: String,
    },
    CredentialsVended,
    ExternalIdRotationStarted,
    ExternalIdRotationCancelled,
    ExternalIdRotationCompleted,
    StatusChanged {
        from: StatusRecordV1,
        to: StatusRecordV1,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<CategoryRecordV1>,
    },
}

impl From<&ActivityEntry> for ActivityRecordV1 {
    fn from(entry: &ActivityEntry) -> Self {
        let action = match &entry.activity {
            Activity::Created => ActionRecordV1::Created,
            Activity::Updated { fields } => ActionRecordV1::Updated {
                fields: fields.clone(),
            },
            Activity::Saved => ActionRecordV1::Saved,
            Activity::Discarded => ActionRecordV1::Discarded,
            Activity::Deleted => ActionRecordV1::Deleted,
            Activity::Tested { passed, category } => ActionRecordV1::Tested {
                passed: *passed,
                category: category.map(Into::into),
            },
            Activity::DeliveryRequested { delivery_id } => ActionRecordV1::DeliveryRequested {
                delivery_id: delivery_id.as_str().to_owned(),
            },
            Activity::CredentialsVended => ActionRecordV1::CredentialsVended,
            Activity::ExternalIdRotationStarted => ActionRecordV1::ExternalIdRotationStarted,
            Activity::ExternalIdRotationCancelled => ActionRecordV1::ExternalIdRotationCancelled,
            Activity::ExternalIdRotationCompleted => ActionRecordV1::ExternalIdRotationCompleted,
            Activity::StatusChanged { from, to, category } => ActionRecordV1::StatusChanged {
                from: (*from).into(),
                to: (*to).into(),
                category: category.map(Into::into),
            },
        };
        Self {
            at: entry.at,
            actor: entry.actor.as_str().to_owned(),
            action,
            version: entry.version,
        }
    }
}

impl TryFrom<ActivityRecordV1> for ActivityEntry {
    type Error = StoreError;
    fn try_from(record: ActivityRecordV1) -> Result<Self, StoreError> {
        let activity = match record.action {
            ActionRecordV1::Created => Activity::Created,
            ActionRecordV1::Updated { fields } => Activity::Updated { fields },
            ActionRecordV1::Saved => Activity::Saved,
            ActionRecordV1::Discarded => Activity::Discarded,
            ActionRecordV1::Deleted => Activity::Deleted,
            ActionRecordV1::Tested { passed, category } => Activity::Tested {
                passed,
                category: category.map(Into::into),
            },
            ActionRecordV1::DeliveryRequested { delivery_id } => Activity::DeliveryRequested {
                delivery_id: parse("deliveryId", delivery_id)?,
            },
            ActionRecordV1::CredentialsVended => Activity::CredentialsVended,
            ActionRecordV1::ExternalIdRotationStarted => Activity::ExternalIdRotationStarted,
            ActionRecordV1::ExternalIdRotationCancelled => Activity::ExternalIdRotationCancelled,
            ActionRecordV1::ExternalIdRotationCompleted => Activity::ExternalIdRotationCompleted,
            ActionRecordV1::StatusChanged { from, to, category } => Activity::StatusChanged {
                from: from.into(),
                to: to.into(),
                category: category.map(Into::into),
            },
        };
        Ok(ActivityEntry {
            at: record.at,
            actor: parse("actor", record.actor)?,
            activity,
            version: record.version,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Outbox events, version 1 (November 2026; the configuration-change fields added in December
// are optional, so the first items read as they are).

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRecordV1 {
    event_id: String,
    tenant_id: String,
    destination_id: String,
    destination_name: String,
    /// Always written (null when there is none), as the first events had it.
    #[serde(default)]
    category: Option<CategoryRecordV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery_id: Option<String>,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    first_failure_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<TargetRecordV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<TargetRecordV1>,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetRecordV1 {
    bucket: String,
    folder: String,
    #[serde(default)]
    bucket_owner: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    kms_key_arn: Option<String>,
}

impl From<&ConnectionEvent> for EventRecordV1 {
    fn from(event: &ConnectionEvent) -> Self {
        let target = |t: &DeliveryTarget| TargetRecordV1 {
            bucket: t.bucket.as_str().to_owned(),
            folder: t.folder.as_str().to_owned(),
            bucket_owner: t.bucket_owner.as_ref().map(|o| o.as_str().to_owned()),
            role_arn: t.role_arn.as_ref().map(|r| r.as_str().to_owned()),
            kms_key_arn: t.kms_key_arn.as_ref().map(|k| k.as_str().to_owned()),
        };
        Self {
            event_id: event.event_id.clone(),
            tenant_id: event.tenant_id.as_str().to_owned(),
            destination_id: event.destination_id.as_str().to_owned(),
            destination_name: event.destination_name.clone(),
            category: event.category.map(Into::into),
            delivery_id: event.delivery_id.as_ref().map(|d| d.as_str().to_owned()),
            first_failure_at: event.first_failure_at,
            changed_by: event.changed_by.as_ref().map(|a| a.as_str().to_owned()),
            before: event.before.as_ref().map(target),
            after: event.after.as_ref().map(target),
            occurred_at: event.occurred_at,
        }
    }
}

impl TargetRecordV1 {
    fn into_target(self) -> Result<DeliveryTarget, StoreError> {
        Ok(DeliveryTarget {
            bucket: parse("bucket", self.bucket)?,
            folder: parse("folder", self.folder)?,
            bucket_owner: parse_opt("bucketOwner", self.bucket_owner)?,
            role_arn: parse_opt("roleArn", self.role_arn)?,
            kms_key_arn: parse_opt("kmsKeyArn", self.kms_key_arn)?,
        })
    }
}

impl EventRecordV1 {
    fn into_event(self, kind: ConnectionEventKind) -> Result<ConnectionEvent, StoreError> {
        Ok(ConnectionEvent {
            event_id: self.event_id,
            kind,
            tenant_id: parse("tenantId", self.tenant_id)?,
            destination_id: parse("destinationId", self.destination_id)?,
            destination_name: self.destination_name,
            category: self.category.map(Into::into),
            delivery_id: parse_opt("deliveryId", self.delivery_id)?,
            first_failure_at: self.first_failure_at,
            changed_by: parse_opt("changedBy", self.changed_by)?,
            before: self.before.map(TargetRecordV1::into_target).transpose()?,
            after: self.after.map(TargetRecordV1::into_target).transpose()?,
            occurred_at: self.occurred_at,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Deliveries, version 1 (December 2026).

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryRecordV1 {
    tenant_id: String,
    destination_id: String,
    delivery_id: String,
    source_bucket: String,
    source_key: String,
    name: String,
    requested_by: String,
    key: String,
    status: DeliveryStatusRecordV1,
    version: u64,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upload_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    next_attempt_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    written: Option<WrittenRecordV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<CategoryRecordV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum DeliveryStatusRecordV1 {
    Queued,
    Delivering,
    Delivered,
    Failed,
    Parked,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrittenRecordV1 {
    bytes: u64,
    checksum: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    duration_ms: u64,
}

impl From<&Delivery> for DeliveryRecordV1 {
    fn from(d: &Delivery) -> Self {
        Self {
            tenant_id: d.tenant.as_str().to_owned(),
            destination_id: d.destination.as_str().to_owned(),
            delivery_id: d.id.as_str().to_owned(),
            source_bucket: d.source.bucket.as_str().to_owned(),
            source_key: d.source.key.clone(),
            name: d.name.as_str().to_owned(),
            requested_by: d.requested_by.as_str().to_owned(),
            key: d.key.clone(),
            status: match d.status {
                DeliveryStatus::Queued => DeliveryStatusRecordV1::Queued,
                DeliveryStatus::Delivering => DeliveryStatusRecordV1::Delivering,
                DeliveryStatus::Delivered => DeliveryStatusRecordV1::Delivered,
                DeliveryStatus::Failed => DeliveryStatusRecordV1::Failed,
                DeliveryStatus::Parked => DeliveryStatusRecordV1::Parked,
            },
            version: d.version,
            attempts: d.attempts,
            upload_id: d.upload_id.clone(),
            requested_at: d.requested_at,
            updated_at: d.updated_at,
            next_attempt_at: d.next_attempt_at,
            written: d.written.as_ref().map(|w| WrittenRecordV1 {
                bytes: w.bytes,
                checksum: w.checksum.clone(),
                etag: w.etag.clone(),
                version_id: w.version_id.clone(),
                duration_ms: w.duration_ms,
            }),
            failure: d.failure.map(CategoryRecordV1::from),
        }
    }
}

impl TryFrom<DeliveryRecordV1> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRecordV1) -> Result<Self, StoreError> {
        Ok(Delivery {
            tenant: parse("tenantId", r.tenant_id)?,
            destination: parse("destinationId", r.destination_id)?,
            id: parse("deliveryId", r.delivery_id)?,
            source: StagedSource::new(parse("sourceBucket", r.source_bucket)?, &r.source_key)
                .map_err(|e| invalid("sourceKey", e))?,
            name: ObjectName::new(&r.name).map_err(|e| invalid("name", e))?,
            requested_by: parse("requestedBy", r.requested_by)?,
            key: r.key,
            status: match r.status {
                DeliveryStatusRecordV1::Queued => DeliveryStatus::Queued,
                DeliveryStatusRecordV1::Delivering => DeliveryStatus::Delivering,
                DeliveryStatusRecordV1::Delivered => DeliveryStatus::Delivered,
                DeliveryStatusRecordV1::Failed => DeliveryStatus::Failed,
                DeliveryStatusRecordV1::Parked => DeliveryStatus::Parked,
            },
            version: r.version,
            attempts: r.attempts,
            upload_id: r.upload_id,
            requested_at: r.requested_at,
            updated_at: r.updated_at,
            next_attempt_at: r.next_attempt_at,
            written: r.written.map(|w| Written {
                bytes: w.bytes,
                checksum: w.checksum,
                etag: w.etag,
                version_id: w.version_id,
                duration_ms: w.duration_ms,
            }),
            failure: r.failure.map(FailureCategory::from),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Version 1: the shape items had when they were the domain's own serde form (December 2026).

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DestinationRecordV1 {
    id: String,
    tenant: String,
    name: String,
    description: String,
    /// Absent for the default layout (and on items written before templates existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object_key_template: Option<String>,
    auth: AuthRecordV1,
    configuration: ConfigurationRecordV1,
    config_version: u64,
    #[serde(default)]
    active: Option<ActiveRecordV1>,
    status: StatusRecordV1,
    version: u64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(default)]
    latest_test: Option<CheckRecordV1>,
    #[serde(default)]
    revalidation: RevalidationRecordV1,
    /// Absent unless a rotation is open or has retired an ID (added December 2026: items without
    /// it read as having neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_id_rotation: Option<RotationRecordV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RotationRecordV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<NextExternalIdRecordV1>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    retired: Vec<RetiredExternalIdRecordV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NextExternalIdRecordV1 {
    external_id: String,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    started_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proven_role: Option<String>,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    proven_at: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetiredExternalIdRecordV1 {
    external_id: String,
    #[serde(with = "time::serde::rfc3339")]
    retired_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    grace_ends_at: OffsetDateTime,
    #[serde(default)]
    overdue_reported: bool,
}

impl From<&ExternalIdRotation> for RotationRecordV1 {
    fn from(rotation: &ExternalIdRotation) -> Self {
        Self {
            next: rotation.next.as_ref().map(|next| NextExternalIdRecordV1 {
                external_id: next.id.expose().to_owned(),
                started_at: next.started_at,
                started_by: next.started_by.as_str().to_owned(),
                proven_role: next.proven.as_ref().map(|p| p.role.as_str().to_owned()),
                proven_at: next.proven.as_ref().map(|p| p.at),
            }),
            retired: rotation
                .retired
                .iter()
                .map(|r| RetiredExternalIdRecordV1 {
                    external_id: r.id.expose().to_owned(),
                    retired_at: r.retired_at,
                    grace_ends_at: r.grace_ends_at,
                    overdue_reported: r.overdue_reported,
                })
                .collect(),
        }
    }
}

impl TryFrom<RotationRecordV1> for ExternalIdRotation {
    type Error = StoreError;
    fn try_from(record: RotationRecordV1) -> Result<Self, StoreError> {
        Ok(Self {
            next: record
                .next
                .map(|next| -> Result<_, StoreError> {
                    Ok(NextExternalId {
                        id: parse("externalIdRotation.next.externalId", next.external_id)?,
                        started_at: next.started_at,
                        started_by: parse("externalIdRotation.next.startedBy", next.started_by)?,
                        proven: match (next.proven_role, next.proven_at) {
                            (Some(role), Some(at)) => Some(RotationProof {
                                role: parse("externalIdRotation.next.provenRole", role)?,
                                at,
                            }),
                            _ => None,
                        },
                    })
                })
                .transpose()?,
            retired: record
                .retired
                .into_iter()
                .map(|r| -> Result<_, StoreError> {
                    Ok(RetiredExternalId {
                        id: parse("externalIdRotation.retired.externalId", r.external_id)?,
                        retired_at: r.retired_at,
                        grace_ends_at: r.grace_ends_at,
                        overdue_reported: r.overdue_reported,
                    })
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecordV1 {
    key: String,
    request_hash: String,
    created: DestinationRecordV1,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
enum AuthRecordV1 {
    #[serde(rename = "iamRole")]
    IamRole {
        #[serde(rename = "externalId")]
        external_id: String,
    },
    #[serde(rename = "bucketPolicy")]
    BucketPolicy,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigurationRecordV1 {
    bucket: String,
    folder: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    kms_key: Option<String>,
    #[serde(default)]
    bucket_owner: Option<String>,
    /// The deployment's partition; absent for `aws` (every item written before partitions were
    /// stored is of an `aws` deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    home_partition: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActiveRecordV1 {
    configuration: ConfigurationRecordV1,
    config_version: u64,
    #[serde(default)]
    pinned_owner: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    saved_at: OffsetDateTime,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
enum StatusRecordV1 {
    #[serde(rename = "draft")]
    Draft,
    #[serde(rename = "verified")]
    Verified,
    #[serde(rename = "failing")]
    Failing,
}

impl From<Status> for StatusRecordV1 {
    fn from(value: Status) -> Self {
        match value {
            Status::Draft => StatusRecordV1::Draft,
            Status::Verified => StatusRecordV1::Verified,
            Status::Failing => StatusRecordV1::Failing,
        }
    }
}

impl From<StatusRecordV1> for Status {
    fn from(value: StatusRecordV1) -> Self {
        match value {
            StatusRecordV1::Draft => Status::Draft,
            StatusRecordV1::Verified => Status::Verified,
            StatusRecordV1::Failing => Status::Failing,
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RevalidationRecordV1 {
    #[serde(default)]
    consecutive_transient_failures: u32,
    #[serde(with = "time::serde::rfc3339::option", default)]
    first_failure_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    next_check_at: Option<OffsetDateTime>,
    #[serde(default)]
    last_check: Option<CheckRecordV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckRecordV1 {
    passed: bool,
    config_version: u64,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<CategoryRecordV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test_object_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_owner: Option<String>,
    stages: Vec<StageRecordV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StageRecordV1 {
    stage: StageNameRecordV1,
    status: StageStatusRecordV1,
    duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<FailureRecordV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailureRecordV1 {
    category: CategoryRecordV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aws_error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aws_request_id: Option<String>,
    explanation: String,
    #[serde(default)]
    possible_causes: Vec<String>,
    fix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fix_document: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_region: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
enum StageNameRecordV1 {
    #[serde(rename = "configuration")]
    Configuration,
    #[serde(rename = "confusedDeputyGuard")]
    ConfusedDeputyGuard,
    #[serde(rename = "assumeRole")]
    AssumeRole,
    #[serde(rename = "locateBucket")]
    LocateBucket,
    #[serde(rename = "write")]
    Write,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
enum StageStatusRecordV1 {
    #[serde(rename = "passed")]
    Passed,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "skipped")]
    Skipped,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
enum CategoryRecordV1 {
    #[serde(rename = "invalidConfiguration")]
    InvalidConfiguration,
    #[serde(rename = "roleNotAssumable")]
    RoleNotAssumable,
    #[serde(rename = "roleAssumableWithoutExternalId")]
    RoleAssumableWithoutExternalId,
    #[serde(rename = "roleAcceptsAnyExternalId")]
    RoleAcceptsAnyExternalId,
    #[serde(rename = "bucketNotFound")]
    BucketNotFound,
    #[serde(rename = "wrongRegion")]
    WrongRegion,
    #[serde(rename = "putAccessDenied")]
    PutAccessDenied,
    #[serde(rename = "kmsKeyNotUsable")]
    KmsKeyNotUsable,
    #[serde(rename = "unexpectedBucketOwner")]
    UnexpectedBucketOwner,
    #[serde(rename = "aclRejected")]
    AclRejected,
    #[serde(rename = "bucketPolicyGrantsOthers")]
    BucketPolicyGrantsOthers,
    #[serde(rename = "retiredExternalIdAccepted")]
    RetiredExternalIdAccepted,
    #[serde(rename = "transient")]
    Transient,
    #[serde(rename = "timedOut")]
    TimedOut,
}

// Translations. Enums map variant by variant, so adding a domain variant fails to compile here
// until its stored name is chosen.

impl From<FailureCategory> for CategoryRecordV1 {
    fn from(value: FailureCategory) -> Self {
        use FailureCategory as F;
        match value {
            F::InvalidConfiguration => Self::InvalidConfiguration,
            F::RoleNotAssumable => Self::RoleNotAssumable,
            F::RoleAssumableWithoutExternalId => Self::RoleAssumableWithoutExternalId,
            F::RoleAcceptsAnyExternalId => Self::RoleAcceptsAnyExternalId,
            F::BucketNotFound => Self::BucketNotFound,
            F::WrongRegion => Self::WrongRegion,
            F::PutAccessDenied => Self::PutAccessDenied,
            F::KmsKeyNotUsable => Self::KmsKeyNotUsable,
            F::UnexpectedBucketOwner => Self::UnexpectedBucketOwner,
            F::AclRejected => Self::AclRejected,
            F::BucketPolicyGrantsOthers => Self::BucketPolicyGrantsOthers,
            F::RetiredExternalIdAccepted => Self::RetiredExternalIdAccepted,
            F::Transient => Self::Transient,
            F::TimedOut => Self::TimedOut,
        }
    }
}

impl From<CategoryRecordV1> for FailureCategory {
    fn from(value: CategoryRecordV1) -> Self {
        use CategoryRecordV1 as R;
        match value {
            R::InvalidConfiguration => Self::InvalidConfiguration,
            R::RoleNotAssumable => Self::RoleNotAssumable,
            R::RoleAssumableWithoutExternalId => Self::RoleAssumableWithoutExternalId,
            R::RoleAcceptsAnyExternalId => Self::RoleAcceptsAnyExternalId,
            R::BucketNotFound => Self::BucketNotFound,
            R::WrongRegion => Self::WrongRegion,
            R::PutAccessDenied => Self::PutAccessDenied,
            R::KmsKeyNotUsable => Self::KmsKeyNotUsable,
            R::UnexpectedBucketOwner => Self::UnexpectedBucketOwner,
            R::AclRejected => Self::AclRejected,
            R::BucketPolicyGrantsOthers => Self::BucketPolicyGrantsOthers,
            R::RetiredExternalIdAccepted => Self::RetiredExternalIdAccepted,
            R::Transient => Self::Transient,
            R::TimedOut => Self::TimedOut,
        }
    }
}

impl From<Stage> for StageNameRecordV1 {
    fn from(value: Stage) -> Self {
        match value {
            Stage::Configuration => Self::Configuration,
            Stage::ConfusedDeputyGuard => Self::ConfusedDeputyGuard,
            Stage::AssumeRole => Self::AssumeRole,
            Stage::LocateBucket => Self::LocateBucket,
            Stage::Write => Self::Write,
        }
    }
}

impl From<StageNameRecordV1> for Stage {
    fn from(value: StageNameRecordV1) -> Self {
        use StageNameRecordV1 as R;
        match value {
            R::Configuration => Self::Configuration,
            R::ConfusedDeputyGuard => Self::ConfusedDeputyGuard,
            R::AssumeRole => Self::AssumeRole,
            R::LocateBucket => Self::LocateBucket,
            R::Write => Self::Write,
        }
    }
}

impl From<StageStatus> for StageStatusRecordV1 {
    fn from(value: StageStatus) -> Self {
        match value {
            StageStatus::Passed => Self::Passed,
            StageStatus::Failed => Self::Failed,
            StageStatus::Skipped => Self::Skipped,
        }
    }
}

impl From<StageStatusRecordV1> for StageStatus {
    fn from(value: StageStatusRecordV1) -> Self {
        match value {
            StageStatusRecordV1::Passed => Self::Passed,
            StageStatusRecordV1::Failed => Self::Failed,
            StageStatusRecordV1::Skipped => Self::Skipped,
        }
    }
}

impl From<&CheckResult> for CheckRecordV1 {
    fn from(value: &CheckResult) -> Self {
        Self {
            passed: value.passed,
            config_version: value.config_version,
            started_at: value.started_at,
            duration_ms: value.duration_ms,
            category: value.category.map(Into::into),
            test_object_key: value.test_object_key.clone(),
            bucket_region: value.bucket_region.clone(),
            bucket_owner: value.bucket_owner.as_ref().map(|a| a.as_str().to_owned()),
            stages: value
                .stages
                .iter()
                .map(|stage| StageRecordV1 {
                    stage: stage.stage.into(),
                    status: stage.status.into(),
                    duration_ms: stage.duration_ms,
                    failure: stage.failure.as_ref().map(|f| FailureRecordV1 {
                        category: f.category.into(),
                        aws_error_code: f.aws_error_code.clone(),
                        aws_request_id: f.aws_request_id.clone(),
                        explanation: f.explanation.clone(),
                        possible_causes: f.possible_causes.clone(),
                        fix: f.fix.clone(),
                        fix_document: f.fix_document.clone(),
                        bucket_region: f.bucket_region.clone(),
                    }),
                })
                .collect(),
        }
    }
}

impl TryFrom<CheckRecordV1> for CheckResult {
    type Error = StoreError;

    fn try_from(value: CheckRecordV1) -> Result<Self, StoreError> {
        Ok(Self {
            passed: value.passed,
            config_version: value.config_version,
            started_at: value.started_at,
            duration_ms: value.duration_ms,
            category: value.category.map(Into::into),
            test_object_key: value.test_object_key,
            bucket_region: value.bucket_region,
            bucket_owner: parse_opt("bucketOwner", value.bucket_owner)?,
            stages: value
                .stages
                .into_iter()
                .map(|stage| StageResult {
                    stage: stage.stage.into(),
                    status: stage.status.into(),
                    duration_ms: stage.duration_ms,
                    failure: stage.failure.map(|f| StageFailure {
                        category: f.category.into(),
                        aws_error_code: f.aws_error_code,
                        aws_request_id: f.aws_request_id,
                        explanation: f.explanation,
                        possible_causes: f.possible_causes,
                        fix: f.fix,
                        fix_document: f.fix_document,
                        bucket_region: f.bucket_region,
                    }),
                })
                .collect(),
        })
    }
}

impl From<&Configuration> for ConfigurationRecordV1 {
    fn from(value: &Configuration) -> Self {
        Self {
            bucket: value.bucket.as_str().to_owned(),
            folder: value.folder.as_str().to_owned(),
            region: value.region.as_ref().map(|r| r.as_str().to_owned()),
            role_arn: value.role_arn.as_ref().map(|r| r.as_str().to_owned()),
            kms_key: value.kms_key.as_ref().map(|k| k.as_str().to_owned()),
            bucket_owner: value.bucket_owner.as_ref().map(|a| a.as_str().to_owned()),
            home_partition: (value.home != Partition::Aws).then(|| value.home.as_str().to_owned()),
        }
    }
}

impl TryFrom<ConfigurationRecordV1> for Configuration {
    type Error = StoreError;

    fn try_from(value: ConfigurationRecordV1) -> Result<Self, StoreError> {
        Ok(Self {
            bucket: parse("bucket", value.bucket)?,
            folder: parse("folder", value.folder)?,
            region: parse_opt("region", value.region)?,
            role_arn: parse_opt("roleArn", value.role_arn)?,
            kms_key: parse_opt("kmsKey", value.kms_key)?,
            bucket_owner: parse_opt("bucketOwner", value.bucket_owner)?,
            home: match value.home_partition {
                None => Partition::Aws,
                Some(raw) => Partition::parse(&raw)
                    .ok_or_else(|| invalid("homePartition", format!("unknown partition {raw}")))?,
            },
        })
    }
}

impl From<&DestinationParts> for DestinationRecordV1 {
    fn from(value: &DestinationParts) -> Self {
        Self {
            id: value.id.as_str().to_owned(),
            tenant: value.tenant.as_str().to_owned(),
            name: value.name.as_str().to_owned(),
            description: value.description.as_str().to_owned(),
            object_key_template: (value.key_template != KeyTemplate::default())
                .then(|| value.key_template.as_str().to_owned()),
            auth: match &value.auth {
                AuthMode::IamRole { external_id } => AuthRecordV1::IamRole {
                    external_id: external_id.expose().to_owned(),
                },
                AuthMode::BucketPolicy => AuthRecordV1::BucketPolicy,
            },
            configuration: (&value.configuration).into(),
            config_version: value.config_version,
            active: value.active.as_ref().map(|a| ActiveRecordV1 {
                configuration: (&a.configuration).into(),
                config_version: a.config_version,
                pinned_owner: a.pinned_owner.as_ref().map(|o| o.as_str().to_owned()),
                saved_at: a.saved_at,
            }),
            status: value.status.into(),
            version: value.version,
            created_at: value.created_at,
            updated_at: value.updated_at,
            latest_test: value.latest_test.as_ref().map(Into::into),
            revalidation: RevalidationRecordV1 {
                consecutive_transient_failures: value.revalidation.consecutive_transient_failures,
                first_failure_at: value.revalidation.first_failure_at,
                next_check_at: value.revalidation.next_check_at,
                last_check: value.revalidation.last_check.as_ref().map(Into::into),
            },
            external_id_rotation: (value.rotation != ExternalIdRotation::default())
                .then(|| (&value.rotation).into()),
        }
    }
}

impl TryFrom<DestinationRecordV1> for DestinationParts {
    type Error = StoreError;

    fn try_from(value: DestinationRecordV1) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse("id", value.id)?,
            tenant: parse("tenant", value.tenant)?,
            name: parse("name", value.name)?,
            description: parse("description", value.description)?,
            key_template: match value.object_key_template {
                Some(raw) => KeyTemplate::new(&raw).map_err(|e| invalid("objectKeyTemplate", e))?,
                None => KeyTemplate::default(),
            },
            auth: match value.auth {
                AuthRecordV1::IamRole { external_id } => AuthMode::IamRole {
                    external_id: parse("externalId", external_id)?,
                },
                AuthRecordV1::BucketPolicy => AuthMode::BucketPolicy,
            },
            configuration: value.configuration.try_into()?,
            config_version: value.config_version,
            active: value
                .active
                .map(|a| -> Result<_, StoreError> {
                    Ok(ActiveConfiguration {
                        configuration: a.configuration.try_into()?,
                        config_version: a.config_version,
                        pinned_owner: parse_opt("pinnedOwner", a.pinned_owner)?,
                        saved_at: a.saved_at,
                    })
                })
                .transpose()?,
            status: value.status.into(),
            version: value.version,
            created_at: value.created_at,
            updated_at: value.updated_at,
            latest_test: value.latest_test.map(TryInto::try_into).transpose()?,
            revalidation: RevalidationState {
                consecutive_transient_failures: value.revalidation.consecutive_transient_failures,
                first_failure_at: value.revalidation.first_failure_at,
                next_check_at: value.revalidation.next_check_at,
                last_check: value
                    .revalidation
                    .last_check
                    .map(TryInto::try_into)
                    .transpose()?,
            },
            rotation: value
                .external_id_rotation
                .map(TryInto::try_into)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
