use super::*;

use crate::domain::check::{Stage, StageResult, StageStatus};
use crate::domain::fixtures::{NOW, configuration, draft, result, saved};

fn rename(name: &str) -> DestinationPatch {
    DestinationPatch {
        name: Some(DestinationName::new(name).unwrap()),
        ..Default::default()
    }
}

fn move_to(bucket: &str) -> DestinationPatch {
    DestinationPatch {
        bucket: Some(BucketName::new(bucket).unwrap()),
        ..Default::default()
    }
}

#[test]
fn a_draft_saves_only_after_a_passing_test_of_its_current_configuration() {
    let settings = RevalidationSettings::default();
    // GIVEN a draft never tested WHEN saved THEN refused
    let mut d = draft(AuthModeKind::IamRole);
    assert_eq!(d.save(&settings, NOW), Err(SaveError::NeverTested));
    // GIVEN a failed test THEN refused
    d.record_test(result(1, Some(FailureCategory::PutAccessDenied)), None, NOW);
    assert_eq!(d.save(&settings, NOW), Err(SaveError::LatestTestFailed));
    // GIVEN a passing test, then a configuration change THEN refused
    d.record_test(result(1, None), None, NOW);
    d.apply(move_to("other-bucket"), NOW).unwrap();
    assert_eq!(
        d.save(&settings, NOW),
        Err(SaveError::ConfigurationChangedSinceTest)
    );
    // GIVEN a passing test of the current configuration THEN saved, verified, due after an interval
    assert!(d.record_test(result(2, None), None, NOW));
    // (a first Save moves no deliveries: no change to announce)
    assert_eq!(d.save(&settings, NOW), Ok(None));
    assert_eq!(d.status(), Status::Verified);
    assert_eq!(
        d.active().unwrap().configuration.bucket.as_str(),
        "other-bucket"
    );
    assert_eq!(
        d.revalidation().next_check_at,
        Some(NOW + settings.interval)
    );
    assert_eq!(d.save(&settings, NOW), Err(SaveError::NothingToSave));
}

#[test]
fn a_result_about_an_older_configuration_is_not_the_latest_test() {
    let mut d = draft(AuthModeKind::BucketPolicy);
    d.apply(move_to("other-bucket"), NOW).unwrap();
    let version = d.version();
    assert!(!d.record_test(result(1, None), None, NOW));
    assert_eq!(d.latest_test(), None);
    assert_eq!(d.version(), version, "nothing changed, nothing to store");
}

#[test]
fn editing_a_saved_destination_leaves_deliveries_on_the_active_configuration() {
    // GIVEN a saved destination
    let mut d = saved();
    let active = d.active().unwrap().clone();
    // WHEN its bucket is changed
    let outcome = d.apply(move_to("new-bucket"), NOW).unwrap();
    // THEN the change is pending: status and active configuration are untouched
    assert!(outcome.configuration_changed);
    assert!(d.has_pending_changes());
    assert_eq!(d.status(), Status::Verified);
    assert_eq!(d.active(), Some(&active));
    assert_eq!(d.configuration().bucket.as_str(), "new-bucket");
    // AND Save needs a passing test of the new configuration
    let settings = RevalidationSettings::default();
    assert_eq!(
        d.save(&settings, NOW),
        Err(SaveError::ConfigurationChangedSinceTest)
    );
    d.record_test(result(d.config_version(), None), None, NOW);
    d.save(&settings, NOW).unwrap();
    assert!(!d.has_pending_changes());
    assert_eq!(
        d.active().unwrap().configuration.bucket.as_str(),
        "new-bucket"
    );
}

