//! Test Connection against the emulator, one scenario per outcome, each set up through the real
//! IAM and S3 APIs the way a customer would.

use serde_json::{Value, json};
use support::api::{failure, verdict};
use support::world::World;

/// GIVEN a role-mode destination whose bucket exists in the role's account.
async fn role_destination(world: &World, folder: &str) -> (String, String) {
    let bucket = world.role_account_bucket().await;
    let created = world
        .api()
        .create(json!({"name": "Lake", "bucket": bucket, "folder": folder, "authMode": "iamRole"}))
        .await;
    (created["id"].as_str().unwrap().to_owned(), bucket)
}

/// WHEN the customer pastes `role` and runs Test Connection.
async fn test_with_role(world: &World, id: &str, role: &str) -> Value {
    world
        .api()
        .patch(id, json!({"roleArn": role}))
        .await
        .expect(200);
    world.api().test(id).await.expect(200).json()
}

fn passed() -> (String, String) {
    ("passed".into(), String::new())
}

#[tokio::test]
async fn a_role_made_from_the_rendered_documents_passes_and_leaves_one_owned_object() {
    let world = World::new().await;
    let (id, bucket) = role_destination(&world, "exports").await;
    let role = world.role_from_rendered(&id).await;
    let result = test_with_role(&world, &id, &role).await;
    assert_eq!(verdict(&result), passed(), "{result}");
    assert_eq!(result["current"], true);
    let key = result["testObjectKey"].as_str().unwrap();
    assert_eq!(key, format!("exports/.connection-test-{id}"));
    assert_eq!(
        world.customer_role_account().object_keys(&bucket).await,
        [key]
    );
    let saved = world.api().save(&id).await.expect(200).json();
    assert_eq!(saved["status"], "verified");
    assert_eq!(
        saved["active"]["pinnedBucketOwnerAccountId"],
        world.customer_role_account().id.as_str()
    );
    // A second test overwrites the same object
    let again = world.api().test(&id).await.expect(200).json();
    assert_eq!(again["testObjectKey"], result["testObjectKey"]);
    assert_eq!(
        world
            .customer_role_account()
            .object_keys(&bucket)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_trust_policy_without_the_external_id_is_refused_as_a_confused_deputy() {
    let world = World::new().await;
    let (id, bucket) = role_destination(&world, "").await;
    let mut trust: Value =
        serde_json::from_str(&world.api().document(&id, "trustPolicy").await).unwrap();
    trust["Statement"][0]
        .as_object_mut()
        .unwrap()
        .remove("Condition");
    let permissions = world.api().document(&id, "permissionsPolicy").await;
    let role = world
        .customer_role_account()
        .create_role(
            &dev_support::accounts::unique("loose"),
            &trust.to_string(),
            Some(&permissions),
        )
        .await;
    let result = test_with_role(&world, &id, &role).await;
    assert_eq!(
        verdict(&result),
        (
            "confusedDeputyGuard".into(),
            "roleAssumableWithoutExternalId".into()
        )
    );
    let fix = failure(&result)["fixDocument"].clone();
    assert_eq!(
        fix["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
            .as_str()
            .map(str::len),
        Some(32)
    );
    assert!(
        world
            .customer_role_account()
            .object_keys(&bucket)
            .await
            .is_empty(),
        "nothing written"
    );
}

/// Trust policies that let any External ID through, as customers write them by mistake.
fn loose_trusts(connector: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "StringLike *",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": connector}, "Action": "sts:AssumeRole", "Condition": {"StringLike": {"sts:ExternalId": "*"}}}]}),
        ),
        (
            "Null false",
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": connector}, "Action": "sts:AssumeRole", "Condition": {"Null": {"sts:ExternalId": "false"}}}]}),
        ),
    ]
}

#[tokio::test]
async fn a_trust_policy_that_accepts_any_external_id_is_refused() {
    let world = World::new().await;
    for (name, trust) in loose_trusts(&world.platform.connector_principal) {
        let (id, bucket) = role_destination(&world, "").await;
        let permissions = world.api().document(&id, "permissionsPolicy").await;
        let role = world
            .customer_role_account()
            .create_role(
                &dev_support::accounts::unique("loose"),
                &trust.to_string(),
                Some(&permissions),
            )
            .await;
        let result = test_with_role(&world, &id, &role).await;
        assert_eq!(
            verdict(&result),
            (
                "confusedDeputyGuard".into(),
                "roleAcceptsAnyExternalId".into()
            ),
            "{name}: {result}"
        );
        assert!(
            world
                .customer_role_account()
                .object_keys(&bucket)
                .await
                .is_empty(),
            "{name}: nothing written"
        );
    }
}

#[tokio::test]
async fn a_wrong_external_id_lists_every_possible_cause() {
    let world = World::new().await;
    let (id, _) = role_destination(&world, "").await;
    let created = world.api().get(&format!("/destinations/{id}")).await.json();
    let trust = world.api().document(&id, "trustPolicy").await.replace(
        created["externalId"].as_str().unwrap(),
        "some-other-external-id",
    );
    let permissions = world.api().document(&id, "permissionsPolicy").await;
    let role = world
        .customer_role_account()
        .create_role(
            &dev_support::accounts::unique("wrong"),
            &trust,
            Some(&permissions),
        )
        .await;
    let result = test_with_role(&world, &id, &role).await;
    assert_eq!(
        verdict(&result),
        ("assumeRole".into(), "roleNotAssumable".into())
    );
    let failure = failure(&result);
    assert!(
        failure["awsErrorCode"]
            .as_str()
            .unwrap()
            .contains("AccessDenied")
    );
    assert_eq!(failure["possibleCauses"].as_array().unwrap().len(), 4);
    assert_eq!(
        failure["fixDocument"]["Statement"][0]["Principal"]["AWS"],
        world.platform.connector_principal
    );
}

#[tokio::test]
async fn a_role_trusting_someone_else_or_missing_is_not_assumable() {
    let world = World::new().await;
    let (id, _) = role_destination(&world, "").await;
    let account = world.customer_role_account();
    let trust = world.api().document(&id, "trustPolicy").await.replace(
        &world.platform.connector_principal,
        &account.role_arn("someone-else"),
    );
    let someone_else = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)}, "Action": "sts:AssumeRole"}]});
    account
        .create_role("someone-else", &someone_else.to_string(), None)
        .await;
    let role = account
        .create_role(&dev_support::accounts::unique("other"), &trust, None)
        .await;
    let result = test_with_role(&world, &id, &role).await;
    assert_eq!(
        verdict(&result),
        ("assumeRole".into(), "roleNotAssumable".into())
    );
    let missing = test_with_role(&world, &id, &account.role_arn("never-created")).await;
    assert_eq!(
        verdict(&missing),
        ("assumeRole".into(), "roleNotAssumable".into())
    );
}

