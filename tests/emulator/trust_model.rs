//! The trust model, tried as an attacker would: what can another tenant make the platform do
//! with a trust that was rendered for someone else? Each attack is refused with nothing written.

use serde_json::json;
use support::api::{RequestExt, request, verdict};
use support::world::World;

use dev_support::accounts::{Account, unique};
use dev_support::emulator::emulator;

#[tokio::test]
async fn another_tenant_cannot_write_into_a_bucket_that_trusts_the_first_tenants_destination() {
    // GIVEN tenant A's customer applied A's rendered bucket policy
    let world = World::new().await;
    let victim = Account::create(emulator()).await;
    let bucket = unique("victim");
    victim.create_bucket(&bucket).await;
    let destination = |tenant: &str| {
        request("POST", "/destinations")
            .tenant(tenant)
            .json(json!({"name": "Raw", "bucket": bucket, "folder": "incoming", "authMode": "bucketPolicy", "bucketOwnerAccountId": victim.id}))
    };
    let a = world
        .api()
        .send(destination("tenant-a"))
        .await
        .expect(201)
        .json();
    let a_id = a["id"].as_str().unwrap().to_owned();
    victim
        .put_bucket_policy(&bucket, &world.api().document(&a_id, "bucketPolicy").await)
        .await;
    assert_eq!(
        verdict(&world.api().test(&a_id).await.expect(200).json()),
        ("passed".into(), String::new())
    );
    let a_object = format!("incoming/.connection-test-{a_id}");
    assert_eq!(
        victim.object_keys(&bucket).await,
        std::slice::from_ref(&a_object)
    );
    // WHEN tenant B creates a destination naming the same bucket and folder, and tests it
    let b = world
        .api()
        .send(destination("tenant-b"))
        .await
        .expect(201)
        .json();
    let b_id = b["id"].as_str().unwrap().to_owned();
    let tested = world
        .api()
        .send(request("POST", &format!("/destinations/{b_id}/test")).tenant("tenant-b"))
        .await
        .expect(200)
        .json();
    // THEN B's test fails, B cannot save, and the bucket holds no object of B's
    assert_eq!(verdict(&tested), ("write".into(), "putAccessDenied".into()));
    world
        .api()
        .send(request("POST", &format!("/destinations/{b_id}/save")).tenant("tenant-b"))
        .await
        .expect_problem(409, "not-verified");
    assert_eq!(victim.object_keys(&bucket).await, [a_object]);
}

#[tokio::test]
async fn a_bucket_policy_that_grants_more_than_one_destinations_session_is_refused_for_every_tenant()
 {
    // GIVEN a bucket whose policy lets the platform's whole account put objects (the hole: any
    // tenant naming this bucket would have its data written there)
    let world = World::new().await;
    let victim = Account::create(emulator()).await;
    let bucket = unique("broad");
    victim.create_bucket(&bucket).await;
    let broad = |principal: serde_json::Value| {
        dev_support::platform::customer_document(
            &json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "TooBroad",
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"],
                    "Resource": format!("arn:aws:s3:::{bucket}/*")
                }]
            })
            .to_string(),
        )
    };
    victim
        .put_bucket_policy(
            &bucket,
            &broad(json!(format!(
                "arn:aws:iam::{}:root",
                world.platform.account.id
            ))),
        )
        .await;
    let create = |tenant: &str| {
        request("POST", "/destinations")
            .tenant(tenant)
            .json(json!({"name": "Raw", "bucket": bucket, "folder": "incoming", "authMode": "bucketPolicy", "bucketOwnerAccountId": victim.id}))
    };
    let test = |tenant: &'static str, id: String| {
        request("POST", &format!("/destinations/{id}/test")).tenant(tenant)
    };
    // WHEN tenant A, and then tenant B, test a destination naming it
    for tenant in ["tenant-a", "tenant-b"] {
        let id = world.api().send(create(tenant)).await.expect(201).json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let tested = world
            .api()
            .send(test(tenant, id.clone()))
            .await
            .expect(200)
            .json();
        // THEN each is refused with its own category and the one statement that names its session
        assert_eq!(
            verdict(&tested),
            ("write".into(), "bucketPolicyGrantsOthers".into()),
            "{tenant}: {tested}"
        );
        let failure = support::api::failure(&tested);
        assert!(
            failure["fixDocument"]["Principal"]["AWS"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/destination-{}", id.replace('-', ""))),
            "{failure}"
        );
    }
    // WHEN the policy grants everyone instead THEN it is refused too
    victim.put_bucket_policy(&bucket, &broad(json!("*"))).await;
    let id = world
        .api()
        .send(create("tenant-a"))
        .await
        .expect(201)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tested = world
        .api()
        .send(test("tenant-a", id.clone()))
        .await
        .expect(200)
        .json();
    assert_eq!(verdict(&tested).1, "bucketPolicyGrantsOthers");
    // WHEN it is replaced by the destination's own statement THEN the same destination passes
    victim
        .put_bucket_policy(
            &bucket,
            &dev_support::platform::customer_document(
                &world.api().document(&id, "bucketPolicy").await,
            ),
        )
        .await;
    let tested = world
        .api()
        .send(test("tenant-a", id))
        .await
        .expect(200)
        .json();
    assert_eq!(verdict(&tested), ("passed".into(), String::new()));
}