#[test]
fn a_save_that_moves_deliveries_says_from_where_to_where_and_who_did_it() {
    let settings = RevalidationSettings::default();
    // GIVEN a saved destination
    let mut d = saved();
    let before = d.active().unwrap().target();
    // WHEN a new bucket is tested and saved
    d.apply(move_to("new-bucket"), NOW).unwrap();
    d.record_test(result(d.config_version(), None), None, NOW);
    let change = d.save(&settings, NOW).unwrap().expect("the bucket changed");
    // THEN the change names both targets
    assert_eq!(change.before, before);
    assert_eq!(change.after.bucket.as_str(), "new-bucket");
    assert_eq!(change.after.folder, before.folder);
    // AND its event carries them, the actor and this version, and no failure fields
    let actor = Actor::user("admin-1").unwrap();
    let event = d.configuration_changed(change, &actor, NOW);
    assert_eq!(event.kind, ConnectionEventKind::ConfigurationChanged);
    assert_eq!(event.detail_type(), "Destination Configuration Changed");
    assert_eq!(event.event_id, format!("{}/{}", d.id(), d.version()));
    let detail = serde_json::to_value(&event).unwrap();
    assert_eq!(detail["changedBy"], "user:admin-1");
    assert_eq!(detail["before"]["bucket"], before.bucket.as_str());
    assert_eq!(detail["after"]["bucket"], "new-bucket");
    assert!(detail["category"].is_null(), "{detail}");
    assert!(detail.get("firstFailureAt").is_none(), "{detail}");
}

#[test]
fn a_save_that_only_corrects_the_region_moves_nothing() {
    let settings = RevalidationSettings::default();
    let mut d = saved();
    d.apply(
        DestinationPatch {
            region: Some(Some(Region::new("eu-central-1").unwrap())),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    d.record_test(result(d.config_version(), None), None, NOW);
    assert_eq!(d.save(&settings, NOW), Ok(None));
}

#[test]
fn discarding_returns_to_the_active_configuration() {
    let mut d = saved();
    assert_eq!(d.discard(NOW), Err(NothingToDiscard));
    d.apply(move_to("new-bucket"), NOW).unwrap();
    d.record_test(result(d.config_version(), None), None, NOW);
    let edited = d.config_version();
    d.discard(NOW).unwrap();
    assert!(!d.has_pending_changes());
    // The restored configuration is a new version, never an earlier one come back
    assert!(d.config_version() > edited);
    assert_eq!(d.configuration().bucket.as_str(), "bucket");
    // The test of the discarded change no longer counts for Save
    assert!(!d.latest_test_is_current());
}

#[test]
fn a_rename_is_immediate_and_every_change_bumps_the_version_once() {
    let mut d = saved();
    let version = d.version();
    let outcome = d.apply(rename("Archive"), NOW).unwrap();
    assert!(outcome.changed && !outcome.configuration_changed);
    assert_eq!(d.name().as_str(), "Archive");
    assert!(!d.has_pending_changes());
    assert_eq!(d.version(), version + 1);
    let unchanged = d.apply(rename("Archive"), NOW).unwrap();
    assert!(!unchanged.changed);
    assert_eq!(d.version(), version + 1);
}

#[test]
fn bucket_policy_destinations_have_no_role_and_keep_their_owner() {
    let mut d = draft(AuthModeKind::BucketPolicy);
    let role = DestinationPatch {
        role_arn: Some(Some(
            RoleArn::new("arn:aws:iam::123456789012:role/r").unwrap(),
        )),
        ..Default::default()
    };
    assert_eq!(
        d.apply(role, NOW),
        Err(PatchError::RoleArnInBucketPolicyMode)
    );
    let clear_owner = DestinationPatch {
        bucket_owner: Some(None),
        ..Default::default()
    };
    assert_eq!(
        d.apply(clear_owner, NOW),
        Err(PatchError::BucketOwnerRequired)
    );
}

#[test]
fn the_expected_owner_is_the_customers_word_else_the_roles_account() {
    let mut config = configuration("bucket");
    config.role_arn = Some(RoleArn::new("arn:aws:iam::333333333333:role/r").unwrap());
    assert_eq!(config.expected_owner().unwrap().as_str(), "222222222222");
    config.bucket_owner = None;
    assert_eq!(config.expected_owner().unwrap().as_str(), "333333333333");
}

#[test]
fn a_definitive_failure_fails_at_once_and_raises_one_event() {
    let mut d = saved();
    let settings = RevalidationSettings::default();
    let event = d
        .record_check(
            result(1, Some(FailureCategory::PutAccessDenied)),
            &settings,
            NOW,
        )
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, ConnectionEventKind::Failed);
    assert_eq!(event.category, Some(FailureCategory::PutAccessDenied));
    assert_eq!(event.event_id, format!("{}/{}", d.id(), d.version()));
    assert_eq!(d.status(), Status::Failing);
    // Failing again changes nothing and raises nothing
    let again = d
        .record_check(
            result(1, Some(FailureCategory::BucketNotFound)),
            &settings,
            NOW,
        )
        .unwrap();
    assert!(again.is_none());
    assert_eq!(d.status(), Status::Failing);
}

#[test]
fn transient_failures_flip_the_status_only_at_the_threshold() {
    let mut d = saved();
    let settings = RevalidationSettings {
        transient_failures_before_failing: 3,
        ..Default::default()
    };
    for category in [FailureCategory::Transient, FailureCategory::TimedOut] {
        let event = d.record_check(result(1, Some(category)), &settings, NOW);
        assert_eq!(event, Ok(None));
    }
    assert_eq!(d.status(), Status::Verified);
    let event = d
        .record_check(result(1, Some(FailureCategory::Transient)), &settings, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, ConnectionEventKind::Failed);
    assert_eq!(d.status(), Status::Failing);
}

#[test]
fn a_pass_between_transient_failures_resets_the_count() {
    let mut d = saved();
    let settings = RevalidationSettings {
        transient_failures_before_failing: 2,
        ..Default::default()
    };
    for _ in 0..5 {
        let transient = result(1, Some(FailureCategory::Transient));
        assert_eq!(d.record_check(transient, &settings, NOW), Ok(None));
        assert_eq!(d.record_check(result(1, None), &settings, NOW), Ok(None));
    }
    assert_eq!(d.status(), Status::Verified);
}

#[test]
fn recovery_raises_a_restored_event_with_the_first_failure_time() {
    let mut d = saved();
    let settings = RevalidationSettings::default();
    let later = NOW + time::Duration::hours(2);
    let failure = result(1, Some(FailureCategory::RoleNotAssumable));
    d.record_check(failure, &settings, NOW).unwrap().unwrap();
    let event = d
        .record_check(result(1, None), &settings, later)
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, ConnectionEventKind::Restored);
    assert_eq!(event.first_failure_at, Some(NOW));
    assert_eq!(event.category, Some(FailureCategory::RoleNotAssumable));
    assert_eq!(d.status(), Status::Verified);
    assert_eq!(
        d.revalidation().next_check_at,
        Some(later + settings.interval)
    );
}

