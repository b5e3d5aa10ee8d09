//! The table's key scheme: the only place that formats or parses a key.
//!
//! Every key starts with the tenant, so no query can reach another tenant's items.
//!
//! | item                | `PK`              | `SK`                           | other keys                                           |
//! |---------------------|-------------------|--------------------------------|------------------------------------------------------|
//! | destination         | `TENANT#<tenant>` | `DESTINATION#<id>`             | `GSI1PK = TENANT#<tenant>`, `GSI1SK = CREATED#<ns>#<id>`; saved ones `GSI2PK = DUE#<shard>`, `GSI2SK = <next check ns>#<tenant>#<id>` |
//! | test result         | `TENANT#<tenant>` | `TEST#<id>#<ns>`               | `expires_at` (TTL)                                   |
//! | activity entry      | `TENANT#<tenant>` | `ACTIVITY#<id>#<ns>#<version>` | `expires_at` (TTL)                                   |
//! | idempotency record  | `TENANT#<tenant>` | `IDEMPOTENCY#<key>`            | `expires_at` (TTL)                                   |
//! | unpublished event   | `TENANT#<tenant>` | `OUTBOX#<event id>`            | `GSI2PK = OUTBOX`, `GSI2SK = <ns>#<tenant>#<event id>` |
//! | delivery            | `TENANT#<tenant>` | `DELIVERY#<id>#<delivery id>`  | `GSI1PK = TENANT#<tenant>#DELIVERIES#<id>`, `GSI1SK = REQUESTED#<ns>#<delivery id>`; waiting ones `GSI2PK = DELIVERY-DUE`, `GSI2SK = <next attempt ns>#<tenant>#<id>#<delivery id>` |
//! | destination count   | `TENANT#<tenant>` | `COUNT#destinations`           | `count`                                              |
//! | rate-limit window   | `TENANT#<tenant>` | `RATE#<action>#<window start>` | `count`, `expires_at` (TTL)                          |
//! | check slot          | `TENANT#<tenant>` | `CHECK-SLOT#<index>`           | `holder`, `lease_until` (ms), `expires_at` (TTL)     |
//!
//! `<ns>` is a zero-padded Unix timestamp in nanoseconds, so string order is time order.
//! `GSI1` (`ByTenantNewestFirst`, all attributes) lists a tenant's destinations, and a
//! destination's deliveries, newest first.
//! `GSI2` (`ByNextCheck`, keys and `version`) is sparse: only saved destinations (spread over 16
//! shards), unpublished events and deliveries waiting for an attempt are in it. Only destinations have an `SK` starting with
//! `DESTINATION#`, and only events one starting with `OUTBOX#`: the stream consumers filter on that.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::domain::delivery::{DeliveryId, DeliveryRef};
use crate::domain::revalidation::due_shard;
use crate::domain::{DestinationId, TenantId};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const LIST_INDEX: &str = "ByTenantNewestFirst";
pub const DUE_INDEX: &str = "ByNextCheck";
pub const DESTINATION_PREFIX: &str = "DESTINATION#";
pub const OUTBOX_PREFIX: &str = "OUTBOX#";
const OUTBOX_PARTITION: &str = "OUTBOX";
const DELIVERY_DUE_PARTITION: &str = "DELIVERY-DUE";

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn nanos(at: OffsetDateTime) -> String {
    format!("{:020}", at.unix_timestamp_nanos().max(0))
}

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn key(tenant: &TenantId, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), s(tenant_pk(tenant))),
        (SK.to_owned(), s(sk)),
    ])
}

pub fn destination(tenant: &TenantId, id: &DestinationId) -> Item {
    key(tenant, format!("{DESTINATION_PREFIX}{id}"))
}

pub fn list_position(created_at: OffsetDateTime, id: &DestinationId) -> String {
    format!("CREATED#{}#{id}", nanos(created_at))
}

pub fn due(id: &DestinationId, tenant: &TenantId, next_check: OffsetDateTime) -> (String, String) {
    (
        format!("DUE#{}", due_shard(id)),
        format!("{}#{tenant}#{id}", nanos(next_check)),
    )
}

pub fn due_partition(shard: u16) -> String {
    format!("DUE#{shard}")
}

/// Every due key of this instant sorts before this bound ('~' sorts after '#').
pub fn due_bound(now: OffsetDateTime) -> String {
    format!("{}~", nanos(now))
}

pub fn test_result(tenant: &TenantId, id: &DestinationId, started_at: OffsetDateTime) -> Item {
    key(tenant, format!("TEST#{id}#{}", nanos(started_at)))
}

pub fn test_prefix(id: &DestinationId) -> String {
    format!("TEST#{id}#")
}

pub fn activity(tenant: &TenantId, id: &DestinationId, at: OffsetDateTime, version: u64) -> Item {
    key(tenant, format!("ACTIVITY#{id}#{}#{version:020}", nanos(at)))
}

pub fn activity_prefix(id: &DestinationId) -> String {
    format!("ACTIVITY#{id}#")
}

pub fn idempotency(tenant: &TenantId, key_value: &str) -> Item {
    key(tenant, format!("IDEMPOTENCY#{key_value}"))
}

pub fn outbox(tenant: &TenantId, event_id: &str) -> Item {
    key(tenant, format!("{OUTBOX_PREFIX}{event_id}"))
}

pub fn outbox_index(tenant: &TenantId, event_id: &str, at: OffsetDateTime) -> (String, String) {
    (
        OUTBOX_PARTITION.to_owned(),
        format!("{}#{tenant}#{event_id}", nanos(at)),
    )
}

