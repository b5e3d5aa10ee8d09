use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::domain::check::{FailureCategory, StageStatus};
use crate::domain::{AuthModeKind, Destination};
use crate::ports::{KmsRefusal, ProbeFailure};
use crate::testing::memory::{AssumeCall, ScriptedWriter};
use crate::testing::{CUSTOMER_ACCOUNT, DestinationBuilder, WRITER, platform, writer_session};

const ROLE: &str = "arn:aws:iam::222222222222:role/customer-writer";

fn settings() -> CheckSettings {
    CheckSettings {
        deadline: Duration::from_secs(20),
        propagation_budget: Duration::from_millis(800),
        first_backoff: Duration::from_millis(100),
    }
}

fn role_destination() -> Destination {
    DestinationBuilder::new(AuthModeKind::IamRole)
        .folder("exports")
        .role_arn(ROLE)
        .build()
}

async fn check(writer: &ScriptedWriter, destination: &Destination) -> CheckResult {
    run(
        writer,
        &CheckTarget::under_edit(destination, time::OffsetDateTime::now_utc()),
        &platform(),
        settings(),
    )
    .await
}

fn stage(result: &CheckResult, stage: Stage) -> StageStatus {
    result
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .unwrap()
        .status
}

fn denied() -> Result<(), ProbeError> {
    Err(ProbeError::new(ProbeFailure::AccessDenied))
}

/// Accepts only the destination's own External ID.
fn strict(destination: &Destination) -> ScriptedWriter {
    ScriptedWriter::strict_role(destination.external_id().unwrap().expose().to_owned())
}

#[tokio::test]
async fn a_strict_role_passes_every_stage_with_one_scoped_session() {
    // GIVEN a role that trusts only this destination's External ID
    let destination = role_destination();
    let writer = strict(&destination);
    // WHEN checked
    let result = check(&writer, &destination).await;
    // THEN every stage passes and the object is written once, into the role account's bucket
    assert!(result.passed, "{result:?}");
    assert!(
        result
            .stages
            .iter()
            .all(|s| s.status == StageStatus::Passed)
    );
    let puts = writer.put_calls();
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].key,
        format!("exports/.connection-test-{}", destination.id())
    );
    assert_eq!(
        puts[0].expected_bucket_owner.as_deref(),
        Some(CUSTOMER_ACCOUNT)
    );
    assert_eq!(
        result.bucket_owner.as_ref().unwrap().as_str(),
        CUSTOMER_ACCOUNT
    );
    // AND the guard tried without an External ID and with a wrong one, the real call with ours
    let calls = writer.assume_calls();
    assert_eq!(calls.len(), 3);
    let ours = destination.external_id().unwrap().expose();
    assert!(calls.iter().any(|c| c.external_id.is_none()));
    assert!(
        calls
            .iter()
            .any(|c| c.external_id.as_deref().is_some_and(|id| id != ours))
    );
    let real = calls
        .iter()
        .find(|c| c.external_id.as_deref() == Some(ours))
        .unwrap();
    // AND the guard's probes carry no session policy: a policy AWS refused (malformed, too
    // large) must not stand in for the trust policy's answer
    assert!(
        calls
            .iter()
            .filter(|c| c.external_id.as_deref() != Some(ours))
            .all(|c| c.session_policy.is_none())
    );
    assert_eq!(
        real.session_name,
        format!("destination-{}", destination.id().as_str().replace('-', ""))
    );
    // AND its session may only write this folder of the expected owner's bucket
    let policy: serde_json::Value =
        serde_json::from_str(real.session_policy.as_ref().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"][0],
        "arn:aws:s3:::customer-bucket/exports/*"
    );
    assert_eq!(
        policy["Statement"][0]["Condition"]["StringEquals"]["aws:ResourceAccount"],
        CUSTOMER_ACCOUNT
    );
}

#[tokio::test]
async fn a_role_assumable_without_the_external_id_is_refused_before_any_write() {
    let destination = role_destination();
    let writer = ScriptedWriter::new(|_| Ok(()), |_| Ok(()));
    let result = check(&writer, &destination).await;
    assert_eq!(
        result.category,
        Some(FailureCategory::RoleAssumableWithoutExternalId)
    );
    assert_eq!(
        stage(&result, Stage::ConfusedDeputyGuard),
        StageStatus::Failed
    );
    assert_eq!(stage(&result, Stage::Write), StageStatus::Skipped);
    assert!(writer.put_calls().is_empty(), "nothing written");
    let fix = &result
        .first_failure()
        .unwrap()
        .fix_document
        .as_ref()
        .unwrap()["Statement"][0];
    assert_eq!(
        fix["Condition"]["StringEquals"]["sts:ExternalId"],
        destination.external_id().unwrap().expose()
    );
}

