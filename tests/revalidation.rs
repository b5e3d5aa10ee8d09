//! Re-validation handlers fed with the sample events, over in-memory adapters and a scripted prober.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;
use time::OffsetDateTime;

use shared::adapters::memory::{InMemoryQueue, InMemoryStore, RecordingPublisher};
use shared::config::PlatformPrincipals;
use shared::connection_test::TestSettings;
use shared::domain::*;
use shared::ports::{
    AssumeRoleRequest, AwsFailure, AwsFailureKind, ConnectionProber, DestinationStore,
    PutTestObjectRequest, SessionCredentials,
};
use shared::revalidation::{
    Checker, ConnectionEventKind, RevalidationRequest, RevalidationSettings,
};
use support::events::{EVENT_DESTINATION_ID, EVENT_TENANT, raw, sqs_batch};
use support::fixtures;

const PRINCIPAL: &str = "arn:aws:iam::111111111111:role/destinations-platform-connector";

/// Puts succeed or fail as scripted (bucket-policy destinations never call AssumeRole).
#[derive(Default)]
struct ScriptedProber {
    unreachable: Mutex<bool>,
}

#[async_trait]
impl ConnectionProber for ScriptedProber {
    async fn assume_role(
        &self,
        _: AssumeRoleRequest<'_>,
    ) -> Result<SessionCredentials, AwsFailure> {
        unreachable!("bucket-policy destinations never assume a role")
    }
    async fn put_test_object(&self, _: PutTestObjectRequest<'_>) -> Result<(), AwsFailure> {
        if *self.unreachable.lock().unwrap() {
            Err(AwsFailure {
                kind: AwsFailureKind::Unreachable,
                ..AwsFailure::default()
            })
        } else {
            Ok(())
        }
    }
}

/// A destination under the sample events' tenant and id, saved (or not) and due now.
async fn seed(store: &InMemoryStore, id: &str, saved: bool) -> Destination {
    let builder = fixtures::destination(AuthModeKind::BucketPolicy, "acme-raw-events", "")
        .id(id)
        .tenant(EVENT_TENANT)
        .region("eu-west-1");
    let an_hour_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let d = if saved {
        builder.saved_at(an_hour_ago)
    } else {
        builder.draft_at(an_hour_ago)
    };
    store.create(&d, None).await.unwrap();
    d
}

fn principals() -> PlatformPrincipals {
    PlatformPrincipals::parse(PRINCIPAL).unwrap()
}

fn checker<'a>(
    store: &'a InMemoryStore,
    prober: &'a ScriptedProber,
    publisher: &'a RecordingPublisher,
    principals: &'a PlatformPrincipals,
    threshold: u32,
) -> Checker<'a, InMemoryStore, ScriptedProber, RecordingPublisher> {
    Checker {
        store,
        prober,
        publisher,
        principals,
        test_settings: TestSettings {
            deadline: Duration::from_secs(5),
            ..TestSettings::default()
        },
        settings: RevalidationSettings {
            transient_failures_before_failing: threshold,
            ..RevalidationSettings::default()
        },
    }
}

#[tokio::test]
async fn schedule_event_queues_only_saved_destinations_that_are_due() {
    // GIVEN one saved destination (due) and one draft
    let store = InMemoryStore::new();
    let queue = InMemoryQueue::default();
    let saved = seed(&store, EVENT_DESTINATION_ID, true).await;
    seed(&store, &DestinationId::generate().to_string(), false).await;
    // WHEN the scheduled event arrives
    let event: EventBridgeEvent<Value> =
        serde_json::from_str(&raw("revalidate-schedule.json")).unwrap();
    let answer = revalidate_scheduler::handler::handle(&store, &queue, event)
        .await
        .unwrap();
    // THEN exactly the saved one is queued
    assert_eq!(answer["queued"], 1);
    assert_eq!(
        queue.drain(),
        vec![RevalidationRequest::for_destination(&saved)]
    );
}

