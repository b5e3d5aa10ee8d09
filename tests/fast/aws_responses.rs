//! What the emulator cannot produce (region redirects, KMS denials, ACL rejection, throttling) and
//! what it does not check (ExpectedBucketOwner), driven through the real AwsWriter and SDK clients
//! against responses shaped like AWS's: status, error code, headers and XML body as the S3 and
//! STS API references document them. Written by hand from those references, not recorded.

use aws_sdk_s3::config::Credentials;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use shared::adapters::aws_writer::AwsWriter;
use shared::app::check::{CheckSettings, CheckTarget, run};
use shared::domain::check::{CheckResult, FailureCategory, Stage, StageStatus};
use shared::domain::{AuthModeKind, Destination};
use shared::testing::{CUSTOMER_ACCOUNT, DestinationBuilder, platform};

const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn answer(status: u16, headers: &[(&'static str, &'static str)], body: String) -> HttpResponse {
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    for (name, value) in headers {
        response.headers_mut().insert(*name, *value);
    }
    response
}

fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4Q5YJ7V0Q2M8N1ZP</RequestId><HostId>uS9k0m2xWcBq3r0u4n5FQ0nJ7mYc2hGx==</HostId></Error>"
    )
}

fn credentials() -> aws_sdk_sts::types::Credentials {
    aws_sdk_sts::types::Credentials::builder()
        .access_key_id("ASIAEXAMPLE")
        .secret_access_key("secret")
        .session_token("token")
        .expiration(aws_smithy_types::DateTime::from_secs(4_102_444_800))
        .build()
        .unwrap()
}

/// STS grants the writer's session under this destination's name and session policy (and the
/// bucket-policy guard's decoy, under another `destination-…` name with the same policy); S3
/// answers from `s3_rules` in order.
fn object_writer(destination: &Destination, s3_rules: &[Rule]) -> AwsWriter {
    let session = shared::domain::session_name(destination.id())
        .as_str()
        .to_owned();
    let own = session.clone();
    let decoy = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |input| {
            input
                .role_session_name()
                .is_some_and(|name| name.starts_with("destination-") && name != own)
        })
        .then_output(|| {
            aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                .credentials(credentials())
                .build()
        });
    let writer = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |input| {
            let policy: serde_json::Value =
                serde_json::from_str(input.policy().unwrap_or("{}")).unwrap_or_default();
            input.role_session_name() == Some(session.as_str())
                && policy["Statement"][0]["Condition"]["StringEquals"]["aws:ResourceAccount"]
                    == CUSTOMER_ACCOUNT
        })
        .then_output(|| {
            aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                .credentials(credentials())
                .build()
        });
    let mut s3 = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for rule in s3_rules {
        s3 = s3.with_rule(rule);
    }
    let base = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(base.clone())
        .http_client(create_mock_http_client())
        .interceptor(s3)
        // The SDK's own retries (three attempts, as deployed), without their seconds of backoff.
        .retry_config(
            aws_sdk_s3::config::retry::RetryConfig::standard()
                .with_initial_backoff(std::time::Duration::from_millis(1)),
        )
        .build();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(base)
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .with_rule(&writer)
                    .with_rule(&decoy),
            )
            .build(),
    );
    AwsWriter::new(sts, s3)
}

fn destination(region: Option<&str>, kms: bool) -> Destination {
    let mut builder = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .bucket("acme-raw-events")
        .folder("incoming");
    if let Some(region) = region {
        builder = builder.region(region);
    }
    if kms {
        builder = builder.kms_key(KEY);
    }
    builder.build()
}

async fn check(object_writer: &AwsWriter, destination: &Destination) -> CheckResult {
    run(
        object_writer,
        &CheckTarget::under_edit(destination, time::OffsetDateTime::now_utc()),
        &platform(),
        CheckSettings::default(),
    )
    .await
}

fn failed_stage(result: &CheckResult) -> (Stage, FailureCategory) {
    let stage = result
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Failed)
        .expect("a failed stage");
    (stage.stage, stage.failure.as_ref().unwrap().category)
}

