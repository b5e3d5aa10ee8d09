//! Creates the table as `template.yaml` declares it, for tests and the local run (AWS gets the
//! template; a test keeps the two equal).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use super::keys::{DUE_INDEX, GSI1PK, GSI1SK, GSI2PK, GSI2SK, LIST_INDEX, PK, SK};
use super::{corrupt, unavailable};
use crate::ports::StoreError;

/// The table's shape, in the terms `template.yaml` uses.
pub struct TableShape {
    pub key: [(&'static str, &'static str); 2],
    /// `(index, hash key, range key, projection, non-key attributes)`.
    pub indexes: [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    ); 2],
    pub ttl_attribute: &'static str,
    pub stream_view: &'static str,
}

pub const TABLE: TableShape = TableShape {
    key: [(PK, "HASH"), (SK, "RANGE")],
    indexes: [
        (LIST_INDEX, GSI1PK, GSI1SK, "ALL", &[]),
        (DUE_INDEX, GSI2PK, GSI2SK, "INCLUDE", &["version"]),
    ],
    ttl_attribute: "expires_at",
    stream_view: "NEW_AND_OLD_IMAGES",
};

/// Creates the table; `stream` off for throughput runs (the emulator's stream bookkeeping makes
/// every write slower than the last).
pub async fn create_table(client: &Client, table: &str, stream: bool) -> Result<(), StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(corrupt)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(corrupt)
    };
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for name in [PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK] {
        request = request.attribute_definitions(attr(name)?);
    }
    for (index, hash, range, projection, non_key) in TABLE.indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(projection))
            .set_non_key_attributes(
                (!non_key.is_empty()).then(|| non_key.iter().map(|a| (*a).to_owned()).collect()),
            )
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(projection)
                .build()
                .map_err(corrupt)?,
        );
    }
    if stream {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(TABLE.stream_view))
                .build()
                .map_err(corrupt)?,
        );
    }
    request.send().await.map_err(unavailable)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TABLE.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(corrupt)?,
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}
