use std::time::Duration;

use super::*;
use crate::app::check::{CheckSettings, CheckTarget, run};
use crate::domain::{AuthModeKind, DestinationPatch, Folder};
use crate::testing::memory::{AssumeCall, PutCall, ScriptedWriter};
use crate::testing::{DestinationBuilder, NOW, platform};

const ROLE: &str = "arn:aws:iam::222222222222:role/customer-writer";

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn body(text: &'static str) -> ObjectBody {
    ObjectBody {
        bytes: text.into(),
        content_type: "application/octet-stream",
    }
}

fn saved(auth: AuthModeKind) -> Destination {
    let builder = DestinationBuilder::new(auth)
        .folder("exports")
        .kms_key("arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    match auth {
        AuthModeKind::IamRole => builder.role_arn(ROLE).saved(),
        AuthModeKind::BucketPolicy => builder.saved(),
    }
}

/// The AssumeRole that opened the session a write used (the guard's probes open none that write).
fn session_of<'a>(calls: &'a [AssumeCall], put: &PutCall) -> &'a AssumeCall {
    calls
        .iter()
        .filter(|c| c.session_policy.is_some())
        .find(|c| format!("{}|{}", c.role_arn, c.session_name) == put.session_access_key)
        .expect("every write uses a session opened with the destination's session policy")
}

/// A put with its key and size left out: what must not differ between a check and a delivery.
fn how(put: &PutCall) -> PutCall {
    PutCall {
        key: String::new(),
        bytes: 0,
        ..put.clone()
    }
}

#[tokio::test]
async fn a_delivery_opens_the_same_session_and_writes_the_same_way_as_the_check() {
    for auth in [AuthModeKind::IamRole, AuthModeKind::BucketPolicy] {
        // GIVEN a saved destination whose role trusts only its External ID, and writers that
        // record every call
        let destination = saved(auth);
        let strict = || {
            ScriptedWriter::strict_role(
                destination
                    .external_id()
                    .map(|id| id.expose().to_owned())
                    .unwrap_or_default(),
            )
        };
        let (checked, delivered) = (strict(), strict());
        // WHEN its active configuration is re-validated, and a file is delivered to it
        let result = run(
            &checked,
            &CheckTarget::active(&destination).unwrap(),
            &platform(),
            CheckSettings::default(),
        )
        .await;
        assert!(result.passed, "{result:?}");
        let put = write_object(
            &delivered,
            &destination,
            &platform(),
            "exports/2026/12/05/d-1-report.csv",
            body("a,b\n"),
            deadline(),
        )
        .await
        .unwrap();
        // THEN both took on the very same identity: role, External ID, session name and policy
        let (check_put, delivery_put) = (&checked.put_calls()[0], &delivered.put_calls()[0]);
        assert_eq!(
            session_of(&checked.assume_calls(), check_put),
            session_of(&delivered.assume_calls(), delivery_put),
            "{auth:?}"
        );
        // AND wrote with the same session, bucket, region, owner and key
        assert_eq!(how(check_put), how(delivery_put), "{auth:?}");
        assert_eq!(delivery_put.key, "exports/2026/12/05/d-1-report.csv");
        assert_eq!(delivery_put.bytes, 4);
        assert_eq!(put.region, check_put.region);
        // AND the delivery opened exactly one session: no guard probes on the delivery path
        assert_eq!(delivered.assume_calls().len(), 1, "{auth:?}");
    }
}

#[tokio::test]
async fn a_delivery_writes_the_active_configuration_never_the_pending_change() {
    // GIVEN a saved destination with a pending change of folder and bucket
    let mut destination = saved(AuthModeKind::IamRole);
    destination
        .apply(
            DestinationPatch {
                bucket: Some(crate::domain::BucketName::new("other-bucket").unwrap()),
                folder: Some(Folder::new("elsewhere").unwrap()),
                ..DestinationPatch::default()
            },
            NOW,
        )
        .unwrap();
    assert!(destination.has_pending_changes());
    let writer = ScriptedWriter::permissive();
    // WHEN a file is delivered
    write_object(
        &writer,
        &destination,
        &platform(),
        "exports/x",
        body("x"),
        deadline(),
    )
    .await
    .unwrap();
    // THEN it went to the active bucket, with a session scoped to the active folder
    let puts = writer.put_calls();
    assert_eq!(puts[0].bucket, "customer-bucket");
    let policy = writer.assume_calls()[0].session_policy.clone().unwrap();
    assert!(policy.contains("customer-bucket/exports/*"), "{policy}");
    assert!(!policy.contains("other-bucket"), "{policy}");
}

#[tokio::test]
async fn a_destination_never_saved_receives_nothing() {
    // GIVEN a draft that even passed a test
    let destination = DestinationBuilder::new(AuthModeKind::IamRole)
        .role_arn(ROLE)
        .build();
    let writer = ScriptedWriter::permissive();
    // WHEN a file is delivered
    let outcome = write_object(
        &writer,
        &destination,
        &platform(),
        "x",
        body("x"),
        deadline(),
    )
    .await;
    // THEN it is refused before any AWS call
    assert_eq!(outcome.unwrap_err(), DeliveryWriteError::NotSaved);
    assert!(writer.assume_calls().is_empty() && writer.put_calls().is_empty());
}
