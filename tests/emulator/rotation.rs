//! External ID rotation against the emulator's IAM, which evaluates the role's trust policy and its
//! `sts:ExternalId` condition: deliveries and checks keep working on the old ID while the rotation
//! is open, completion needs a passing Test Connection with the next ID, the old ID is no longer
//! sent once it completes, and a role still accepting it after the grace window (time moved
//! forward, not waited for) fails re-validation; the three events reach the bus.

use serde_json::{Value, json};
use shared::app::revalidation::{Clock, Outcome};
use shared::domain::revalidation::RevalidationRequest;
use shared::domain::{DestinationId, TenantId};
use shared::ports::DestinationRepository;
use support::api::{TENANT, request, verdict};
use support::world::World;

use crate::deliveries::{pattern, saved_role_destination};

/// A delivery of `len` bytes under `key` through the writer deliveries use; whether it arrived.
async fn delivers(world: &World, id: &str, key: &str, len: usize) -> bool {
    Box::pin(crate::deliveries::deliver(world, id, key, pattern(len)))
        .await
        .is_ok()
}

/// The trust policy the emulator's IAM evaluates for `role`, replaced as a customer would.
pub(crate) async fn set_trust(world: &World, role_arn: &str, trust_policy: &str) {
    let name = role_arn.rsplit('/').next().unwrap();
    world
        .customer_role_account()
        .iam()
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(trust_policy)
        .send()
        .await
        .unwrap();
}

/// The rendered trust policy with only `ids` (what the role trusted before, say).
fn trust_with(rendered: &str, ids: Value) -> String {
    let mut policy: Value = serde_json::from_str(rendered).unwrap();
    policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = ids;
    policy.to_string()
}