#[test]
fn re_validation_never_verifies_pending_changes() {
    // GIVEN a failing saved destination with a pending change
    let mut d = saved();
    let settings = RevalidationSettings::default();
    let failure = result(1, Some(FailureCategory::BucketNotFound));
    d.record_check(failure, &settings, NOW).unwrap();
    d.apply(move_to("new-bucket"), NOW).unwrap();
    // WHEN a check of the pending configuration's version arrives THEN it is refused
    assert_eq!(
        d.record_check(result(d.config_version(), None), &settings, NOW),
        Err(StaleCheck)
    );
    // AND a drafted destination cannot be re-validated at all
    let mut fresh = draft(AuthModeKind::IamRole);
    assert_eq!(
        fresh.record_check(result(1, None), &settings, NOW),
        Err(StaleCheck)
    );
    assert_eq!(fresh.status(), Status::Draft);
}

#[test]
fn save_pins_the_bucket_owner_the_passing_test_saw() {
    let mut d = draft(AuthModeKind::IamRole);
    d.apply(
        DestinationPatch {
            bucket_owner: Some(None),
            role_arn: Some(Some(
                RoleArn::new("arn:aws:iam::333333333333:role/r").unwrap(),
            )),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    let mut passed = result(d.config_version(), None);
    passed.bucket_owner = Some(AccountId::new("333333333333").unwrap());
    d.record_test(passed, None, NOW);
    d.save(&RevalidationSettings::default(), NOW).unwrap();
    assert_eq!(
        d.active().unwrap().pinned_owner.as_ref().unwrap().as_str(),
        "333333333333"
    );
}

#[test]
fn a_new_key_template_applies_at_once_without_a_new_test() {
    // GIVEN a saved destination
    let mut destination = saved();
    let (version, config_version) = (destination.version(), destination.config_version());
    // WHEN its key template changes
    let outcome = destination
        .apply(
            DestinationPatch {
                key_template: Some(KeyTemplate::new("{folder}{deliveryId}").unwrap()),
                ..DestinationPatch::default()
            },
            NOW,
        )
        .unwrap();
    // THEN it is stored (one version more) but the tested configuration is unchanged
    assert!(outcome.changed && !outcome.configuration_changed);
    assert_eq!(destination.version(), version + 1);
    assert_eq!(destination.config_version(), config_version);
    assert!(!destination.has_pending_changes());
    assert_eq!(destination.key_template().as_str(), "{folder}{deliveryId}");
}

// ---- External ID rotation ----

fn saved_role() -> Destination {
    let mut d = draft(AuthModeKind::IamRole);
    d.apply(
        DestinationPatch {
            role_arn: Some(Some(
                RoleArn::new("arn:aws:iam::222222222222:role/R").unwrap(),
            )),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    assert!(d.record_test(result(d.config_version(), None), None, NOW));
    d.save(&RevalidationSettings::default(), NOW).unwrap();
    d
}

fn actor() -> Actor {
    Actor::user("user-1").unwrap()
}

#[test]
fn a_rotation_is_proven_only_by_a_passing_test_presenting_the_next_id_on_the_delivering_role() {
    // GIVEN a saved role destination with a rotation started
    let mut d = saved_role();
    let current = d.external_id().unwrap().clone();
    d.start_rotation(&actor(), NOW).unwrap();
    let next = d.rotation().next.as_ref().unwrap().id.clone();
    assert_ne!(next, current);
    assert_eq!(d.external_id(), Some(&current));
    assert_eq!(d.external_id_under_test(), Some(&next));
    assert_eq!(d.trusted_external_ids(), vec![&current, &next]);
    let grace = time::Duration::days(7);
    // WHEN a failing test, or a passing one that presented another ID, is recorded
    let v = d.config_version();
    d.record_test(
        result(v, Some(FailureCategory::RoleNotAssumable)),
        Some(&next),
        NOW,
    );
    d.record_test(result(v, None), Some(&current), NOW);
    // THEN completion is refused
    assert_eq!(
        d.complete_rotation(grace, NOW),
        Err(RotationError::NotProven)
    );
    // WHEN a passing test presented the next ID on another role (a pending change)
    d.apply(
        DestinationPatch {
            role_arn: Some(Some(
                RoleArn::new("arn:aws:iam::222222222222:role/Other").unwrap(),
            )),
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    d.record_test(result(d.config_version(), None), Some(&next), NOW);
    // THEN it proves nothing for the role deliveries use
    assert_eq!(
        d.complete_rotation(grace, NOW),
        Err(RotationError::NotProven)
    );
    // WHEN the pending change is discarded and the delivering role passes with the next ID
    d.discard(NOW).unwrap();
    d.record_test(result(d.config_version(), None), Some(&next), NOW);
    let version = d.version();
    d.complete_rotation(grace, NOW).unwrap();
    // THEN the next ID is the only one, and the old one is retired for the grace window
    assert_eq!(d.external_id(), Some(&next));
    assert_eq!(d.trusted_external_ids(), vec![&next]);
    assert!(!d.rotation().is_open());
    assert_eq!(d.rotation().retired[0].id, current);
    assert_eq!(d.rotation().retired[0].grace_ends_at, NOW + grace);
    assert_eq!(d.version(), version + 1);
    assert_eq!(
        d.rotation()
            .due(NOW + grace - time::Duration::SECOND)
            .count(),
        0
    );
    assert_eq!(d.rotation().due(NOW + grace).count(), 1);
}

#[test]
fn a_rotation_starts_once_in_role_mode_and_cancels_only_when_open() {
    let mut bucket = saved();
    assert_eq!(
        bucket.start_rotation(&actor(), NOW),
        Err(RotationError::NotRoleMode)
    );
    let mut d = saved_role();
    let grace = time::Duration::days(7);
    assert_eq!(d.cancel_rotation(grace, NOW), Err(RotationError::NotOpen));
    d.start_rotation(&actor(), NOW).unwrap();
    assert_eq!(
        d.start_rotation(&actor(), NOW),
        Err(RotationError::AlreadyOpen)
    );
    let next = d.rotation().next.as_ref().unwrap().id.clone();
    // (a test during the rotation presented the next ID: it must not let Save through)
    assert!(d.record_test(result(d.config_version(), None), Some(&next), NOW));
    assert_eq!(
        d.save(&RevalidationSettings::default(), NOW),
        Err(SaveError::RotationOpen)
    );
    d.cancel_rotation(grace, NOW).unwrap();
    assert!(!d.rotation().is_open());
    assert_eq!(d.external_id_under_test(), d.external_id());
    // THEN the next ID is retired like a replaced one (it may be in the trust policy already),
    // and the test that presented it no longer counts
    assert_eq!(d.rotation().retired[0].id, next);
    assert_eq!(d.rotation().retired[0].grace_ends_at, NOW + grace);
    assert!(d.latest_test().is_none());
}

#[test]
fn a_rotation_event_names_who_rotated() {
    // GIVEN a saved role destination
    let d = saved_role();
    // WHEN a user's rotation raises its event
    let event = d.rotation_event(ConnectionEventKind::RotationStarted, &actor(), NOW);
    // THEN the event names that user, as any change's event does
    assert_eq!(event.kind, ConnectionEventKind::RotationStarted);
    assert_eq!(event.changed_by, Some(actor()));
}

#[test]
fn a_retired_id_still_accepted_after_its_grace_window_is_overdue_once_and_settles_on_a_pass() {
    // GIVEN a completed rotation
    let mut d = saved_role();
    d.start_rotation(&actor(), NOW).unwrap();
    let next = d.rotation().next.as_ref().unwrap().id.clone();
    d.record_test(result(d.config_version(), None), Some(&next), NOW);
    d.complete_rotation(time::Duration::days(7), NOW).unwrap();
    let settings = RevalidationSettings::default();
    let later = NOW + time::Duration::days(8);
    let active = d.active().unwrap().config_version;
    // WHEN a check within the window passes THEN the retired ID stays (it was not probed)
    assert_eq!(d.settle_retired(&result(active, None), NOW), None);
    assert_eq!(d.rotation().retired.len(), 1);
    // WHEN a check after the window finds the retired ID accepted
    let accepted = result(active, Some(FailureCategory::RetiredExternalIdAccepted));
    d.record_check(accepted.clone(), &settings, later).unwrap();
    let event = d.settle_retired(&accepted, later).unwrap();
    // THEN the overdue event is raised, once
    assert_eq!(event.kind, ConnectionEventKind::RotationOverdue);
    assert_eq!(
        event.category,
        Some(FailureCategory::RetiredExternalIdAccepted)
    );
    assert_ne!(event.event_id, format!("{}/{}", d.id(), d.version()));
    assert_eq!(event.first_failure_at, Some(accepted.started_at));
    assert_eq!(d.settle_retired(&accepted, later), None);
    // WHEN a later check passes THEN the retired ID is done with
    assert_eq!(d.settle_retired(&result(active, None), later), None);
    assert!(d.rotation().retired.is_empty());
}

/// A completed rotation whose retired ID's grace window ends 7 days after `NOW`.
fn rotated() -> Destination {
    let mut d = saved_role();
    d.start_rotation(&actor(), NOW).unwrap();
    let next = d.rotation().next.as_ref().unwrap().id.clone();
    d.record_test(result(d.config_version(), None), Some(&next), NOW);
    d.complete_rotation(time::Duration::days(7), NOW).unwrap();
    d
}

/// A check that failed at the write, after `before` (the stages before it) passed.
fn failed_write_after(d: &Destination, before: Stage) -> CheckResult {
    let mut failed = result(
        d.active().unwrap().config_version,
        Some(FailureCategory::PutAccessDenied),
    );
    failed.stages.insert(
        0,
        StageResult {
            stage: before,
            status: StageStatus::Passed,
            duration_ms: 1,
            failure: None,
        },
    );
    failed
}

#[test]
fn a_check_whose_guard_refused_the_retired_id_settles_it_even_if_the_write_then_failed() {
    // GIVEN a retired ID whose grace window ends exactly now
    let mut d = rotated();
    let end = NOW + time::Duration::days(7);
    // WHEN a check fails at the write after only the role was assumed (the guard did not run)
    let unguarded = failed_write_after(&d, Stage::AssumeRole);
    // THEN the retired ID stays, not yet seen refused
    assert_eq!(d.settle_retired(&unguarded, end), None);
    assert_eq!(d.rotation().retired.len(), 1);
    // WHEN a check fails at the write after the guard passed (it probed the ID now due)
    let guarded = failed_write_after(&d, Stage::ConfusedDeputyGuard);
    // THEN the retired ID is done with, without an event
    assert_eq!(d.settle_retired(&guarded, end), None);
    assert!(d.rotation().retired.is_empty());
}
