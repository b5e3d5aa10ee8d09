//! Reading the table's stream records: the destination or the event an image holds.

use std::collections::HashMap;

use aws_lambda_events::dynamodb::StreamRecord;

use super::keys::{self, Item};
use super::{read_destination, read_outbox_event};
use crate::domain::Destination;
use crate::domain::revalidation::ConnectionEvent;
use crate::ports::StoreError;

fn image(attributes: &serde_dynamo::Item) -> Result<Item, StoreError> {
    let converted: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        attributes.clone().into();
    Ok(converted)
}

/// The destination in a stream image, if it holds one.
pub fn destination(attributes: &serde_dynamo::Item) -> Result<Option<Destination>, StoreError> {
    let item = image(attributes)?;
    if keys::parse_destination(&item).is_none() {
        return Ok(None);
    }
    read_destination(item).map(Some)
}

/// The old and new destination of a stream record.
pub fn destination_change(
    record: &StreamRecord,
) -> Result<(Option<Destination>, Option<Destination>), StoreError> {
    Ok((
        destination(&record.old_image)?,
        destination(&record.new_image)?,
    ))
}

/// The event of an outbox item's stream record (its new image).
pub fn outbox_event(record: &StreamRecord) -> Result<Option<ConnectionEvent>, StoreError> {
    let item = image(&record.new_image)?;
    if keys::parse_outbox(&item).is_none() {
        return Ok(None);
    }
    read_outbox_event(&item).map(Some)
}