/// One re-validation as the worker runs it, its clock `ahead` of now; returns the category of a
/// failure (`""` when it passed).
async fn revalidate(world: &World, id: &str, ahead: time::Duration) -> String {
    let destination = world
        .store()
        .get(
            &TenantId::new(TENANT).unwrap(),
            &DestinationId::new(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let mut checker = world.services.worker.checker();
    checker.clock = Clock::ahead_by(ahead);
    // Boxed: a check's state machine is large in debug builds, and a test's stack is not.
    match Box::pin(checker.check(&RevalidationRequest::of(&destination)))
        .await
        .unwrap()
    {
        Outcome::Checked { passed: true, .. } => String::new(),
        Outcome::Checked { passed: false, .. } => {
            let stored = world.api().get(&format!("/destinations/{id}")).await.json();
            stored["lastCheck"]["category"].as_str().unwrap().to_owned()
        }
        other => panic!("not checked: {other:?}"),
    }
}

fn rotation(id: &str, step: &str) -> shared::http::ApiRequest {
    request(
        "POST",
        &format!("/destinations/{id}/external-id/rotation{step}"),
    )
}

#[tokio::test]
async fn a_role_moves_to_a_new_external_id_without_a_moment_where_deliveries_stop_or_the_old_one_works()
 {
    // GIVEN a saved role destination whose role was made from the rendered documents
    let world = World::new().await;
    let api = world.api();
    let (id, _bucket) = Box::pin(saved_role_destination(&world)).await;
    let destination = api.get(&format!("/destinations/{id}")).await.json();
    let role_arn = destination["roleArn"].as_str().unwrap().to_owned();
    let current = destination["externalId"].as_str().unwrap().to_owned();
    let original_trust = api.document(&id, "trustPolicy").await;

    // WHEN the tenant starts a rotation
    let started = api.send(rotation(&id, "")).await.expect(200).json();
    let next = started["externalIdRotation"]["next"]["externalId"]
        .as_str()
        .unwrap()
        .to_owned();
    // THEN deliveries and checks keep succeeding on the unchanged role (the old ID)
    assert!(delivers(&world, &id, "exports/during-rotation.bin", 1024).await);
    assert_eq!(revalidate(&world, &id, time::Duration::ZERO).await, "");
    // AND completion is refused before a passing test with the next ID
    api.send(rotation(&id, "/complete"))
        .await
        .expect_problem(409, "rotation-not-proven");
    // AND Test Connection, which presents the next ID, is refused by the unchanged role
    let refused = api.test(&id).await.expect(200).json();
    assert_eq!(
        verdict(&refused),
        ("assumeRole".into(), "roleNotAssumable".into())
    );

    // WHEN the customer applies the trust policy shown during the rotation (both IDs)
    let both = api.document(&id, "trustPolicy").await;
    assert_eq!(
        serde_json::from_str::<Value>(&both).unwrap()["Statement"][0]["Condition"]["StringEquals"]
            ["sts:ExternalId"],
        json!([current, next])
    );
    set_trust(
        &world,
        &role_arn,
        &dev_support::platform::customer_document(&both),
    )
    .await;
    // THEN Test Connection passes with the next ID, deliveries still pass with the old one, and
    // the rotation completes
    let proven = api.test(&id).await.expect(200).json();
    assert_eq!(verdict(&proven).0, "passed", "{proven}");
    assert!(delivers(&world, &id, "exports/proven.bin", 1024).await);
    let completed = api
        .send(rotation(&id, "/complete"))
        .await
        .expect(200)
        .json();
    assert_eq!(completed["externalId"], next.as_str());

    // AND from now on the old ID is no longer sent: a role trusting only it refuses every check
    // and delivery
    set_trust(
        &world,
        &role_arn,
        &trust_with(&original_trust, json!(current)),
    )
    .await;
    assert_eq!(
        revalidate(&world, &id, time::Duration::ZERO).await,
        "roleNotAssumable"
    );
    assert!(!delivers(&world, &id, "exports/old-id.bin", 16).await);
    // AND within the grace window a role accepting both passes
    set_trust(
        &world,
        &role_arn,
        &dev_support::platform::customer_document(&both),
    )
    .await;
    assert_eq!(revalidate(&world, &id, time::Duration::ZERO).await, "");
    assert!(delivers(&world, &id, "exports/new-id.bin", 1024).await);

    // WHEN a check runs after the grace window while the role still accepts the old ID
    let after_grace = time::Duration::days(8);
    // THEN it fails with its own category, and its fix is the trust policy with the new ID only
    assert_eq!(
        revalidate(&world, &id, after_grace).await,
        "retiredExternalIdAccepted"
    );
    let stored = api.get(&format!("/destinations/{id}")).await.json();
    let guard = stored["lastCheck"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "confusedDeputyGuard")
        .unwrap()
        .clone();
    let fix = guard["failure"]["fixDocument"].clone();
    assert_eq!(
        fix["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        json!(next)
    );
    // WHEN the customer applies that fix
    set_trust(
        &world,
        &role_arn,
        &dev_support::platform::customer_document(&fix.to_string()),
    )
    .await;
    // THEN the destination is verified again and the rotation is done with
    assert_eq!(revalidate(&world, &id, after_grace).await, "");
    let done = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(done["status"], "verified");
    assert!(done.get("externalIdRotation").is_none(), "{done}");

    // AND the rotation's events reached the bus, once each, naming no External ID
    world.settle().await;
    let events = world.dispatcher.observed_events().await;
    for detail_type in [
        "Destination External ID Rotation Started",
        "Destination External ID Rotation Completed",
        "Destination External ID Rotation Overdue",
    ] {
        let matching: Vec<&Value> = events
            .iter()
            .filter(|e| e["detail-type"] == detail_type && e["detail"]["destinationId"] == id)
            .collect();
        assert_eq!(matching.len(), 1, "{detail_type}: {events:?}");
        let text = matching[0].to_string();
        assert!(!text.contains(&current) && !text.contains(&next), "{text}");
    }
}