#[tokio::test]
async fn a_role_that_accepts_any_external_id_is_refused() {
    // GIVEN a trust policy like StringLike sts:ExternalId "*": any ID works, none does not
    let destination = role_destination();
    let writer = ScriptedWriter::new(
        |call: &AssumeCall| {
            if call.external_id.is_some() {
                Ok(())
            } else {
                denied()
            }
        },
        |_| Ok(()),
    );
    let result = check(&writer, &destination).await;
    assert_eq!(
        result.category,
        Some(FailureCategory::RoleAcceptsAnyExternalId)
    );
    assert!(writer.put_calls().is_empty());
}

/// A role that trusts only its External ID, whose guard probes (the calls without it, or with
/// a wrong one) get `failure` instead of an answer, while the real AssumeRole succeeds.
fn guard_probes_fail_with(destination: &Destination, failure: ProbeFailure) -> ScriptedWriter {
    let external_id = destination.external_id().unwrap().expose().to_owned();
    ScriptedWriter::new(
        move |call: &AssumeCall| match &call.external_id {
            Some(id) if *id == external_id => Ok(()),
            _ => Err(ProbeError::new(failure.clone())),
        },
        |_| Ok(()),
    )
}

#[tokio::test]
async fn the_external_id_guard_fails_closed_when_its_probes_get_no_denial() {
    for (failure, category) in [
        (ProbeFailure::Throttled, FailureCategory::Transient),
        (ProbeFailure::Timeout, FailureCategory::TimedOut),
        // Neither a denial nor trouble on AWS's side: the ARN itself was refused.
        (ProbeFailure::Other, FailureCategory::RoleNotAssumable),
    ] {
        // GIVEN a role whose real AssumeRole succeeds, but the guard's probes get no denial
        let destination = role_destination();
        let writer = guard_probes_fail_with(&destination, failure.clone());
        // WHEN it is tested
        let result = check(&writer, &destination).await;
        // THEN it does not pass: only a denial proves the probe refused, and nothing is written
        assert!(!result.passed, "{failure:?}: {result:?}");
        assert_eq!(result.category, Some(category), "{failure:?}");
        assert_eq!(
            stage(&result, Stage::ConfusedDeputyGuard),
            StageStatus::Failed,
            "{failure:?}"
        );
        assert!(writer.put_calls().is_empty(), "{failure:?}: written");
    }
}

#[tokio::test]
async fn a_new_loose_role_cannot_slip_through_while_iam_propagates() {
    // GIVEN a role that is invisible for its first calls, then trusts anyone (no condition)
    let destination = role_destination();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let writer = ScriptedWriter::new(
        move |_| {
            if counter.fetch_add(1, Ordering::SeqCst) < 4 {
                denied()
            } else {
                Ok(())
            }
        },
        |_| Ok(()),
    );
    // WHEN checked THEN the guard runs again once the role is visible, and refuses it
    let result = check(&writer, &destination).await;
    assert_eq!(
        result.category,
        Some(FailureCategory::RoleAssumableWithoutExternalId),
        "{result:?}"
    );
    assert!(writer.put_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_guard_runs_beside_assume_role_and_costs_no_extra_round_trip() {
    // GIVEN every AWS call takes 100 ms
    let destination = role_destination();
    let mut writer = strict(&destination);
    writer.latency = Duration::from_millis(100);
    // WHEN checked THEN guard and AssumeRole overlap: two round trips in all (assume, put)
    let started = tokio::time::Instant::now();
    let result = check(&writer, &destination).await;
    assert!(result.passed);
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}

#[tokio::test]
async fn a_role_in_the_platforms_own_account_is_refused_without_calling_aws() {
    let destination = DestinationBuilder::new(AuthModeKind::IamRole)
        .role_arn("arn:aws:iam::111111111111:role/inside-the-platform")
        .build();
    let writer = ScriptedWriter::permissive();
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::InvalidConfiguration));
    assert!(
        result
            .first_failure()
            .unwrap()
            .explanation
            .contains("belongs to this platform")
    );
    assert!(writer.assume_calls().is_empty() && writer.put_calls().is_empty());
}

