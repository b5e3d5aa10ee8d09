//! Deliveries' write path against the emulator: the identity Test Connection proved, streamed in
//! one PutObject or in parts, checked by S3 against a full-object checksum, read back whole.

use std::time::Duration;

use dev_support::accounts::{Account, unique};
use serde_json::json;
use shared::app::delivery::{DeliveryWriteError, write_object};
use shared::app::writer::{
    Deadline, MIN_PART_SIZE, StreamFailure, StreamSettings, Streamed, Upload,
};
use shared::domain::{Destination, DestinationId, TenantId};
use shared::ports::{DestinationRepository, InMemorySource};
use support::api::{TENANT, verdict};
use support::world::World;

/// Anything over 1 KiB goes in 5 MiB parts, two at a time.
fn small_parts() -> StreamSettings {
    StreamSettings {
        single_put_limit: 1024,
        part_size: MIN_PART_SIZE,
        concurrency: 2,
    }
}

pub(crate) fn pattern(len: usize) -> bytes::Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
}

async fn stored(world: &World, id: &str) -> Destination {
    world
        .store()
        .get(
            &TenantId::new(TENANT).unwrap(),
            &DestinationId::new(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
}

pub(crate) async fn deliver(
    world: &World,
    id: &str,
    key: &str,
    file: bytes::Bytes,
) -> Result<Streamed, DeliveryWriteError> {
    deliver_from(world, id, key, InMemorySource(file), small_parts()).await
}

/// Delivers `source` under `key` into destination `id` through the writer Test Connection uses.
async fn deliver_from(
    world: &World,
    id: &str,
    key: &str,
    source: impl shared::ports::ObjectSource,
    settings: StreamSettings,
) -> Result<Streamed, DeliveryWriteError> {
    write_object(
        &world.services.test_connection.writer,
        &stored(world, id).await,
        &world.platform.platform_identity(),
        shared::app::delivery::DeliveryWrite {
            upload: Upload {
                key,
                source,
                content_type: "application/octet-stream",
            },
            leftover_upload: None,
            journal: &shared::app::writer::NoJournal,
        },
        settings,
        Deadline::after(Duration::from_secs(600)),
    )
    .await
}

pub(crate) async fn read_back(account: &Account, bucket: &str, key: &str) -> Vec<u8> {
    let object = account
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"));
    object.body.collect().await.unwrap().to_vec()
}

pub(crate) async fn uploads_left(account: &Account, bucket: &str) -> usize {
    account
        .s3()
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads
        .unwrap_or_default()
        .len()
}

/// GIVEN a saved role-mode destination (role made from the rendered documents).
pub(crate) async fn saved_role_destination(world: &World) -> (String, String) {
    let bucket = world.role_account_bucket().await;
    let created = world
        .api()
        .create(
            json!({"name": "Lake", "bucket": bucket, "folder": "exports", "authMode": "iamRole"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let role = world.role_from_rendered(&id).await;
    world
        .api()
        .patch(&id, json!({"roleArn": role}))
        .await
        .expect(200);
    let result = world.api().test(&id).await.expect(200).json();
    assert_eq!(verdict(&result).0, "passed", "{result}");
    world.api().save(&id).await.expect(200);
    (id, bucket)
}

/// GIVEN a saved bucket-policy destination whose bucket (in another account) has the rendered
/// policy.
pub(crate) async fn saved_bucket_policy_destination(world: &World) -> (String, String, Account) {
    let customer = Account::create(dev_support::emulator::emulator()).await;
    let bucket = unique("bp");
    customer.create_bucket(&bucket).await;
    let created = world
        .api()
        .create(json!({"name": "Raw", "bucket": bucket, "folder": "incoming", "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let policy = world.api().document(&id, "bucketPolicy").await;
    customer
        .put_bucket_policy(&bucket, &dev_support::platform::customer_document(&policy))
        .await;
    let result = world.api().test(&id).await.expect(200).json();
    assert_eq!(verdict(&result).0, "passed", "{result}");
    world.api().save(&id).await.expect(200);
    (id, bucket, customer)
}

#[tokio::test]
async fn one_byte_and_multipart_files_arrive_byte_identical_in_role_mode() {
    let world = World::new().await;
    let (id, bucket) = saved_role_destination(&world).await;
    let account = world.customer_role_account();
    // WHEN a 1-byte file and a 11 MiB file are delivered
    let tiny = deliver(&world, &id, "exports/tiny.bin", pattern(1))
        .await
        .unwrap();
    let file = pattern(11 * 1024 * 1024);
    let large = deliver(&world, &id, "exports/large.bin", file.clone())
        .await
        .unwrap();
    // THEN the small one went in one request and the large one in three parts, both whole
    assert_eq!((tiny.parts, large.parts), (0, 3));
    assert_eq!(read_back(account, &bucket, "exports/tiny.bin").await, [0u8]);
    assert!(read_back(account, &bucket, "exports/large.bin").await == file);
    // AND no upload is left open
    assert_eq!(uploads_left(account, &bucket).await, 0);
}

#[tokio::test]
async fn multipart_files_arrive_byte_identical_in_bucket_policy_mode() {
    let world = World::new().await;
    let (id, bucket, customer) = saved_bucket_policy_destination(&world).await;
    let file = pattern(6 * 1024 * 1024 + 7);
    let large = deliver(&world, &id, "incoming/large.bin", file.clone())
        .await
        .unwrap();
    assert_eq!(large.parts, 2);
    assert!(read_back(&customer, &bucket, "incoming/large.bin").await == file);
    assert_eq!(uploads_left(&customer, &bucket).await, 0);
}

#[tokio::test]
async fn a_bucket_that_stopped_granting_us_receives_nothing_and_keeps_no_parts() {
    // GIVEN a saved bucket-policy destination whose customer then removes the bucket policy
    let world = World::new().await;
    let (id, bucket, customer) = saved_bucket_policy_destination(&world).await;
    customer.delete_bucket_policy(&bucket).await;
    // WHEN a multipart file and a small one are delivered
    let large = deliver(&world, &id, "incoming/large.bin", pattern(6 * 1024 * 1024)).await;
    let small = deliver(&world, &id, "incoming/small.bin", pattern(10)).await;
    // THEN both are denied, only the connection test's object is there, and no upload is open
    for outcome in [large, small] {
        match outcome {
            Err(DeliveryWriteError::Write(StreamFailure::Write { failure, .. })) => {
                assert_eq!(
                    failure.error.failure,
                    shared::ports::ProbeFailure::AccessDenied
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        customer.object_keys(&bucket).await,
        [format!("incoming/.connection-test-{id}")]
    );
    assert_eq!(uploads_left(&customer, &bucket).await, 0);
}

#[tokio::test]
async fn a_key_outside_the_destination_folder_is_refused_and_leaves_nothing() {
    // GIVEN a saved role-mode destination
    let world = World::new().await;
    let (id, bucket) = saved_role_destination(&world).await;
    // WHEN a delivery names a key outside the destination's folder
    let outcome = deliver(&world, &id, "elsewhere/large.bin", pattern(6 * 1024 * 1024)).await;
    // THEN the session policy refuses it and nothing is left
    assert!(
        matches!(
            outcome,
            Err(DeliveryWriteError::Write(StreamFailure::Write { .. }))
        ),
        "{outcome:?}"
    );
    assert_eq!(
        uploads_left(world.customer_role_account(), &bucket).await,
        0
    );
}

/// A staged file whose reads fail after `good` bytes.
struct FailingAfter {
    file: InMemorySource,
    good: usize,
}

impl shared::ports::ObjectSource for FailingAfter {
    fn size(&self) -> u64 {
        self.file.size() + self.good as u64
    }

    async fn next_chunk(&mut self, max: usize) -> Result<bytes::Bytes, shared::ports::SourceError> {
        if self.good == 0 {
            return Err(shared::ports::SourceError::Unavailable(
                "staging gone".into(),
            ));
        }
        let chunk = self.file.next_chunk(max.min(self.good)).await?;
        self.good -= chunk.len();
        Ok(chunk)
    }
}

#[tokio::test]
async fn an_upload_that_fails_midway_is_aborted_by_the_same_session_in_both_modes() {
    let world = World::new().await;
    let (role_id, role_bucket) = saved_role_destination(&world).await;
    let (policy_id, policy_bucket, customer) = saved_bucket_policy_destination(&world).await;
    for (id, bucket, account, key) in [
        (
            &role_id,
            &role_bucket,
            world.customer_role_account(),
            "exports/cut.bin",
        ),
        (&policy_id, &policy_bucket, &customer, "incoming/cut.bin"),
    ] {
        // GIVEN a staged file that can be read for one part and a half only
        let source = FailingAfter {
            file: InMemorySource(pattern(12 * 1024 * 1024)),
            good: 7 * 1024 * 1024,
        };
        // WHEN it is delivered
        let outcome = deliver_from(&world, id, key, source, small_parts()).await;
        // THEN the delivery fails on the source, and the started upload was aborted with the
        // destination's own grant: no parts are left, and no object either
        assert!(
            matches!(
                outcome,
                Err(DeliveryWriteError::Write(StreamFailure::Source(_)))
            ),
            "{outcome:?}"
        );
        assert_eq!(uploads_left(account, bucket).await, 0, "{key}");
        assert!(!account.object_keys(bucket).await.contains(&key.to_owned()));
    }
}

#[tokio::test]
async fn a_staged_file_is_streamed_from_the_staging_bucket_into_the_destination() {
    // GIVEN a saved role-mode destination, and a 11 MiB file in a staging bucket of the platform
    let world = World::new().await;
    let (id, bucket) = saved_role_destination(&world).await;
    let staging_bucket = unique("staging");
    world.platform.account.create_bucket(&staging_bucket).await;
    let file = pattern(11 * 1024 * 1024 + 3);
    world
        .platform
        .account
        .s3()
        .put_object()
        .bucket(&staging_bucket)
        .key("tenant-a/export-1.csv")
        .body(file.clone().into())
        .send()
        .await
        .unwrap();
    let staging = shared::adapters::aws_staging::StagingBucket::new(world.platform.account.s3());
    // WHEN it is delivered straight from the staging bucket
    let source = staging
        .open(&staging_bucket, "tenant-a/export-1.csv")
        .await
        .unwrap();
    let streamed = deliver_from(&world, &id, "exports/export-1.csv", source, small_parts())
        .await
        .unwrap();
    // THEN it arrives whole, in parts, and a missing staged file is told apart
    assert_eq!(streamed.parts, 3);
    assert!(
        read_back(
            world.customer_role_account(),
            &bucket,
            "exports/export-1.csv"
        )
        .await
            == file
    );
    assert!(matches!(
        staging.open(&staging_bucket, "tenant-a/missing.csv").await,
        Err(shared::ports::SourceError::NotFound)
    ));
}

/// A file of `size` bytes of `pattern`, generated as it is read: nothing is held but the chunk
/// being handed out.
struct Generated {
    size: u64,
    at: u64,
}

impl shared::ports::ObjectSource for Generated {
    fn size(&self) -> u64 {
        self.size
    }

    async fn next_chunk(&mut self, max: usize) -> Result<bytes::Bytes, shared::ports::SourceError> {
        let len = (max as u64).min(self.size - self.at).min(1 << 20);
        let chunk: Vec<u8> = (self.at..self.at + len).map(|i| (i % 251) as u8).collect();
        self.at += len;
        Ok(chunk.into())
    }
}

/// Reads `key` back as a stream and compares every byte with the generated file.
async fn matches_generated(account: &Account, bucket: &str, key: &str, size: u64) -> bool {
    let mut body = account
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"))
        .body;
    let mut at = 0u64;
    while let Some(chunk) = body.next().await {
        for byte in chunk.unwrap() {
            if byte != (at % 251) as u8 {
                return false;
            }
            at += 1;
        }
    }
    at == size
}

#[tokio::test]
async fn a_200_mib_file_arrives_byte_identical_in_many_parts_in_both_modes() {
    const SIZE: u64 = 200 * 1024 * 1024;
    let world = World::new().await;
    let (role_id, role_bucket) = saved_role_destination(&world).await;
    let (policy_id, policy_bucket, customer) = saved_bucket_policy_destination(&world).await;
    for (id, bucket, account, key) in [
        (
            &role_id,
            &role_bucket,
            world.customer_role_account(),
            "exports/big.bin",
        ),
        (&policy_id, &policy_bucket, &customer, "incoming/big.bin"),
    ] {
        // WHEN a 200 MiB file is delivered with the deployed settings
        let streamed = deliver_from(
            &world,
            id,
            key,
            Generated { size: SIZE, at: 0 },
            StreamSettings::default(),
        )
        .await
        .unwrap();
        // THEN it went in 25 parts of 8 MiB, and reads back byte for byte, with no upload left
        assert_eq!((streamed.bytes, streamed.parts), (SIZE, 25), "{key}");
        assert!(matches_generated(account, bucket, key, SIZE).await, "{key}");
        assert_eq!(uploads_left(account, bucket).await, 0, "{key}");
    }
}
