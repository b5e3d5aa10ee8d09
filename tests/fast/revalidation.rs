//! The event-driven functions fed their sample events (the files `sam local invoke -e` uses), over
//! the in-memory adapters.

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use dev_support::events::{EVENT_DESTINATION_ID, EVENT_TENANT, parse, sqs_batch};
use serde_json::Value;
use shared::app::revalidation::{Checker, Outcome};
use shared::domain::check::FailureCategory;
use shared::domain::revalidation::{
    ConnectionEventKind, RevalidationRequest, RevalidationSettings,
};
use shared::domain::{AuthModeKind, Destination, Status};
use shared::ports::{DestinationRepository, ProbeError, ProbeFailure};
use shared::testing::memory::{InMemoryStore, RecordingPublisher, RecordingQueue, ScriptedWriter};
use shared::testing::{DestinationBuilder, platform};
use support::memory::check_settings;

fn saved(id: &str) -> Destination {
    DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .id(id)
        .tenant(EVENT_TENANT)
        .saved()
}

fn checker<'a>(
    store: &'a InMemoryStore,
    writer: &'a ScriptedWriter,
    settings: RevalidationSettings,
) -> Checker<'a, InMemoryStore, ScriptedWriter, RecordingQueue> {
    static PLATFORM: std::sync::OnceLock<shared::domain::PlatformIdentity> =
        std::sync::OnceLock::new();
    static QUEUE: std::sync::OnceLock<RecordingQueue> = std::sync::OnceLock::new();
    Checker {
        store,
        writer,
        queue: QUEUE.get_or_init(RecordingQueue::default),
        platform: PLATFORM.get_or_init(platform),
        check_settings: check_settings(),
        settings,
        clock: shared::app::revalidation::Clock::system(),
    }
}

#[tokio::test]
async fn the_schedule_event_queues_only_saved_destinations_that_are_due() {
    // GIVEN a destination saved yesterday (due an interval later, so now) and a draft
    let store = InMemoryStore::new();
    let due = saved(EVENT_DESTINATION_ID);
    store.insert(due.clone());
    store.insert(
        DestinationBuilder::new(AuthModeKind::IamRole)
            .tenant(EVENT_TENANT)
            .build(),
    );
    let queue = RecordingQueue::default();
    // WHEN the scheduler gets the sample schedule event
    let event: EventBridgeEvent<Value> = parse("revalidate-schedule.json");
    let answer = revalidate_scheduler::handler::handle(&store, &queue, event)
        .await
        .unwrap();
    // THEN it queues exactly the saved one, at its current version
    assert_eq!(answer["queued"], 1);
    assert_eq!(
        queue.queued.lock().unwrap().clone(),
        vec![RevalidationRequest::of(&due)]
    );
}

#[tokio::test]
async fn the_on_demand_event_queues_the_named_destination() {
    let store = InMemoryStore::new();
    let destination = saved(EVENT_DESTINATION_ID);
    store.insert(destination.clone());
    let queue = RecordingQueue::default();
    let answer =
        revalidate_scheduler::handler::handle(&store, &queue, parse("revalidate-on-demand.json"))
            .await
            .unwrap();
    assert_eq!(answer["queued"], 1);
    assert_eq!(
        queue.queued.lock().unwrap()[0],
        RevalidationRequest::of(&destination)
    );
}

#[tokio::test]
async fn an_unknown_event_is_an_error_lambda_can_report() {
    let store = InMemoryStore::new();
    let mut event: EventBridgeEvent<Value> = parse("revalidate-schedule.json");
    event.detail_type = "Something Else".into();
    let error = revalidate_scheduler::handler::handle(&store, &RecordingQueue::default(), event)
        .await
        .unwrap_err();
    let diagnostic: lambda_runtime::Diagnostic = error.into();
    assert_eq!(diagnostic.error_type, "UnknownEvent");
}

#[tokio::test]
async fn the_sqs_batch_reports_only_the_unreadable_message_and_checks_the_readable_one() {
    // GIVEN the sample batch: one check of a saved destination, one unreadable body
    let store = InMemoryStore::new();
    let destination = saved(EVENT_DESTINATION_ID);
    store.insert(destination.clone());
    let writer = ScriptedWriter::permissive();
    let mut event: SqsEvent = parse("revalidate-sqs-batch.json");
    event.records[0].body =
        Some(serde_json::to_string(&RevalidationRequest::of(&destination)).unwrap());
    // WHEN the worker handles it
    let response = revalidate_worker::handler::handle(
        &checker(&store, &writer, RevalidationSettings::default()),
        4,
        event,
    )
    .await;
    // THEN only the unreadable message is retried
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
    // AND the readable one was really checked: one write, and its result stored
    assert_eq!(writer.put_calls().len(), 1);
    let stored = store
        .get(destination.tenant(), destination.id())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .revalidation()
            .last_check
            .as_ref()
            .is_some_and(|c| c.passed)
    );
    assert_eq!(stored.version(), destination.version() + 1);
}

