//! Re-validation end to end in the emulator: the scheduler and the on-demand event queue checks,
//! the worker re-tests the active configuration, transitions go to the outbox with the result,
//! the stream publishes them, and the event arrives on the bus exactly as documented.

use serde_json::{Value, json};
use support::api::verdict;
use support::world::World;

use dev_support::accounts::{Account, unique};
use dev_support::emulator::emulator;

/// GIVEN a saved bucket-policy destination whose customer applied the rendered policy.
async fn saved_destination(world: &World) -> (String, Account, String) {
    let customer = Account::create(emulator()).await;
    let bucket = unique("reval");
    customer.create_bucket(&bucket).await;
    let created = world
        .api()
        .create(json!({"name": "Raw", "bucket": bucket, "folder": "in", "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    customer
        .put_bucket_policy(&bucket, &world.api().document(&id, "bucketPolicy").await)
        .await;
    assert_eq!(
        verdict(&world.api().test(&id).await.expect(200).json()),
        ("passed".into(), String::new())
    );
    world.api().save(&id).await.expect(200);
    (id, customer, bucket)
}

/// The on-demand event for one destination, as the bus hands it to the scheduler.
async fn revalidate_now(world: &World, id: &str) -> Value {
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> = serde_json::from_value(json!({
        "version": "0", "id": "1", "detail-type": "Revalidate Destinations", "source": "platform",
        "account": "111111111111", "time": "2026-11-28T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"tenantId": support::api::TENANT, "destinationId": id}
    }))
    .unwrap();
    let (store, queue) = &world.services.scheduler;
    Box::pin(revalidate_scheduler::handler::handle(store, queue, event))
        .await
        .unwrap()
}

fn detail_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_broken_destination_raises_one_failed_event_and_its_repair_one_restored_event() {
    let world = World::new().await;
    let (id, customer, bucket) = saved_destination(&world).await;
    world.settle().await;
    world.dispatcher.observed_events().await;
    // WHEN the customer removes the bucket policy and the destination is re-validated
    customer.delete_bucket_policy(&bucket).await;
    assert_eq!(revalidate_now(&world, &id).await["queued"], 1);
    let pumped = world.settle().await;
    assert!(
        pumped.messages >= 1 && pumped.stream_records >= 1,
        "{pumped:?}"
    );
    // THEN it is failing, and exactly one Failed event is on the bus, shaped as documented
    let failing = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(failing["status"], "failing");
    assert_eq!(failing["lastCheck"]["category"], "putAccessDenied");
    let events = world.dispatcher.observed_events().await;
    assert_eq!(detail_types(&events), ["Destination Connection Failed"]);
    let event = &events[0];
    assert_eq!(event["source"], "destinations");
    assert_eq!(event["resources"], json!([format!("destination/{id}")]));
    let detail = &event["detail"];
    let keys: Vec<&str> = detail
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "eventId",
            "tenantId",
            "destinationId",
            "destinationName",
            "category",
            "firstFailureAt",
            "occurredAt"
        ]
    );
    assert_eq!(detail["tenantId"], support::api::TENANT);
    assert_eq!(detail["destinationId"], id.as_str());
    assert_eq!(detail["destinationName"], "Raw");
    assert_eq!(detail["category"], "putAccessDenied");
    assert_eq!(detail["eventId"], format!("{id}/{}", failing["version"]));
    // AND the outbox is empty again
    assert_eq!(outbox_entries(&world).await, 0);
    // WHEN the customer puts the policy back and it is re-validated
    customer
        .put_bucket_policy(&bucket, &world.api().document(&id, "bucketPolicy").await)
        .await;
    revalidate_now(&world, &id).await;
    world.settle().await;
    // THEN it is verified again, with one Restored event naming what it recovered from
    let restored = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(restored["status"], "verified");
    let events = world.dispatcher.observed_events().await;
    assert_eq!(detail_types(&events), ["Destination Connection Restored"]);
    assert_eq!(events[0]["detail"]["category"], "putAccessDenied");
    assert_eq!(
        events[0]["detail"]["firstFailureAt"],
        detail["firstFailureAt"]
    );
    // AND the activity shows both status changes, by the service
    let activity = world
        .api()
        .get(&format!("/destinations/{id}/activity"))
        .await
        .json();
    let changes: Vec<(Value, Value)> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "statusChanged")
        .map(|e| (e["to"].clone(), e["actor"].clone()))
        .collect();
    assert_eq!(
        changes,
        [
            (json!("verified"), json!("service:revalidation")),
            (json!("failing"), json!("service:revalidation"))
        ]
    );
}

/// Unpublished events left in the table.
pub async fn outbox_entries(world: &World) -> usize {
    world
        .dynamodb()
        .query()
        .table_name(&world.platform.table)
        .index_name("ByNextCheck")
        .key_condition_expression("GSI2PK = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("OUTBOX".into()),
        )
        .send()
        .await
        .unwrap()
        .count as usize
}

