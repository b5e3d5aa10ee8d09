//! Failure categories the emulator cannot reproduce (region redirects, KMS denials, bucket-owner
//! mismatches, ACL rejection, throttling), driven through the real AwsProber and S3 SDK with
//! responses recorded from AWS: their status codes, error codes, headers and bodies.

use aws_sdk_s3::config::Credentials;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;

use shared::adapters::aws_probe::AwsProber;
use shared::config::PlatformPrincipals;
use shared::connection_test::{TestSettings, run};
use shared::domain::connection_test::{ConnectionTestResult, FailureCategory, Stage, StageStatus};
use shared::domain::*;
use support::fixtures;

const PRINCIPAL: &str = "arn:aws:iam::111111111111:role/destinations-platform-connector";
const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn recorded(
    status: u16,
    headers: &[(&'static str, &'static str)],
    body: &'static str,
) -> HttpResponse {
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    for (name, value) in headers {
        response.headers_mut().insert(*name, *value);
    }
    response
}

fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4Q5YJ7V0Q2M8N1ZP</RequestId><HostId>uS9k0m2xWcBq3r0u4n5FQ0nJ7mYc2hGxJ2cUeK0kT1uJ0n2bZl3A1pQyXv9sTq==</HostId></Error>"
    )
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The prober with S3 answering from `rules` in order. STS is never reached in bucket-policy mode.
fn prober(rules: &[Rule]) -> AwsProber {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "recorded");
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(credentials.clone())
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(create_mock_http_client())
            .build(),
    );
    AwsProber::new(sts, s3)
}

fn destination(region: Option<&str>, kms: bool, owner: Option<&str>) -> Destination {
    let mut builder =
        fixtures::destination(AuthModeKind::BucketPolicy, "acme-raw-events", "incoming");
    if let Some(region) = region {
        builder = builder.region(region);
    }
    if kms {
        builder = builder.kms_key(KEY);
    }
    if let Some(owner) = owner {
        builder = builder.bucket_owner(owner);
    }
    builder.draft()
}

async fn test(prober: &AwsProber, destination: &Destination) -> ConnectionTestResult {
    run(
        prober,
        destination,
        &PlatformPrincipals::parse(PRINCIPAL).unwrap(),
        TestSettings::default(),
    )
    .await
}

fn failed_stage(result: &ConnectionTestResult) -> (Stage, FailureCategory) {
    let stage = result
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Failed)
        .expect("a failed stage");
    (stage.stage, stage.failure.as_ref().unwrap().category)
}

fn permanent_redirect() -> Rule {
    mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        recorded(
            301,
            &[("x-amz-bucket-region", "eu-west-1"), ("x-amz-request-id", "4Q5YJ7V0Q2M8N1ZP"), ("content-type", "application/xml")],
            leak(s3_error("PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.")),
        )
    })
}

#[tokio::test]
async fn configured_region_that_is_wrong_is_reported_with_the_right_one() {
    // GIVEN a destination configured for us-east-1 whose bucket lives in eu-west-1
    let prober = prober(&[permanent_redirect()]);
    let d = destination(Some("us-east-1"), false, None);
    // WHEN tested
    let result = test(&prober, &d).await;
    // THEN locating the bucket fails with the region S3 named
    assert_eq!(
        failed_stage(&result),
        (Stage::LocateBucket, FailureCategory::WrongRegion)
    );
    let failure = result.first_failure().unwrap();
    assert_eq!(failure.bucket_region.as_deref(), Some("eu-west-1"));
    assert_eq!(failure.aws_error_code.as_deref(), Some("PermanentRedirect"));
    assert_eq!(failure.aws_request_id.as_deref(), Some("4Q5YJ7V0Q2M8N1ZP"));
    assert!(failure.fix.contains("eu-west-1"));
}

#[tokio::test]
async fn without_a_configured_region_the_redirect_is_followed_once() {
    let ok = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        recorded(
            200,
            &[
                ("etag", "\"9b2cf535f27731c974343645a3985328\""),
                ("x-amz-request-id", "R2"),
            ],
            "",
        )
    });
    let prober = prober(&[permanent_redirect(), ok]);
    let result = test(&prober, &destination(None, false, None)).await;
    assert!(result.passed, "{result:?}");
    assert_eq!(result.bucket_region.as_deref(), Some("eu-west-1"));
}

#[tokio::test]
async fn kms_denial_is_its_own_category() {
    let rule = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        recorded(
            403,
            &[("x-amz-request-id", "K3")],
            leak(s3_error("AccessDenied", "User: arn:aws:sts::111111111111:assumed-role/destinations-platform-connector/fn is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab because no resource-based policy allows the kms:GenerateDataKey action")),
        )
    });
    let result = test(
        &prober(&[rule]),
        &destination(Some("eu-west-1"), true, None),
    )
    .await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::KmsKeyNotUsable)
    );
}

#[tokio::test]
async fn disabled_kms_key_is_kms_key_not_usable() {
    let rule = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        recorded(400, &[("x-amz-request-id", "K4")], leak(s3_error("KMS.DisabledException", "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab is disabled.")))
    });
    let result = test(
        &prober(&[rule]),
        &destination(Some("eu-west-1"), true, None),
    )
    .await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::KmsKeyNotUsable)
    );
}

#[tokio::test]
async fn expected_bucket_owner_mismatch_is_named_among_the_causes() {
    // S3 answers a wrong ExpectedBucketOwner with the plain 403 AccessDenied it uses for missing
    // permissions, so the result cannot single it out: it must list it.
    let rule = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        recorded(
            403,
            &[("x-amz-request-id", "O5")],
            leak(s3_error("AccessDenied", "Access Denied")),
        )
    });
    let result = test(
        &prober(&[rule]),
        &destination(Some("eu-west-1"), false, Some("999999999999")),
    )
    .await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::PutAccessDenied)
    );
    let causes = result.first_failure().unwrap().possible_causes.join(" ");
    assert!(causes.contains("expected bucket owner"), "{causes}");
}

#[tokio::test]
async fn acl_rejection_is_its_own_category() {
    let rule = mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        recorded(
            400,
            &[("x-amz-request-id", "A6")],
            leak(s3_error(
                "AccessControlListNotSupported",
                "The bucket does not allow ACLs",
            )),
        )
    });
    let result = test(
        &prober(&[rule]),
        &destination(Some("eu-west-1"), false, None),
    )
    .await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::AclRejected)
    );
}

#[tokio::test]
async fn throttling_is_transient() {
    let slow_down = || {
        recorded(
            503,
            &[("x-amz-request-id", "T7")],
            leak(s3_error("SlowDown", "Please reduce your request rate.")),
        )
    };
    // The SDK retries 503s itself (standard retry mode: three attempts).
    let rules: Vec<Rule> = (0..3)
        .map(|_| mock!(aws_sdk_s3::Client::put_object).then_http_response(slow_down))
        .collect();
    let result = test(
        &prober(&rules),
        &destination(Some("eu-west-1"), false, None),
    )
    .await;
    assert_eq!(
        failed_stage(&result),
        (Stage::Write, FailureCategory::Transient)
    );
    assert!(result.category.unwrap().is_transient());
}
