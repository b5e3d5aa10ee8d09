//! "Check now": a saved destination's active configuration re-tested on demand, its status
//! updated at once (a fixed destination stops showing failing), recorded with who asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use shared::domain::AuthModeKind;
use shared::ports::{ProbeError, ProbeFailure};
use shared::testing::DestinationBuilder;
use shared::testing::memory::{InMemoryStore, ScriptedWriter};
use support::api::request;
use support::memory::MemoryWorld;

/// A bucket whose policy the customer can break and repair: while `broken`, writes are denied.
fn repairable_bucket() -> (ScriptedWriter, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let writer = ScriptedWriter::permissive().with_puts(move |_| {
        if flag.load(Ordering::SeqCst) {
            Err(ProbeError::new(ProbeFailure::AccessDenied))
        } else {
            Ok(())
        }
    });
    (writer, broken)
}

#[tokio::test]
async fn a_repaired_destination_is_verified_at_once_and_the_trail_names_who_checked() {
    // GIVEN a saved bucket-policy destination, and its bucket policy broken
    let store = InMemoryStore::new();
    let saved = DestinationBuilder::new(AuthModeKind::BucketPolicy).saved();
    store.insert(saved.clone());
    let (writer, broken) = repairable_bucket();
    let world = MemoryWorld::new(store.clone(), writer);
    let api = world.api();
    let check = || {
        api.send(request(
            "POST",
            &format!("/destinations/{}/check", saved.id()),
        ))
    };
    broken.store(true, Ordering::SeqCst);
    // WHEN the user checks it now
    let failed = check().await.expect(200).json();
    // THEN it is failing at once, with the reason, and the Failed event is on its way
    assert_eq!(failed["passed"], false);
    assert_eq!(failed["status"], "failing");
    assert_eq!(failed["current"], true);
    assert_eq!(failed["category"], "putAccessDenied");
    assert_eq!(store.outbox_len(), 1);
    // WHEN the customer repairs the policy and checks again
    broken.store(false, Ordering::SeqCst);
    let passed = check().await.expect(200).json();
    // THEN it is verified at once (no wait for the schedule), and the destination says so
    assert_eq!(passed["passed"], true);
    assert_eq!(passed["status"], "verified");
    let stored = shared::ports::DestinationRepository::get(&store, saved.tenant(), saved.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status(), shared::domain::Status::Verified);
    assert_eq!(store.outbox_len(), 2, "Failed, then Restored");
    // AND the trail records both changes of status, by the user who asked
    let trail: Value = api
        .send(request(
            "GET",
            &format!("/destinations/{}/activity", saved.id()),
        ))
        .await
        .expect(200)
        .json();
    let changes: Vec<&Value> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "statusChanged")
        .collect();
    assert_eq!(changes.len(), 2, "{trail}");
    assert!(
        changes
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("user:")),
        "{trail}"
    );
}

#[tokio::test]
async fn a_destination_never_saved_has_nothing_to_check_now() {
    let world = MemoryWorld::new(InMemoryStore::new(), ScriptedWriter::permissive());
    let api = world.api();
    let draft = api
        .create(
            serde_json::json!({"name": "Lake", "bucket": "acme-exports", "authMode": "iamRole"}),
        )
        .await;
    api.send(request(
        "POST",
        &format!("/destinations/{}/check", draft["id"].as_str().unwrap()),
    ))
    .await
    .expect_problem(409, "not-saved");
}

#[tokio::test]
async fn check_now_is_counted_with_test_connection() {
    // GIVEN a limit of 2 connection tests per minute, and a saved destination
    let store = InMemoryStore::with_rate_limit(2);
    let saved = DestinationBuilder::new(AuthModeKind::BucketPolicy).saved();
    store.insert(saved.clone());
    let world = MemoryWorld::new(store, ScriptedWriter::permissive());
    let api = world.api();
    support::api::within_one_rate_window().await;
    // WHEN it is tested once and checked twice
    let test = api
        .send(request(
            "POST",
            &format!("/destinations/{}/test", saved.id()),
        ))
        .await;
    let first = api
        .send(request(
            "POST",
            &format!("/destinations/{}/check", saved.id()),
        ))
        .await;
    let second = api
        .send(request(
            "POST",
            &format!("/destinations/{}/check", saved.id()),
        ))
        .await;
    // THEN the third call of the two kinds is refused
    assert_eq!(
        (test.status(), first.status(), second.status()),
        (200, 200, 429)
    );
    assert_eq!(second.problem(), "rate-limited");
}
