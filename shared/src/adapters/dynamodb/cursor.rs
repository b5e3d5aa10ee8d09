//! Opaque pagination cursors: a query's last evaluated key, checked on the way back in so that a
//! cursor can never move a query into another tenant's (or another listing's) items.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keys::{self, GSI2PK, GSI2SK, Item, PK, SK, s};
use crate::domain::TenantId;
use crate::ports::StoreError;

/// Every key attribute is a string in this table.
pub fn encode(last: &Item) -> String {
    let strings: BTreeMap<&str, &str> = last
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&strings).unwrap_or_default())
}

fn parse(cursor: &str) -> Result<BTreeMap<String, String>, StoreError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(StoreError::InvalidCursor)
}

fn to_item(fields: BTreeMap<String, String>) -> Item {
    fields.into_iter().map(|(k, v)| (k, s(v))).collect()
}

/// A cursor of a query inside one tenant's partition: exactly `names`, the tenant's `PK`, and an
/// `SK` of the listing's kind.
pub fn decode(
    cursor: &str,
    tenant: &TenantId,
    names: &[&str],
    sk_prefix: &str,
) -> Result<Item, StoreError> {
    let fields = parse(cursor)?;
    let same_names = fields.len() == names.len() && names.iter().all(|n| fields.contains_key(*n));
    let own_tenant = fields.get(PK) == Some(&keys::tenant_pk(tenant));
    let same_kind = fields.get(SK).is_some_and(|sk| sk.starts_with(sk_prefix));
    if !(same_names && own_tenant && same_kind) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(to_item(fields))
}

/// A cursor of a query over one `GSI2` partition, whose sort key `parse_sort` must accept.
pub fn decode_index<T>(
    cursor: &str,
    partition: &str,
    parse_sort: impl Fn(&str) -> Option<T>,
) -> Result<Item, StoreError> {
    let fields = parse(cursor)?;
    let names_ok = fields.len() == 4
        && [PK, SK, GSI2PK, GSI2SK]
            .iter()
            .all(|n| fields.contains_key(*n));
    let partition_ok = fields.get(GSI2PK).map(String::as_str) == Some(partition);
    let sort_ok = fields.get(GSI2SK).and_then(|sk| parse_sort(sk)).is_some();
    if !(names_ok && partition_ok && sort_ok) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(to_item(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DestinationId;

    #[test]
    fn a_cursor_round_trips_for_its_own_tenant_only() {
        let tenant = TenantId::new("acme").unwrap();
        let other = TenantId::new("globex").unwrap();
        let id = DestinationId::generate();
        let mut last = keys::destination(&tenant, &id);
        last.insert("GSI1PK".into(), s(keys::tenant_pk(&tenant)));
        last.insert("GSI1SK".into(), s("CREATED#1#x"));
        let cursor = encode(&last);
        let names = [PK, SK, "GSI1PK", "GSI1SK"];
        assert_eq!(
            decode(&cursor, &tenant, &names, keys::DESTINATION_PREFIX).unwrap(),
            last
        );
        assert!(matches!(
            decode(&cursor, &other, &names, keys::DESTINATION_PREFIX),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode(&cursor, &tenant, &names, "ACTIVITY#"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode("not-base64!", &tenant, &names, keys::DESTINATION_PREFIX),
            Err(StoreError::InvalidCursor)
        ));
    }
}