#[tokio::test]
async fn on_demand_event_queues_the_named_destination() {
    let store = InMemoryStore::new();
    let queue = InMemoryQueue::default();
    let saved = seed(&store, EVENT_DESTINATION_ID, true).await;
    let event: EventBridgeEvent<Value> =
        serde_json::from_str(&raw("revalidate-on-demand.json")).unwrap();
    revalidate_scheduler::handler::handle(&store, &queue, event)
        .await
        .unwrap();
    assert_eq!(
        queue.drain(),
        vec![RevalidationRequest::for_destination(&saved)]
    );

    // All of a tenant's saved destinations when no id is given; an unknown detail-type is an error
    seed(&store, &DestinationId::generate().to_string(), true).await;
    let mut all: EventBridgeEvent<Value> =
        serde_json::from_str(&raw("revalidate-on-demand.json")).unwrap();
    all.detail = serde_json::json!({"tenantId": EVENT_TENANT});
    revalidate_scheduler::handler::handle(&store, &queue, all)
        .await
        .unwrap();
    assert_eq!(queue.drain().len(), 2);
    let mut unknown: EventBridgeEvent<Value> =
        serde_json::from_str(&raw("revalidate-on-demand.json")).unwrap();
    unknown.detail_type = "Something Else".into();
    assert!(
        revalidate_scheduler::handler::handle(&store, &queue, unknown)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sqs_batch_event_reports_only_the_unreadable_message() {
    let store = InMemoryStore::new();
    seed(&store, EVENT_DESTINATION_ID, true).await;
    let (prober, publisher, principals) = (
        ScriptedProber::default(),
        RecordingPublisher::default(),
        principals(),
    );
    let event: SqsEvent = serde_json::from_str(&raw("revalidate-sqs-batch.json")).unwrap();
    let response = revalidate_worker::handler::handle(
        &checker(&store, &prober, &publisher, &principals, 3),
        4,
        event,
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
}

#[tokio::test]
async fn stream_event_queues_a_check_after_a_role_change() {
    let queue = InMemoryQueue::default();
    let event: StreamEvent = serde_json::from_str(&raw("revalidate-stream.json")).unwrap();
    assert_eq!(
        revalidate_on_change::handler::handle(&queue, event)
            .await
            .unwrap(),
        1
    );
    let queued = queue.drain();
    assert_eq!(queued[0].destination_id.as_str(), EVENT_DESTINATION_ID);
    assert_eq!(queued[0].version, 4);
}

#[tokio::test]
async fn a_flapping_transient_error_does_not_flip_the_status_before_the_threshold() {
    // GIVEN a verified destination and AWS unreachable
    let store = InMemoryStore::new();
    seed(&store, EVENT_DESTINATION_ID, true).await;
    let (prober, publisher, principals) = (
        ScriptedProber::default(),
        RecordingPublisher::default(),
        principals(),
    );
    let checker = checker(&store, &prober, &publisher, &principals, 3);
    let tenant = TenantId::new(EVENT_TENANT).unwrap();
    let id = DestinationId::new(EVENT_DESTINATION_ID).unwrap();
    let check = async || {
        let current = store.get(&tenant, &id).await.unwrap().unwrap();
        checker
            .check(&RevalidationRequest::for_destination(&current))
            .await
            .unwrap();
        store.get(&tenant, &id).await.unwrap().unwrap().status
    };
    *prober.unreachable.lock().unwrap() = true;
    // WHEN it fails transiently twice, recovers, fails twice again
    assert_eq!(check().await, Status::Verified);
    assert_eq!(check().await, Status::Verified);
    *prober.unreachable.lock().unwrap() = false;
    assert_eq!(check().await, Status::Verified);
    *prober.unreachable.lock().unwrap() = true;
    assert_eq!(check().await, Status::Verified);
    assert_eq!(check().await, Status::Verified);
    // THEN nothing was raised; the third in a row fails it, with exactly one event
    assert!(publisher.events().is_empty());
    assert_eq!(check().await, Status::Failing);
    assert_eq!(check().await, Status::Failing);
    let events = publisher.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, ConnectionEventKind::Failed);
    // AND recovery raises exactly one Restored
    *prober.unreachable.lock().unwrap() = false;
    assert_eq!(check().await, Status::Verified);
    assert_eq!(check().await, Status::Verified);
    let kinds: Vec<ConnectionEventKind> = publisher.events().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ConnectionEventKind::Failed, ConnectionEventKind::Restored]
    );
}

#[tokio::test]
async fn a_duplicate_message_changes_nothing() {
    let store = InMemoryStore::new();
    let saved = seed(&store, EVENT_DESTINATION_ID, true).await;
    let (prober, publisher, principals) = (
        ScriptedProber::default(),
        RecordingPublisher::default(),
        principals(),
    );
    let request = RevalidationRequest::for_destination(&saved);
    let event = sqs_batch(&[request.clone(), request]);
    let response = revalidate_worker::handler::handle(
        &checker(&store, &prober, &publisher, &principals, 3),
        2,
        event,
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let stored = store.get(&saved.tenant, &saved.id).await.unwrap().unwrap();
    assert_eq!(stored.version, saved.version + 1, "applied once");
    assert_eq!(
        store
            .test_history(&saved.tenant, &saved.id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
