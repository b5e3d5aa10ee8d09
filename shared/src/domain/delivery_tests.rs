use super::*;
use crate::domain::fixtures::{NOW as AT, draft, result, saved};
use crate::domain::revalidation::RevalidationSettings;
use crate::domain::{AuthModeKind, DestinationPatch, Folder, KeyTemplate};

fn request(id: &str, key: &str, name: &str) -> DeliveryRequest {
    DeliveryRequest {
        tenant: TenantId::new("tenant-a").unwrap(),
        destination: DestinationId::generate(),
        id: DeliveryId::new(id).unwrap(),
        source: StagedSource::new(BucketName::new("platform-staging").unwrap(), key).unwrap(),
        name: ObjectName::new(name).unwrap(),
        requested_by: Actor::new("arn:aws:iam::111111111111:role/exporter").unwrap(),
    }
}

const LEASE: Duration = Duration::minutes(20);

#[test]
fn the_key_is_decided_once_from_the_template_and_the_active_folder() {
    // GIVEN a saved destination with a pending change of folder
    let mut destination = saved();
    destination
        .apply(
            DestinationPatch {
                folder: Some(Folder::new("elsewhere").unwrap()),
                ..DestinationPatch::default()
            },
            AT,
        )
        .unwrap();
    // WHEN a delivery is accepted
    let delivery = Delivery::accept(request("d-1", "s/1", "report.csv"), &destination, AT).unwrap();
    // THEN its key is under the active folder, dated, and queued for an attempt now
    assert_eq!(delivery.key, "exports/2026/11/27/d-1-report.csv");
    assert_eq!(delivery.status, DeliveryStatus::Queued);
    assert!(delivery.due(AT));
}

#[test]
fn a_destination_never_saved_accepts_nothing() {
    assert_eq!(
        Delivery::accept(
            request("d-1", "s/1", "n"),
            &draft(AuthModeKind::BucketPolicy),
            AT
        ),
        Err(DeliveryRefused::NotSaved)
    );
}

#[test]
fn a_name_too_long_for_the_key_is_refused() {
    let mut destination = saved();
    destination
        .apply(
            DestinationPatch {
                key_template: Some(
                    KeyTemplate::new("{folder}{deliveryId}{name}{name}{name}{name}{name}").unwrap(),
                ),
                ..DestinationPatch::default()
            },
            AT,
        )
        .unwrap();
    let name = "n".repeat(255);
    assert!(matches!(
        Delivery::accept(request("d-1", "s/1", &name), &destination, AT),
        Err(DeliveryRefused::Key(_))
    ));
}

#[test]
fn asking_again_is_the_same_delivery_and_another_file_is_a_conflict() {
    let delivery = Delivery::accept(request("d-1", "s/1", "n"), &saved(), AT).unwrap();
    assert_eq!(delivery.same_request(&request("d-1", "s/1", "n")), Ok(()));
    assert!(delivery.same_request(&request("d-1", "s/2", "n")).is_err());
    assert!(
        delivery
            .same_request(&request("d-1", "s/1", "other"))
            .is_err()
    );
    // AND two asks racing are told apart the same way
    let racing = |key, name| Delivery::accept(request("d-1", key, name), &saved(), AT).unwrap();
    assert_eq!(delivery.same_request_as(&racing("s/1", "n")), Ok(()));
    assert!(delivery.same_request_as(&racing("s/2", "n")).is_err());
    assert!(delivery.same_request_as(&racing("s/1", "other")).is_err());
}

#[test]
fn failed_attempts_back_off_and_park_after_the_last() {
    // GIVEN a delivery and a policy of three attempts from one minute
    let mut delivery = Delivery::accept(request("d-1", "s/1", "n"), &saved(), AT).unwrap();
    let policy = RetryPolicy {
        max_attempts: 3,
        first_backoff: Duration::minutes(1),
        max_backoff: Duration::minutes(3),
    };
    // WHEN every attempt fails
    let mut now = AT;
    let mut waits = Vec::new();
    let mut parked = false;
    while !parked {
        assert!(delivery.due(now));
        delivery.start_attempt(now, LEASE).unwrap();
        assert!(!delivery.due(now), "not due while delivering");
        parked = delivery.attempt_failed(FailureCategory::PutAccessDenied, &policy, now);
        if let Some(next) = delivery.next_attempt_at {
            waits.push(next - now);
            assert!(!delivery.due(now), "not due before its backoff");
            now = next;
        }
    }
    // THEN it waited 1 then 2 minutes, and was parked on the third failure, naming the category
    assert_eq!(waits, [Duration::minutes(1), Duration::minutes(2)]);
    assert_eq!(delivery.status, DeliveryStatus::Parked);
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.failure, Some(FailureCategory::PutAccessDenied));
    assert!(
        !delivery.due(now + Duration::days(1)),
        "a parked delivery is not retried"
    );
    assert!(delivery.start_attempt(now, LEASE).is_err());
}

