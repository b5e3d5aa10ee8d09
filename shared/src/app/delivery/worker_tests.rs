//! Requests, attempts and the sweep over the in-memory store: the rules of issue 22 §3.

use std::time::Duration as StdDuration;

use time::Duration;

use super::*;
use crate::app::delivery::{RequestError, request};
use crate::domain::delivery::{
    DeliveryId, DeliveryRequest, DeliveryStatus, ObjectName, StagedSource,
};
use crate::domain::{Activity, Actor, AuthModeKind, BucketName, TenantId};
use crate::ports::{
    ActivityLog, InMemorySource, ObjectSource, Outbox, ProbeError, ProbeFailure, SourceError,
};
use crate::testing::memory::{
    InMemoryStaging, InMemoryStore, RecordingDeliveryQueue, ScriptedWriter,
};
use crate::testing::{DestinationBuilder, NOW, platform};

const LEASE: Duration = Duration::minutes(20);

fn staging() -> BucketName {
    BucketName::new("platform-staging").unwrap()
}

fn ask(destination: &Destination, id: &str, staged_key: &str) -> DeliveryRequest {
    DeliveryRequest {
        tenant: destination.tenant().clone(),
        destination: destination.id().clone(),
        id: DeliveryId::new(id).unwrap(),
        source: StagedSource::new(staging(), staged_key).unwrap(),
        name: ObjectName::new("report.csv").unwrap(),
        requested_by: Actor::new("arn:aws:sts::111111111111:assumed-role/exporter/x").unwrap(),
    }
}

fn verified(store: &InMemoryStore) -> Destination {
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .folder("exports")
        .saved();
    store.insert(destination.clone());
    destination
}

struct World {
    store: InMemoryStore,
    writer: ScriptedWriter,
    staged: InMemoryStaging,
    platform: PlatformIdentity,
    retry: RetryPolicy,
}

impl World {
    fn new(writer: ScriptedWriter) -> Self {
        Self {
            store: InMemoryStore::new(),
            writer,
            staged: InMemoryStaging::with("s/1", "a,b\n"),
            platform: platform(),
            retry: RetryPolicy {
                max_attempts: 2,
                ..RetryPolicy::default()
            },
        }
    }

    fn deliverer(&self) -> Deliverer<'_, InMemoryStore, ScriptedWriter, InMemoryStaging> {
        Deliverer {
            store: &self.store,
            writer: &self.writer,
            staged: &self.staged,
            platform: &self.platform,
            stream: StreamSettings::default(),
            retry: self.retry,
            lease: LEASE,
            budget: StdDuration::from_secs(10),
        }
    }

    async fn stored(&self, destination: &Destination, id: &str) -> Delivery {
        self.store
            .delivery(
                destination.tenant(),
                destination.id(),
                &DeliveryId::new(id).unwrap(),
            )
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn a_request_is_stored_once_with_who_asked_and_asking_again_changes_nothing() {
    // GIVEN a verified destination
    let world = World::new(ScriptedWriter::permissive());
    let destination = verified(&world.store);
    // WHEN the same delivery is asked for twice, then with another file
    let first = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW,
    )
    .await
    .unwrap();
    let again = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW + Duration::minutes(5),
    )
    .await
    .unwrap();
    let other = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/2"),
        NOW,
    )
    .await;
    // THEN one queued delivery, the same record twice, a conflict, and one activity entry
    assert!(first.new && !again.new);
    assert_eq!(again.delivery, first.delivery);
    assert_eq!(first.delivery.status, DeliveryStatus::Queued);
    assert!(matches!(other, Err(RequestError::Conflict(_))));
    let page = world
        .store
        .deliveries(destination.tenant(), destination.id(), 10, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let trail = world
        .store
        .activity(destination.tenant(), destination.id(), 10, None)
        .await
        .unwrap();
    assert_eq!(trail.items.len(), 1);
    assert_eq!(
        trail.items[0].actor.as_str(),
        "arn:aws:sts::111111111111:assumed-role/exporter/x"
    );
    assert!(matches!(
        &trail.items[0].activity,
        Activity::DeliveryRequested { delivery_id } if delivery_id.as_str() == "d-1"
    ));
}