#[tokio::test]
async fn a_bucket_owned_by_the_platform_is_refused_without_calling_aws() {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .owner("111111111111")
        .build();
    let writer = ScriptedWriter::permissive();
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::InvalidConfiguration));
    assert!(writer.assume_calls().is_empty());
}

#[tokio::test]
async fn a_kms_key_of_the_platforms_account_fails_configuration_without_calling_aws() {
    // GIVEN a destination stored before keys were checked, whose key is in our own account
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .kms_key(&format!(
            "arn:aws:kms:us-east-1:{}:key/1234abcd",
            crate::testing::PLATFORM_ACCOUNT
        ))
        .build();
    let writer = ScriptedWriter::permissive();
    // WHEN it is tested THEN nobody writes for it
    let result = check(&writer, &destination).await;
    assert_eq!(stage(&result, Stage::Configuration), StageStatus::Failed);
    assert_eq!(result.category, Some(FailureCategory::InvalidConfiguration));
    assert!(writer.assume_calls().is_empty());
}

#[tokio::test]
async fn bucket_policy_mode_writes_as_this_destinations_writer_session() {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .folder("incoming")
        .build();
    let writer = ScriptedWriter::permissive();
    let result = check(&writer, &destination).await;
    assert!(result.passed, "{result:?}");
    assert_eq!(
        stage(&result, Stage::ConfusedDeputyGuard),
        StageStatus::Skipped
    );
    // (the second AssumeRole is the bucket-policy guard's decoy session, below)
    let calls = writer.assume_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].role_arn, WRITER);
    assert_eq!(calls[0].external_id, None);
    let session = format!(
        "{}/{}",
        WRITER
            .replace(":iam:", ":sts:")
            .replace(":role/", ":assumed-role/"),
        calls[0].session_name
    );
    assert_eq!(session, writer_session(destination.id()));
    let policy: serde_json::Value =
        serde_json::from_str(calls[0].session_policy.as_ref().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"][0],
        "arn:aws:s3:::customer-bucket/incoming/*"
    );
    assert_eq!(
        writer.put_calls()[0].expected_bucket_owner.as_deref(),
        Some(CUSTOMER_ACCOUNT)
    );
}

#[tokio::test]
async fn a_bucket_policy_that_lets_any_writer_session_put_is_refused_with_the_statement_to_use() {
    // GIVEN a bucket-policy destination whose bucket lets every session of our writer put
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .folder("incoming")
        .build();
    let mut writer = ScriptedWriter::permissive();
    writer.bucket_policy_grants_any_writer_session = true;
    // WHEN it is tested
    let result = check(&writer, &destination).await;
    // THEN the write stage fails with its own category and the one statement to use
    assert!(!result.passed);
    assert_eq!(stage(&result, Stage::Write), StageStatus::Failed);
    assert_eq!(
        result.category,
        Some(FailureCategory::BucketPolicyGrantsOthers)
    );
    let failure = result.first_failure().unwrap();
    assert_eq!(
        failure.fix_document.as_ref().unwrap()["Principal"]["AWS"],
        writer_session(destination.id())
    );
    // AND the probe was a decoy session of the writer (a destination-… name of no destination,
    // with the same session policy), putting only if absent over the test object
    let calls = writer.assume_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].role_arn, WRITER);
    assert!(calls[1].session_name.starts_with("destination-"));
    assert_ne!(calls[1].session_name, calls[0].session_name);
    assert_eq!(calls[1].session_policy, calls[0].session_policy);
    let probes = writer.conditional_puts.lock().unwrap().clone();
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].key, writer.put_calls()[0].key);
    assert!(
        probes[0]
            .session_access_key
            .ends_with(&calls[1].session_name)
    );
}

#[tokio::test]
async fn the_bucket_policy_guard_fails_closed_when_its_probe_gets_no_denial() {
    for (failure, category) in [
        (ProbeFailure::Timeout, FailureCategory::TimedOut),
        // A refusal that is neither a denial nor trouble on AWS's side: the bucket's own setting.
        (ProbeFailure::Other, FailureCategory::InvalidConfiguration),
    ] {
        // GIVEN a bucket whose guard probe gets `failure` instead of a denial
        let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
        let probe_failure = failure.clone();
        let mut writer = ScriptedWriter::new(
            |_| Ok(()),
            move |call| {
                // The probe is the only empty upload.
                if call.bytes == 0 {
                    Err(ProbeError::new(probe_failure.clone()))
                } else {
                    Ok(())
                }
            },
        );
        writer.bucket_policy_grants_any_writer_session = true;
        // WHEN it is tested
        let result = check(&writer, &destination).await;
        // THEN the test does not pass, and says why
        assert!(!result.passed, "{failure:?}");
        assert_eq!(result.category, Some(category), "{failure:?}");
    }
}

