//! A tenant's check slots: one item per slot, taken by a conditional put and held under a lease,
//! so that a check that dies holding one frees it when the lease ends.

use time::OffsetDateTime;

use super::keys::{self, n, s};
use super::{DynamoDbStore, is_conditional_failure, unavailable};
use crate::domain::TenantId;
use crate::ports::{CheckKind, CheckSlot, CheckSlots, StoreError, slot_indexes};

/// The holder of a slot nobody holds.
const RELEASED: &str = "released";
/// Slot items outlive their lease by this much before DynamoDB's TTL removes them.
const SLOT_RETENTION_SECONDS: i64 = 3_600;

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl CheckSlots for DynamoDbStore {
    async fn take_slot(
        &self,
        tenant: &TenantId,
        kind: CheckKind,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<CheckSlot>, StoreError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let start = holder.as_bytes()[0].into();
        for index in slot_indexes(kind, self.rate_limits.concurrent_checks, start) {
            let mut item = keys::check_slot(tenant, index);
            item.insert("holder".into(), s(&holder));
            item.insert("lease_until".into(), n(millis(until)));
            item.insert(
                "expires_at".into(),
                n(until.unix_timestamp() + SLOT_RETENTION_SECONDS),
            );
            let taken = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK) OR lease_until < :now")
                .expression_attribute_values(":now", n(millis(now)))
                .send()
                .await;
            match taken {
                Ok(_) => {
                    return Ok(Some(CheckSlot {
                        index,
                        holder: holder.clone(),
                    }));
                }
                Err(e) if is_conditional_failure(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(None)
    }

    async fn release_slot(&self, tenant: &TenantId, slot: &CheckSlot) -> Result<(), StoreError> {
        // A put, not a delete: every function that checks may already put items, and none needs
        // to delete any. A lease that ended long ago is a free slot.
        let mut item = keys::check_slot(tenant, slot.index);
        item.insert("holder".into(), s(RELEASED));
        item.insert("lease_until".into(), n(0));
        item.insert(
            "expires_at".into(),
            n(OffsetDateTime::now_utc().unix_timestamp() + SLOT_RETENTION_SECONDS),
        );
        let released = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(&slot.holder))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            // Our lease ended and another check holds the slot now: it is theirs to free.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
