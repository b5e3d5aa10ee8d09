//! Nothing lost: a status transition is written with its event, and the event reaches the bus
//! exactly once through an event-bus outage, a worker that dies after its write, and redelivery.

use serde_json::{Value, json};
use shared::adapters::eventbridge::EventBridgePublisher;
use support::world::World;

use dev_support::accounts::{Account, unique};
use dev_support::emulator::emulator;

use crate::revalidation::outbox_entries;

/// GIVEN a saved bucket-policy destination whose bucket policy is then removed, and a check of it
/// queued.
async fn broken_and_queued(world: &World) -> String {
    let customer = Account::create(emulator()).await;
    let bucket = unique("events");
    customer.create_bucket(&bucket).await;
    let created = world
        .api()
        .create(json!({"name": "Raw", "bucket": bucket, "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    customer
        .put_bucket_policy(&bucket, &world.api().document(&id, "bucketPolicy").await)
        .await;
    world.api().test(&id).await.expect(200);
    world.api().save(&id).await.expect(200);
    world.settle().await;
    world.dispatcher.observed_events().await;
    customer.delete_bucket_policy(&bucket).await;
    let on_demand: aws_lambda_events::eventbridge::EventBridgeEvent<Value> = serde_json::from_value(json!({
        "version": "0", "id": "1", "detail-type": "Revalidate Destinations", "source": "platform",
        "account": "111111111111", "time": "2026-11-28T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"tenantId": support::api::TENANT, "destinationId": id}
    }))
    .unwrap();
    let (store, queue) = &world.services.scheduler;
    Box::pin(revalidate_scheduler::handler::handle(
        store, queue, on_demand,
    ))
    .await
    .unwrap();
    id
}

/// The publish-events function's bus client, aimed at a closed port (an outage) or at the bus.
fn publisher(world: &World, reachable: bool) -> EventBridgePublisher {
    let function = world.platform.function("PublishEventsFunction");
    let config = if reachable {
        function.config.clone()
    } else {
        function
            .config
            .to_builder()
            .endpoint_url("http://127.0.0.1:9")
            .build()
    };
    EventBridgePublisher::from_config(&config, &world.platform.event_bus)
}

fn failed_events(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["detail-type"] == "Destination Connection Failed")
        .count()
}

#[tokio::test]
async fn an_event_bus_outage_delays_the_failed_event_but_delivers_it_once() {
    let mut world = World::new().await;
    let id = broken_and_queued(&world).await;
    // GIVEN the event bus is unreachable
    let down = publisher(&world, false);
    world.services.publisher.1 = down;
    // WHEN the break is found and the stream tries (and retries) to publish it
    for _ in 0..3 {
        world.dispatcher.pump(&world.services).await;
    }
    // THEN nothing arrived, and the event waits in the outbox
    assert_eq!(failed_events(&world.dispatcher.observed_events().await), 0);
    assert_eq!(outbox_entries(&world).await, 1);
    assert_eq!(
        world.api().get(&format!("/destinations/{id}")).await.json()["status"],
        "failing"
    );
    // WHEN the bus is back
    let up = publisher(&world, true);
    world.services.publisher.1 = up;
    world.settle().await;
    // THEN exactly one Failed event arrives, and the outbox is empty
    assert_eq!(failed_events(&world.dispatcher.observed_events().await), 1);
    assert_eq!(outbox_entries(&world).await, 0);
}

#[tokio::test]
async fn an_outage_longer_than_the_streams_retries_is_published_by_the_sweep() {
    let mut world = World::new().await;
    broken_and_queued(&world).await;
    let down = publisher(&world, false);
    world.services.publisher.1 = down;
    // WHEN the stream gives up (its retries used, the batch parked on the failure queue)
    let mut parked = 0;
    for _ in 0..15 {
        parked += world.dispatcher.pump(&world.services).await.parked;
    }
    assert_eq!(parked, 1);
    assert_eq!(
        outbox_entries(&world).await,
        1,
        "the event is still in the outbox"
    );
    // AND the bus comes back THEN the sweep publishes it, once
    let up = publisher(&world, true);
    world.services.publisher.1 = up;
    let (outbox, publisher) = &world.services.publisher;
    let published = shared::app::events::sweep(outbox, publisher, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(published, 1);
    world.settle().await;
    assert_eq!(failed_events(&world.dispatcher.observed_events().await), 1);
}

#[tokio::test]
async fn a_worker_that_dies_after_its_write_still_gets_its_event_out_once() {
    let world = World::new().await;
    let id = broken_and_queued(&world).await;
    // GIVEN the worker wrote the failing result and died before anything else (its message not
    // deleted: SQS hands it out again)
    let sqs = world.platform.account.sqs();
    let message = sqs
        .receive_message()
        .queue_url(&world.platform.queue_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap()
        .remove(0);
    let request: shared::domain::revalidation::RevalidationRequest =
        serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
    let outcome = world
        .services
        .worker
        .checker()
        .check(&request)
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        shared::app::revalidation::Outcome::Checked {
            transition: true,
            ..
        }
    ));
    sqs.change_message_visibility()
        .queue_url(&world.platform.queue_url)
        .receipt_handle(message.receipt_handle.unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let after_check = world.api().get(&format!("/destinations/{id}")).await.json();
    // WHEN the message comes back and the stream runs
    let pumped = world.settle().await;
    // THEN the redelivered message was handled, its check skipped (the version moved on: a check
    // that ran would have stored another result, a new version), and one event arrived
    assert!(pumped.messages >= 1, "{pumped:?}");
    let destination = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(destination["status"], "failing");
    assert_eq!(destination["version"], after_check["version"]);
    assert_eq!(failed_events(&world.dispatcher.observed_events().await), 1);
}

#[tokio::test]
async fn a_redelivered_transition_produces_no_second_event() {
    let world = World::new().await;
    broken_and_queued(&world).await;
    world.settle().await;
    assert_eq!(failed_events(&world.dispatcher.observed_events().await), 1);
    // WHEN the whole stream is delivered again
    world.dispatcher.rewind_streams();
    world.settle().await;
    // THEN nothing more arrives
    assert_eq!(failed_events(&world.dispatcher.observed_events().await), 0);
}

#[tokio::test]
async fn a_save_that_moves_deliveries_raises_configuration_changed_with_who_and_where() {
    use support::api::{RequestExt, request};
    let world = World::new().await;
    // GIVEN a saved bucket-policy destination writing to bucket A of the customer
    let customer = Account::create(emulator()).await;
    let (first, second) = (unique("moved-from"), unique("moved-to"));
    customer.create_bucket(&first).await;
    customer.create_bucket(&second).await;
    let created = world
        .api()
        .create(json!({"name": "Raw", "bucket": first, "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    customer
        .put_bucket_policy(&first, &world.api().document(&id, "bucketPolicy").await)
        .await;
    world.api().test(&id).await.expect(200);
    world.api().save(&id).await.expect(200);
    world.settle().await;
    let changed = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["detail-type"] == "Destination Configuration Changed")
            .cloned()
            .collect()
    };
    // (the first Save moved no deliveries)
    assert_eq!(
        changed(&world.dispatcher.observed_events().await),
        Vec::<Value>::new()
    );
    // WHEN another user of the tenant points it at bucket B, tests and saves
    world
        .api()
        .patch(&id, json!({"bucket": second}))
        .await
        .expect(200);
    customer
        .put_bucket_policy(&second, &world.api().document(&id, "bucketPolicy").await)
        .await;
    world.api().test(&id).await.expect(200);
    world
        .api()
        .send(request("POST", &format!("/destinations/{id}/save")).actor("admin-2"))
        .await
        .expect(200);
    world.settle().await;
    // THEN exactly one Destination Configuration Changed reaches the bus, naming both buckets,
    // the pinned owner and who saved
    let events = changed(&world.dispatcher.observed_events().await);
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = &events[0]["detail"];
    assert_eq!(detail["destinationId"], id);
    assert_eq!(detail["tenantId"], support::api::TENANT);
    assert_eq!(detail["changedBy"], "user:admin-2");
    assert_eq!(detail["before"]["bucket"], first);
    assert_eq!(detail["after"]["bucket"], second);
    assert_eq!(detail["after"]["bucketOwner"], customer.id);
    assert_eq!(events[0]["source"], "destinations");
}

#[tokio::test]
async fn a_publisher_that_dies_between_sending_and_clearing_sends_the_same_event_id_again() {
    use shared::ports::{EventPublisher, Outbox};
    let mut world = World::new().await;
    broken_and_queued(&world).await;
    // GIVEN the break is found while the bus is down, so its event waits in the outbox
    world.services.publisher.1 = publisher(&world, false);
    for _ in 0..3 {
        world.dispatcher.pump(&world.services).await;
    }
    assert_eq!(outbox_entries(&world).await, 1);
    // WHEN a publisher sends it and dies before clearing the entry
    let (outbox, _) = &world.services.publisher;
    let waiting = outbox
        .backlog(time::OffsetDateTime::now_utc(), None)
        .await
        .unwrap()
        .items;
    assert_eq!(waiting.len(), 1);
    publisher(&world, true).publish(&waiting[0]).await.unwrap();
    assert_eq!(outbox_entries(&world).await, 1, "not cleared");
    // AND the sweep finds it still waiting
    let published = shared::app::events::sweep(
        outbox,
        &publisher(&world, true),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    // THEN it is published once more, with the same eventId (so a consumer can drop the
    // duplicate), and the outbox is empty
    assert_eq!(published, 1);
    let events: Vec<Value> = world
        .dispatcher
        .observed_events()
        .await
        .into_iter()
        .filter(|e| e["detail-type"] == "Destination Connection Failed")
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0]["detail"]["eventId"],
        events[1]["detail"]["eventId"]
    );
    assert_eq!(events[0]["detail"]["eventId"], waiting[0].event_id);
    assert_eq!(outbox_entries(&world).await, 0);
}
