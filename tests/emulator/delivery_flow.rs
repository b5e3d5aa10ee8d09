//! Deliveries end to end on the platform built from template.yaml: an exporter stages a file and
//! asks (on the IAM-authorized route, or through the delivery queue), the deliver function takes
//! the queue's message and writes through the identity Test Connection proved, and the tenant
//! reads the record.

use serde_json::{Value, json};
use shared::domain::delivery::RetryPolicy;
use support::api::TENANT;
use support::world::World;

use crate::deliveries::{
    pattern, read_back, saved_bucket_policy_destination, saved_role_destination, uploads_left,
};

fn ask(world: &World, destination: &str, delivery: &str, staged_key: &str) -> Value {
    json!({
        "tenantId": TENANT,
        "destinationId": destination,
        "deliveryId": delivery,
        "source": {"bucket": world.platform.staging_bucket, "key": staged_key},
        "name": "orders.csv"
    })
}

async fn delivery(world: &World, destination: &str, delivery: &str) -> Value {
    world
        .api()
        .get(&format!(
            "/destinations/{destination}/deliveries/{delivery}"
        ))
        .await
        .expect(200)
        .json()
}

#[tokio::test]
async fn a_staged_file_reaches_a_role_destination_once_however_often_it_is_asked_for() {
    // GIVEN a saved role-mode destination and a 17 MiB file in the staging bucket
    let world = World::new().await;
    let (id, bucket) = saved_role_destination(&world).await;
    let account = world.customer_role_account();
    let file = pattern(17 * 1024 * 1024 + 5);
    world.stage("tenant-a/export-1.csv", file.clone()).await;
    // WHEN the exporter asks for its delivery and the queue's message reaches the function
    let asked = world
        .api()
        .request_delivery(ask(&world, &id, "export-1", "tenant-a/export-1.csv"))
        .await
        .expect(202)
        .json();
    assert_eq!(asked["status"], "queued");
    let pumped = world.settle().await;
    assert_eq!(pumped.delivery_messages, 1);
    // THEN the record says delivered, and the object is the file, byte for byte, in parts
    let delivered = delivery(&world, &id, "export-1").await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["attempts"], 1);
    assert_eq!(delivered["bytes"], file.len());
    let key = delivered["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("exports/") && key.ends_with("/export-1-orders.csv"),
        "{key}"
    );
    assert!(read_back(account, &bucket, &key).await == file);
    assert_eq!(uploads_left(account, &bucket).await, 0);
    // (a multipart ETag counts its parts: 8 MiB parts)
    let etag = delivered["etag"].as_str().unwrap();
    assert!(etag.trim_matches('"').ends_with("-3"), "{etag}");
    assert!(
        delivered["checksum"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    // WHEN it is asked for again with the same file, and with another
    let again = world
        .api()
        .request_delivery(ask(&world, &id, "export-1", "tenant-a/export-1.csv"))
        .await
        .expect(200)
        .json();
    assert_eq!(again["status"], "delivered");
    world
        .api()
        .request_delivery(ask(&world, &id, "export-1", "tenant-a/other.csv"))
        .await
        .expect_problem(409, "delivery-conflict");
    // THEN nothing more was queued or written: one object besides the connection test's
    assert_eq!(world.settle().await.delivery_messages, 0);
    let mut keys = account.object_keys(&bucket).await;
    keys.sort();
    assert_eq!(keys, [format!("exports/.connection-test-{id}"), key]);
    // AND another tenant naming this destination finds nothing
    let mut foreign = ask(&world, &id, "export-2", "tenant-a/export-1.csv");
    foreign["tenantId"] = json!("tenant-b");
    world.api().request_delivery(foreign).await.expect(404);
}

#[tokio::test]
async fn a_request_sent_to_the_queue_is_delivered_into_a_bucket_policy_destination() {
    // GIVEN a saved bucket-policy destination and a 1-byte staged file
    let world = World::new().await;
    let (id, bucket, customer) = saved_bucket_policy_destination(&world).await;
    world.stage("tenant-a/tiny.bin", pattern(1)).await;
    // WHEN an exporter sends the whole request to the delivery queue (fire and forget)
    world
        .platform
        .account
        .sqs()
        .send_message()
        .queue_url(&world.platform.delivery_queue_url)
        .message_body(ask(&world, &id, "tiny-1", "tenant-a/tiny.bin").to_string())
        .send()
        .await
        .unwrap();
    world.settle().await;
    // THEN it is stored, delivered through the destination's own writer session, and the record
    // names the queue's sender
    let delivered = delivery(&world, &id, "tiny-1").await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert!(
        delivered["requestedBy"]
            .as_str()
            .unwrap()
            .starts_with("platform:queue:"),
        "{delivered}"
    );
    let key = delivered["key"].as_str().unwrap();
    assert_eq!(read_back(&customer, &bucket, key).await, [0u8]);
    // (one PutObject: a plain ETag)
    assert!(
        !delivered["etag"].as_str().unwrap().contains('-'),
        "{delivered}"
    );
}

#[tokio::test]
async fn a_bucket_that_stopped_granting_us_is_retried_then_parked_with_an_event_and_gets_nothing() {
    // GIVEN a saved bucket-policy destination whose customer then removes the bucket policy, and
    // a retry policy of two attempts without backoff
    let mut world = World::new().await;
    world.services.deliver.retry = RetryPolicy {
        max_attempts: 2,
        first_backoff: time::Duration::ZERO,
        max_backoff: time::Duration::ZERO,
    };
    let (id, bucket, customer) = saved_bucket_policy_destination(&world).await;
    world.settle().await;
    world.dispatcher.observed_events().await;
    customer.delete_bucket_policy(&bucket).await;
    world
        .stage("tenant-a/big.bin", pattern(17 * 1024 * 1024))
        .await;
    // WHEN a multipart file is asked for
    world
        .api()
        .request_delivery(ask(&world, &id, "big-1", "tenant-a/big.bin"))
        .await
        .expect(202);
    world.settle().await;
    // THEN the first attempt failed and waits for its retry
    let failed = delivery(&world, &id, "big-1").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failureCategory"], "putAccessDenied");
    // WHEN the sweep finds it due and the retry fails too
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(2);
    assert_eq!(
        world
            .dispatcher
            .run_delivery_sweep(&world.services, later)
            .await,
        1
    );
    world.settle().await;
    // THEN it is parked, one Delivery Failed event names it and its category, and nothing was
    // written nor left open
    let parked = delivery(&world, &id, "big-1").await;
    assert_eq!(parked["status"], "parked", "{parked}");
    assert_eq!(parked["attempts"], 2);
    let events: Vec<Value> = world
        .dispatcher
        .observed_events()
        .await
        .into_iter()
        .filter(|e| e["detail-type"] == "Delivery Failed")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(parked["failureCategory"], "putAccessDenied", "{parked}");
    assert_eq!(events[0]["detail"]["deliveryId"], "big-1");
    assert_eq!(events[0]["detail"]["category"], "putAccessDenied");
    assert_eq!(
        customer.object_keys(&bucket).await,
        [format!("incoming/.connection-test-{id}")]
    );
    assert_eq!(uploads_left(&customer, &bucket).await, 0);
    // AND a parked delivery is not swept again
    assert_eq!(
        world
            .dispatcher
            .run_delivery_sweep(&world.services, later + time::Duration::hours(1))
            .await,
        0
    );
}

#[tokio::test]
async fn a_pending_change_never_receives_a_delivery() {
    // GIVEN a saved bucket-policy destination with a pending change to another bucket the
    // platform could also write to
    let world = World::new().await;
    let (id, bucket, customer) = saved_bucket_policy_destination(&world).await;
    let pending_bucket = dev_support::accounts::unique("pending");
    customer.create_bucket(&pending_bucket).await;
    world
        .api()
        .patch(
            &id,
            json!({"bucket": pending_bucket, "folder": "elsewhere"}),
        )
        .await
        .expect(200);
    let policy = world.api().document(&id, "bucketPolicy").await;
    customer
        .put_bucket_policy(
            &pending_bucket,
            &dev_support::platform::customer_document(&policy),
        )
        .await;
    world.stage("tenant-a/a.csv", pattern(3)).await;
    // WHEN a delivery is asked for
    world
        .api()
        .request_delivery(ask(&world, &id, "a-1", "tenant-a/a.csv"))
        .await
        .expect(202);
    world.settle().await;
    // THEN it went to the active bucket and folder; the pending bucket got nothing
    let delivered = delivery(&world, &id, "a-1").await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    let key = delivered["key"].as_str().unwrap();
    assert!(key.starts_with("incoming/"), "{key}");
    assert_eq!(
        read_back(&customer, &bucket, key).await,
        pattern(3).to_vec()
    );
    assert!(customer.object_keys(&pending_bucket).await.is_empty());
}

#[tokio::test]
async fn a_queued_request_that_can_never_be_accepted_ends_in_the_dead_letter_queue() {
    // GIVEN a request for a destination that does not exist, sent to the delivery queue
    let world = World::new().await;
    let sqs = world.platform.account.sqs();
    let body = ask(
        &world,
        "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e",
        "lost-1",
        "tenant-a/x.csv",
    )
    .to_string();
    sqs.send_message()
        .queue_url(&world.platform.delivery_queue_url)
        .message_body(&body)
        .send()
        .await
        .unwrap();
    // WHEN the function fails it as often as the template's redrive policy allows
    let mut handed = 0;
    for _ in 0..10 {
        handed += world.dispatcher.pump_deliveries(&world.services).await;
    }
    // THEN it was tried that many times and now waits in the dead-letter queue, unchanged
    assert_eq!(handed, 5);
    assert_eq!(
        world
            .message_bodies(&world.platform.delivery_dead_letter_queue_url)
            .await,
        [body]
    );
}

/// Vends credentials for `id` as the exporter, and an S3 client that uses them.
async fn vended(world: &World, id: &str) -> (Value, aws_sdk_s3::Client) {
    use support::api::RequestExt;
    let vended = world
        .api()
        .send(
            support::api::request("POST", &format!("/internal/destinations/{id}/credentials"))
                .platform()
                .json(json!({"tenantId": TENANT})),
        )
        .await
        .expect(200)
        .json();
    let credentials = aws_credential_types::Credentials::new(
        vended["accessKeyId"].as_str().unwrap(),
        vended["secretAccessKey"].as_str().unwrap(),
        Some(vended["sessionToken"].as_str().unwrap().to_owned()),
        None,
        "vended",
    );
    let config =
        dev_support::accounts::sdk_config(dev_support::emulator::emulator(), credentials, false)
            .await;
    (vended, dev_support::accounts::s3_client(&config))
}

/// What a put with the vended session and `acl` (and the expected owner) gets from S3.
async fn put_as(
    s3: &aws_sdk_s3::Client,
    vended: &Value,
    key: &str,
    acl: bool,
) -> Result<(), String> {
    let mut put = s3
        .put_object()
        .bucket(vended["bucket"].as_str().unwrap())
        .key(key)
        .body(bytes::Bytes::from_static(b"x").into())
        .set_expected_bucket_owner(vended["expectedBucketOwner"].as_str().map(str::to_owned));
    if acl {
        put = put.acl(aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl);
    }
    put.send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}", e.into_service_error()))
}