#[test]
fn an_attempt_whose_worker_died_is_taken_over_after_its_lease_and_its_upload_is_remembered() {
    // GIVEN an attempt that started a multipart upload, then its worker died
    let mut delivery = Delivery::accept(request("d-1", "s/1", "n"), &saved(), AT).unwrap();
    delivery.start_attempt(AT, LEASE).unwrap();
    delivery.upload_started("upload-1", AT);
    let version = delivery.version;
    // WHEN another worker looks before and after the lease
    let before = delivery.start_attempt(AT + LEASE - Duration::seconds(1), LEASE);
    // THEN it waits for the lease, then takes over knowing which upload to abort
    assert!(before.is_err(), "the attempt still holds it");
    delivery.start_attempt(AT + LEASE, LEASE).unwrap();
    assert_eq!(delivery.attempts, 2);
    assert_eq!(delivery.upload_id.as_deref(), Some("upload-1"));
    assert!(
        delivery.version > version,
        "every change counts for conditional writes"
    );
    // WHEN it has aborted that upload THEN the delivery no longer names it
    let version = delivery.version;
    delivery.upload_cleared(AT + LEASE);
    assert_eq!(delivery.upload_id, None);
    assert!(delivery.version > version);
}

#[test]
fn a_delivery_whose_destination_is_gone_is_parked_at_once() {
    // GIVEN a queued delivery
    let mut delivery = Delivery::accept(request("d-1", "s/1", "n"), &saved(), AT).unwrap();
    let version = delivery.version;
    // WHEN it is parked THEN it takes no more attempts and says why
    delivery.park(FailureCategory::InvalidConfiguration, AT);
    assert_eq!(delivery.status, DeliveryStatus::Parked);
    assert_eq!(
        delivery.failure,
        Some(FailureCategory::InvalidConfiguration)
    );
    assert!(!delivery.due(AT + Duration::days(365)));
    assert!(delivery.version > version);
}

#[test]
fn the_backoff_doubles_up_to_its_ceiling() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.backoff(1), Duration::minutes(1));
    assert_eq!(policy.backoff(4), Duration::minutes(8));
    assert_eq!(policy.backoff(40), Duration::hours(1));
    // README: eight attempts, then parked.
    assert_eq!(policy.max_attempts, 8);
}

#[test]
fn a_delivered_delivery_keeps_what_was_written_and_takes_no_more_attempts() {
    let mut delivery = Delivery::accept(request("d-1", "s/1", "n"), &saved(), AT).unwrap();
    delivery.start_attempt(AT, LEASE).unwrap();
    delivery.delivered(
        Written {
            bytes: 4,
            checksum: "AAAAAAAAAAA=".into(),
            etag: Some("\"e\"".into()),
            version_id: None,
            duration_ms: 12,
        },
        AT,
    );
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(delivery.written.as_ref().unwrap().bytes, 4);
    assert!(!delivery.due(AT + Duration::days(1)));
    assert!(delivery.start_attempt(AT, LEASE).is_err());
}

#[test]
fn only_a_verified_destination_may_be_written_and_a_failing_one_names_its_category() {
    let mut destination = saved();
    assert_eq!(Delivery::may_write_to(&destination), Ok(()));
    // (a denied write is not transient: one failed re-validation makes it failing)
    let version = destination.active().unwrap().config_version;
    destination
        .record_check(
            result(version, Some(FailureCategory::PutAccessDenied)),
            &RevalidationSettings::default(),
            AT,
        )
        .unwrap();
    assert_eq!(destination.status(), Status::Failing);
    assert_eq!(
        Delivery::may_write_to(&destination),
        Err(FailureCategory::PutAccessDenied)
    );
}

#[test]
fn ids_names_and_staged_keys_are_validated() {
    assert!(DeliveryId::new("2026-12-05_export.1").is_ok());
    for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(129)] {
        assert!(DeliveryId::new(bad).is_err(), "{bad:?}");
    }
    assert!(ObjectName::new("report 2026.csv").is_ok());
    for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", &"x".repeat(256)] {
        assert!(ObjectName::new(bad).is_err(), "{bad:?}");
    }
    let bucket = BucketName::new("platform-staging").unwrap();
    assert!(StagedSource::new(bucket.clone(), "tenant-a/x.csv").is_ok());
    assert!(StagedSource::new(bucket.clone(), "").is_err());
    assert!(StagedSource::new(bucket, &"k".repeat(1025)).is_err());
}