#[tokio::test]
async fn a_role_that_accepts_any_external_id_is_refused_for_its_own_tenant_and_any_other() {
    // GIVEN tenant A's role trusting the connector with StringLike sts:ExternalId "*"
    let world = World::new().await;
    let bucket = world.role_account_bucket().await;
    let create = |tenant: &str| {
        request("POST", "/destinations")
            .tenant(tenant)
            .json(json!({"name": "Lake", "bucket": bucket, "authMode": "iamRole"}))
    };
    let a_id = world
        .api()
        .send(create("tenant-a"))
        .await
        .expect(201)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": world.platform.connector_principal}, "Action": "sts:AssumeRole",
        "Condition": {"StringLike": {"sts:ExternalId": "*"}}}]});
    let permissions = world.api().document(&a_id, "permissionsPolicy").await;
    let role = world
        .customer_role_account()
        .create_role(&unique("loose"), &trust.to_string(), Some(&permissions))
        .await;
    // WHEN tenant A, and then tenant B with A's role ARN, test it
    for tenant in ["tenant-a", "tenant-b"] {
        let id = if tenant == "tenant-a" {
            a_id.clone()
        } else {
            world.api().send(create(tenant)).await.expect(201).json()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        world
            .api()
            .send(
                request("PATCH", &format!("/destinations/{id}"))
                    .tenant(tenant)
                    .json(json!({"roleArn": role})),
            )
            .await
            .expect(200);
        let result = world
            .api()
            .send(request("POST", &format!("/destinations/{id}/test")).tenant(tenant))
            .await
            .expect(200)
            .json();
        // THEN both are refused before anything is written
        assert_eq!(
            verdict(&result),
            (
                "confusedDeputyGuard".into(),
                "roleAcceptsAnyExternalId".into()
            ),
            "{tenant}: {result}"
        );
    }
    assert!(
        world
            .customer_role_account()
            .object_keys(&bucket)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_platforms_own_account_is_never_a_destination() {
    // GIVEN a platform whose own account is what the template says it is
    let world = World::with_own_account_denied().await;
    let own = &world.platform.account;
    let bucket = unique("ours");
    own.create_bucket(&bucket).await;
    // WHEN a tenant names a bucket or a role of it THEN the API refuses at once
    let bucket_policy = world
        .api()
        .send(request("POST", "/destinations").json(json!({"name": "Ours", "bucket": bucket, "authMode": "bucketPolicy", "bucketOwnerAccountId": own.id})))
        .await
        .expect(400);
    assert_eq!(
        bucket_policy.json()["errors"][0]["field"],
        "bucketOwnerAccountId"
    );
    let role_mode = world
        .api()
        .create(json!({"name": "Ours", "bucket": bucket, "authMode": "iamRole"}))
        .await;
    let id = role_mode["id"].as_str().unwrap();
    let refused = world
        .api()
        .patch(id, json!({"roleArn": own.role_arn("anything")}))
        .await
        .expect(400);
    assert_eq!(refused.json()["errors"][0]["field"], "roleArn");
    // AND a tenant who lies about the owner still never gets a write there: the writer's own
    // policy denies our accounts, whatever the bucket policy says
    let liar = world
        .api()
        .create(json!({"name": "Liar", "bucket": bucket, "authMode": "bucketPolicy", "bucketOwnerAccountId": "123456789012"}))
        .await;
    let liar_id = liar["id"].as_str().unwrap();
    own.put_bucket_policy(
        &bucket,
        &world.api().document(liar_id, "bucketPolicy").await,
    )
    .await;
    let result = world.api().test(liar_id).await.expect(200).json();
    assert_ne!(verdict(&result).0, "passed", "{result}");
    // (and without even the session policy's narrowing: the writer role itself is denied there)
    use shared::ports::{AssumeRoleRequest, ObjectBody, ObjectTarget, ObjectWriter};
    let object_writer = &world.services.test_connection.writer;
    let writer = object_writer
        .assume_role(AssumeRoleRequest {
            role_arn: &shared::domain::RoleArn::new(&world.platform.writer_role_arn).unwrap(),
            external_id: None,
            session_name: &shared::domain::session_name(
                &shared::domain::DestinationId::new(liar_id).unwrap(),
            ),
            session_policy: None,
        })
        .await
        .expect("the connector takes on the writer");
    let written = object_writer
        .put_object(
            ObjectTarget {
                session: &writer,
                bucket: &shared::domain::BucketName::new(&bucket).unwrap(),
                key: "incoming/x",
                region: dev_support::accounts::REGION,
                expected_bucket_owner: None,
                kms_key: None,
            },
            ObjectBody {
                bytes: "x".into(),
                content_type: "text/plain",
                checksum: None,
                only_if_absent: false,
            },
        )
        .await;
    assert!(
        written.is_err(),
        "the writer role wrote into the platform's own account"
    );
    // AND neither can an identity policy alone (same account): the connector may not take on a
    // role of our own account, whoever trusts it
    let permissions = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    let inside = own
        .create_role(
            &unique("inside"),
            &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": world.platform.connector_principal}, "Action": "sts:AssumeRole"}]}).to_string(),
            Some(&permissions.to_string()),
        )
        .await;
    let assumed = world
        .services
        .test_connection
        .writer
        .assume_role(AssumeRoleRequest {
            role_arn: &shared::domain::RoleArn::new(&inside).unwrap(),
            external_id: None,
            session_name: &shared::domain::RoleSessionName::new("destination-x").unwrap(),
            session_policy: None,
        })
        .await;
    assert!(
        assumed.is_err(),
        "the connector took on a role of the platform's own account"
    );
    assert!(
        own.object_keys(&bucket).await.is_empty(),
        "nothing was written in our own account"
    );
}

#[tokio::test]
async fn a_destination_stored_before_the_rules_still_fails_its_check_in_our_own_account() {
    // GIVEN a destination naming our own account, stored directly (as one stored before the
    // refusal existed, or after PLATFORM_ACCOUNT_IDS grew)
    let world = World::with_own_account_denied().await;
    let own = world.platform.account.id.clone();
    let destination =
        shared::testing::DestinationBuilder::new(shared::domain::AuthModeKind::BucketPolicy)
            .tenant(support::api::TENANT)
            .owner(&own)
            .build();
    let stored = shared::ports::NewRecord {
        destination: &destination,
        activity: &shared::domain::ActivityEntry {
            at: time::OffsetDateTime::now_utc(),
            actor: shared::domain::Actor::new("migration").unwrap(),
            activity: shared::domain::Activity::Created,
            version: 1,
        },
        idempotency: None,
        cap: 100,
    };
    shared::ports::DestinationRepository::create(world.store(), stored)
        .await
        .unwrap();
    // WHEN tested THEN the configuration stage fails, before any AWS call
    let result = world
        .api()
        .test(destination.id().as_str())
        .await
        .expect(200)
        .json();
    assert_eq!(
        verdict(&result),
        ("configuration".into(), "invalidConfiguration".into())
    );
}