#[tokio::test]
async fn another_tenants_destination_and_a_bucket_other_than_staging_are_refused() {
    // GIVEN tenant-a's destination
    let world = World::new(ScriptedWriter::permissive());
    let destination = verified(&world.store);
    // WHEN tenant-b names it, or the request names a source outside the staging bucket
    let mut foreign = ask(&destination, "d-1", "s/1");
    foreign.tenant = TenantId::new("tenant-b").unwrap();
    let not_found = request(&world.store, &staging(), foreign, NOW).await;
    let mut elsewhere = ask(&destination, "d-2", "s/1");
    elsewhere.source =
        StagedSource::new(BucketName::new("customer-secrets").unwrap(), "k").unwrap();
    let not_staged = request(&world.store, &staging(), elsewhere, NOW).await;
    // THEN 404-like and refused, and nothing is stored
    assert!(matches!(not_found, Err(RequestError::NotFound)));
    assert!(matches!(not_staged, Err(RequestError::NotStaged { .. })));
    let page = world
        .store
        .deliveries(destination.tenant(), destination.id(), 10, None)
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn a_queued_delivery_is_written_once_and_a_second_message_finds_it_done() {
    // GIVEN a requested delivery
    let world = World::new(ScriptedWriter::permissive());
    let destination = verified(&world.store);
    let requested = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW,
    )
    .await
    .unwrap();
    let reference = requested.delivery.reference();
    // WHEN two messages for it are handled
    let first = world.deliverer().deliver(&reference, NOW).await.unwrap();
    let second = world.deliverer().deliver(&reference, NOW).await.unwrap();
    // THEN it is delivered once, with what S3 took, and the second is skipped
    assert_eq!(first, DeliverOutcome::Attempted(Attempted::Delivered));
    assert_eq!(second, DeliverOutcome::Skipped(Skipped::NotDue));
    let stored = world.stored(&destination, "d-1").await;
    assert_eq!(stored.status, DeliveryStatus::Delivered);
    assert_eq!(stored.written.as_ref().unwrap().bytes, 4);
    assert_eq!(world.writer.objects.lock().unwrap()[&stored.key], "a,b\n");
    assert_eq!(world.writer.put_calls().len(), 1);
}

#[tokio::test]
async fn two_workers_at_once_write_it_once() {
    // GIVEN a requested delivery and two workers
    let world = World::new(ScriptedWriter::permissive());
    let destination = verified(&world.store);
    let requested = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW,
    )
    .await
    .unwrap();
    let reference = requested.delivery.reference();
    // WHEN both handle it at the same moment
    let deliverer = world.deliverer();
    let (a, b) = tokio::join!(
        deliverer.deliver(&reference, NOW),
        deliverer.deliver(&reference, NOW)
    );
    // THEN exactly one attempted it
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == DeliverOutcome::Attempted(Attempted::Delivered))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(world.writer.put_calls().len(), 1);
}

#[tokio::test]
async fn a_bucket_that_stopped_granting_us_is_retried_then_parked_with_an_event() {
    // GIVEN a bucket that denies every write, two attempts allowed
    let world = World::new(ScriptedWriter::new(
        |_| Ok(()),
        |_| Err(ProbeError::new(ProbeFailure::AccessDenied)),
    ));
    let destination = verified(&world.store);
    let requested = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW,
    )
    .await
    .unwrap();
    let reference = requested.delivery.reference();
    let queue = RecordingDeliveryQueue::default();
    // WHEN attempted, swept before and after the backoff, and attempted again
    let first = world.deliverer().deliver(&reference, NOW).await.unwrap();
    let early = sweep(&world.store, &queue, NOW + Duration::seconds(30))
        .await
        .unwrap();
    let later = NOW + world.retry.backoff(1);
    let swept = sweep(&world.store, &queue, later).await.unwrap();
    let second = world.deliverer().deliver(&reference, later).await.unwrap();
    // THEN the retry waits for its backoff, the second failure parks it, and one event says so
    assert_eq!(
        first,
        DeliverOutcome::Attempted(Attempted::WillRetry(FailureCategory::PutAccessDenied))
    );
    assert_eq!((early, swept), (0, 1));
    assert_eq!(
        queue.queued.lock().unwrap().as_slice(),
        std::slice::from_ref(&reference)
    );
    assert_eq!(
        second,
        DeliverOutcome::Attempted(Attempted::Parked(FailureCategory::PutAccessDenied))
    );
    let stored = world.stored(&destination, "d-1").await;
    assert_eq!(
        (stored.status, stored.attempts),
        (DeliveryStatus::Parked, 2)
    );
    assert!(world.writer.objects.lock().unwrap().is_empty());
    let event = world
        .store
        .pending(
            destination.tenant(),
            &format!("{}/delivery/d-1", destination.id()),
        )
        .await
        .unwrap()
        .expect("the event waits in the outbox");
    assert_eq!(event.kind, ConnectionEventKind::DeliveryFailed);
    assert_eq!(event.category, Some(FailureCategory::PutAccessDenied));
    assert_eq!(
        event.delivery_id.as_ref().map(DeliveryId::as_str),
        Some("d-1")
    );
    assert_eq!(
        sweep(&world.store, &queue, later + Duration::days(1))
            .await
            .unwrap(),
        0,
        "a parked delivery is not swept"
    );
}