#[tokio::test]
async fn role_mode_runs_no_bucket_policy_probe() {
    let destination = DestinationBuilder::new(AuthModeKind::IamRole)
        .role_arn("arn:aws:iam::222222222222:role/r")
        .build();
    let external_id = destination.external_id().unwrap().expose().to_owned();
    let mut writer = ScriptedWriter::strict_role(external_id);
    writer.bucket_policy_grants_any_writer_session = true;
    let result = check(&writer, &destination).await;
    assert!(result.passed, "{result:?}");
    assert!(writer.conditional_puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_denied_write_in_bucket_policy_mode_names_the_former_shared_principal() {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
    let writer = ScriptedWriter::new(|_| Ok(()), |_| denied());
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::PutAccessDenied));
    let failure = result.first_failure().unwrap();
    assert!(
        failure
            .possible_causes
            .iter()
            .any(|c| c.contains(crate::testing::CONNECTOR))
    );
    let fix = failure.fix_document.as_ref().unwrap();
    assert_eq!(fix["Principal"]["AWS"], writer_session(destination.id()));
}

#[tokio::test]
async fn a_denied_write_suspects_the_buckets_default_key_only_when_none_is_configured() {
    for (kms_key, suspected) in [(None, true), (Some(KEY), false)] {
        // GIVEN a destination with or without a KMS key, and a write S3 denies
        let mut builder = DestinationBuilder::new(AuthModeKind::BucketPolicy);
        if let Some(key) = kms_key {
            builder = builder.kms_key(key);
        }
        let destination = builder.build();
        let writer = ScriptedWriter::new(|_| Ok(()), |_| denied());
        // WHEN it is tested
        let result = check(&writer, &destination).await;
        // THEN the bucket's default encryption is among the causes only when no key is named
        // (a named key's own refusal is told apart as a KMS failure)
        assert_eq!(result.category, Some(FailureCategory::PutAccessDenied));
        let causes = &result.first_failure().unwrap().possible_causes;
        let listed = causes.iter().any(|c| c.contains("default encryption"));
        assert_eq!(listed, suspected, "{kms_key:?}: {causes:?}");
    }
}

#[tokio::test]
async fn an_unconfigured_region_is_found_and_a_wrong_one_reported() {
    let redirect = |call: &crate::testing::memory::PutCall| {
        if call.region == "eu-west-1" {
            Ok(())
        } else {
            Err(ProbeError::new(ProbeFailure::WrongRegion {
                actual: "eu-west-1".into(),
            }))
        }
    };
    // GIVEN no region configured THEN the write follows S3 to eu-west-1
    let found = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
    let writer = ScriptedWriter::new(|_| Ok(()), redirect);
    let result = check(&writer, &found).await;
    assert!(result.passed);
    assert_eq!(result.bucket_region.as_deref(), Some("eu-west-1"));
    assert_eq!(writer.put_calls().len(), 2);
    // GIVEN us-east-1 configured THEN the check fails at locating the bucket, naming the region
    let wrong = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .region("us-east-1")
        .build();
    let result = check(&ScriptedWriter::new(|_| Ok(()), redirect), &wrong).await;
    assert_eq!(result.category, Some(FailureCategory::WrongRegion));
    assert_eq!(stage(&result, Stage::LocateBucket), StageStatus::Failed);
    assert_eq!(
        result.first_failure().unwrap().bucket_region.as_deref(),
        Some("eu-west-1")
    );
}

#[tokio::test]
async fn a_missing_bucket_fails_locating_it() {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
    let writer = ScriptedWriter::new(
        |_| Ok(()),
        |_| Err(ProbeError::new(ProbeFailure::NoSuchBucket)),
    );
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::BucketNotFound));
    assert_eq!(stage(&result, Stage::LocateBucket), StageStatus::Failed);
    assert_eq!(stage(&result, Stage::Write), StageStatus::Skipped);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_outlives_its_deadline_is_timed_out() {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
    let mut writer = ScriptedWriter::permissive();
    writer.latency = Duration::from_secs(30);
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::TimedOut));
    assert!(result.duration_ms <= 20_000 + 50, "{}", result.duration_ms);
}

