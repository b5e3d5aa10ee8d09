//! The single-table DynamoDB adapter.
//!
//! # Key scheme
//!
//! Every key starts with the tenant, so no query can reach another tenant's items.
//!
//! | item                 | `PK`               | `SK`                                  | other keys                                         |
//! |----------------------|--------------------|---------------------------------------|----------------------------------------------------|
//! | destination          | `TENANT#<tenant>`  | `DESTINATION#<id>`                    | `GSI1PK = TENANT#<tenant>`, `GSI1SK = CREATED#<ns>#<id>` |
//! | test result history  | `TENANT#<tenant>`  | `DESTINATION#<id>#TEST#<ns>`          | `expires_at` (TTL)                                 |
//! | idempotency record   | `TENANT#<tenant>`  | `IDEMPOTENCY#<key>`                   | `expires_at` (TTL)                                 |
//!
//! Saved destinations also carry `GSI2PK = DUE#<shard>` and `GSI2SK = <next check ns>#<tenant>#<id>`
//! (shard 0–15, from the id).
//!
//! `<ns>` is a zero-padded Unix timestamp in nanoseconds, so string order is time order.
//! `GSI1` (`ByTenantNewestFirst`, all attributes) lists a tenant's destinations newest first
//! without a scan. `GSI2` (`ByNextCheck`, keys and `version`) is sparse: only saved destinations are
//! in it, so the scheduler reads exactly the destinations that are due, shard by shard in parallel. The destination's own fields are stored as typed attributes beside the keys;
//! `test_lock_until` (epoch ms) marks a running connection test and is dropped by every update.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::connection_test::ConnectionTestResult;
use crate::domain::{Destination, DestinationId, TenantId};
use crate::ports::{
    CreateOutcome, DestinationStore, DuePage, IdempotencyRecord, Page, StoreError, due_shard,
};
use crate::revalidation::RevalidationRequest;

pub const LIST_INDEX: &str = "ByTenantNewestFirst";
pub const DUE_INDEX: &str = "ByNextCheck";
/// How long a test result stays in the history.
const HISTORY_RETENTION: time::Duration = time::Duration::days(30);

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn destination_sk(id: &DestinationId) -> String {
    format!("DESTINATION#{id}")
}

fn nanos(at: OffsetDateTime) -> String {
    format!("{:020}", at.unix_timestamp_nanos().max(0))
}

fn primary_key(tenant: &TenantId, id: &DestinationId) -> Item {
    HashMap::from([
        ("PK".to_owned(), s(tenant_pk(tenant))),
        ("SK".to_owned(), s(destination_sk(id))),
    ])
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

fn destination_item(destination: &Destination) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(destination).map_err(unavailable)?;
    item.extend(primary_key(&destination.tenant, &destination.id));
    item.insert("GSI1PK".into(), s(tenant_pk(&destination.tenant)));
    item.insert(
        "GSI1SK".into(),
        s(format!(
            "CREATED#{}#{}",
            nanos(destination.created_at),
            destination.id
        )),
    );
    if let (true, Some(next_check)) = (
        destination.is_saved(),
        destination.revalidation.next_check_at,
    ) {
        item.insert(
            "GSI2PK".into(),
            s(format!("DUE#{}", due_shard(&destination.id))),
        );
        item.insert(
            "GSI2SK".into(),
            s(format!(
                "{}#{}#{}",
                nanos(next_check),
                destination.tenant,
                destination.id
            )),
        );
    }
    Ok(item)
}

fn read_destination(item: Item) -> Result<Destination, StoreError> {
    serde_dynamo::from_item(item).map_err(unavailable)
}

/// What a list cursor carries: the position only. The tenant always comes from the caller.
#[derive(Serialize, Deserialize)]
struct CursorPosition {
    created: String,
    id: String,
}