#[tokio::test]
async fn a_role_without_the_permissions_policy_or_for_another_folder_is_denied_on_write() {
    let world = World::new().await;
    let (id, _) = role_destination(&world, "exports").await;
    let trust = world.api().document(&id, "trustPolicy").await;
    let bare = world
        .customer_role_account()
        .create_role(&dev_support::accounts::unique("bare"), &trust, None)
        .await;
    let result = test_with_role(&world, &id, &bare).await;
    assert_eq!(verdict(&result), ("write".into(), "putAccessDenied".into()));
    assert_eq!(
        failure(&result)["fixDocument"]["Statement"][0]["Action"],
        json!(["s3:PutObject", "s3:PutObjectAcl"])
    );
    let elsewhere = world
        .api()
        .document(&id, "permissionsPolicy")
        .await
        .replace("/exports/*", "/elsewhere/*");
    let other = world
        .customer_role_account()
        .create_role(
            &dev_support::accounts::unique("elsewhere"),
            &trust,
            Some(&elsewhere),
        )
        .await;
    let result = test_with_role(&world, &id, &other).await;
    assert_eq!(verdict(&result), ("write".into(), "putAccessDenied".into()));
}

#[tokio::test]
async fn the_session_policy_keeps_a_broad_role_inside_the_destination_folder() {
    // GIVEN a role allowed to write anywhere in the bucket, for a destination of one folder
    let world = World::new().await;
    let (id, bucket) = role_destination(&world, "exports").await;
    let trust = world.api().document(&id, "trustPolicy").await;
    let broad = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    let role = world
        .customer_role_account()
        .create_role(
            &dev_support::accounts::unique("broad"),
            &trust,
            Some(&broad.to_string()),
        )
        .await;
    // WHEN tested THEN it passes, writing in the folder only
    let result = test_with_role(&world, &id, &role).await;
    assert_eq!(verdict(&result), passed(), "{result}");
    // AND the session it got could not write outside the folder: the same session policy, applied
    // by STS, denies it (proved with our own session through the writer's adapter)
    let keys = world.customer_role_account().object_keys(&bucket).await;
    assert!(keys.iter().all(|k| k.starts_with("exports/")), "{keys:?}");
    let outside = session_write(&world, &id, &role, "elsewhere/x").await;
    assert!(outside.is_err(), "wrote outside the folder");
    assert!(session_write(&world, &id, &role, "exports/x").await.is_ok());
}