/// Vended credentials write the folder with the owner ACL, and nothing else; they cannot read.
async fn assert_vended_session_is_fenced(s3: &aws_sdk_s3::Client, vended: &Value) {
    let prefix = vended["keyPrefix"].as_str().unwrap();
    // It writes under the folder with the ACL.
    put_as(s3, vended, &format!("{prefix}vended.csv"), true)
        .await
        .unwrap();
    // Nothing else: outside the folder, without the ACL, or a read.
    let outside = put_as(s3, vended, "elsewhere/vended.csv", true).await;
    assert!(outside.unwrap_err().contains("AccessDenied"));
    let no_acl = put_as(s3, vended, &format!("{prefix}no-acl.csv"), false).await;
    assert!(no_acl.unwrap_err().contains("AccessDenied"));
    let read = s3
        .get_object()
        .bucket(vended["bucket"].as_str().unwrap())
        .key(format!("{prefix}vended.csv"))
        .send()
        .await;
    assert!(read.is_err(), "vended credentials read an object");
    // And they expire within STS's role-chaining hour (we ask for fifteen minutes).
    let expiration = time::OffsetDateTime::parse(
        vended["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expiration - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::ZERO && left <= time::Duration::minutes(15),
        "{left}"
    );
}

#[tokio::test]
async fn vended_credentials_write_only_the_folder_with_the_owner_acl_in_both_modes() {
    // GIVEN a saved destination in each mode
    let world = World::new().await;
    let (role_id, role_bucket) = saved_role_destination(&world).await;
    let (policy_id, policy_bucket, customer) = saved_bucket_policy_destination(&world).await;
    for (id, bucket, owner) in [
        (&role_id, &role_bucket, world.customer_role_account()),
        (&policy_id, &policy_bucket, &customer),
    ] {
        // WHEN the exporter takes a session for it
        let (vended, s3) = vended(&world, id).await;
        assert_eq!(vended["bucket"], bucket.as_str());
        // THEN the session is fenced to the folder and the ACL, and expires
        assert_vended_session_is_fenced(&s3, &vended).await;
        let prefix = vended["keyPrefix"].as_str().unwrap();
        assert!(
            owner
                .object_keys(bucket)
                .await
                .contains(&format!("{prefix}vended.csv"))
        );
        // AND the vending is in the destination's activity
        let activity = world
            .api()
            .get(&format!("/destinations/{id}/activity"))
            .await
            .expect(200)
            .json();
        assert_eq!(activity["items"][0]["action"], "credentialsVended");
    }
    // AND a session of one destination cannot write into the other's bucket
    let (vended_role, s3) = vended(&world, &role_id).await;
    let mut other = vended_role.clone();
    other["bucket"] = json!(policy_bucket);
    other["expectedBucketOwner"] = json!(customer.id);
    let crossed = put_as(&s3, &other, "incoming/crossed.csv", true).await;
    assert!(crossed.unwrap_err().contains("AccessDenied"));
}

/// A staged file whose reader stops forever after `stop_after` bytes: the worker reading it
/// never finishes, as if its Lambda had died mid-upload.
struct Hanging {
    bytes: bytes::Bytes,
    stop_after: usize,
}

struct HangingSource {
    rest: bytes::Bytes,
    size: u64,
    left_before_hang: usize,
}

impl shared::ports::StagedFiles for Hanging {
    type Source = HangingSource;

    async fn open(
        &self,
        _: &shared::domain::delivery::StagedSource,
    ) -> Result<HangingSource, shared::ports::SourceError> {
        Ok(HangingSource {
            rest: self.bytes.clone(),
            size: self.bytes.len() as u64,
            left_before_hang: self.stop_after,
        })
    }
}

impl shared::ports::ObjectSource for HangingSource {
    fn size(&self) -> u64 {
        self.size
    }

    async fn next_chunk(&mut self, max: usize) -> Result<bytes::Bytes, shared::ports::SourceError> {
        if self.left_before_hang == 0 {
            std::future::pending::<()>().await;
        }
        let take = max.min(self.left_before_hang).min(self.rest.len());
        self.left_before_hang -= take;
        Ok(self.rest.split_to(take))
    }
}

/// The deliver function's own deliverer, reading staged files from `staged`.
fn deliverer<'a, F: shared::ports::StagedFiles>(
    worker: &'a deliver::Worker,
    staged: &'a F,
) -> shared::app::delivery::Deliverer<
    'a,
    shared::adapters::dynamodb::DynamoDbStore,
    shared::adapters::aws_writer::AwsWriter,
    F,