fn is_conditional_failure<E, R>(error: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[async_trait]
impl DestinationStore for DynamoDbStore {
    async fn create(
        &self,
        destination: &Destination,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        let item = destination_item(destination)?;
        let Some(record) = idempotency else {
            return match self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await
            {
                Ok(_) => Ok(CreateOutcome::Created),
                Err(e) if is_conditional_failure(&e) => Err(StoreError::AlreadyExists),
                Err(e) => Err(unavailable(e)),
            };
        };
        let idem_key = idempotency_key(&destination.tenant, &record.key);
        let mut idem_item: Item = serde_dynamo::to_item(record).map_err(unavailable)?;
        idem_item.extend(idem_key.clone());
        idem_item.insert("expires_at".into(), n(record.expires_at.unix_timestamp()));
        let destination_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map(|put| TransactWriteItem::builder().put(put).build())
            .map_err(unavailable)?;
        let now = n(OffsetDateTime::now_utc().unix_timestamp());
        let idem_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(idem_item))
            .condition_expression("attribute_not_exists(PK) OR expires_at < :now")
            .expression_attribute_values(":now", now)
            .build()
            .map(|put| TransactWriteItem::builder().put(put).build())
            .map_err(unavailable)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(destination_put)
            .transact_items(idem_put)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(e) => {
                let cancelled = e
                    .as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception());
                if !cancelled {
                    return Err(unavailable(e));
                }
                // Cancelled: either our idempotency key was used already, or (astronomically unlikely)
                // the random id collided. Reading the record tells which.
                let stored = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(idem_key))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(unavailable)?;
                match stored.item {
                    Some(item) => Ok(CreateOutcome::Replayed(
                        serde_dynamo::from_item(item).map_err(unavailable)?,
                    )),
                    None => Err(StoreError::AlreadyExists),
                }
            }
        }
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
    ) -> Result<Option<Destination>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(tenant, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(read_destination).transpose()
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .scan_index_forward(false)
            .limit(i32::from(limit));
        if let Some(cursor) = cursor {
            let position: CursorPosition = URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or(StoreError::InvalidCursor)?;
            let id = DestinationId::new(&position.id).map_err(|_| StoreError::InvalidCursor)?;
            if !position.created.starts_with("CREATED#") {
                return Err(StoreError::InvalidCursor);
            }
            let mut start = primary_key(tenant, &id);
            start.insert("GSI1PK".into(), s(tenant_pk(tenant)));
            start.insert("GSI1SK".into(), s(position.created));
            query = query.set_exclusive_start_key(Some(start));
        }
        let output = query.send().await.map_err(unavailable)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(read_destination)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = match output.last_evaluated_key {
            Some(last) => {
                let created = last.get("GSI1SK").and_then(|v| v.as_s().ok()).cloned();
                let id = last
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix("DESTINATION#"))
                    .map(str::to_owned);
                match (created, id) {
                    (Some(created), Some(id)) => Some(URL_SAFE_NO_PAD.encode(
                        serde_json::to_vec(&CursorPosition { created, id }).map_err(unavailable)?,
                    )),
                    _ => None,
                }
            }
            None => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn update(
        &self,
        destination: &Destination,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(destination_item(destination)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::VersionConflict {
                expected: expected_version,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, tenant: &TenantId, id: &DestinationId) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(tenant, id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn try_lock_test(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let millis = |t: OffsetDateTime| n(t.unix_timestamp_nanos() / 1_000_000);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(tenant, id)))
            .update_expression("SET test_lock_until = :until")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(test_lock_until) OR test_lock_until < :now)",
            )
            .expression_attribute_values(":until", millis(until))
            .expression_attribute_values(":now", millis(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn unlock_test(&self, tenant: &TenantId, id: &DestinationId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(tenant, id)))
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

    async fn record_test_result(
        &self,
        destination: &Destination,
        expected_version: u64,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError> {
        // Two plain writes at once rather than one transaction: the history entry is true whether or
        // not the destination still takes the result (the test ran), its key is the test's start so a
        // retry rewrites the same entry, and a transaction would cost twice the write capacity.
        let (current, history) = futures::join!(
            self.update(destination, expected_version),
            self.append_test_history(destination, result)
        );
        current?;
        // The result is the destination's now; a lost history entry must not turn that into an
        // error the caller would retry or report as a failed save.
        if let Err(e) = history {
            tracing::warn!(destination_id = %destination.id, error = %e, "test history entry not written");
        }
        Ok(())
    }

    async fn append_test_history(
        &self,
        destination: &Destination,
        result: &ConnectionTestResult,
    ) -> Result<(), StoreError> {
        let item = history_item(destination, result)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn test_history(
        &self,
        tenant: &TenantId,
        id: &DestinationId,
        limit: u16,
    ) -> Result<Vec<ConnectionTestResult>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(format!("{}#TEST#", destination_sk(id))))
            .scan_index_forward(false)
            .limit(i32::from(limit))
            .send()
            .await
            .map_err(unavailable)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(unavailable))
            .collect()
    }

    async fn due_for_check(
        &self,
        shard: u16,
        now: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<DuePage, StoreError> {
        let pk = format!("DUE#{shard}");
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK <= :now")
            .expression_attribute_values(":pk", s(&pk))
            // '~' sorts after '#', so every key of this instant is included.
            .expression_attribute_values(":now", s(format!("{}~", nanos(now))))
            .limit(500);
        if let Some(cursor) = cursor {
            let sk = String::from_utf8(
                URL_SAFE_NO_PAD
                    .decode(cursor)
                    .map_err(|_| StoreError::InvalidCursor)?,
            )
            .map_err(|_| StoreError::InvalidCursor)?;
            let mut parts = sk.splitn(3, '#');
            let (Some(_), Some(tenant), Some(id)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(StoreError::InvalidCursor);
            };
            let tenant = TenantId::new(tenant).map_err(|_| StoreError::InvalidCursor)?;
            let id = DestinationId::new(id).map_err(|_| StoreError::InvalidCursor)?;
            let mut start = primary_key(&tenant, &id);
            start.insert("GSI2PK".into(), s(&pk));
            start.insert("GSI2SK".into(), s(sk));
            query = query.set_exclusive_start_key(Some(start));
        }
        let output = query.send().await.map_err(unavailable)?;
        let mut items = Vec::new();
        for item in output.items.unwrap_or_default() {
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let tenant = text("PK")
                .strip_prefix("TENANT#")
                .and_then(|t| TenantId::new(t).ok());
            let id = text("SK")
                .strip_prefix("DESTINATION#")
                .and_then(|i| DestinationId::new(i).ok());
            let version = item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok());
            if let (Some(tenant_id), Some(destination_id), Some(version)) = (tenant, id, version) {
                items.push(RevalidationRequest {
                    tenant_id,
                    destination_id,
                    version,
                });
            }
        }
        let next_cursor = output
            .last_evaluated_key
            .and_then(|last| last.get("GSI2SK").and_then(|v| v.as_s().ok()).cloned())
            .map(|sk| URL_SAFE_NO_PAD.encode(sk));
        Ok(DuePage { items, next_cursor })
    }
}