/// Assumes `role` as the connector with this destination's session policy, and writes `key`.
async fn session_write(
    world: &World,
    id: &str,
    role: &str,
    key: &str,
) -> Result<(), shared::ports::ProbeError> {
    use shared::ports::{AssumeRoleRequest, ObjectBody, ObjectTarget, ObjectWriter};
    let destination = shared::ports::DestinationRepository::get(
        world.store(),
        &shared::domain::TenantId::new(support::api::TENANT).unwrap(),
        &shared::domain::DestinationId::new(id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let config = destination.configuration();
    let owner = config.expected_owner();
    let policy =
        serde_json::to_string(&shared::policy::session_policy(config, owner.as_ref())).unwrap();
    let writer = &world.services.test_connection.writer;
    let session = writer
        .assume_role(AssumeRoleRequest {
            role_arn: &shared::domain::RoleArn::new(role).unwrap(),
            external_id: destination.external_id(),
            session_name: &shared::domain::session_name(destination.id()),
            session_policy: Some(&policy),
        })
        .await?;
    writer
        .put_object(
            ObjectTarget {
                session: &session,
                bucket: &config.bucket,
                key,
                region: dev_support::accounts::REGION,
                expected_bucket_owner: owner.as_ref(),
                kms_key: None,
            },
            ObjectBody {
                bytes: "x".into(),
                content_type: "text/plain",
                checksum: None,
                only_if_absent: false,
            },
        )
        .await
        .map(drop)
}

#[tokio::test]
async fn a_missing_bucket_is_reported_when_locating_it() {
    let world = World::new().await;
    let created = world
        .api()
        .create(json!({"name": "Lake", "bucket": dev_support::accounts::unique("no-such"), "authMode": "iamRole"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let role = world.role_from_rendered(id).await;
    let result = test_with_role(&world, id, &role).await;
    assert_eq!(
        verdict(&result),
        ("locateBucket".into(), "bucketNotFound".into()),
        "{result}"
    );
}

#[tokio::test]
async fn a_bucket_with_acls_disabled_passes() {
    let world = World::new().await;
    let (id, bucket) = role_destination(&world, "exports").await;
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
        .customer_role_account()
        .s3()
        .put_bucket_ownership_controls()
        .bucket(&bucket)
        .ownership_controls(ownership)
        .send()
        .await
        .unwrap();
    let role = world.role_from_rendered(&id).await;
    assert_eq!(verdict(&test_with_role(&world, &id, &role).await), passed());
}

#[tokio::test]
async fn roles_with_a_path_and_folders_with_spaces_and_unicode_pass() {
    let world = World::new().await;
    let (id, bucket) = role_destination(&world, "exports/année 2026/é").await;
    let trust = world.api().document(&id, "trustPolicy").await;
    let permissions = world.api().document(&id, "permissionsPolicy").await;
    let iam = world.customer_role_account().iam();
    let name = dev_support::accounts::unique("pathed");
    let role = iam
        .create_role()
        .role_name(&name)
        .path("/team/data/")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    iam.put_role_policy()
        .role_name(&name)
        .policy_name("p")
        .policy_document(permissions)
        .send()
        .await
        .unwrap();
    assert!(role.contains(":role/team/data/"));
    let result = test_with_role(&world, &id, &role).await;
    assert_eq!(verdict(&result), passed(), "{result}");
    let keys = world.customer_role_account().object_keys(&bucket).await;
    assert_eq!(
        keys,
        [format!("exports/année 2026/é/.connection-test-{id}")]
    );
}

#[tokio::test]
async fn trust_in_the_platform_account_root_with_the_external_id_passes() {
    let world = World::new().await;
    let (id, _) = role_destination(&world, "").await;
    let created = world.api().get(&format!("/destinations/{id}")).await.json();
    let root = format!("arn:aws:iam::{}:root", world.platform.account.id);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": created["externalId"]}}}]});
    let permissions = world.api().document(&id, "permissionsPolicy").await;
    let role = world
        .customer_role_account()
        .create_role(
            &dev_support::accounts::unique("root-trust"),
            &trust.to_string(),
            Some(&permissions),
        )
        .await;
    assert_eq!(verdict(&test_with_role(&world, &id, &role).await), passed());
}

#[tokio::test]
async fn a_role_denied_at_first_passes_once_it_exists() {
    // GIVEN a check that starts before the role exists (as right after a customer creates it and
    // IAM has not propagated it), with a propagation budget long enough to wait
    let world = World::with(
        dev_support::emulator::emulator(),
        dev_support::platform::Options::default(),
        shared::app::check::CheckSettings {
            deadline: std::time::Duration::from_secs(20),
            propagation_budget: std::time::Duration::from_secs(6),
            first_backoff: std::time::Duration::from_millis(200),
        },
    )
    .await;
    let (id, _) = role_destination(&world, "").await;
    let name = dev_support::accounts::unique("late");
    let arn = world.customer_role_account().role_arn(&name);
    world
        .api()
        .patch(&id, json!({"roleArn": arn}))
        .await
        .expect(200);
    let trust = world.api().document(&id, "trustPolicy").await;
    let permissions = world.api().document(&id, "permissionsPolicy").await;
    // WHEN the role appears a moment after the test started
    let account = world.customer_role_account();
    let api = world.api();
    let (result, _) = tokio::join!(api.test(&id), async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        account.create_role(&name, &trust, Some(&permissions)).await
    });
    // THEN the test waited for it and passed: its AssumeRole was denied, retried, and took at
    // least as long as the role took to appear
    let result = result.expect(200).json();
    assert_eq!(verdict(&result), passed(), "{result}");
    let assumed = result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "assumeRole")
        .unwrap();
    assert!(
        assumed["durationMs"].as_u64().unwrap() >= 600,
        "the AssumeRole stage did not wait for the role: {assumed}"
    );
}

#[tokio::test]
async fn bucket_policy_mode_passes_with_the_rendered_policy_and_fails_without() {
    let world = World::new().await;
    let customer = dev_support::accounts::Account::create(dev_support::emulator::emulator()).await;
    let bucket = dev_support::accounts::unique("bp");
    customer.create_bucket(&bucket).await;
    let created = world
        .api()
        .create(json!({"name": "Raw", "bucket": bucket, "folder": "incoming", "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await;
    let id = created["id"].as_str().unwrap();
    let denied = world.api().test(id).await.expect(200).json();
    assert_eq!(verdict(&denied), ("write".into(), "putAccessDenied".into()));
    assert_eq!(
        failure(&denied)["fixDocument"]["Action"],
        json!(["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"])
    );
    customer
        .put_bucket_policy(&bucket, &world.api().document(id, "bucketPolicy").await)
        .await;
    let passed_now = world.api().test(id).await.expect(200).json();
    assert_eq!(verdict(&passed_now), passed(), "{passed_now}");
    let stages: Vec<(&str, &str)> = passed_now["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &stages[1..3],
        &[("confusedDeputyGuard", "skipped"), ("assumeRole", "passed")]
    );
    assert_eq!(
        customer.object_keys(&bucket).await,
        [format!("incoming/.connection-test-{id}")]
    );
}

#[tokio::test]
async fn a_bucket_policy_that_still_names_the_shared_principal_fails_with_the_fix() {
    // GIVEN a bucket policy written for the former shared principal (the connector itself)
    let world = World::new().await;
    let customer = dev_support::accounts::Account::create(dev_support::emulator::emulator()).await;
    let bucket = dev_support::accounts::unique("legacy");
    customer.create_bucket(&bucket).await;
    let created = world
        .api()
        .create(json!({"name": "Raw", "bucket": bucket, "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))
        .await;
    let id = created["id"].as_str().unwrap();
    let legacy = world.api().document(id, "bucketPolicy").await.replace(
        &world
            .api()
            .get(&format!("/destinations/{id}/policies"))
            .await
            .json()["platformPrincipal"]
            .as_str()
            .unwrap()
            .to_owned(),
        &world.platform.connector_principal,
    );
    customer.put_bucket_policy(&bucket, &legacy).await;
    // WHEN tested THEN the write is denied, and the failure names the former principal and the fix
    let result = world.api().test(id).await.expect(200).json();
    assert_eq!(verdict(&result), ("write".into(), "putAccessDenied".into()));
    let failure = failure(&result);
    assert!(
        failure["possibleCauses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c
                .as_str()
                .unwrap()
                .contains(&world.platform.connector_principal)),
        "{failure}"
    );
    assert_eq!(
        failure["fixDocument"]["Principal"]["AWS"],
        world
            .api()
            .get(&format!("/destinations/{id}/policies"))
            .await
            .json()["platformPrincipal"]
    );
    assert!(customer.object_keys(&bucket).await.is_empty());
}

#[tokio::test]
async fn a_role_arn_not_set_yet_fails_configuration_without_calling_aws() {
    let world = World::new().await;
    let created = world
        .api()
        .create(json!({"name": "Lake", "bucket": "some-bucket", "authMode": "iamRole"}))
        .await;
    let result = world
        .api()
        .test(created["id"].as_str().unwrap())
        .await
        .expect(200)
        .json();
    assert_eq!(
        verdict(&result),
        ("configuration".into(), "invalidConfiguration".into())
    );
}
