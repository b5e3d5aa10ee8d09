//! Re-validation end to end against the emulator: the due index, the SQS queue, the worker, statuses
//! and events, at the scale of one scheduled run over 1,000 destinations.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use time::OffsetDateTime;

use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::memory::RecordingPublisher;
use shared::adapters::sqs::SqsQueue;
use shared::domain::*;
use shared::ports::DestinationStore;
use shared::revalidation::{
    Checker, ConnectionEvent, ConnectionEventKind, RevalidationSettings, enqueue_due,
};
use support::accounts::{Account, unique};
use support::api::{at, body};
use support::events::api_request;
use support::fixtures;
use support::world::{World, quick_settings};

async fn create_queue(world: &World) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&world.platform.account.admin);
    let url = sqs
        .create_queue()
        .queue_name(unique("revalidation"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (sqs, url)
}

/// Receives everything on the queue and feeds it to the worker ten at a time, deleting what it
/// handled, as the Lambda event source mapping would.
async fn drain_through_worker<P: shared::ports::EventPublisher>(
    world: &World,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    publisher: &P,
    concurrency: usize,
) -> usize {
    let prober = world.prober();
    let principals = world.platform.principals();
    let checker = Checker {
        store: world.store.as_ref(),
        prober: &prober,
        publisher,
        principals: &principals,
        test_settings: quick_settings(),
        settings: RevalidationSettings::default(),
    };
    let mut handled = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return handled;
        }
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut message = SqsMessage::default();
                message.message_id = m.message_id.clone();
                message.body = m.body.clone();
                message
            })
            .collect();
        let response = revalidate_worker::handler::handle(&checker, concurrency, event).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
        for m in &messages {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
        handled += messages.len();
    }
}

async fn create_and_save(world: &World, bucket: &str, folder: &str) -> String {
    let mut request = api_request("destinations-create-bucket-policy.json");
    request.body =
        json!({"name": folder, "bucket": bucket, "folder": folder, "authMode": "bucketPolicy"})
            .to_string()
            .into_bytes();
    let created = destinations_api::handler::handle(&world.destinations_app(), request).await;
    assert_eq!(created.status, 201, "{}", created.body);
    body(&created)["id"].as_str().unwrap().to_owned()
}