fn history_item(
    destination: &Destination,
    result: &ConnectionTestResult,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(result).map_err(unavailable)?;
    item.insert("PK".into(), s(tenant_pk(&destination.tenant)));
    item.insert(
        "SK".into(),
        s(format!(
            "{}#TEST#{}",
            destination_sk(&destination.id),
            nanos(result.started_at)
        )),
    );
    item.insert(
        "expires_at".into(),
        n((result.started_at + HISTORY_RETENTION).unix_timestamp()),
    );
    Ok(item)
}

fn idempotency_key(tenant: &TenantId, key: &str) -> Item {
    HashMap::from([
        ("PK".to_owned(), s(tenant_pk(tenant))),
        ("SK".to_owned(), s(format!("IDEMPOTENCY#{key}"))),
    ])
}

/// Creates the table as `template.yaml` declares it (tests and the local run; AWS gets the template).
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(unavailable)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(unavailable)
    };
    let list_index = GlobalSecondaryIndex::builder()
        .index_name(LIST_INDEX)
        .key_schema(key("GSI1PK", KeyType::Hash)?)
        .key_schema(key("GSI1SK", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(unavailable)?;
    let due_index = GlobalSecondaryIndex::builder()
        .index_name(DUE_INDEX)
        .key_schema(key("GSI2PK", KeyType::Hash)?)
        .key_schema(key("GSI2SK", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes("version")
                .build(),
        )
        .build()
        .map_err(unavailable)?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK")?)
        .attribute_definitions(attr("SK")?)
        .attribute_definitions(attr("GSI1PK")?)
        .attribute_definitions(attr("GSI1SK")?)
        .attribute_definitions(attr("GSI2PK")?)
        .attribute_definitions(attr("GSI2SK")?)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .global_secondary_indexes(list_index)
        .global_secondary_indexes(due_index)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(unavailable)?,
        )
        .send()
        .await
        .map_err(unavailable)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .map_err(unavailable)?,
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}
