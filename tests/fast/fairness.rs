//! Fair sharing between tenants, measured with two: re-validation takes turns, a tenant runs a
//! capped number of checks at once (its own Test Connection always keeps one), and each tenant
//! has its own request quota. The DynamoDB side of the slots and the quota is proven against the
//! emulator (`tests/emulator/fairness.rs`).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use dev_support::events::parse;
use serde_json::Value;
use shared::app::revalidation::{Checker, Outcome};
use shared::domain::revalidation::{RevalidationRequest, RevalidationSettings};
use shared::domain::{AuthModeKind, Destination, TenantId};
use shared::ports::{CheckKind, CheckSlots};
use shared::testing::memory::{InMemoryStore, RecordingQueue, ScriptedWriter};
use shared::testing::{DestinationBuilder, platform};
use support::api::{RequestExt, request};
use support::memory::{MemoryWorld, check_settings};

fn saved(tenant: &str) -> Destination {
    DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .tenant(tenant)
        .saved()
}

#[tokio::test]
async fn a_tenant_with_ten_thousand_due_checks_delays_another_by_at_most_one_turn() {
    // GIVEN tenant A with 10,000 saved destinations due and tenant B with one, due last
    let store = InMemoryStore::new();
    for _ in 0..10_000 {
        store.insert(saved("tenant-a"));
    }
    let lone = saved("tenant-b");
    store.insert(lone.clone());
    let queue = RecordingQueue::default();
    // WHEN the scheduler runs
    let event: EventBridgeEvent<Value> = parse("revalidate-schedule.json");
    let answer = revalidate_scheduler::handler::handle(&store, &queue, event)
        .await
        .unwrap();
    // THEN every check is queued once, and B's within the first turn: ahead of all but one of
    // A's, inside the first SQS batch of ten
    assert_eq!(answer["queued"], 10_001);
    let queued = queue.queued.lock().unwrap().clone();
    let position = queued
        .iter()
        .position(|r| *r == RevalidationRequest::of(&lone))
        .unwrap();
    assert!(position <= 1, "tenant B's check is number {position}");
    // AND A's checks follow one another (no turn is skipped, none queued twice)
    let mut ids: Vec<_> = queued.iter().map(|r| r.destination_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10_001);
}

/// Holds `n` of `tenant`'s check slots, as `n` running checks would.
async fn hold(store: &InMemoryStore, tenant: &str, kind: CheckKind, n: usize) {
    let now = time::OffsetDateTime::now_utc();
    for _ in 0..n {
        let slot = store
            .take_slot(
                &TenantId::new(tenant).unwrap(),
                kind,
                now,
                now + time::Duration::minutes(1),
            )
            .await
            .unwrap();
        assert!(slot.is_some(), "a free slot");
    }
}

#[tokio::test]
async fn a_tenant_at_its_cap_of_running_checks_waits_and_another_tenant_does_not() {
    // GIVEN a cap of 4 checks at once per tenant, and tenant A running 4
    let store = InMemoryStore::new().with_check_slots(4);
    let world = MemoryWorld::new(store.clone(), ScriptedWriter::permissive());
    let api = world.api();
    let mine = api.create_id(serde_json::json!({"name": "A", "bucket": "acme-a", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"})).await;
    let theirs = api.create_as("tenant-b", serde_json::json!({"name": "B", "bucket": "acme-b", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    hold(&store, "tenant-a", CheckKind::TestConnection, 4).await;
    // WHEN A tests a destination, and B does too
    let refused = api
        .send(request("POST", &format!("/destinations/{mine}/test")))
        .await;
    let served = api
        .send(request("POST", &format!("/destinations/{theirs}/test")).tenant("tenant-b"))
        .await;
    // THEN A is told to retry shortly, and B's test runs and passes
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.problem(), "rate-limited");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("at once")
    );
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(served.status(), 200);
    assert_eq!(served.json()["passed"], true);
}

fn checker<'a>(
    store: &'a InMemoryStore,
    writer: &'a ScriptedWriter,
    queue: &'a RecordingQueue,
    platform: &'a shared::domain::PlatformIdentity,
) -> Checker<'a, InMemoryStore, ScriptedWriter, RecordingQueue> {
    Checker {
        store,
        writer,
        queue,
        platform,
        check_settings: check_settings(),
        settings: RevalidationSettings::default(),
        clock: shared::app::revalidation::Clock::system(),
    }
}

#[tokio::test]
async fn re_validation_leaves_a_tenant_one_slot_for_its_own_test_connection() {
    // GIVEN a cap of 4, and tenant A's re-validation already running 3 checks
    let store = InMemoryStore::new().with_check_slots(4);
    let (a, b) = (saved("tenant-a"), saved("tenant-b"));
    store.insert(a.clone());
    store.insert(b.clone());
    hold(&store, "tenant-a", CheckKind::Revalidation, 3).await;
    let (writer, queue, platform) = (
        ScriptedWriter::permissive(),
        RecordingQueue::default(),
        platform(),
    );
    let checker = checker(&store, &writer, &queue, &platform);
    // WHEN a fourth of A's checks comes off the queue, and one of B's
    let put_off = checker.check(&RevalidationRequest::of(&a)).await.unwrap();
    let checked = checker.check(&RevalidationRequest::of(&b)).await.unwrap();
    // THEN A's is queued again for later (not failed: it never nears the dead-letter queue) and
    // nothing of it ran; B's ran
    assert_eq!(put_off, Outcome::Deferred);
    let deferred = queue.deferred.lock().unwrap().clone();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].0, RevalidationRequest::of(&a));
    assert!(
        (10..=40).contains(&deferred[0].1.as_secs()),
        "{:?}",
        deferred[0].1
    );
    assert!(matches!(checked, Outcome::Checked { passed: true, .. }));
    assert_eq!(writer.put_calls().len(), 1, "only B's check wrote");
    // AND A's last slot is still free for its Test Connection
    hold(&store, "tenant-a", CheckKind::TestConnection, 1).await;
}

