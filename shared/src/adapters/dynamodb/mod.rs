//! The single-table DynamoDB adapter. The key scheme is in [`keys`]; this module turns the ports'
//! operations into conditional writes and queries.

mod cursor;
pub mod keys;
mod records;
#[cfg(feature = "test-util")]
pub mod schema;
mod slots;
#[cfg(feature = "stream")]
pub mod stream;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use time::OffsetDateTime;

use crate::domain::check::CheckResult;
use crate::domain::delivery::{Delivery, DeliveryId, DeliveryRef, DeliveryStatus};
use crate::domain::revalidation::{ConnectionEvent, ConnectionEventKind, RevalidationRequest};
use crate::domain::{ActivityEntry, Destination, DestinationId, TenantId};
use crate::ports::{
    ActivityLog, ActivityPage, ActivityRecorder, CheckHistory, CheckLock, CreateOutcome,
    DeliveryPage, DeliveryRecords, DestinationRepository, DueDeliveries, DueDeliveryPage, DueIndex,
    DuePage, IdempotencyRecord, NewRecord, Outbox, OutboxPage, Page, RateLimitedAction,
    RateLimiter, Recorded, RetryAfter, SideEffects, StoreError,
};
use keys::{GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, PK, SK, n, s};

/// How long a test result stays in the history.
const HISTORY_RETENTION: time::Duration = time::Duration::days(30);
/// How long the audit trail is kept.
const ACTIVITY_RETENTION: time::Duration = time::Duration::days(400);
/// Rate limits count calls in fixed windows of this length.
const RATE_WINDOW_SECONDS: i64 = 60;

/// A tenant's limits: calls per minute, by action, and checks running at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub test_connection: u32,
    pub create_destination: u32,
    pub merge_bucket_policy: u32,
    pub api_request: u32,
    pub concurrent_checks: u16,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            test_connection: 20,
            create_destination: 30,
            merge_bucket_policy: 60,
            api_request: 600,
            concurrent_checks: 4,
        }
    }
}

impl RateLimits {
    fn per_minute(&self, action: RateLimitedAction) -> u32 {
        match action {
            RateLimitedAction::TestConnection => self.test_connection,
            RateLimitedAction::CreateDestination => self.create_destination,
            RateLimitedAction::MergeBucketPolicy => self.merge_bucket_policy,
            RateLimitedAction::ApiRequest => self.api_request,
        }
    }
}

#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    rate_limits: RateLimits,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>, rate_limits: RateLimits) -> Self {
        Self {
            client,
            table: table.into(),
            rate_limits,
        }
    }

    pub fn from_config(
        config: &aws_config::SdkConfig,
        table: impl Into<String>,
        rate_limits: RateLimits,
    ) -> Self {
        Self::new(Client::new(config), table, rate_limits)
    }
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

fn corrupt<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
    StoreError::Corrupt(Box::new(error))
}

fn is_conditional_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Which items of a cancelled transaction failed their condition, by position.
fn failed_conditions(
    error: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
) -> Option<Vec<bool>> {
    let cancelled = match error.as_service_error()? {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c,
        _ => return None,
    };
    Some(
        cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code() == Some("ConditionalCheckFailed"))
            .collect(),
    )
}

/// The item a destination is stored as (keys, index keys and fields).
pub fn destination_item(destination: &Destination) -> Result<Item, StoreError> {
    let mut item = records::destination_to_item(destination)?;
    item.extend(keys::destination(destination.tenant(), destination.id()));
    item.insert(GSI1PK.into(), s(keys::tenant_pk(destination.tenant())));
    item.insert(
        GSI1SK.into(),
        s(keys::list_position(
            destination.created_at(),
            destination.id(),
        )),
    );
    if let (true, Some(next_check)) = (
        destination.is_saved(),
        destination.revalidation().next_check_at,
    ) {
        let (pk, sk) = keys::due(destination.id(), destination.tenant(), next_check);
        item.insert(GSI2PK.into(), s(pk));
        item.insert(GSI2SK.into(), s(sk));
    }
    Ok(item)
}

fn read_destination(item: Item) -> Result<Destination, StoreError> {
    records::destination_from_item(item)
}