fn permanent_redirect() -> Rule {
    mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        answer(
            301,
            &[("x-amz-bucket-region", "eu-west-1"), ("x-amz-request-id", "4Q5YJ7V0Q2M8N1ZP"), ("content-type", "application/xml")],
            s3_error("PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint."),
        )
    })
}

/// The bucket-policy guard's probe, as S3 answers a session the bucket policy does not name.
fn probe_denied() -> Rule {
    mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|input| input.if_none_match() == Some("*"))
        .then_http_response(|| {
            answer(
                403,
                &[("content-type", "application/xml")],
                s3_error("AccessDenied", "Access Denied"),
            )
        })
}

fn put_ok() -> Rule {
    mock!(aws_sdk_s3::Client::put_object)
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build())
}

#[tokio::test]
async fn a_configured_region_that_is_wrong_is_reported_with_the_right_one() {
    let d = destination(Some("us-east-1"), false);
    let result = check(&object_writer(&d, &[permanent_redirect()]), &d).await;
    assert_eq!(
        failed_stage(&result),
        (Stage::LocateBucket, FailureCategory::WrongRegion)
    );
    let failure = result.first_failure().unwrap();
    assert_eq!(failure.bucket_region.as_deref(), Some("eu-west-1"));
    assert_eq!(failure.aws_request_id.as_deref(), Some("4Q5YJ7V0Q2M8N1ZP"));
}

#[tokio::test]
async fn without_a_region_the_write_follows_the_redirect() {
    let d = destination(None, false);
    let result = check(
        &object_writer(&d, &[permanent_redirect(), put_ok(), probe_denied()]),
        &d,
    )
    .await;
    assert!(result.passed, "{result:?}");
    assert_eq!(result.bucket_region.as_deref(), Some("eu-west-1"));
}

#[tokio::test]
async fn every_write_names_the_expected_owner_the_acl_and_the_key() {
    // GIVEN S3 that accepts only a write carrying exactly these headers
    let d = destination(Some("eu-west-1"), true);
    let strict = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|input| {
            input.expected_bucket_owner() == Some(CUSTOMER_ACCOUNT)
                && input.acl() == Some(&aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl)
                && input.server_side_encryption()
                    == Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                && input.ssekms_key_id() == Some(KEY)
        })
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    // WHEN checked THEN it passes (an unmatched request would have no answer and fail)
    let result = check(&object_writer(&d, &[strict, probe_denied()]), &d).await;
    assert!(result.passed, "{result:?}");
}

#[tokio::test]
async fn a_decoy_session_refused_only_by_its_precondition_means_the_policy_grants_others() {
    // GIVEN S3 that takes the test object, then answers the guard's conditional probe with 412
    // (authorised, refused only because the object exists)
    let d = destination(Some("eu-west-1"), false);
    let precondition = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|input| input.if_none_match() == Some("*"))
        .then_http_response(|| {
            answer(
                412,
                &[("content-type", "application/xml")],
                s3_error(
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold",
                ),
            )
        });
    // WHEN checked
    let result = check(&object_writer(&d, &[put_ok(), precondition]), &d).await;
    // THEN the write stage refuses the bucket policy
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::BucketPolicyGrantsOthers)
    );
}

#[tokio::test]
async fn a_bucket_that_refuses_the_acl_header_is_reported() {
    let d = destination(Some("eu-west-1"), false);
    let acl_refused = refused(
        400,
        "AccessControlListNotSupported",
        "The bucket does not allow ACLs",
    );
    let result = check(&object_writer(&d, &[acl_refused]), &d).await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::AclRejected)
    );
}

#[tokio::test]
async fn throttling_is_transient() {
    let d = destination(Some("eu-west-1"), false);
    // The SDK retries throttling itself (three attempts) before the check sees it.
    let slow = || {
        mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
            answer(
                503,
                &[("content-type", "application/xml")],
                s3_error("SlowDown", "Please reduce your request rate."),
            )
        })
    };
    let result = check(&object_writer(&d, &[slow(), slow(), slow()]), &d).await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::Transient)
    );
}