#[tokio::test]
async fn a_duplicate_message_is_applied_once() {
    let store = InMemoryStore::new();
    let destination = saved(EVENT_DESTINATION_ID);
    store.insert(destination.clone());
    let writer = ScriptedWriter::permissive();
    let checker = checker(&store, &writer, RevalidationSettings::default());
    let batch = sqs_batch(&[
        RevalidationRequest::of(&destination),
        RevalidationRequest::of(&destination),
    ]);
    let response = revalidate_worker::handler::handle(&checker, 1, batch).await;
    assert!(response.batch_item_failures.is_empty());
    let stored = store
        .get(destination.tenant(), destination.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version(), destination.version() + 1, "applied once");
    assert_eq!(writer.put_calls().len(), 1, "checked once");
}

#[tokio::test]
async fn transient_failures_flip_the_status_only_at_the_threshold_and_raise_one_event() {
    // GIVEN a saved destination whose writes are throttled
    let store = InMemoryStore::new();
    store.insert(saved(EVENT_DESTINATION_ID));
    let throttled = ScriptedWriter::new(
        |_| Ok(()),
        |_| Err(ProbeError::new(ProbeFailure::Throttled)),
    );
    let settings = RevalidationSettings {
        transient_failures_before_failing: 3,
        ..RevalidationSettings::default()
    };
    let checker = checker(&store, &throttled, settings);
    let tenant = shared::domain::TenantId::new(EVENT_TENANT).unwrap();
    let id = shared::domain::DestinationId::new(EVENT_DESTINATION_ID).unwrap();
    let (store, checker, tenant, id) = (&store, &checker, &tenant, &id);
    let check = |transition: bool| async move {
        let current = store.get(tenant, id).await.unwrap().unwrap();
        let outcome = checker
            .check(&RevalidationRequest::of(&current))
            .await
            .unwrap();
        // (the outcome says whether this check moved the status, as the events do)
        assert_eq!(
            outcome,
            Outcome::Checked {
                passed: false,
                transition
            }
        );
        store.get(tenant, id).await.unwrap().unwrap()
    };
    // WHEN checked three times THEN verified twice, failing the third time, with one event
    assert_eq!(check(false).await.status(), Status::Verified);
    assert_eq!(check(false).await.status(), Status::Verified);
    assert_eq!(store.outbox_len(), 0);
    let failing = check(true).await;
    assert_eq!(failing.status(), Status::Failing);
    assert_eq!(
        failing.revalidation().last_check.as_ref().unwrap().category,
        Some(FailureCategory::Transient)
    );
    assert_eq!(store.outbox_len(), 1);
    assert_eq!(check(false).await.status(), Status::Failing);
    assert_eq!(store.outbox_len(), 1, "failing again raises nothing");
}

#[tokio::test]
async fn the_stream_sample_queues_a_check_after_a_save_and_nothing_after_a_rename() {
    let event: StreamEvent = parse("revalidate-stream.json");
    assert_eq!(event.records.len(), 2);
    let queue = RecordingQueue::default();
    let answer = revalidate_on_change::handler::handle(&queue, event)
        .await
        .unwrap();
    assert_eq!(answer["queued"], 1);
    let queued = queue.queued.lock().unwrap().clone();
    assert_eq!(queued[0].destination_id.as_str(), EVENT_DESTINATION_ID);
}

#[tokio::test]
async fn an_outbox_record_is_published_once_however_often_it_is_delivered() {
    // GIVEN the sample outbox record, and the event still waiting in the outbox
    let event: StreamEvent = parse("publish-events-stream.json");
    let pending = shared::adapters::dynamodb::stream::outbox_event(&event.records[0].change)
        .unwrap()
        .unwrap();
    let store = InMemoryStore::new();
    store.insert_outbox(pending.clone());
    let publisher = RecordingPublisher::default();
    // WHEN the bus is down, the record is reported for a retry and nothing is lost
    publisher
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let down = publish_events::handler::publish_records(
        &store,
        &publisher,
        parse("publish-events-stream.json"),
    )
    .await;
    assert_eq!(down.batch_item_failures.len(), 1);
    assert_eq!(store.outbox_len(), 1);
    // AND once it is back, the retry publishes it, and a redelivery publishes nothing more
    publisher
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..2 {
        let up = publish_events::handler::publish_records(
            &store,
            &publisher,
            parse("publish-events-stream.json"),
        )
        .await;
        assert!(up.batch_item_failures.is_empty());
    }
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event_id, pending.event_id);
    assert_eq!(published[0].kind, ConnectionEventKind::Failed);
    assert_eq!(store.outbox_len(), 0);
}

#[tokio::test]
async fn the_sweep_publishes_what_the_stream_path_left_behind() {
    let event: StreamEvent = parse("publish-events-stream.json");
    let mut pending = shared::adapters::dynamodb::stream::outbox_event(&event.records[0].change)
        .unwrap()
        .unwrap();
    pending.occurred_at = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let store = InMemoryStore::new();
    store.insert_outbox(pending);
    let publisher = RecordingPublisher::default();
    let trigger: publish_events::handler::Trigger =
        serde_json::from_str(&dev_support::events::raw("publish-events-sweep.json")).unwrap();
    let answer = publish_events::handler::handle(&store, &publisher, trigger)
        .await
        .unwrap();
    assert_eq!(answer["published"], 1);
    assert_eq!(publisher.published().len(), 1);
}