fn activity_item(
    tenant: &TenantId,
    id: &DestinationId,
    entry: &ActivityEntry,
) -> Result<Item, StoreError> {
    let mut item = records::activity_to_item(entry)?;
    item.extend(keys::activity(tenant, id, entry.at, entry.version));
    item.insert(
        "expires_at".into(),
        n((entry.at + ACTIVITY_RETENTION).unix_timestamp()),
    );
    Ok(item)
}

/// The item an unpublished event is stored as.
pub fn outbox_item(event: &ConnectionEvent) -> Result<Item, StoreError> {
    let mut item = Item::new();
    item.insert(
        "event".into(),
        AttributeValue::M(records::event_to_map(event)?),
    );
    item.insert("detail_type".into(), s(event.detail_type()));
    item.extend(keys::outbox(&event.tenant_id, &event.event_id));
    let (pk, sk) = keys::outbox_index(&event.tenant_id, &event.event_id, event.occurred_at);
    item.insert(GSI2PK.into(), s(pk));
    item.insert(GSI2SK.into(), s(sk));
    Ok(item)
}

/// The event an outbox item holds.
pub fn read_outbox_event(item: &Item) -> Result<ConnectionEvent, StoreError> {
    let event = item
        .get("event")
        .and_then(|v| v.as_m().ok())
        .ok_or_else(|| corrupt(std::io::Error::other("outbox item without an event")))?;
    let kind = item
        .get("detail_type")
        .and_then(|v| v.as_s().ok())
        .and_then(|t| ConnectionEventKind::from_detail_type(t))
        .ok_or_else(|| corrupt(std::io::Error::other("outbox item of an unknown kind")))?;
    records::event_from_map(event.clone(), kind)
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(corrupt)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An event for the outbox, written once: a retried transaction cannot queue it twice.
fn outbox_put(table: &str, event: &ConnectionEvent) -> Result<TransactWriteItem, StoreError> {
    put(table, outbox_item(event)?, Some("attribute_not_exists(PK)"))
}

fn count_change(
    table: &str,
    tenant: &TenantId,
    delta: i64,
    cap: Option<u32>,
) -> Result<TransactWriteItem, StoreError> {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(keys::destination_count(tenant)))
        .update_expression("ADD #count :delta")
        .expression_attribute_names("#count", "count")
        .expression_attribute_values(":delta", n(delta));
    if let Some(cap) = cap {
        update = update
            .condition_expression("attribute_not_exists(#count) OR #count < :cap")
            .expression_attribute_values(":cap", n(cap));
    }
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(corrupt)?)
        .build())
}

impl DynamoDbStore {
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<
        (),
        SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
    > {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }

    /// Replaces `item` only while its stored `version` is still `expected_version`, in one
    /// transaction with `also` (alone, a plain conditional put); a failed condition anywhere
    /// reads as a lost update.
    async fn put_at_version(
        &self,
        item: Item,
        expected_version: u64,
        also: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let condition = "version = :expected";
        if also.is_empty() {
            // Alone, a conditional put does what the transaction would at half its write cost.
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .expression_attribute_values(":expected", n(expected_version))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if is_conditional_failure(&e) => Err(StoreError::VersionConflict {
                    expected: expected_version,
                }),
                Err(e) => Err(unavailable(e)),
            };
        }
        let main = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(":expected", n(expected_version))
            .build()
            .map_err(corrupt)?;
        let mut items = Vec::with_capacity(1 + also.len());
        items.push(TransactWriteItem::builder().put(main).build());
        items.extend(also);
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.iter().any(|x| *x)) => {
                Err(StoreError::VersionConflict {
                    expected: expected_version,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn replayed(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read(keys::idempotency(tenant, key))
            .await?
            .map(records::idempotency_from_item)
            .transpose()
    }

    /// One page of `query` on this table from `start`, and the cursor of the next page if any.
    async fn page(
        &self,
        query: QueryFluentBuilder,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let output = query
            .table_name(&self.table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let next_cursor = output.last_evaluated_key.as_ref().map(cursor::encode);
        Ok((output.items.unwrap_or_default(), next_cursor))
    }

    /// One page of one partition of the due index (GSI2): the entries due at or before `before`,
    /// oldest first, from `cursor` (which must belong to that partition, checked by `parse_sort`).
    async fn due_page<T>(
        &self,
        partition: &str,
        before: OffsetDateTime,
        limit: i32,
        cursor: Option<&str>,
        parse_sort: impl Fn(&str) -> Option<T>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = cursor
            .map(|c| cursor::decode_index(c, partition, parse_sort))
            .transpose()?;
        let query = self
            .client
            .query()
            .index_name(keys::DUE_INDEX)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK <= :before")
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":before", s(keys::due_bound(before)))
            .limit(limit);
        self.page(query, start).await
    }

    /// One item by its key, read consistently: every read here follows a write it must see.
    async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }
}

impl DestinationRepository for DynamoDbStore {
    async fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> Result<Option<Destination>, StoreError> {
        self.read(keys::destination(tenant, id))
            .await?
            .map(read_destination)
            .transpose()
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let start = cursor
            .map(|c| {
                cursor::decode(
                    c,
                    tenant,
                    &[PK, SK, GSI1PK, GSI1SK],
                    keys::DESTINATION_PREFIX,
                )
            })
            .transpose()?;
        let query = self
            .client
            .query()
            .index_name(keys::LIST_INDEX)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        let (items, next_cursor) = self.page(query, start).await?;
        let items = items
            .into_iter()
            .map(read_destination)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn create(&self, record: NewRecord<'_>) -> Result<CreateOutcome, StoreError> {
        let destination = record.destination;
        let tenant = destination.tenant();
        let mut items = vec![
            put(
                &self.table,
                destination_item(destination)?,
                Some("attribute_not_exists(PK)"),
            )?,
            count_change(&self.table, tenant, 1, Some(record.cap))?,
            put(
                &self.table,
                activity_item(tenant, destination.id(), record.activity)?,
                None,
            )?,
        ];
        if let Some(idempotency) = record.idempotency {
            let mut item = records::idempotency_to_item(idempotency)?;
            item.extend(keys::idempotency(tenant, idempotency.key.as_str()));
            item.insert(
                "expires_at".into(),
                n(idempotency.expires_at.unix_timestamp()),
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK) OR expires_at < :now")
                .expression_attribute_values(":now", n(OffsetDateTime::now_utc().unix_timestamp()))
                .build()
                .map_err(corrupt)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let Err(error) = self.transact(items).await else {
            return Ok(CreateOutcome::Created);
        };
        let Some(failed) = failed_conditions(&error) else {
            return Err(unavailable(error));
        };
        // Cancelled: the idempotency key was used already, the tenant is at its cap, or (barely
        // possible) the random id collided. The reasons say which; a replay wins over the others.
        if let Some(key) = record.idempotency.map(|r| r.key.as_str())
            && failed.get(3).copied().unwrap_or(true)
            && let Some(previous) = self.replayed(tenant, key).await?
        {
            return Ok(CreateOutcome::Replayed(Box::new(previous)));
        }
        if failed.get(1).copied().unwrap_or(false) {
            return Err(StoreError::LimitReached { cap: record.cap });
        }
        if failed.first().copied().unwrap_or(false) {
            return Err(StoreError::AlreadyExists);
        }
        Err(unavailable(error))
    }

    async fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
        effects: SideEffects<'_>,
    ) -> Result<(), StoreError> {
        let mut also = Vec::with_capacity(1 + effects.events.len());
        if let Some(entry) = effects.activity {
            let item = activity_item(destination.tenant(), destination.id(), entry)?;
            also.push(put(&self.table, item, None)?);
        }
        for event in effects.events {
            also.push(outbox_put(&self.table, event)?);
        }
        self.put_at_version(destination_item(destination)?, expected_version, also)
            .await
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        activity: &ActivityEntry,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::destination(tenant, id)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(corrupt)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            count_change(&self.table, tenant, -1, None)?,
            put(&self.table, activity_item(tenant, id, activity)?, None)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl CheckLock for DynamoDbStore {
    async fn try_lock(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<Destination>, StoreError> {
        let millis = |t: OffsetDateTime| n(t.unix_timestamp_nanos() / 1_000_000);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::destination(tenant, id)))
            .update_expression("SET test_lock_until = :until")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(test_lock_until) OR test_lock_until < :now)",
            )
            .expression_attribute_values(":until", millis(until))
            .expression_attribute_values(":now", millis(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => output
                .attributes
                .map(read_destination)
                .transpose()?
                .map(Some)
                .ok_or_else(|| corrupt(std::io::Error::other("the lock returned no item"))),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn unlock(&self, tenant: &TenantId, id: &DestinationId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::destination(tenant, id)))
            .update_expression("REMOVE test_lock_until")
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl CheckHistory for DynamoDbStore {
    async fn append(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        result: &CheckResult,
    ) -> Result<(), StoreError> {
        let mut item = records::check_to_item(result)?;
        item.extend(keys::test_result(tenant, id, result.started_at));
        item.insert(
            "expires_at".into(),
            n((result.started_at + HISTORY_RETENTION).unix_timestamp()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> Result<Vec<CheckResult>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(keys::test_prefix(id)))
            .scan_index_forward(false)
            .limit(i32::from(limit))
            .send()
            .await
            .map_err(unavailable)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(records::check_from_item)
            .collect()
    }
}

impl DueIndex for DynamoDbStore {
    async fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DuePage, StoreError> {
        let partition = keys::due_partition(shard);
        let (entries, next_cursor) = self
            .due_page(&partition, now, 500, cursor, keys::parse_due)
            .await?;
        let mut items = Vec::new();
        for item in entries {
            let version = item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok());
            match (keys::parse_destination(&item), version) {
                (Some((tenant_id, destination_id)), Some(version)) => {
                    items.push(RevalidationRequest {
                        tenant_id,
                        destination_id,
                        version,
                    })
                }
                _ => tracing::error!("unreadable entry in the due index"),
            }
        }
        Ok(DuePage { items, next_cursor })
    }
}

impl ActivityRecorder for DynamoDbStore {
    async fn record_activity(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        entry: &ActivityEntry,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(activity_item(tenant, id, entry)?))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

impl ActivityLog for DynamoDbStore {
    async fn activity(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<ActivityPage, StoreError> {
        let prefix = keys::activity_prefix(id);
        let start = cursor
            .map(|c| cursor::decode(c, tenant, &[PK, SK], &prefix))
            .transpose()?;
        let query = self
            .client
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        let (items, next_cursor) = self.page(query, start).await?;
        let items = items
            .into_iter()
            .map(records::activity_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ActivityPage { items, next_cursor })
    }
}

impl Outbox for DynamoDbStore {
    async fn pending(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> Result<Option<ConnectionEvent>, StoreError> {
        self.read(keys::outbox(tenant, event_id))
            .await?
            .as_ref()
            .map(read_outbox_event)
            .transpose()
    }

    async fn backlog(
        &self,
        before: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<OutboxPage, StoreError> {
        let (entries, next_cursor) = self
            .due_page(
                keys::outbox_partition(),
                before,
                100,
                cursor,
                keys::parse_outbox_index,
            )
            .await?;
        let mut items = Vec::new();
        for entry in entries {
            let Some((tenant, event_id)) = keys::parse_outbox(&entry) else {
                tracing::error!("unreadable entry in the outbox index");
                continue;
            };
            if let Some(event) = self.pending(&tenant, &event_id).await? {
                items.push(event);
            }
        }
        Ok(OutboxPage { items, next_cursor })
    }

    async fn published(&self, tenant: &TenantId, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::outbox(tenant, event_id)))
            .return_values(ReturnValue::None)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// The item a delivery is stored as (keys, list position, and while it waits, its due entry).
pub fn delivery_item(delivery: &Delivery) -> Result<Item, StoreError> {
    let mut item = records::delivery_to_item(delivery)?;
    item.extend(keys::delivery(
        &delivery.tenant,
        &delivery.destination,
        &delivery.id,
    ));
    item.insert(
        GSI1PK.into(),
        s(keys::delivery_list(&delivery.tenant, &delivery.destination)),
    );
    item.insert(
        GSI1SK.into(),
        s(keys::delivery_list_position(
            delivery.requested_at,
            &delivery.id,
        )),
    );
    if let (
        DeliveryStatus::Queued | DeliveryStatus::Failed | DeliveryStatus::Delivering,
        Some(next),
    ) = (delivery.status, delivery.next_attempt_at)
    {
        let (pk, sk) = keys::delivery_due(&delivery.reference(), next);
        item.insert(GSI2PK.into(), s(pk));
        item.insert(GSI2SK.into(), s(sk));
    }
    Ok(item)
}

impl DeliveryRecords for DynamoDbStore {
    async fn record(
        &self,
        delivery: &Delivery,
        activity: &ActivityEntry,
    ) -> Result<Recorded, StoreError> {
        let items = vec![
            put(
                &self.table,
                delivery_item(delivery)?,
                Some("attribute_not_exists(PK)"),
            )?,
            put(
                &self.table,
                activity_item(&delivery.tenant, &delivery.destination, activity)?,
                None,
            )?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Recorded::New),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => {
                let existing = self
                    .delivery(&delivery.tenant, &delivery.destination, &delivery.id)
                    .await?
                    .ok_or_else(|| corrupt(std::io::Error::other("delivery vanished")))?;
                Ok(Recorded::Existing(Box::new(existing)))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        destination: &DestinationId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        self.read(keys::delivery(tenant, destination, id))
            .await?
            .map(records::delivery_from_item)
            .transpose()
    }

    async fn save_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
        event: Option<&ConnectionEvent>,
    ) -> Result<(), StoreError> {
        let also = event
            .map(|event| outbox_put(&self.table, event))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        self.put_at_version(delivery_item(delivery)?, expected_version, also)
            .await
    }

    async fn note_upload(
        &self,
        reference: &DeliveryRef,
        version: u64,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::delivery(
                &reference.tenant_id,
                &reference.destination_id,
                &reference.delivery_id,
            )))
            .update_expression("SET uploadId = :upload")
            .condition_expression("version = :version")
            .expression_attribute_values(":upload", s(upload_id))
            .expression_attribute_values(":version", n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => {
                Err(StoreError::VersionConflict { expected: version })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        destination: &DestinationId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, StoreError> {
        let start = cursor
            .map(|c| {
                cursor::decode(
                    c,
                    tenant,
                    &[PK, SK, GSI1PK, GSI1SK],
                    &keys::delivery_prefix(destination),
                )
            })
            .transpose()?;
        let query = self
            .client
            .query()
            .index_name(keys::LIST_INDEX)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::delivery_list(tenant, destination)))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        let (items, next_cursor) = self.page(query, start).await?;
        let items = items
            .into_iter()
            .map(records::delivery_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DeliveryPage { items, next_cursor })
    }
}

impl DueDeliveries for DynamoDbStore {
    async fn due_deliveries(
        &self,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DueDeliveryPage, StoreError> {
        let (entries, next_cursor) = self
            .due_page(
                keys::delivery_due_partition(),
                now,
                500,
                cursor,
                keys::parse_delivery_due,
            )
            .await?;
        let mut items = Vec::new();
        for entry in entries {
            match entry
                .get(GSI2SK)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| keys::parse_delivery_due(sk))
            {
                Some(reference) => items.push(reference),
                None => tracing::error!("unreadable entry in the delivery due index"),
            }
        }
        Ok(DueDeliveryPage { items, next_cursor })
    }
}

impl RateLimiter for DynamoDbStore {
    async fn acquire(
        &self,
        tenant: &TenantId,
        action: RateLimitedAction,
        now: OffsetDateTime,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let limit = self.rate_limits.per_minute(action);
        let window_start =
            now.unix_timestamp() - now.unix_timestamp().rem_euclid(RATE_WINDOW_SECONDS);
        let window_end = window_start + RATE_WINDOW_SECONDS;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::rate_window(
                tenant,
                action.as_str(),
                window_start,
            )))
            .update_expression("ADD #count :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(window_end + RATE_WINDOW_SECONDS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_conditional_failure(&e) => {
                let wait = u64::try_from(window_end - now.unix_timestamp())
                    .unwrap_or(1)
                    .max(1);
                Ok(Err(RetryAfter(Duration::from_secs(wait))))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