/// S3 refusing the upload with `code` and `message`, as AWS words them.
fn refused(status: u16, code: &'static str, message: &'static str) -> Rule {
    mock!(aws_sdk_s3::Client::put_object).then_http_response(move || {
        answer(
            status,
            &[("content-type", "application/xml")],
            s3_error(code, message),
        )
    })
}

#[tokio::test]
async fn each_kms_refusal_aws_words_names_the_missing_grant() {
    // GIVEN a bucket-policy destination with a key, and each answer AWS gives when S3 cannot use it
    let d = destination(Some("eu-west-1"), true);
    let cases: [(u16, &'static str, &'static str, &str, bool); 6] = [
        // AWS's message without a reason: the causes are listed, and the key statement given
        (
            403,
            "AccessDenied",
            "User: arn:aws:sts::111111111111:assumed-role/w/s is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:222222222222:key/x",
            "could not encrypt",
            true,
        ),
        (
            403,
            "AccessDenied",
            "User: arn:aws:sts::111111111111:assumed-role/w/s is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:222222222222:key/x because no resource-based policy allows the kms:GenerateDataKey action",
            "key's policy",
            true,
        ),
        (
            403,
            "AccessDenied",
            "User: arn:aws:sts::111111111111:assumed-role/w/s is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:222222222222:key/x with an explicit deny in a resource-based policy",
            "explicit Deny",
            false,
        ),
        (
            400,
            "KMS.DisabledException",
            "arn:aws:kms:eu-west-1:222222222222:key/x is disabled.",
            "disabled",
            false,
        ),
        (
            400,
            "KMS.KMSInvalidStateException",
            "arn:aws:kms:eu-west-1:222222222222:key/x is pending deletion.",
            "scheduled for deletion",
            false,
        ),
        (
            400,
            "KMS.NotFoundException",
            "Invalid keyId arn:aws:kms:eu-west-1:222222222222:key/x",
            "no such key",
            false,
        ),
    ];
    for (status, code, message, phrase, with_statement) in cases {
        // WHEN the test upload gets that answer
        let result = check(&object_writer(&d, &[refused(status, code, message)]), &d).await;
        // THEN it is a KMS failure that names the grant (or state) at fault, with the key
        // policy's statement where one fixes it, and echoes nothing of AWS's message
        assert_eq!(
            failed_stage(&result),
            (Stage::Write, FailureCategory::KmsKeyNotUsable),
            "{code}"
        );
        let failure = result.first_failure().unwrap();
        assert!(failure.explanation.contains(phrase), "{code}: {failure:?}");
        assert_eq!(failure.fix_document.is_some(), with_statement, "{code}");
        assert_eq!(failure.aws_error_code.as_deref(), Some(code));
        let shown = serde_json::to_string(failure).unwrap();
        assert!(
            !shown.contains("222222222222:key/x") && !shown.contains("assumed-role/w/s"),
            "no AWS message is echoed: {shown}"
        );
    }
}

#[tokio::test]
async fn a_kms_encrypted_bucket_with_no_key_configured_is_told_so() {
    // GIVEN a destination that names no key, writing into a bucket encrypted by default with one
    let d = destination(Some("eu-west-1"), false);
    let denied = refused(
        403,
        "AccessDenied",
        "User: arn:aws:sts::111111111111:assumed-role/w/s is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:222222222222:key/x because no resource-based policy allows the kms:GenerateDataKey action",
    );
    // WHEN tested
    let result = check(&object_writer(&d, &[denied]), &d).await;
    // THEN the failure says the bucket uses a key the destination does not name
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::KmsKeyNotUsable)
    );
    let failure = result.first_failure().unwrap();
    assert!(
        failure.explanation.contains("names no KMS key"),
        "{failure:?}"
    );
    assert!(failure.fix.contains("kmsKeyArn"));
}
