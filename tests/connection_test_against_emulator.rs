//! Test Connection, one scenario per failure category, each set up through the real IAM and S3 APIs.

use serde_json::{Value, json};

use shared::domain::TenantId;
use shared::http::ApiRequest;
use shared::ports::DestinationStore;
use support::accounts::{Account, unique};
use support::api::{at, body};
use support::events::api_request;
use support::world::{World, quick_settings};

fn with_json(mut request: ApiRequest, body: Value) -> ApiRequest {
    request.body = body.to_string().into_bytes();
    request
        .headers
        .retain(|(k, _)| k != "idempotency-key" && k != "if-match");
    request
}

/// A destination created through the API, as a customer would.
async fn create(world: &World, auth_mode: &str, bucket: &str, folder: &str) -> Value {
    let request = with_json(
        api_request("destinations-create-iam-role.json"),
        json!({"name": "Lake", "bucket": bucket, "folder": folder, "authMode": auth_mode}),
    );
    let response = destinations_api::handler::handle(&world.destinations_app(), request).await;
    assert_eq!(response.status, 201, "{}", response.body);
    body(&response)
}

async fn set_role(world: &World, id: &str, role_arn: &str) {
    let request = with_json(
        at("destinations-patch.json", id),
        json!({"roleArn": role_arn}),
    );
    let response = destinations_api::handler::handle(&world.destinations_app(), request).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

async fn rendered(world: &World, id: &str) -> Value {
    let response =
        policies_api::handler::handle(&world.policies_app(), at("policies-get.json", id)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    body(&response)
}

fn document(rendered: &Value, kind: &str) -> String {
    let doc = rendered["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap();
    doc["text"].as_str().unwrap().to_owned()
}

async fn run_test(world: &World, id: &str) -> Value {
    let response = test_connection::handler::handle(
        &world.test_connection_app(quick_settings()),
        at("connection-test.json", id),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    body(&response)
}

/// The stage that failed and its category, or ("passed", "") when every stage passed.
fn verdict(result: &Value) -> (String, String) {
    if result["passed"] == json!(true) {
        for stage in result["stages"].as_array().unwrap() {
            assert_ne!(stage["status"], "failed", "{result}");
        }
        return ("passed".into(), String::new());
    }
    let failed = result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .expect("a failed stage");
    (
        failed["stage"].as_str().unwrap().to_owned(),
        failed["failure"]["category"].as_str().unwrap().to_owned(),
    )
}

fn failure_of(result: &Value) -> &Value {
    &result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap()["failure"]
}

/// GIVEN an IAM-role destination whose bucket exists, and a role built by `make_role` from the
/// rendered documents (trust policy, permissions policy) → returns the test result.
async fn role_scenario(
    folder: &str,
    make_role: impl AsyncFnOnce(&World, &Value) -> Option<String>,
) -> (World, String, Value) {
    let world = World::new().await;
    let bucket = unique("dest-bucket");
    world
        .platform
        .customer_role_account()
        .create_bucket(&bucket)
        .await;
    let created = create(&world, "iamRole", &bucket, folder).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let rendered = rendered(&world, &id).await;
    let role = match make_role(&world, &rendered).await {
        Some(arn) => arn,
        None => world
            .platform
            .customer_role_account()
            .role_arn(&unique("never-created")),
    };
    set_role(&world, &id, &role).await;
    let result = run_test(&world, &id).await;
    (world, id, result)
}

async fn role_from(world: &World, trust: &str, permissions: Option<&str>) -> Option<String> {
    Some(
        world
            .platform
            .customer_role_account()
            .create_role(&unique("customer-writer"), trust, permissions)
            .await,
    )
}

#[tokio::test]
async fn correct_role_passes_and_leaves_one_owned_test_object() {
    let (world, id, result) = role_scenario("exports", async |w, r| {
        role_from(
            w,
            &document(r, "trustPolicy"),
            Some(&document(r, "permissionsPolicy")),
        )
        .await
    })
    .await;
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
    assert_eq!(result["current"], true);
    let key = result["testObjectKey"].as_str().unwrap();
    assert!(key.starts_with("exports/"));
    // The object is really there
    let destination = world
        .store
        .get(
            &TenantId::new("tenant-a").unwrap(),
            &shared::domain::DestinationId::new(&id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let bucket = destination.bucket.as_str();
    let head = world
        .platform
        .customer_role_account()
        .s3()
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    assert!(head.is_ok(), "{head:?}");
    // And the result is stored on the destination, so Save now succeeds
    assert_eq!(
        destination.latest_test.as_ref().map(|t| t.passed),
        Some(true)
    );
    let saved = destinations_api::handler::handle(
        &world.destinations_app(),
        at("destinations-save.json", &id),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(body(&saved)["status"], "verified");
    // A second test overwrites the same key
    let again = run_test(&world, &id).await;
    assert_eq!(again["testObjectKey"], result["testObjectKey"]);
    // History holds both, newest first
    let history = test_connection::handler::handle(
        &world.test_connection_app(quick_settings()),
        at("connection-tests-list.json", &id),
    )
    .await;
    assert_eq!(body(&history)["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn trust_without_external_id_is_refused_as_a_confused_deputy() {
    let (_, _, result) = role_scenario("", async |w, r| {
        let mut trust: Value = serde_json::from_str(&document(r, "trustPolicy")).unwrap();
        trust["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
        role_from(
            w,
            &trust.to_string(),
            Some(&document(r, "permissionsPolicy")),
        )
        .await
    })
    .await;
    assert_eq!(
        verdict(&result),
        (
            "confusedDeputyGuard".into(),
            "roleAssumableWithoutExternalId".into()
        )
    );
    let failure = failure_of(&result);
    assert_eq!(
        failure["fixDocument"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
            .as_str()
            .map(str::len),
        Some(32)
    );
    // Stages after the guard did not run
    let write = result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "write")
        .unwrap();
    assert_eq!(write["status"], "skipped");
}

#[tokio::test]
async fn wrong_external_id_lists_every_possible_cause() {
    let (_, _, result) = role_scenario("", async |w, r| {
        let trust = document(r, "trustPolicy")
            .replace(r["externalId"].as_str().unwrap(), "some-other-external-id");
        role_from(w, &trust, Some(&document(r, "permissionsPolicy"))).await
    })
    .await;
    assert_eq!(
        verdict(&result),
        ("assumeRole".into(), "roleNotAssumable".into())
    );
    let failure = failure_of(&result);
    assert!(
        failure["awsErrorCode"]
            .as_str()
            .unwrap()
            .contains("AccessDenied")
    );
    assert_eq!(failure["possibleCauses"].as_array().unwrap().len(), 4);
    assert!(failure["fixDocument"]["Statement"][0]["Principal"]["AWS"].is_string());
}

#[tokio::test]
async fn role_trusting_another_principal_is_not_assumable() {
    let (_, _, result) = role_scenario("", async |w, r| {
        let trust = document(r, "trustPolicy").replace(
            &w.platform.principal_arn,
            &format!("arn:aws:iam::{}:role/someone-else", w.platform.account.id),
        );
        let someone_else = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", w.platform.account.id)}, "Action": "sts:AssumeRole"}]});
        w.platform.account.create_role("someone-else", &someone_else.to_string(), None).await;
        role_from(w, &trust, Some(&document(r, "permissionsPolicy"))).await
    })
    .await;
    assert_eq!(
        verdict(&result),
        ("assumeRole".into(), "roleNotAssumable".into())
    );
}

#[tokio::test]
async fn missing_role_is_not_assumable() {
    let (_, _, result) = role_scenario("", async |_, _| None).await;
    assert_eq!(
        verdict(&result),
        ("assumeRole".into(), "roleNotAssumable".into())
    );
}

#[tokio::test]
async fn role_without_put_permission_is_denied_on_write() {
    let (_, _, result) = role_scenario("exports", async |w, r| {
        role_from(w, &document(r, "trustPolicy"), None).await
    })
    .await;
    assert_eq!(verdict(&result), ("write".into(), "putAccessDenied".into()));
    let failure = failure_of(&result);
    assert_eq!(
        failure["fixDocument"]["Statement"][0]["Action"],
        json!(["s3:PutObject", "s3:PutObjectAcl"])
    );
}

#[tokio::test]
async fn permission_on_another_folder_only_is_denied_on_write() {
    let (_, _, result) = role_scenario("exports", async |w, r| {
        let permissions = document(r, "permissionsPolicy").replace("/exports/*", "/elsewhere/*");
        role_from(w, &document(r, "trustPolicy"), Some(&permissions)).await
    })
    .await;
    assert_eq!(verdict(&result), ("write".into(), "putAccessDenied".into()));
}

#[tokio::test]
async fn missing_bucket_is_reported_when_locating_it() {
    let world = World::new().await;
    let created = create(&world, "iamRole", &unique("no-such-bucket"), "x").await;
    let id = created["id"].as_str().unwrap();
    let r = rendered(&world, id).await;
    let role = role_from(
        &world,
        &document(&r, "trustPolicy"),
        Some(&document(&r, "permissionsPolicy")),
    )
    .await
    .unwrap();
    set_role(&world, id, &role).await;
    let result = run_test(&world, id).await;
    assert_eq!(
        verdict(&result),
        ("locateBucket".into(), "bucketNotFound".into()),
        "{result}"
    );
}

#[tokio::test]
async fn bucket_with_acls_disabled_passes() {
    let (world, id, _) = role_scenario("exports", async |w, r| {
        role_from(
            w,
            &document(r, "trustPolicy"),
            Some(&document(r, "permissionsPolicy")),
        )
        .await
    })
    .await;
    // GIVEN the bucket switched to BucketOwnerEnforced (ACLs disabled, as for every new bucket)
    let destination = world
        .store
        .get(
            &TenantId::new("tenant-a").unwrap(),
            &shared::domain::DestinationId::new(&id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let ownership = aws_sdk_s3::types::OwnershipControls::builder()
        .rules(
            aws_sdk_s3::types::OwnershipControlsRule::builder()
                .object_ownership(aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    world
        .platform
        .customer_role_account()
        .s3()
        .put_bucket_ownership_controls()
        .bucket(destination.bucket.as_str())
        .ownership_controls(ownership)
        .send()
        .await
        .unwrap();
    // WHEN tested again THEN it still passes: the only ACL we send is bucket-owner-full-control
    let result = run_test(&world, &id).await;
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
}

/// GIVEN a bucket-policy destination with its bucket in a separate customer account.
async fn bucket_policy_scenario(apply_policy: bool) -> Value {
    let world = World::new().await;
    let customer = Account::create().await;
    let bucket = unique("bp-bucket");
    customer.create_bucket(&bucket).await;
    let created = create(&world, "bucketPolicy", &bucket, "incoming").await;
    let id = created["id"].as_str().unwrap();
    let r = rendered(&world, id).await;
    if apply_policy {
        customer
            .put_bucket_policy(&bucket, &document(&r, "bucketPolicy"))
            .await;
    } else {
        // A policy for someone else only
        let other = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", customer.id)}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
        customer
            .put_bucket_policy(&bucket, &other.to_string())
            .await;
    }
    let result = run_test(&world, id).await;
    let stages: Vec<(&str, &str)> = result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &stages[1..3],
        &[
            ("confusedDeputyGuard", "skipped"),
            ("assumeRole", "skipped")
        ]
    );
    result
}

#[tokio::test]
async fn bucket_policy_mode_passes_with_the_rendered_policy() {
    let result = bucket_policy_scenario(true).await;
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
}

#[tokio::test]
async fn bucket_policy_mode_without_our_statement_is_denied_on_write() {
    let result = bucket_policy_scenario(false).await;
    assert_eq!(verdict(&result), ("write".into(), "putAccessDenied".into()));
    let failure = failure_of(&result);
    assert_eq!(
        failure["fixDocument"]["Condition"]["StringEquals"]["s3:x-amz-acl"],
        "bucket-owner-full-control"
    );
}

#[tokio::test]
async fn a_second_test_while_one_runs_is_409() {
    let world = World::new().await;
    let created = create(&world, "bucketPolicy", "some-bucket", "").await;
    let id = created["id"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let tenant = TenantId::new("tenant-a").unwrap();
    let destination_id = shared::domain::DestinationId::new(id).unwrap();
    // GIVEN a test holding the lock
    assert!(
        world
            .store
            .try_lock_test(
                &tenant,
                &destination_id,
                now,
                now + time::Duration::seconds(60)
            )
            .await
            .unwrap()
    );
    // WHEN another starts THEN 409
    let response = test_connection::handler::handle(
        &world.test_connection_app(quick_settings()),
        at("connection-test.json", id),
    )
    .await;
    assert_eq!(response.status, 409, "{}", response.body);
    // AND once the lock has expired, tests run again
    assert!(
        world
            .store
            .try_lock_test(
                &tenant,
                &destination_id,
                now + time::Duration::seconds(61),
                now + time::Duration::seconds(62)
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn role_arn_not_set_yet_fails_configuration_without_calling_aws() {
    let world = World::new().await;
    let created = create(&world, "iamRole", "some-bucket", "").await;
    let result = run_test(&world, created["id"].as_str().unwrap()).await;
    assert_eq!(
        verdict(&result),
        ("configuration".into(), "invalidConfiguration".into())
    );
}
