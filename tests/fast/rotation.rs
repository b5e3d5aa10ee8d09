//! External ID rotation through the API and re-validation, over the in-memory adapters and a
//! scripted role whose trust policy the test edits: the next ID is ours, both are trusted while
//! the rotation is open and only the current one is sent, completion needs a passing test with the
//! next one, and after the grace window a role still accepting the old one fails re-validation.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shared::app::revalidation::{Checker, Clock};
use shared::domain::revalidation::{
    ConnectionEventKind, RevalidationRequest, RevalidationSettings,
};
use shared::domain::{DestinationId, ExternalId, TenantId};
use shared::ports::{DestinationRepository, ProbeError, ProbeFailure};
use shared::testing::memory::{InMemoryStore, RecordingQueue, ScriptedWriter};
use support::api::{RequestExt, request};
use support::memory::{MemoryWorld, check_settings};

const ROLE: &str = "arn:aws:iam::222222222222:role/AcmeDelivery";

/// The External IDs the customer's role trusts (its trust policy), as the test sets them;
/// `None` stands for a trust policy that accepts any ID.
#[derive(Clone, Default)]
struct Trust(Arc<Mutex<Option<Vec<String>>>>);

impl Trust {
    fn accept(&self, ids: &[&str]) {
        *self.0.lock().unwrap() = Some(ids.iter().map(|s| (*s).to_owned()).collect());
    }
    fn accept_any(&self) {
        *self.0.lock().unwrap() = None;
    }
    fn writer(&self) -> ScriptedWriter {
        let trust = self.0.clone();
        ScriptedWriter::new(
            move |call| match (trust.lock().unwrap().as_ref(), &call.external_id) {
                (None, Some(_)) => Ok(()),
                (Some(accepted), Some(id)) if accepted.contains(id) => Ok(()),
                _ => Err(ProbeError::new(ProbeFailure::AccessDenied)),
            },
            |_| Ok(()),
        )
    }
}

/// A saved role destination whose role trusts its External ID; returns its id and that ID.
async fn saved_role_destination(world: &MemoryWorld, trust: &Trust) -> (String, String) {
    let api = world.api();
    let id = api
        .create_id(json!({"name": "Lake", "bucket": "acme-exports", "folder": "platform", "authMode": "iamRole"}))
        .await;
    let created = api
        .patch(&id, json!({"roleArn": ROLE}))
        .await
        .expect(200)
        .json();
    let current = created["externalId"].as_str().unwrap().to_owned();
    trust.accept(&[&current]);
    assert_eq!(api.test(&id).await.expect(200).json()["passed"], true);
    api.save(&id).await.expect(200);
    (id, current)
}

fn rotation(world: &MemoryWorld, id: &str, step: &str) -> shared::http::ApiRequest {
    let _ = world;
    request(
        "POST",
        &format!("/destinations/{id}/external-id/rotation{step}"),
    )
}

fn trusted_ids(trust_policy: &str) -> Value {
    let policy: Value = serde_json::from_str(trust_policy).unwrap();
    policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"].clone()
}