> {
    shared::app::delivery::Deliverer {
        store: &worker.store,
        writer: &worker.writer,
        staged,
        platform: &worker.platform,
        stream: worker.stream,
        retry: worker.retry,
        lease: deliver::lease(worker.budget),
        budget: worker.budget,
    }
}

#[tokio::test]
async fn a_worker_lost_between_parts_is_taken_over_and_leaves_no_upload_behind() {
    use shared::app::delivery::DeliverOutcome;
    use shared::domain::delivery::{DeliveryId, DeliveryRef};
    // GIVEN a saved role-mode destination and a 17 MiB delivery asked for
    let world = World::new().await;
    let (id, bucket) = saved_role_destination(&world).await;
    let account = world.customer_role_account();
    let file = pattern(17 * 1024 * 1024);
    world
        .api()
        .request_delivery(ask(&world, &id, "crash-1", "tenant-a/crash.bin"))
        .await
        .expect(202);
    let reference = DeliveryRef {
        tenant_id: shared::domain::TenantId::new(TENANT).unwrap(),
        destination_id: shared::domain::DestinationId::new(&id).unwrap(),
        delivery_id: DeliveryId::new("crash-1").unwrap(),
    };
    let worker = &world.services.deliver;
    // WHEN its worker stops for good after the first part (its function died)
    let hanging = Hanging {
        bytes: file.clone(),
        stop_after: 9 * 1024 * 1024,
    };
    let lost = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        Box::pin(deliverer(worker, &hanging).deliver(&reference, time::OffsetDateTime::now_utc())),
    )
    .await;
    assert!(lost.is_err(), "the first attempt never ends");
    // THEN its upload is open and recorded, and the delivery is held by the lost attempt
    assert_eq!(uploads_left(account, &bucket).await, 1);
    let held = delivery(&world, &id, "crash-1").await;
    assert_eq!(held["status"], "delivering");
    let staged = shared::testing::memory::InMemoryStaging::with("tenant-a/crash.bin", file.clone());
    let early =
        Box::pin(deliverer(worker, &staged).deliver(&reference, time::OffsetDateTime::now_utc()))
            .await
            .unwrap();
    assert!(
        matches!(early, DeliverOutcome::Skipped(_)),
        "a live lease is not taken over: {early:?}"
    );
    // WHEN another worker comes after the lease has run out
    let later = time::OffsetDateTime::now_utc() + deliver::lease(worker.budget);
    let retried = Box::pin(deliverer(worker, &staged).deliver(&reference, later))
        .await
        .unwrap();
    // THEN it aborts the lost upload, delivers the whole file, and nothing is left open
    assert!(
        matches!(retried, DeliverOutcome::Attempted(_)),
        "{retried:?}"
    );
    let delivered = delivery(&world, &id, "crash-1").await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["attempts"], 2);
    assert!(read_back(account, &bucket, delivered["key"].as_str().unwrap()).await == file);
    assert_eq!(uploads_left(account, &bucket).await, 0);
}
