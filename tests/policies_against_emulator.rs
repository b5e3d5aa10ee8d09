//! The documents we render, applied through the real IAM and S3 APIs, allow exactly what they should.

use aws_credential_types::Credentials;
use serde_json::json;

use shared::domain::*;
use shared::policy::{self, OurWrite, to_pretty_json};
use support::accounts::{Account, Platform, s3_client, sdk_config, unique};
use support::emulator::emulator;
use support::fixtures;

fn destination(auth: AuthModeKind, bucket: &str, folder: &str) -> Destination {
    fixtures::destination(auth, bucket, folder).draft()
}

async fn assume(
    caller: &aws_config::SdkConfig,
    role: &str,
    external_id: Option<&str>,
) -> Result<aws_config::SdkConfig, String> {
    let out = aws_sdk_sts::Client::new(caller)
        .assume_role()
        .role_arn(role)
        .role_session_name("policy-test")
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| format!("{:?}", aws_sdk_sts::error::ProvideErrorMetadata::code(&e)))?;
    let c = out.credentials.unwrap();
    Ok(sdk_config(
        emulator(),
        Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "session",
        ),
    )
    .await)
}

fn denied(result: &Result<aws_config::SdkConfig, String>) -> bool {
    matches!(result, Err(code) if code.contains("AccessDenied"))
}

async fn put(
    config: &aws_config::SdkConfig,
    bucket: &str,
    key: &str,
    acl: bool,
) -> Result<(), String> {
    let mut request = s3_client(config)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(b"x".to_vec().into());
    if acl {
        request = request.acl(aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl);
    }
    request.send().await.map(|_| ()).map_err(|e| {
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
            .unwrap_or("no code")
            .to_owned()
    })
}

#[tokio::test]
async fn rendered_trust_policy_admits_only_our_principal_with_the_external_id() {
    // GIVEN a customer role created from our rendered documents
    let platform = Platform::create().await;
    let bucket = unique("trust-bucket");
    let d = destination(AuthModeKind::IamRole, &bucket, "exports");
    let role = platform.create_customer_role(&d).await;
    let external_id = d.external_id().unwrap().expose();

    // WHEN our principal assumes it with the right External ID THEN it succeeds
    assert!(
        assume(&platform.connector, &role, Some(external_id))
            .await
            .is_ok()
    );
    // WHEN without one, or with a wrong one THEN AccessDenied
    assert!(denied(&assume(&platform.connector, &role, None).await));
    assert!(denied(
        &assume(&platform.connector, &role, Some("wrong-external-id")).await
    ));

    // WHEN another principal (allowed to assume any role) presents the right External ID THEN denied
    let impostor_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]});
    let impostor_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", platform.account.id)}, "Action": "sts:AssumeRole"}]});
    let impostor_role = platform
        .account
        .create_role(
            &unique("impostor"),
            &impostor_trust.to_string(),
            Some(&impostor_policy.to_string()),
        )
        .await;
    let impostor = assume(&platform.account.admin, &impostor_role, None)
        .await
        .unwrap();
    assert!(denied(&assume(&impostor, &role, Some(external_id)).await));
}

#[tokio::test]
async fn rendered_permissions_policy_allows_the_folder_and_nothing_else() {
    // GIVEN the customer's bucket, another bucket, and a role built from our documents
    let platform = Platform::create().await;
    let customer = platform.customer_role_account();
    let bucket = unique("perm-bucket");
    let other_bucket = unique("other-bucket");
    customer.create_bucket(&bucket).await;
    customer.create_bucket(&other_bucket).await;
    let d = destination(AuthModeKind::IamRole, &bucket, "exports/daily");
    let role = platform.create_customer_role(&d).await;
    let session = assume(
        &platform.connector,
        &role,
        Some(d.external_id().unwrap().expose()),
    )
    .await
    .unwrap();

    // THEN the session can put under the folder (with and without the owner ACL)
    assert_eq!(
        put(&session, &bucket, "exports/daily/a.json", true).await,
        Ok(())
    );
    assert_eq!(
        put(&session, &bucket, "exports/daily/nested/b.json", false).await,
        Ok(())
    );
    // AND cannot put beside it, above it, or in another bucket
    for key in ["exports/other.json", "root.json", "exports/dailyX/c.json"] {
        let result = put(&session, &bucket, key, true).await;
        assert!(
            matches!(&result, Err(code) if code.contains("AccessDenied")),
            "{key}: {result:?}"
        );
    }
    let result = put(&session, &other_bucket, "exports/daily/a.json", true).await;
    assert!(
        matches!(&result, Err(code) if code.contains("AccessDenied")),
        "{result:?}"
    );
}

