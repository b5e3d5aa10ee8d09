use super::*;
use crate::adapters::dynamodb::destination_item;
use crate::domain::check::FailureCategory;
use crate::domain::{AuthModeKind, Status};

/// Items as the table held them before records were versioned (no `record_version`), written by
/// that code and committed unchanged: every version must keep reading.
const GOLDEN_DESTINATIONS: [(&str, &str); 2] = [
    (
        "destination-v1-role-saved-failing-pending",
        include_str!("golden/destination-v1-role-saved-failing-pending.json"),
    ),
    (
        "destination-v1-bucket-policy-draft",
        include_str!("golden/destination-v1-bucket-policy-draft.json"),
    ),
];
const GOLDEN_CHECK: &str = include_str!("golden/check-result-v1.json");
const GOLDEN_IDEMPOTENCY: &str = include_str!("golden/idempotency-v1.json");

fn item(json: &str) -> Item {
    let item: serde_dynamo::Item = serde_json::from_str(json).expect("a DynamoDB JSON item");
    item.into()
}

fn as_json(item: Item) -> Value {
    serde_json::to_value(serde_dynamo::Item::from(item)).unwrap()
}

#[test]
fn every_golden_destination_still_reads() {
    // GIVEN the items of every stored version WHEN read THEN each is a whole destination
    for (name, json) in GOLDEN_DESTINATIONS {
        let destination =
            destination_from_item(item(json)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(destination.version() >= 1, "{name}");
    }
    let role = destination_from_item(item(GOLDEN_DESTINATIONS[0].1)).unwrap();
    assert_eq!(role.auth().kind(), AuthModeKind::IamRole);
    assert_eq!(role.status(), Status::Failing);
    assert!(role.has_pending_changes());
    assert_eq!(role.configuration().folder.as_str(), "exports/v2/");
    let active = role.active().unwrap();
    assert_eq!(active.configuration.folder.as_str(), "exports/daily/");
    assert_eq!(
        active.pinned_owner.as_ref().unwrap().as_str(),
        "222222222222"
    );
    assert_eq!(
        role.revalidation().last_check.as_ref().unwrap().category,
        Some(FailureCategory::PutAccessDenied)
    );
    assert!(role.latest_test().unwrap().passed);
    assert_eq!(role.description().as_str(), "Daily exports");
    let draft = destination_from_item(item(GOLDEN_DESTINATIONS[1].1)).unwrap();
    assert_eq!(draft.auth().kind(), AuthModeKind::BucketPolicy);
    assert_eq!(draft.status(), Status::Draft);
    assert_eq!(
        draft.configuration().bucket.as_str(),
        "analytics.example.com"
    );
}

#[test]
fn todays_writes_keep_version_1s_shape_and_name_their_version() {
    // GIVEN each golden destination read back WHEN written again
    for (name, json) in GOLDEN_DESTINATIONS {
        let destination = destination_from_item(item(json)).unwrap();
        let mut written = as_json(destination_item(&destination).unwrap());
        // THEN it names its record version, and is otherwise the very item that was read
        assert_eq!(
            written[RECORD_VERSION],
            serde_json::json!({"N": "1"}),
            "{name}"
        );
        written.as_object_mut().unwrap().remove(RECORD_VERSION);
        assert_eq!(written, as_json(item(json)), "{name}");
    }
}

#[test]
fn a_golden_history_entry_still_reads_and_writes_the_same_fields() {
    let result = check_from_item(item(GOLDEN_CHECK)).unwrap();
    assert!(!result.passed);
    let failure = result.first_failure().unwrap();
    assert_eq!(failure.aws_error_code.as_deref(), Some("AccessDenied"));
    assert!(failure.fix_document.is_some());
    let written = as_json(check_to_item(&result).unwrap());
    let golden = as_json(item(GOLDEN_CHECK));
    for (field, value) in golden.as_object().unwrap() {
        if !["PK", "SK"].contains(&field.as_str()) {
            assert_eq!(&written[field], value, "{field}");
        }
    }
}

#[test]
fn an_unknown_record_version_is_refused_not_misread() {
    let mut future = item(GOLDEN_DESTINATIONS[1].1);
    future.insert(RECORD_VERSION.into(), n(2));
    assert!(matches!(
        destination_from_item(future),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn a_stored_value_the_domain_would_refuse_is_reported_corrupt() {
    let mut json: Value = serde_json::from_str(GOLDEN_DESTINATIONS[1].1).unwrap();
    json["configuration"]["M"]["bucket"] = serde_json::json!({"S": "Not A Bucket"});
    let error = destination_from_item(item(&json.to_string())).unwrap_err();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(matches!(error, StoreError::Corrupt(_)));
    assert!(cause.contains("bucket"), "{cause}");
}

#[test]
fn a_golden_idempotency_record_still_reads_and_writes_the_same_fields() {
    let record = idempotency_from_item(item(GOLDEN_IDEMPOTENCY)).unwrap();
    assert_eq!(record.key.as_str(), "create-finance-lake-1");
    assert_eq!(record.created.configuration().folder.as_str(), "incoming/");
    let written = as_json(idempotency_to_item(&record).unwrap());
    let golden = as_json(item(GOLDEN_IDEMPOTENCY));
    for (field, value) in golden.as_object().unwrap() {
        if !["PK", "SK", "expires_at"].contains(&field.as_str()) {
            assert_eq!(&written[field], value, "{field}");
        }
    }
}

#[test]
fn a_custom_key_template_is_stored_and_read_back() {
    use crate::domain::{DestinationPatch, KeyTemplate};
    let mut destination = destination_from_item(item(GOLDEN_DESTINATIONS[1].1)).unwrap();
    let template = KeyTemplate::new("{folder}{deliveryId}/{name}").unwrap();
    destination
        .apply(
            DestinationPatch {
                key_template: Some(template.clone()),
                ..DestinationPatch::default()
            },
            crate::testing::NOW,
        )
        .unwrap();
    let stored = destination_item(&destination).unwrap();
    assert_eq!(
        stored["objectKeyTemplate"].as_s().unwrap(),
        "{folder}{deliveryId}/{name}"
    );
    assert_eq!(
        destination_from_item(stored).unwrap().key_template(),
        &template
    );
}

/// Deliveries as version 1 writes them, keys included.
const GOLDEN_DELIVERIES: [(&str, &str); 2] = [
    (
        "delivery-v1-delivering-after-a-failure",
        include_str!("golden/delivery-v1-delivering-after-a-failure.json"),
    ),
    (
        "delivery-v1-delivered",
        include_str!("golden/delivery-v1-delivered.json"),
    ),
];

#[test]
fn every_golden_delivery_reads_and_writes_back_the_very_same_item() {
    use crate::adapters::dynamodb::delivery_item;
    use crate::domain::delivery::DeliveryStatus;
    // GIVEN the stored deliveries of version 1 WHEN read and written again
    for (name, json) in GOLDEN_DELIVERIES {
        let delivery = delivery_from_item(item(json)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // THEN the item is the same, keys and index entries included
        assert_eq!(
            as_json(delivery_item(&delivery).unwrap()),
            as_json(item(json)),
            "{name}"
        );
    }
    let lost = delivery_from_item(item(GOLDEN_DELIVERIES[0].1)).unwrap();
    assert_eq!(lost.status, DeliveryStatus::Delivering);
    assert_eq!(lost.upload_id.as_deref(), Some("upload-abc"));
    assert_eq!(lost.failure, Some(FailureCategory::Transient));
    assert_eq!(lost.attempts, 2);
    let done = delivery_from_item(item(GOLDEN_DELIVERIES[1].1)).unwrap();
    assert_eq!(done.status, DeliveryStatus::Delivered);
    let written = done.written.unwrap();
    assert_eq!(written.bytes, 209_715_200);
    assert_eq!(written.checksum, "mYp7bYEPm+E=");
    assert_eq!(
        done.requested_by.as_str(),
        "arn:aws:sts::111111111111:assumed-role/exporter/run-42"
    );
    assert_eq!(done.key, lost.key);
    assert!(
        as_json(item(GOLDEN_DELIVERIES[1].1))
            .get("GSI2PK")
            .is_none(),
        "a delivered delivery leaves the due index"
    );
}

/// An outbox item as the table held it before its event was a record of its own (no
/// `record_version`), taken unchanged from the sample stream event of that time.
const GOLDEN_OUTBOX_FAILED: &str =
    include_str!("golden/outbox-v1-destination-connection-failed.json");

#[test]
fn an_outbox_item_written_before_event_records_still_reads() {
    // GIVEN the stored item of a Destination Connection Failed event WHEN read
    let event = crate::adapters::dynamodb::read_outbox_event(&item(GOLDEN_OUTBOX_FAILED)).unwrap();
    // THEN it is that event, whole
    assert_eq!(event.kind, ConnectionEventKind::Failed);
    assert_eq!(event.event_id, "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e/5");
    assert_eq!(event.tenant_id.as_str(), "tenant-a");
    assert_eq!(event.destination_name, "Lake");
    assert_eq!(event.category, Some(FailureCategory::PutAccessDenied));
    assert!(event.first_failure_at.is_some());
    assert_eq!(event.changed_by, None);
}

#[test]
fn a_configuration_change_round_trips_through_its_record() {
    use crate::domain::revalidation::DeliveryTarget;
    // GIVEN a Destination Configuration Changed event with every field set
    let target = |bucket: &str| DeliveryTarget {
        bucket: crate::domain::BucketName::new(bucket).unwrap(),
        folder: crate::domain::Folder::new("exports/").unwrap(),
        bucket_owner: Some(crate::domain::AccountId::new("222222222222").unwrap()),
        role_arn: Some(crate::domain::RoleArn::new("arn:aws:iam::222222222222:role/w").unwrap()),
        kms_key_arn: None,
    };
    let event = ConnectionEvent {
        event_id: "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e/9".into(),
        kind: ConnectionEventKind::ConfigurationChanged,
        tenant_id: crate::domain::TenantId::new("tenant-a").unwrap(),
        destination_id: crate::domain::DestinationId::new("0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e")
            .unwrap(),
        destination_name: "Lake".into(),
        category: None,
        delivery_id: None,
        first_failure_at: None,
        changed_by: Some(crate::domain::Actor::user("admin-2").unwrap()),
        before: Some(target("acme-old")),
        after: Some(target("acme-new")),
        occurred_at: crate::testing::NOW,
    };
    // WHEN stored and read back
    let stored = crate::adapters::dynamodb::outbox_item(&event).unwrap();
    let read = crate::adapters::dynamodb::read_outbox_event(&stored).unwrap();
    // THEN it is the same event, and its map names its record version and keeps `category`
    assert_eq!(read, event);
    let map = as_json(stored)["event"]["M"].clone();
    assert_eq!(map["record_version"], serde_json::json!({"N": "1"}));
    assert_eq!(map["category"], serde_json::json!({"NULL": true}));
    assert_eq!(
        map["after"]["M"]["bucket"],
        serde_json::json!({"S": "acme-new"})
    );
}

/// An activity item as the table held it before entries were records of their own, written by
/// that code (its keys and expiry included).
const GOLDEN_ACTIVITY: &str = include_str!("golden/activity-v1-status-changed.json");

#[test]
fn an_activity_item_written_before_activity_records_still_reads() {
    let entry = activity_from_item(item(GOLDEN_ACTIVITY)).unwrap();
    assert_eq!(entry.actor.as_str(), "service:revalidation");
    assert_eq!(entry.version, 7);
    assert_eq!(
        entry.activity,
        crate::domain::Activity::StatusChanged {
            from: Status::Verified,
            to: Status::Failing,
            category: Some(FailureCategory::PutAccessDenied),
        }
    );
}

#[test]
fn every_activity_round_trips_through_its_record() {
    use crate::domain::delivery::DeliveryId;
    use crate::domain::{Activity, ActivityEntry, Actor};
    for activity in [
        Activity::Created,
        Activity::Updated {
            fields: vec!["bucket".into(), "folder".into()],
        },
        Activity::Saved,
        Activity::Discarded,
        Activity::Deleted,
        Activity::Tested {
            passed: false,
            category: Some(FailureCategory::BucketNotFound),
        },
        Activity::DeliveryRequested {
            delivery_id: DeliveryId::new("export-1").unwrap(),
        },
        Activity::CredentialsVended,
        Activity::ExternalIdRotationStarted,
        Activity::ExternalIdRotationCancelled,
        Activity::ExternalIdRotationCompleted,
        Activity::StatusChanged {
            from: Status::Failing,
            to: Status::Verified,
            category: None,
        },
    ] {
        let entry = ActivityEntry {
            at: crate::testing::NOW,
            actor: Actor::user("user-42").unwrap(),
            activity,
            version: 3,
        };
        let stored = activity_to_item(&entry).unwrap();
        assert_eq!(
            as_json(stored.clone())[RECORD_VERSION],
            serde_json::json!({"N": "1"})
        );
        assert_eq!(activity_from_item(stored).unwrap(), entry);
    }
}

#[test]
fn an_open_rotation_and_a_retired_id_are_stored_and_read_back_and_absent_otherwise() {
    use crate::domain::{Actor, Destination, DestinationParts};
    // GIVEN the golden saved role destination, which predates rotations: it stores none
    let golden = destination_from_item(item(GOLDEN_DESTINATIONS[0].1)).unwrap();
    assert!(
        !destination_item(&golden)
            .unwrap()
            .contains_key("externalIdRotation")
    );
    // WHEN a rotation is started, proven and completed, then another started
    let mut d = golden.clone();
    let now = crate::testing::NOW;
    d.start_rotation(&Actor::user("user-1").unwrap(), now)
        .unwrap();
    let next = d.external_id_under_test().cloned();
    let mut parts = DestinationParts::from(&d);
    let role = parts
        .active
        .as_ref()
        .unwrap()
        .configuration
        .role_arn
        .clone();
    parts.configuration.role_arn = role;
    let mut d = Destination::from(parts);
    d.record_test(
        crate::testing::passed(d.config_version()),
        next.as_ref(),
        now,
    );
    d.complete_rotation(time::Duration::days(7), now).unwrap();
    d.start_rotation(&Actor::user("user-2").unwrap(), now)
        .unwrap();
    // THEN every field of both survives the item
    let stored = destination_item(&d).unwrap();
    assert!(stored.contains_key("externalIdRotation"));
    assert_eq!(destination_from_item(stored).unwrap(), d);
}

#[test]
fn a_destination_of_another_partitions_deployment_keeps_its_partition_and_aws_ones_store_none() {
    use crate::domain::{AuthModeKind, Partition};
    use crate::testing::DestinationBuilder;
    for (home, stored) in [
        (Partition::Aws, None),
        (Partition::AwsUsGov, Some("aws-us-gov")),
        (Partition::AwsCn, Some("aws-cn")),
    ] {
        let destination = DestinationBuilder::new(AuthModeKind::IamRole)
            .home(home)
            .saved();
        let item = destination_item(&destination).unwrap();
        let configuration = as_json(item.clone())["configuration"].clone();
        assert_eq!(
            configuration["M"]
                .get("homePartition")
                .and_then(|v| v["S"].as_str()),
            stored
        );
        let read = destination_from_item(item).unwrap();
        assert_eq!(read.configuration().partition(), home);
        assert_eq!(read.active().unwrap().configuration.partition(), home);
    }
}