pub fn outbox_partition() -> &'static str {
    OUTBOX_PARTITION
}

pub fn destination_count(tenant: &TenantId) -> Item {
    key(tenant, "COUNT#destinations".to_owned())
}

pub fn rate_window(tenant: &TenantId, action: &str, window_start: i64) -> Item {
    key(tenant, format!("RATE#{action}#{window_start}"))
}

pub fn check_slot(tenant: &TenantId, index: u16) -> Item {
    key(tenant, format!("CHECK-SLOT#{index}"))
}

pub fn delivery(tenant: &TenantId, id: &DestinationId, delivery: &DeliveryId) -> Item {
    key(tenant, format!("{}{delivery}", delivery_prefix(id)))
}

/// Every delivery of one destination has an `SK` starting with this.
pub fn delivery_prefix(id: &DestinationId) -> String {
    format!("DELIVERY#{id}#")
}

pub fn delivery_list(tenant: &TenantId, id: &DestinationId) -> String {
    format!("{}#DELIVERIES#{id}", tenant_pk(tenant))
}

pub fn delivery_list_position(requested_at: OffsetDateTime, delivery: &DeliveryId) -> String {
    format!("REQUESTED#{}#{delivery}", nanos(requested_at))
}

pub fn delivery_due(reference: &DeliveryRef, next_attempt: OffsetDateTime) -> (String, String) {
    (
        DELIVERY_DUE_PARTITION.to_owned(),
        format!(
            "{}#{}#{}#{}",
            nanos(next_attempt),
            reference.tenant_id,
            reference.destination_id,
            reference.delivery_id
        ),
    )
}

pub fn delivery_due_partition() -> &'static str {
    DELIVERY_DUE_PARTITION
}

/// The delivery a due-index sort key names.
pub fn parse_delivery_due(sort_key: &str) -> Option<DeliveryRef> {
    let mut parts = sort_key.splitn(4, '#');
    let (_, tenant, id, delivery) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(DeliveryRef {
        tenant_id: TenantId::new(tenant).ok()?,
        destination_id: DestinationId::new(id).ok()?,
        delivery_id: DeliveryId::new(delivery).ok()?,
    })
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The tenant and destination of a destination item (or of its keys).
pub fn parse_destination(item: &Item) -> Option<(TenantId, DestinationId)> {
    let tenant = TenantId::new(text(item, PK)?.strip_prefix("TENANT#")?).ok()?;
    let id = DestinationId::new(text(item, SK)?.strip_prefix(DESTINATION_PREFIX)?).ok()?;
    Some((tenant, id))
}

/// The tenant and event id of an outbox item (or of its keys).
pub fn parse_outbox(item: &Item) -> Option<(TenantId, String)> {
    let tenant = TenantId::new(text(item, PK)?.strip_prefix("TENANT#")?).ok()?;
    let event_id = text(item, SK)?.strip_prefix(OUTBOX_PREFIX)?.to_owned();
    Some((tenant, event_id))
}

/// `(tenant, id)` from a due-index sort key.
pub fn parse_due(sort_key: &str) -> Option<(TenantId, DestinationId)> {
    let mut parts = sort_key.splitn(3, '#');
    let (_, tenant, id) = (parts.next()?, parts.next()?, parts.next()?);
    Some((TenantId::new(tenant).ok()?, DestinationId::new(id).ok()?))
}

/// `(tenant, event id)` from an outbox-index sort key.
pub fn parse_outbox_index(sort_key: &str) -> Option<(TenantId, String)> {
    let mut parts = sort_key.splitn(3, '#');
    let (_, tenant, event_id) = (parts.next()?, parts.next()?, parts.next()?);
    Some((TenantId::new(tenant).ok()?, event_id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_collide_across_item_kinds() {
        let tenant = TenantId::new("acme").unwrap();
        let id = DestinationId::generate();
        let item = destination(&tenant, &id);
        assert_eq!(parse_destination(&item), Some((tenant.clone(), id.clone())));
        let now = OffsetDateTime::UNIX_EPOCH;
        for other in [
            test_result(&tenant, &id, now),
            activity(&tenant, &id, now, 1),
            outbox(&tenant, &format!("{id}/2")),
            idempotency(&tenant, "k"),
            destination_count(&tenant),
            rate_window(&tenant, "test-connection", 0),
            delivery(&tenant, &id, &DeliveryId::new("d-1").unwrap()),
        ] {
            assert_eq!(parse_destination(&other), None, "{other:?}");
            assert!(!text(&other, SK).unwrap().starts_with(DESTINATION_PREFIX));
        }
        let (_, due_sk) = due(&id, &tenant, now);
        assert_eq!(parse_due(&due_sk), Some((tenant.clone(), id.clone())));
        let (_, outbox_sk) = outbox_index(&tenant, "e/1", now);
        assert_eq!(
            parse_outbox_index(&outbox_sk),
            Some((tenant.clone(), "e/1".into()))
        );
        let reference = DeliveryRef {
            tenant_id: tenant,
            destination_id: id,
            delivery_id: DeliveryId::new("d.1_x-2").unwrap(),
        };
        let (_, delivery_sk) = delivery_due(&reference, now);
        assert_eq!(parse_delivery_due(&delivery_sk), Some(reference));
    }

    #[test]
    fn time_keys_sort_as_time() {
        let early = nanos(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(9));
        let late = nanos(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(10));
        assert!(early < late);
        assert!(due_bound(OffsetDateTime::UNIX_EPOCH) > nanos(OffsetDateTime::UNIX_EPOCH));
    }
}