async fn test_and_save(world: &World, id: &str) {
    let tested = test_connection::handler::handle(
        &world.test_connection_app(quick_settings()),
        at("connection-test.json", id),
    )
    .await;
    assert_eq!(body(&tested)["passed"], true, "{}", tested.body);
    let saved = destinations_api::handler::handle(
        &world.destinations_app(),
        at("destinations-save.json", id),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

fn statement_for(world: &World, bucket: &str, folder: &str) -> Value {
    json!({"Sid": folder.replace('-', ""), "Effect": "Allow", "Principal": {"AWS": world.platform.principal_arn},
           "Action": ["s3:PutObject", "s3:PutObjectAcl"], "Resource": format!("arn:aws:s3:::{bucket}/{folder}/*"),
           "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}})
}

async fn stored(world: &World, id: &str) -> Destination {
    world
        .store
        .get(
            &TenantId::new("tenant-a").unwrap(),
            &DestinationId::new(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn one_scheduled_run_checks_exactly_the_saved_destinations_and_raises_one_event_per_transition()
 {
    // GIVEN healthy, broken, draft and deleted destinations on a customer's bucket
    let world = World::new().await;
    let customer = Account::create().await;
    let bucket = unique("reval-bucket");
    customer.create_bucket(&bucket).await;
    let both = json!({"Version": "2012-10-17", "Statement": [statement_for(&world, &bucket, "healthy"), statement_for(&world, &bucket, "broken"), statement_for(&world, &bucket, "deleted")]});
    customer.put_bucket_policy(&bucket, &both.to_string()).await;
    let healthy = create_and_save(&world, &bucket, "healthy").await;
    test_and_save(&world, &healthy).await;
    let broken = create_and_save(&world, &bucket, "broken").await;
    test_and_save(&world, &broken).await;
    let deleted = create_and_save(&world, &bucket, "deleted").await;
    test_and_save(&world, &deleted).await;
    assert_eq!(
        destinations_api::handler::handle(
            &world.destinations_app(),
            at("destinations-delete.json", &deleted)
        )
        .await
        .status,
        204
    );
    let draft = create_and_save(&world, &bucket, "draft").await;
    // The customer then edits the bucket policy and drops the "broken" folder's statement
    let only_healthy =
        json!({"Version": "2012-10-17", "Statement": [statement_for(&world, &bucket, "healthy")]});
    customer
        .put_bucket_policy(&bucket, &only_healthy.to_string())
        .await;

    // WHEN the scheduler runs and the worker drains the queue
    let (sqs, url) = create_queue(&world).await;
    let queue = SqsQueue::new(sqs.clone(), url.clone());
    let queued = enqueue_due(world.store.as_ref(), &queue, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let publisher = RecordingPublisher::default();
    let handled = drain_through_worker(&world, &sqs, &url, &publisher, 4).await;

    // THEN exactly the two saved, live destinations were checked
    assert_eq!((queued, handled), (2, 2));
    assert_eq!(stored(&world, &healthy).await.status, Status::Verified);
    let broken_now = stored(&world, &broken).await;
    assert_eq!(broken_now.status, Status::Failing);
    assert_eq!(
        broken_now.latest_test.unwrap().category,
        Some(shared::domain::connection_test::FailureCategory::PutAccessDenied)
    );
    assert!(
        stored(&world, &draft).await.latest_test.is_none(),
        "drafts are never re-tested"
    );
    // AND one event, for the one transition
    let events: Vec<(ConnectionEventKind, String)> = publisher
        .events()
        .into_iter()
        .map(|e| (e.kind, e.destination_id.to_string()))
        .collect();
    assert_eq!(events, [(ConnectionEventKind::Failed, broken.clone())]);
    // AND a second run right away finds nothing due
    assert_eq!(
        enqueue_due(world.store.as_ref(), &queue, OffsetDateTime::now_utc())
            .await
            .unwrap(),
        0
    );

    // AND a duplicate delivery of a message already handled changes nothing
    let healthy_after = stored(&world, &healthy).await;
    let duplicate = shared::revalidation::RevalidationRequest {
        version: healthy_after.version - 1,
        ..shared::revalidation::RevalidationRequest::for_destination(&healthy_after)
    };
    use shared::ports::RevalidationQueue;
    queue.enqueue(&[duplicate]).await.unwrap();
    assert_eq!(
        drain_through_worker(&world, &sqs, &url, &publisher, 4).await,
        1
    );
    assert_eq!(stored(&world, &healthy).await, healthy_after);
    assert_eq!(publisher.events().len(), 1);
}

#[tokio::test]
async fn a_role_change_on_a_saved_destination_is_retested_from_the_stream_record() {
    // GIVEN a saved IAM-role destination
    let world = World::new().await;
    let bucket = unique("change-bucket");
    let customer = world.platform.customer_role_account();
    customer.create_bucket(&bucket).await;
    let mut request = api_request("destinations-create-iam-role.json");
    request.headers.retain(|(k, _)| k != "idempotency-key");
    request.body = json!({"name": "Lake", "bucket": bucket, "authMode": "iamRole"})
        .to_string()
        .into_bytes();
    let id =
        body(&destinations_api::handler::handle(&world.destinations_app(), request).await)["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let rendered = body(
        &policies_api::handler::handle(&world.policies_app(), at("policies-get.json", &id)).await,
    );
    let doc = |kind: &str| {
        rendered["documents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first_role = customer
        .create_role(
            &unique("writer"),
            &doc("trustPolicy"),
            Some(&doc("permissionsPolicy")),
        )
        .await;
    let second_role = customer
        .create_role(
            &unique("writer-v2"),
            &doc("trustPolicy"),
            Some(&doc("permissionsPolicy")),
        )
        .await;
    let mut patch = at("destinations-patch.json", &id);
    patch.headers.retain(|(k, _)| k != "if-match");
    patch.body = json!({"roleArn": first_role}).to_string().into_bytes();
    assert_eq!(
        destinations_api::handler::handle(&world.destinations_app(), patch.clone())
            .await
            .status,
        200
    );
    test_and_save(&world, &id).await;

    // WHEN the role ARN is changed, and the table's stream delivers the change
    let raw_item = |world: &World| {
        let key = HashMap::from([
            (
                "PK".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S("TENANT#tenant-a".into()),
            ),
            (
                "SK".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S(format!("DESTINATION#{id}")),
            ),
        ]);
        let client = world.platform.account.dynamodb();
        let table = world.table.clone();
        async move {
            client
                .get_item()
                .table_name(table)
                .set_key(Some(key))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let old_image = raw_item(&world).await;
    patch.body = json!({"roleArn": second_role}).to_string().into_bytes();
    assert_eq!(
        destinations_api::handler::handle(&world.destinations_app(), patch)
            .await
            .status,
        200
    );
    let new_image = raw_item(&world).await;
    let mut record = EventRecord::default();
    record.event_name = "MODIFY".into();
    record.change.old_image = serde_dynamo::Item::from(old_image);
    record.change.new_image = serde_dynamo::Item::from(new_image);
    let mut stream = StreamEvent::default();
    stream.records = vec![record];
    let (sqs, url) = create_queue(&world).await;
    let queued =
        revalidate_on_change::handler::handle(&SqsQueue::new(sqs.clone(), url.clone()), stream)
            .await
            .unwrap();

    // THEN it is queued, re-tested with the new role, and verified again without any event
    assert_eq!(queued, 1);
    let publisher = RecordingPublisher::default();
    assert_eq!(
        drain_through_worker(&world, &sqs, &url, &publisher, 1).await,
        1
    );
    let now = stored(&world, &id).await;
    assert_eq!(
        now.role_arn().map(|r| r.as_str().to_owned()),
        Some(second_role)
    );
    assert_eq!(now.status, Status::Verified);
    assert!(now.latest_test.unwrap().passed);
    assert!(publisher.events().is_empty());
}

#[tokio::test]
async fn events_are_accepted_by_the_event_bus() {
    let world = World::new().await;
    let events = aws_sdk_eventbridge::Client::new(&world.platform.account.admin);
    let bus = unique("destinations-bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let publisher = EventBridgePublisher::new(events, bus);
    let event = ConnectionEvent {
        kind: ConnectionEventKind::Failed,
        tenant_id: TenantId::new("tenant-a").unwrap(),
        destination_id: DestinationId::generate(),
        destination_name: "Lake".into(),
        category: Some(shared::domain::connection_test::FailureCategory::BucketNotFound),
        first_failure_at: OffsetDateTime::now_utc(),
        occurred_at: OffsetDateTime::now_utc(),
    };
    use shared::ports::EventPublisher;
    publisher.publish(&event).await.unwrap();
}

#[tokio::test]
async fn one_scheduled_run_revalidates_a_thousand_destinations() {
    // GIVEN 1,000 saved destinations writing to one folder the bucket policy grants us
    const N: usize = 1000;
    let world = Arc::new(World::new().await);
    let customer = Account::create().await;
    let bucket = unique("scale-bucket");
    customer.create_bucket(&bucket).await;
    let policy =
        json!({"Version": "2012-10-17", "Statement": [statement_for(&world, &bucket, "shared")]});
    customer
        .put_bucket_policy(&bucket, &policy.to_string())
        .await;
    let now = OffsetDateTime::now_utc();
    let mut creations = Vec::new();
    for chunk in 0..N / 50 {
        let store: Arc<DynamoDbStore> = world.store.clone();
        let bucket = bucket.clone();
        creations.push(tokio::spawn(async move {
            for _ in 0..50 {
                let d = fixtures::destination(AuthModeKind::BucketPolicy, &bucket, "shared")
                    .tenant(&format!("tenant-{chunk}"))
                    .saved_at(now);
                store.create(&d, None).await.unwrap();
            }
        }));
    }
    for creation in creations {
        creation.await.unwrap();
    }

    // WHEN one scheduled run queues them and workers drain the queue, 8 checks at a time
    let (sqs, url) = create_queue(&world).await;
    let queue = SqsQueue::new(sqs.clone(), url.clone());
    let queued = enqueue_due(world.store.as_ref(), &queue, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let publisher = RecordingPublisher::default();
    let handled = drain_through_worker(&world, &sqs, &url, &publisher, 8).await;

    // THEN every one was checked once and passed
    assert_eq!((queued, handled), (N, N));
    assert_eq!(
        enqueue_due(world.store.as_ref(), &queue, OffsetDateTime::now_utc())
            .await
            .unwrap(),
        0
    );
    assert!(publisher.events().is_empty());
}