#[tokio::test]
async fn a_missing_role_arn_fails_configuration_without_calling_aws() {
    let destination = DestinationBuilder::new(AuthModeKind::IamRole).build();
    let writer = ScriptedWriter::permissive();
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::InvalidConfiguration));
    assert_eq!(stage(&result, Stage::Configuration), StageStatus::Failed);
    assert!(writer.assume_calls().is_empty());
}

#[tokio::test]
async fn a_denied_assume_role_lists_every_cause_and_the_trust_fix() {
    let destination = role_destination();
    let writer = ScriptedWriter::new(|_| denied(), |_| Ok(()));
    let result = check(&writer, &destination).await;
    assert_eq!(result.category, Some(FailureCategory::RoleNotAssumable));
    assert_eq!(
        stage(&result, Stage::ConfusedDeputyGuard),
        StageStatus::Passed
    );
    let failure = result.first_failure().unwrap();
    assert_eq!(failure.possible_causes.len(), 4);
    assert_eq!(
        failure.fix_document.as_ref().unwrap()["Statement"][0]["Principal"]["AWS"],
        crate::testing::CONNECTOR
    );
}

#[tokio::test(start_paused = true)]
async fn a_denied_assume_role_is_retried_within_the_propagation_budget_only() {
    // GIVEN a role that denies every AssumeRole, the guard's probes included
    let destination = role_destination();
    let writer = ScriptedWriter::new(|_| denied(), |_| Ok(()));
    // WHEN checked (first backoff 100 ms, propagation budget 800 ms, deadline 20 s)
    let started = tokio::time::Instant::now();
    let result = check(&writer, &destination).await;
    // THEN the AssumeRole with the External ID was retried after 100, 200 and 400 ms, while the
    // next try still fell within the budget, and then reported, far short of the deadline
    let ours = destination.external_id().unwrap().expose();
    let tries = writer
        .assume_calls()
        .iter()
        .filter(|c| c.external_id.as_deref() == Some(ours))
        .count();
    assert_eq!(tries, 4);
    assert_eq!(started.elapsed(), Duration::from_millis(700));
    assert_eq!(result.category, Some(FailureCategory::RoleNotAssumable));
}

const KEY: &str = "arn:aws:kms:us-east-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn role_with_key() -> Destination {
    DestinationBuilder::new(AuthModeKind::IamRole)
        .role_arn(ROLE)
        .kms_key(KEY)
        .build()
}

/// A strict role (or the writer) whose writes S3 refuses for `refusal`.
fn kms_refused(destination: &Destination, refusal: KmsRefusal) -> ScriptedWriter {
    let writer = match destination.external_id() {
        Some(_) => strict(destination),
        None => ScriptedWriter::permissive(),
    };
    writer.with_puts(move |_| Err(ProbeError::new(ProbeFailure::KmsDenied(refusal))))
}

#[tokio::test]
async fn a_key_policy_that_grants_nothing_is_named_with_the_statement_for_the_role() {
    // GIVEN a role-mode destination whose key (in a third account) grants the role nothing
    let destination = role_with_key();
    // WHEN S3 reports that no resource-based policy allows the key
    let result = check(
        &kms_refused(&destination, KmsRefusal::KeyPolicy),
        &destination,
    )
    .await;
    // THEN the failure names the key policy and carries the statement it needs, for the role
    assert_eq!(result.category, Some(FailureCategory::KmsKeyNotUsable));
    let failure = result.first_failure().unwrap();
    assert!(failure.explanation.contains("key's policy"), "{failure:?}");
    let statement = failure.fix_document.as_ref().unwrap();
    assert_eq!(statement["Principal"]["AWS"], ROLE);
    assert_eq!(statement["Resource"], serde_json::json!([KEY]));
    assert_eq!(
        statement["Action"],
        serde_json::json!(["kms:GenerateDataKey", "kms:Decrypt"])
    );
}

#[tokio::test]
async fn a_role_policy_without_the_key_is_named_with_the_permissions_policy() {
    let destination = role_with_key();
    let result = check(
        &kms_refused(&destination, KmsRefusal::IdentityPolicy),
        &destination,
    )
    .await;
    let failure = result.first_failure().unwrap();
    assert!(
        failure.explanation.contains("permissions policy"),
        "{failure:?}"
    );
    let policy = failure.fix_document.as_ref().unwrap();
    assert!(
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Resource"] == serde_json::json!([KEY])),
        "{policy}"
    );
}