/// Re-validates `id` as the worker does, with the clock `ahead` of now.
async fn revalidate(world: &MemoryWorld, id: &str, ahead: time::Duration) -> bool {
    let queue = RecordingQueue::default();
    let platform = shared::testing::platform();
    let checker = Checker {
        store: &world.store,
        writer: &world.writer,
        queue: &queue,
        platform: &platform,
        check_settings: check_settings(),
        settings: RevalidationSettings::default(),
        clock: Clock::ahead_by(ahead),
    };
    let destination = world
        .store
        .get(
            &TenantId::new(support::api::TENANT).unwrap(),
            &DestinationId::new(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    match checker
        .check(&RevalidationRequest::of(&destination))
        .await
        .unwrap()
    {
        shared::app::revalidation::Outcome::Checked { passed, .. } => passed,
        other => panic!("not checked: {other:?}"),
    }
}

fn sent_ids(world: &MemoryWorld, from: usize) -> Vec<Option<String>> {
    world.writer.assume_calls()[from..]
        .iter()
        .map(|c| c.external_id.clone())
        .collect()
}

fn events(world: &MemoryWorld, kind: ConnectionEventKind) -> usize {
    world
        .store
        .outbox_events()
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

#[tokio::test]
async fn a_rotation_keeps_deliveries_on_the_current_id_and_completes_only_once_the_next_is_proven()
{
    // GIVEN a saved role destination whose role trusts its External ID
    let trust = Trust::default();
    let world = MemoryWorld::new(InMemoryStore::new(), trust.writer());
    let api = world.api();
    let (id, current) = saved_role_destination(&world, &trust).await;

    // WHEN the tenant starts a rotation
    let started = api.send(rotation(&world, &id, "")).await.expect(200).json();
    // THEN a next ID of ours is there beside the current one, and the start is on record
    let next = started["externalIdRotation"]["next"]["externalId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(next, current);
    assert!(
        ExternalId::parse(&next).is_ok() && next.len() == 32,
        "{next}"
    );
    assert_eq!(started["externalId"], current.as_str());
    assert_eq!(
        started["externalIdRotation"]["next"]["startedBy"],
        "user:user-1"
    );
    assert_eq!(
        started["externalIdRotation"]["next"]["provenAt"],
        Value::Null
    );
    assert_eq!(events(&world, ConnectionEventKind::RotationStarted), 1);
    let trail = api
        .get(&format!("/destinations/{id}/activity"))
        .await
        .json();
    assert_eq!(trail["items"][0]["action"], "externalIdRotationStarted");
    // AND the trust policy, the stack update, the CLI script and Terraform accept both IDs
    assert_eq!(
        trusted_ids(&api.document(&id, "trustPolicy").await),
        json!([current, next])
    );
    let kit = api
        .get(&format!("/destinations/{id}/setup-kit"))
        .await
        .expect(200)
        .json();
    let next_parameter = kit["cloudFormation"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "NextExternalId")
        .unwrap()
        .clone();
    assert_eq!(next_parameter["value"], next.as_str());
    let update = kit["cloudFormation"]["updateCommand"].as_str().unwrap();
    assert!(
        update.contains(&format!(
            r#""ParameterKey":"NextExternalId","ParameterValue":"{next}""#
        )),
        "{update}"
    );
    assert!(
        update.contains(r#"{"ParameterKey":"RoleName","UsePreviousValue":true}"#),
        "{update}"
    );
    for tool in ["awsCli", "terraform"] {
        let text = kit[tool].as_str().unwrap();
        assert!(text.contains(&current) && text.contains(&next), "{tool}");
    }

    // AND re-validation keeps presenting the current ID only, and passes on the unchanged role
    let before = world.writer.assume_calls().len();
    assert!(revalidate(&world, &id, time::Duration::ZERO).await);
    let sent = sent_ids(&world, before);
    assert!(sent.contains(&Some(current.clone())), "{sent:?}");
    assert!(!sent.contains(&Some(next.clone())), "{sent:?}");

    // WHEN the tenant completes before any test with the next ID
    let refused = api
        .send(rotation(&world, &id, "/complete"))
        .await
        .expect(409);
    // THEN it is refused as unproven
    assert_eq!(refused.problem(), "rotation-not-proven");

    // WHEN Test Connection runs while the role still trusts only the current ID
    let result = api.test(&id).await.expect(200).json();
    // THEN it fails (it presents the next one) and proves nothing
    assert_eq!(result["category"], "roleNotAssumable", "{result}");
    assert_eq!(
        api.send(rotation(&world, &id, "/complete")).await.status(),
        409
    );

    // WHEN the customer applies the trust policy with both IDs and tests
    trust.accept(&[&current, &next]);
    let before = world.writer.assume_calls().len();
    let result = api.test(&id).await.expect(200).json();
    // THEN the test passes with the next ID, and still refused none and a wrong one
    assert_eq!(result["passed"], true, "{result}");
    let sent = sent_ids(&world, before);
    assert!(sent.contains(&None), "{sent:?}");
    assert!(sent.contains(&Some(next.clone())), "{sent:?}");
    assert!(!sent.contains(&Some(current.clone())), "{sent:?}");
    let proven = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(proven["externalIdRotation"]["next"]["provenRoleArn"], ROLE);

    // WHEN the tenant completes the rotation
    let completed = api
        .send(rotation(&world, &id, "/complete"))
        .await
        .expect(200)
        .json();
    // THEN the next ID is the only one rendered and sent from now on
    assert_eq!(completed["externalId"], next.as_str());
    assert_eq!(completed["externalIdRotation"]["next"], Value::Null);
    let retired = &completed["externalIdRotation"]["retired"][0];
    let retired_at = time::OffsetDateTime::parse(
        retired["retiredAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let grace_ends = time::OffsetDateTime::parse(
        retired["graceEndsAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(grace_ends - retired_at, time::Duration::days(7));
    assert!(
        !completed.to_string().contains(&current),
        "the old ID is shown again"
    );
    assert_eq!(
        trusted_ids(&api.document(&id, "trustPolicy").await),
        json!(next)
    );
    assert_eq!(events(&world, ConnectionEventKind::RotationCompleted), 1);
    let before = world.writer.assume_calls().len();
    assert!(revalidate(&world, &id, time::Duration::ZERO).await);
    let sent = sent_ids(&world, before);
    assert!(sent.contains(&Some(next.clone())), "{sent:?}");
    assert!(
        !sent.contains(&Some(current.clone())),
        "within the grace window: {sent:?}"
    );

    // WHEN a check runs after the grace window and the role still accepts the old ID
    let after_grace = time::Duration::days(8);
    let passed = revalidate(&world, &id, after_grace).await;
    // THEN it fails with its own category, the fix is the trust policy with only the new ID,
    // and the overdue event is raised once
    assert!(!passed);
    let failing = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(failing["status"], "failing");
    let last = &failing["lastCheck"];
    assert_eq!(last["category"], "retiredExternalIdAccepted", "{last}");
    let guard = last["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "confusedDeputyGuard")
        .unwrap();
    assert_eq!(
        guard["failure"]["fixDocument"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        json!(next)
    );
    assert_eq!(failing["externalIdRotation"]["retired"][0]["overdue"], true);
    assert_eq!(events(&world, ConnectionEventKind::RotationOverdue), 1);
    assert!(!revalidate(&world, &id, after_grace).await);
    assert_eq!(events(&world, ConnectionEventKind::RotationOverdue), 1);

    // WHEN the customer removes the old ID from the trust policy
    trust.accept(&[&next]);
    // THEN the next check passes and the rotation is done with
    assert!(revalidate(&world, &id, after_grace).await);
    let done = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(done["status"], "verified");
    assert!(done.get("externalIdRotation").is_none(), "{done}");
}

#[tokio::test]
async fn a_rotation_is_refused_where_it_makes_no_sense_and_can_be_cancelled() {
    let trust = Trust::default();
    let world = MemoryWorld::new(InMemoryStore::new(), trust.writer());
    let api = world.api();
    let (id, current) = saved_role_destination(&world, &trust).await;
    // GIVEN a bucket-policy destination: it has no External ID to rotate
    let bucket = api
        .create_id(json!({"name": "Raw", "bucket": "acme-raw", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"}))
        .await;
    api.send(rotation(&world, &bucket, ""))
        .await
        .expect_problem(409, "not-role-mode");
    // GIVEN an open rotation: a second start, a body, or a stale If-Match is refused
    api.send(rotation(&world, &id, "")).await.expect(200);
    api.send(rotation(&world, &id, ""))
        .await
        .expect_problem(409, "rotation-open");
    assert_eq!(
        api.send(rotation(&world, &id, "/cancel").json(json!({})))
            .await
            .status(),
        400
    );
    api.send(rotation(&world, &id, "/cancel").header("if-match", "\"1\""))
        .await
        .expect_problem(412, "precondition-failed");
    // AND the guard still runs: a role that accepts any ID fails Test Connection and proves nothing
    trust.accept_any();
    let result = api.test(&id).await.expect(200).json();
    assert_eq!(result["category"], "roleAcceptsAnyExternalId", "{result}");
    api.send(rotation(&world, &id, "/complete"))
        .await
        .expect_problem(409, "rotation-not-proven");
    // WHEN the tenant cancels
    let kept = api
        .send(rotation(&world, &id, "/cancel"))
        .await
        .expect(200)
        .json();
    // THEN the current ID is the only one again, and a second cancel finds nothing to cancel
    assert_eq!(kept["externalId"], current.as_str());
    // (the next ID, which the role may already trust, is retired like a replaced one)
    assert_eq!(kept["externalIdRotation"]["next"], Value::Null, "{kept}");
    assert_eq!(
        kept["externalIdRotation"]["retired"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{kept}"
    );
    assert_eq!(
        trusted_ids(&api.document(&id, "trustPolicy").await),
        json!(current)
    );
    api.send(rotation(&world, &id, "/cancel"))
        .await
        .expect_problem(409, "no-rotation");
    let trail = api
        .get(&format!("/destinations/{id}/activity"))
        .await
        .json();
    assert_eq!(trail["items"][0]["action"], "externalIdRotationCancelled");
}