#[tokio::test]
async fn a_pending_change_is_not_re_validated_and_its_save_is() {
    // GIVEN a saved destination with a pending change to a bucket that does not exist
    let world = World::new().await;
    let (id, _, bucket) = saved_destination(&world).await;
    world.settle().await;
    world
        .api()
        .patch(&id, json!({"bucket": unique("nowhere")}))
        .await
        .expect(200);
    // WHEN re-validation runs
    revalidate_now(&world, &id).await;
    world.settle().await;
    // THEN it checked the active configuration, which still works
    let current = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(current["status"], "verified");
    assert_eq!(current["lastCheck"]["passed"], true);
    assert_eq!(current["active"]["bucket"], bucket.as_str());
    assert_eq!(current["hasPendingChanges"], true);
    assert!(world.dispatcher.observed_events().await.is_empty());
    // AND discarding the change leaves deliveries where they were
    let discarded = world
        .api()
        .send(support::api::request(
            "POST",
            &format!("/destinations/{id}/discard"),
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(discarded["bucket"], bucket.as_str());
}

#[tokio::test]
async fn a_save_of_a_changed_configuration_is_re_checked_from_the_stream() {
    let world = World::new().await;
    let (id, customer, _) = saved_destination(&world).await;
    world.settle().await;
    // GIVEN a new bucket of the same customer, with the rendered policy
    let moved = unique("moved");
    customer.create_bucket(&moved).await;
    world
        .api()
        .patch(&id, json!({"bucket": moved}))
        .await
        .expect(200);
    customer
        .put_bucket_policy(&moved, &world.api().document(&id, "bucketPolicy").await)
        .await;
    world.api().test(&id).await.expect(200);
    let before = world.api().save(&id).await.expect(200).json();
    // WHEN the stream hands the Save to the on-change function
    let pumped = world.settle().await;
    // THEN one check of the new active configuration ran
    assert_eq!(pumped.messages, 1, "{pumped:?}");
    let after = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(after["lastCheck"]["passed"], true);
    assert_eq!(
        after["lastCheck"]["configVersion"],
        before["active"]["configVersion"]
    );
    assert_eq!(
        customer.object_keys(&moved).await,
        [format!("in/.connection-test-{id}")]
    );
}

#[tokio::test]
async fn the_scheduler_reads_the_due_index_past_its_first_page() {
    // GIVEN 501 saved destinations due now, all in one shard (a page is 500)
    let world = World::new().await;
    let mut stored = 0;
    while stored < 501 {
        let id = shared::domain::DestinationId::generate();
        if shared::domain::revalidation::due_shard(&id) != 0 {
            continue;
        }
        let destination =
            shared::testing::DestinationBuilder::new(shared::domain::AuthModeKind::BucketPolicy)
                .id(id.as_str())
                .saved();
        let activity = shared::domain::ActivityEntry {
            at: shared::testing::NOW,
            actor: shared::domain::Actor::new("fixture").unwrap(),
            activity: shared::domain::Activity::Created,
            version: 1,
        };
        let record = shared::ports::NewRecord {
            destination: &destination,
            activity: &activity,
            idempotency: None,
            cap: 1000,
        };
        shared::ports::DestinationRepository::create(world.store(), record)
            .await
            .unwrap();
        stored += 1;
    }
    // WHEN the schedule fires
    let answer = world.dispatcher.run_schedule(&world.services).await;
    // THEN every one of them is queued, once
    assert_eq!(answer["queued"], 501);
    let waiting = world
        .queue_attribute(
            &world.platform.queue_url,
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
        )
        .await;
    assert_eq!(waiting, "501");
}

#[tokio::test]
async fn a_check_message_that_can_never_be_handled_ends_in_the_dead_letter_queue() {
    // GIVEN an unreadable message on the re-validation queue, whose redrive policy comes from
    // template.yaml
    let world = World::new().await;
    let template = dev_support::template::template();
    let max_receives = dev_support::template::resource(&template, "RevalidationQueue")["Properties"]
        ["RedrivePolicy"]["maxReceiveCount"]
        .as_u64()
        .unwrap() as usize;
    let sqs = world.platform.account.sqs();
    sqs.send_message()
        .queue_url(&world.platform.queue_url)
        .message_body("not a re-validation request")
        .send()
        .await
        .unwrap();
    // WHEN the worker fails it as often as it is handed over
    let mut handed = 0;
    for _ in 0..max_receives * 2 {
        handed += world.dispatcher.pump_queue(&world.services).await;
    }
    // THEN it was tried exactly the template's number of times and waits, unchanged, in the
    // dead-letter queue
    assert_eq!(handed, max_receives);
    assert_eq!(
        world
            .message_bodies(&world.platform.dead_letter_queue_url)
            .await,
        ["not a re-validation request"]
    );
}

#[tokio::test]
async fn check_now_shows_a_repaired_destination_verified_at_once() {
    // GIVEN a saved destination whose customer removed the bucket policy
    let world = World::new().await;
    let (id, customer, bucket) = saved_destination(&world).await;
    let policy = world.api().document(&id, "bucketPolicy").await;
    customer.delete_bucket_policy(&bucket).await;
    let api = world.api();
    // WHEN the user checks it now
    let failed = api.check_now(&id).await.expect(200).json();
    // THEN it is failing at once, for the denied write
    assert_eq!(failed["status"], "failing");
    assert_eq!(failed["category"], "putAccessDenied");
    // WHEN the customer puts the policy back and checks again
    customer.put_bucket_policy(&bucket, &policy).await;
    let passed = api.check_now(&id).await.expect(200).json();
    // THEN it is verified at once, as the destination itself says, and the stream carries both
    // transitions' events to the bus
    assert_eq!(passed["status"], "verified");
    assert_eq!(passed["passed"], true);
    let shown = world.api().get(&format!("/destinations/{id}")).await.json();
    assert_eq!(shown["status"], "verified");
    world.settle().await;
    let events = world.dispatcher.observed_events().await;
    assert_eq!(
        detail_types(&events),
        [
            "Destination Connection Failed",
            "Destination Connection Restored"
        ]
    );
}