#[tokio::test]
async fn a_bucket_policy_destinations_key_statement_names_its_writer_session() {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .kms_key(KEY)
        .build();
    let result = check(
        &kms_refused(&destination, KmsRefusal::KeyPolicy),
        &destination,
    )
    .await;
    let failure = result.first_failure().unwrap();
    assert_eq!(
        failure.fix_document.as_ref().unwrap()["Principal"]["AWS"],
        writer_session(destination.id())
    );
}

#[tokio::test]
async fn a_kms_encrypted_bucket_with_no_key_configured_is_told_so() {
    // GIVEN a destination with no KMS key, and a bucket whose default encryption uses one
    let destination = role_destination();
    // WHEN S3 refuses the key (whatever the reason)
    for refusal in [KmsRefusal::Unspecified, KmsRefusal::KeyPolicy] {
        let result = check(&kms_refused(&destination, refusal), &destination).await;
        // THEN it is a KMS failure that says no key is configured, not a bare access denied
        assert_eq!(result.category, Some(FailureCategory::KmsKeyNotUsable));
        let failure = result.first_failure().unwrap();
        assert!(
            failure.explanation.contains("names no KMS key"),
            "{failure:?}"
        );
        assert!(failure.fix.contains("kmsKeyArn"), "{failure:?}");
    }
}

#[tokio::test]
async fn every_kms_refusal_names_its_own_cause_and_fix() {
    let destination = role_with_key();
    let mut explanations = std::collections::BTreeSet::new();
    for (refusal, phrase) in [
        (KmsRefusal::KeyPolicy, "Key policy"),
        (KmsRefusal::IdentityPolicy, "permissions policy"),
        (KmsRefusal::ExplicitDeny, "Deny"),
        (KmsRefusal::KeyNotEnabled, "Enable the key"),
        (KmsRefusal::KeyNotFound, "region"),
        (KmsRefusal::Unspecified, "key policy"),
    ] {
        let result = check(&kms_refused(&destination, refusal), &destination).await;
        let failure = result.first_failure().unwrap();
        assert!(failure.fix.contains(phrase), "{refusal:?}: {failure:?}");
        assert!(!failure.possible_causes.is_empty(), "{refusal:?}");
        explanations.insert(failure.explanation.clone());
    }
    assert_eq!(explanations.len(), 6, "each refusal explains itself");
}

#[tokio::test]
async fn a_bucket_of_another_account_is_named_and_not_written() {
    // GIVEN a role that trusts only its External ID, and a bucket S3 says is not owned by the
    // role's account (the write pins the owner)
    let destination = role_destination();
    let external_id = destination.external_id().unwrap().expose().to_owned();
    let writer = ScriptedWriter::new(
        move |call: &AssumeCall| match &call.external_id {
            Some(id) if *id == external_id => Ok(()),
            _ => denied(),
        },
        |_| Err(ProbeError::new(ProbeFailure::OwnerMismatch)),
    );
    // WHEN checked
    let result = check(&writer, &destination).await;
    // THEN the write fails naming the bucket and the account it should belong to
    assert_eq!(
        result.category,
        Some(FailureCategory::UnexpectedBucketOwner),
        "{result:?}"
    );
    assert_eq!(stage(&result, Stage::Write), StageStatus::Failed);
    let message = &result.first_failure().unwrap().explanation;
    assert!(
        message.contains("customer-bucket") && message.contains(CUSTOMER_ACCOUNT),
        "{message}"
    );
}

#[tokio::test]
async fn each_stage_reports_how_long_it_took() {
    // GIVEN every AWS call takes 30 ms (real time: stage durations are read from the clock)
    let destination = role_destination();
    let mut writer = strict(&destination);
    writer.latency = Duration::from_millis(30);
    // WHEN checked
    let result = check(&writer, &destination).await;
    // THEN the stages that called AWS took at least that long, in whole milliseconds
    assert!(result.passed, "{result:?}");
    for called in [Stage::ConfusedDeputyGuard, Stage::AssumeRole, Stage::Write] {
        let took = result
            .stages
            .iter()
            .find(|s| s.stage == called)
            .unwrap()
            .duration_ms;
        assert!((30..10_000).contains(&took), "{called:?}: {took} ms");
    }
}
