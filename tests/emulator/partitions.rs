//! A China and a GovCloud deployment's whole flow, each against an emulator advertising a region of
//! its partition, whose IAM, STS and S3 make and evaluate that partition's ARNs: the stack resolved
//! from template.yaml there, a role or a bucket policy from the rendered documents, Test
//! Connection, Save, re-validation and a delivery.

use dev_support::emulator::emulator_in;
use dev_support::platform::Options;
use dev_support::services::quick_check_settings;
use shared::app::revalidation::Outcome;
use shared::domain::revalidation::RevalidationRequest;
use shared::domain::{DestinationId, TenantId};
use shared::ports::DestinationRepository;
use support::api::TENANT;
use support::world::World;

use crate::deliveries::{pattern, read_back, saved_role_destination};

/// `(region, arn:<partition>)` of each partition besides `aws`.
const OTHER_PARTITIONS: [(&str, &str); 2] = [
    ("cn-north-1", "arn:aws-cn"),
    ("us-gov-west-1", "arn:aws-us-gov"),
];

#[tokio::test]
async fn a_china_or_govcloud_deployment_connects_checks_and_delivers_in_its_partition() {
    for (region, arn) in OTHER_PARTITIONS {
        connects_checks_and_delivers(region, arn).await;
    }
}

async fn connects_checks_and_delivers(region: &'static str, arn: &str) {
    // GIVEN the platform deployed in `region`
    let world = Box::pin(World::with(
        emulator_in(region),
        Options::default(),
        quick_check_settings(),
    ))
    .await;
    // WHEN a role destination naming no region is created, its role made from the rendered
    // documents, tested and saved
    let (id, bucket) = Box::pin(saved_role_destination(&world)).await;
    // THEN its documents and the role it passed with are of the partition
    let api = world.api();
    let trust = api.document(&id, "trustPolicy").await;
    let permissions = api.document(&id, "permissionsPolicy").await;
    assert!(
        trust.contains(&format!("\"{arn}:sts::")) || trust.contains(&format!("\"{arn}:iam::")),
        "{trust}"
    );
    assert!(
        permissions.contains(&format!("\"{arn}:s3:::{bucket}/exports/*\"")),
        "{permissions}"
    );
    assert!(!trust.contains("arn:aws:") && !permissions.contains("arn:aws:"));
    let stored = api.get(&format!("/destinations/{id}")).await.json();
    assert!(
        stored["roleArn"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{arn}:iam::"))
    );
    // AND re-validation passes, and a delivery arrives byte for byte
    let destination = world
        .store()
        .get(
            &TenantId::new(TENANT).unwrap(),
            &DestinationId::new(&id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let checker = world.services.worker.checker();
    let outcome = Box::pin(checker.check(&RevalidationRequest::of(&destination)))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Checked { passed: true, .. }),
        "{outcome:?}"
    );
    let file = pattern(64 * 1024);
    let written = Box::pin(crate::deliveries::deliver(
        &world,
        &id,
        "exports/partition.bin",
        file.clone(),
    ))
    .await
    .unwrap();
    assert_eq!(written.region, region);
    let account = world.customer_role_account();
    assert!(read_back(account, &bucket, "exports/partition.bin").await == file);
}

#[tokio::test]
async fn a_china_or_govcloud_deployments_bucket_policy_names_its_writer_session_there_and_works() {
    for (region, arn) in OTHER_PARTITIONS {
        bucket_policy_works(region, arn).await;
    }
}

async fn bucket_policy_works(region: &'static str, arn: &str) {
    // GIVEN the platform deployed in `region`, and a customer account there with a bucket
    let world = Box::pin(World::with(
        emulator_in(region),
        Options::default(),
        quick_check_settings(),
    ))
    .await;
    let customer = dev_support::accounts::Account::create(emulator_in(region)).await;
    let bucket = dev_support::accounts::unique("cn-bp");
    customer.create_bucket(&bucket).await;
    // WHEN a bucket-policy destination is created and its rendered policy applied
    let api = world.api();
    let id = api
        .create(serde_json::json!({"name": "Raw", "bucket": bucket, "folder": "incoming", "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let policy = api.document(&id, "bucketPolicy").await;
    assert!(policy.contains(&format!("\"{arn}:sts::")), "{policy}");
    customer
        .put_bucket_policy(&bucket, &dev_support::platform::customer_document(&policy))
        .await;
    // THEN Test Connection passes as the partition's writer session, Save works, and a delivery
    // arrives
    let result = api.test(&id).await.expect(200).json();
    assert_eq!(support::api::verdict(&result).0, "passed", "{result}");
    api.save(&id).await.expect(200);
    let file = pattern(4096);
    Box::pin(crate::deliveries::deliver(
        &world,
        &id,
        "incoming/partition.bin",
        file.clone(),
    ))
    .await
    .unwrap();
    assert!(read_back(&customer, &bucket, "incoming/partition.bin").await == file);
}
