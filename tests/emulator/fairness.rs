//! Fair sharing against DynamoDB and SQS, with the functions' own identities: a tenant's check
//! slots, re-validation that takes turns from the due index, a check put off through the queue,
//! and each tenant's request quota.

use std::time::Duration;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::app::revalidation::{Outcome, enqueue_due};
use shared::domain::revalidation::RevalidationRequest;
use shared::domain::{
    Activity, ActivityEntry, Actor, AuthModeKind, Destination, DestinationId, TenantId,
};
use shared::ports::{CheckKind, CheckSlots, DestinationRepository, NewRecord};
use shared::testing::memory::RecordingQueue;
use shared::testing::{DestinationBuilder, NOW};
use support::api::{RequestExt, request};
use support::world::World;
use time::OffsetDateTime;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

async fn take(store: &DynamoDbStore, who: &str, kind: CheckKind, lease: time::Duration) -> bool {
    let now = OffsetDateTime::now_utc();
    store
        .take_slot(&tenant(who), kind, now, now + lease)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_tenants_check_slots_are_capped_and_freed_by_release_or_by_their_lease() {
    // GIVEN the template's cap (4), the Test Connection and worker functions' own tables access
    let world = World::new().await;
    let tests = &world.services.test_connection.store;
    let worker = &world.services.worker.store;
    let minute = time::Duration::minutes(1);
    // WHEN re-validation takes what it may of tenant A's slots
    let mut taken = 0;
    while take(worker, "tenant-a", CheckKind::Revalidation, minute).await {
        taken += 1;
        assert!(taken < 10, "no cap");
    }
    // THEN it got 3, and A's last slot is still free for its Test Connection, and then none
    assert_eq!(taken, 3);
    let now = OffsetDateTime::now_utc();
    let last = tests
        .take_slot(
            &tenant("tenant-a"),
            CheckKind::TestConnection,
            now,
            now + minute,
        )
        .await
        .unwrap()
        .expect("the slot kept for Test Connection");
    assert!(!take(tests, "tenant-a", CheckKind::TestConnection, minute).await);
    // AND tenant B's slots are its own
    assert!(take(tests, "tenant-b", CheckKind::TestConnection, minute).await);
    // AND a released slot is free again, and released by its holder only
    tests
        .release_slot(&tenant("tenant-a"), &last)
        .await
        .unwrap();
    assert!(take(tests, "tenant-a", CheckKind::TestConnection, minute).await);
    tests
        .release_slot(&tenant("tenant-a"), &last)
        .await
        .unwrap();
    assert!(
        !take(tests, "tenant-a", CheckKind::TestConnection, minute).await,
        "a stale release freed another holder's slot"
    );
    // AND a slot whose holder died frees itself when its lease ends
    for _ in 0..4 {
        assert!(
            take(
                tests,
                "tenant-c",
                CheckKind::TestConnection,
                time::Duration::milliseconds(300)
            )
            .await
        );
    }
    assert!(!take(tests, "tenant-c", CheckKind::TestConnection, minute).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(take(tests, "tenant-c", CheckKind::TestConnection, minute).await);
}

/// A saved bucket-policy destination of `tenant`, stored as is.
async fn stored_saved(world: &World, tenant: &str) -> Destination {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .id(DestinationId::generate().as_str())
        .tenant(tenant)
        .saved();
    let activity = ActivityEntry {
        at: NOW,
        actor: Actor::new("fixture").unwrap(),
        activity: Activity::Created,
        version: 1,
    };
    let record = NewRecord {
        destination: &destination,
        activity: &activity,
        idempotency: None,
        cap: 1000,
    };
    world.store().create(record).await.unwrap();
    destination
}

#[tokio::test]
async fn re_validation_from_the_due_index_takes_turns_between_tenants() {
    // GIVEN tenant A with 60 destinations due and tenant B with one
    let world = World::new().await;
    for _ in 0..60 {
        stored_saved(&world, "tenant-a").await;
    }
    let lone = stored_saved(&world, "tenant-b").await;
    // WHEN the due checks are queued from DynamoDB's due index
    let queue = RecordingQueue::default();
    let (store, _) = &world.services.scheduler;
    let queued = enqueue_due(store, &queue, OffsetDateTime::now_utc())
        .await
        .unwrap();
    // THEN all are queued, B's in the first turn (inside the first SQS batch of ten)
    assert_eq!(queued, 61);
    let order = queue.queued.lock().unwrap().clone();
    let position = order
        .iter()
        .position(|r| *r == RevalidationRequest::of(&lone))
        .unwrap();
    assert!(position <= 1, "tenant B's check is number {position}");
}

#[tokio::test]
async fn a_check_over_its_tenants_cap_goes_back_to_the_queue_for_later() {
    // GIVEN tenant A's re-validation already running all the checks it may
    let world = World::new().await;
    let destination = stored_saved(&world, "tenant-a").await;
    let worker = &world.services.worker;
    for _ in 0..3 {
        assert!(
            take(
                &worker.store,
                "tenant-a",
                CheckKind::Revalidation,
                time::Duration::minutes(1)
            )
            .await
        );
    }
    // WHEN the worker gets another of A's checks
    let outcome = worker
        .checker()
        .check(&RevalidationRequest::of(&destination))
        .await
        .unwrap();
    // THEN it is put off: queued again with a delay, by the worker's own identity
    assert_eq!(outcome, Outcome::Deferred);
    let delayed = world
        .queue_attribute(
            &world.platform.queue_url,
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        )
        .await;
    assert_eq!(delayed, "1");
}

#[tokio::test]
async fn each_tenant_has_its_own_request_quota_in_dynamodb() {
    // GIVEN the functions deployed with a quota of 3 requests per tenant per minute
    let mut world = World::new().await;
    world.platform.set_env("REQUESTS_PER_MINUTE", "3");
    world.services = Box::pin(dev_support::services::Services::wire(
        &world.platform,
        dev_support::services::quick_check_settings(),
    ))
    .await;
    let api = world.api();
    // WHEN tenant A reads 4 times inside one minute, then tenant B once
    support::api::within_one_rate_window().await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(api.send(request("GET", "/destinations")).await.status());
    }
    let other = api
        .send(request("GET", "/destinations").tenant("tenant-b"))
        .await;
    // THEN A's fourth is refused and B is served
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(other.status(), 200);
}