#[tokio::test]
async fn rendered_bucket_policy_admits_our_principal_only_with_the_owner_acl() {
    // GIVEN a bucket in a separate customer account with our simple-setup bucket policy
    let platform = Platform::create().await;
    let customer = Account::create().await;
    let bucket = unique("bp-bucket");
    customer.create_bucket(&bucket).await;
    let d = destination(AuthModeKind::BucketPolicy, &bucket, "incoming");
    let rendered = policy::render(&d, &platform.principals()).unwrap();
    customer
        .put_bucket_policy(&bucket, &to_pretty_json(&rendered.bucket_policy.unwrap()))
        .await;

    // THEN our principal can put with bucket-owner-full-control
    assert_eq!(
        put(&platform.connector, &bucket, "incoming/a.json", true).await,
        Ok(())
    );
    // AND is denied without the header, or outside the folder
    assert!(
        put(&platform.connector, &bucket, "incoming/b.json", false)
            .await
            .unwrap_err()
            .contains("AccessDenied")
    );
    assert!(
        put(&platform.connector, &bucket, "elsewhere/c.json", true)
            .await
            .unwrap_err()
            .contains("AccessDenied")
    );
    // AND another principal of the platform account is denied
    let other_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", platform.account.id)}, "Action": "sts:AssumeRole"}]});
    let other_permissions = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]});
    let other_role = platform
        .account
        .create_role(
            &unique("other-service"),
            &other_trust.to_string(),
            Some(&other_permissions.to_string()),
        )
        .await;
    let other = assume(&platform.account.admin, &other_role, None)
        .await
        .unwrap();
    assert!(
        put(&other, &bucket, "incoming/d.json", true)
            .await
            .unwrap_err()
            .contains("AccessDenied")
    );
}

#[tokio::test]
async fn merged_bucket_policy_is_accepted_by_s3_and_keeps_existing_grants_working() {
    // GIVEN a customer bucket whose policy already grants a partner account
    let platform = Platform::create().await;
    let customer = Account::create().await;
    let partner = Account::create().await;
    let bucket = unique("merge-bucket");
    customer.create_bucket(&bucket).await;
    let existing = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "PartnerWrites", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", partner.id)}, "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/partner/*")}
    ]});
    customer
        .put_bucket_policy(&bucket, &existing.to_string())
        .await;

    // WHEN our statement is merged in (twice: idempotent) and the result saved to S3
    let d = destination(AuthModeKind::BucketPolicy, &bucket, "ours");
    let principal = platform.principal_arn.clone();
    let statement = policy::bucket_policy_statement(&d, &principal);
    let resource = policy::object_resource(&d);
    let write = OurWrite {
        principal: &principal,
        object_resource: &resource,
    };
    let once = policy::merge_statement(&existing.to_string(), &statement, &write).unwrap();
    let twice = policy::merge_statement(&once.policy.to_string(), &statement, &write).unwrap();
    assert_eq!(once.policy, twice.policy);
    customer
        .put_bucket_policy(&bucket, &to_pretty_json(&twice.policy))
        .await;

    // THEN both the partner and we can write, each in our own folder only
    assert_eq!(
        put(&partner.admin, &bucket, "partner/x", false).await,
        Ok(())
    );
    assert_eq!(
        put(&platform.connector, &bucket, "ours/x", true).await,
        Ok(())
    );
    assert!(
        put(&platform.connector, &bucket, "partner/y", true)
            .await
            .unwrap_err()
            .contains("AccessDenied")
    );
    // AND what S3 stored is our merged document
    let stored = customer
        .s3()
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["Statement"].as_array().unwrap().len(), 2);
}