#[tokio::test]
async fn a_running_check_holds_its_slot_until_it_ends() {
    // GIVEN a cap of 4 (re-validation takes 3), tenant A already running 2 re-validation checks,
    // and writes that take a while
    let store = InMemoryStore::new().with_check_slots(4);
    let (first, second) = (saved("tenant-a"), saved("tenant-a"));
    store.insert(first.clone());
    store.insert(second.clone());
    hold(&store, "tenant-a", CheckKind::Revalidation, 2).await;
    let mut writer = ScriptedWriter::permissive();
    writer.latency = std::time::Duration::from_millis(100);
    let (queue, platform) = (RecordingQueue::default(), platform());
    let checker = checker(&store, &writer, &queue, &platform);
    // WHEN two more of A's checks come off the queue together
    let requests = [&first, &second].map(RevalidationRequest::of);
    let (one, other) = tokio::join!(checker.check(&requests[0]), checker.check(&requests[1]));
    // THEN the one in the last slot runs, holding it throughout, and the other is put off
    let outcomes = [one.unwrap(), other.unwrap()];
    assert!(
        matches!(outcomes[0], Outcome::Checked { passed: true, .. }),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Deferred);
    assert_eq!(queue.deferred.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_running_test_connection_holds_its_lock_and_its_slot_until_it_ends() {
    for slots_held in [None, Some(3)] {
        // GIVEN two destinations and writes that take a while; in the second case, a cap of 4
        // with 3 of tenant A's slots held
        let store = match slots_held {
            Some(_) => InMemoryStore::new().with_check_slots(4),
            None => InMemoryStore::new(),
        };
        let mut writer = ScriptedWriter::permissive();
        writer.latency = std::time::Duration::from_millis(100);
        let world = MemoryWorld::new(store.clone(), writer);
        let api = world.api();
        let body = |name: &str| serde_json::json!({"name": name, "bucket": "acme-a", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"});
        let first = api.create_id(body("First")).await;
        let second = api.create_id(body("Second")).await;
        if let Some(n) = slots_held {
            hold(&store, "tenant-a", CheckKind::TestConnection, n).await;
        }
        // WHEN the first is tested, and at the same time the first again (no cap) or the second
        let next = if slots_held.is_some() {
            &second
        } else {
            &first
        };
        let (one, other) = tokio::join!(api.test(&first), api.test(next));
        // THEN one test runs to a current result, holding the destination's test lock and its
        // slot throughout: the repeat is told a test is in progress, the other to retry
        let (running, refused) = if one.status() == 200 {
            (one, other)
        } else {
            (other, one)
        };
        let running = running.expect(200).json();
        assert_eq!(running["passed"], true, "{running}");
        assert_eq!(running["current"], true, "{running}");
        let (status, problem) = match slots_held {
            None => (409, "test-in-progress"),
            Some(_) => (429, "rate-limited"),
        };
        assert_eq!(refused.status(), status);
        assert_eq!(refused.problem(), problem);
    }
}

#[tokio::test]
async fn each_tenant_has_its_own_request_quota() {
    // GIVEN a quota of 5 requests per tenant per minute
    let world = MemoryWorld::new(
        InMemoryStore::new().with_api_quota(5),
        ScriptedWriter::permissive(),
    );
    let api = world.api();
    // WHEN tenant A sends 7 reads inside one minute (not in its last seconds), then tenant B one
    support::api::within_one_rate_window().await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(api.send(request("GET", "/destinations")).await);
    }
    let other = api
        .send(request("GET", "/destinations").tenant("tenant-b"))
        .await;
    // THEN A's first 5 are served and the rest refused with Retry-After; B is served
    let codes: Vec<u16> = statuses.iter().map(|r| r.status()).collect();
    assert_eq!(codes, [200, 200, 200, 200, 200, 429, 429]);
    assert_eq!(statuses[5].problem(), "rate-limited");
    let wait: u64 = statuses[5].header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(other.status(), 200);
}