/// Hands out `good` bytes, then never answers: a worker that dies mid-upload.
struct StallsAfter {
    source: InMemorySource,
    size: u64,
    good: usize,
}

impl ObjectSource for StallsAfter {
    fn size(&self) -> u64 {
        self.size
    }

    async fn next_chunk(&mut self, max: usize) -> Result<bytes::Bytes, SourceError> {
        if self.good == 0 {
            std::future::pending::<()>().await;
        }
        let chunk = self.source.next_chunk(max.min(self.good)).await?;
        self.good -= chunk.len();
        Ok(chunk)
    }
}

struct Stalling(bytes::Bytes);

impl StagedFiles for Stalling {
    type Source = StallsAfter;

    async fn open(&self, _: &StagedSource) -> Result<StallsAfter, SourceError> {
        Ok(StallsAfter {
            size: self.0.len() as u64,
            source: InMemorySource(self.0.clone()),
            good: 12 * 1024 * 1024,
        })
    }
}

#[tokio::test]
async fn a_worker_that_dies_between_parts_is_taken_over_and_leaves_no_upload() {
    // GIVEN a 40 MiB delivery whose first worker dies after its first parts
    let world = World::new(ScriptedWriter::permissive());
    let destination = verified(&world.store);
    let bytes = bytes::Bytes::from(vec![7u8; 40 * 1024 * 1024]);
    let requested = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW,
    )
    .await
    .unwrap();
    let reference = requested.delivery.reference();
    let stalling = Stalling(bytes.clone());
    let dying = Deliverer {
        store: &world.store,
        writer: &world.writer,
        staged: &stalling,
        platform: &world.platform,
        stream: StreamSettings::default(),
        retry: world.retry,
        lease: LEASE,
        budget: StdDuration::from_secs(10),
    };
    let died = tokio::time::timeout(
        StdDuration::from_millis(200),
        dying.deliver(&reference, NOW),
    )
    .await;
    assert!(died.is_err(), "the first worker never finished");
    let lost = world.stored(&destination, "d-1").await;
    assert_eq!(lost.status, DeliveryStatus::Delivering);
    let leftover = lost
        .upload_id
        .clone()
        .expect("the started upload was recorded");
    assert!(world.writer.uploads.lock().unwrap().contains_key(&leftover));
    // WHEN another worker comes before and after the lease
    world
        .staged
        .files
        .lock()
        .unwrap()
        .insert("s/1".into(), bytes.clone());
    let early = world
        .deliverer()
        .deliver(&reference, NOW + Duration::minutes(1))
        .await
        .unwrap();
    let taken = world
        .deliverer()
        .deliver(&reference, NOW + LEASE)
        .await
        .unwrap();
    // THEN it waits for the lease, then aborts the lost upload and delivers the whole file
    assert_eq!(early, DeliverOutcome::Skipped(Skipped::NotDue));
    assert_eq!(taken, DeliverOutcome::Attempted(Attempted::Delivered));
    assert!(
        world.writer.uploads.lock().unwrap().is_empty(),
        "no upload left"
    );
    let stored = world.stored(&destination, "d-1").await;
    assert_eq!((stored.attempts, stored.upload_id), (2, None));
    assert_eq!(world.writer.objects.lock().unwrap()[&stored.key], bytes);
}

#[tokio::test]
async fn a_delivery_whose_destination_was_deleted_is_parked_at_once() {
    // GIVEN a requested delivery whose destination is then deleted
    let world = World::new(ScriptedWriter::permissive());
    let destination = verified(&world.store);
    let requested = request(
        &world.store,
        &staging(),
        ask(&destination, "d-1", "s/1"),
        NOW,
    )
    .await
    .unwrap();
    world.store.remove(destination.tenant(), destination.id());
    // WHEN its message is handled
    let outcome = world
        .deliverer()
        .deliver(&requested.delivery.reference(), NOW)
        .await
        .unwrap();
    // THEN it is parked without a write
    assert_eq!(
        outcome,
        DeliverOutcome::Attempted(Attempted::Parked(FailureCategory::InvalidConfiguration))
    );
    assert!(world.writer.put_calls().is_empty());
}
