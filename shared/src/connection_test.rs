//! The staged connection test: prove we can write to the customer's bucket, or say exactly which step
//! failed, why, and what to change. Shared by Test Connection and re-validation.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::config::PlatformPrincipals;
use crate::domain::connection_test::{
    ConnectionTestResult, FailureCategory, Stage, StageFailure, StageResult, StageStatus,
};
use crate::domain::{AuthMode, Destination, Partition, PrincipalArn};
use crate::policy;
use crate::ports::{
    AssumeRoleRequest, AwsFailure, AwsFailureKind, ConnectionProber, PutTestObjectRequest,
    SessionCredentials,
};

/// Limits that keep a test well inside API Gateway's 29 seconds.
#[derive(Debug, Clone, Copy)]
pub struct TestSettings {
    /// The whole test, every stage and retry included.
    pub deadline: Duration,
    /// How long AssumeRole keeps being retried while a new role may still be propagating in IAM.
    pub propagation_budget: Duration,
    pub first_backoff: Duration,
}

impl Default for TestSettings {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(24),
            propagation_budget: Duration::from_secs(12),
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// The object a test writes: one fixed key per destination, so tests overwrite instead of piling up
/// (we have no permission to delete).
pub fn test_object_key(destination: &Destination) -> String {
    destination
        .folder
        .key(&format!(".connection-test-{}", destination.id))
}

/// Visible in the customer's CloudTrail: says who assumed their role, and for which destination.
pub fn session_name(destination: &Destination) -> String {
    format!("destination-{}", destination.id.as_str().replace('-', ""))
}

fn default_region(partition: Partition) -> &'static str {
    match partition {
        Partition::Aws => "us-east-1",
        Partition::AwsCn => "cn-north-1",
        Partition::AwsUsGov => "us-gov-west-1",
    }
}

const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    "RegionDisabledException",
];

fn is_access_denied(failure: &AwsFailure) -> bool {
    // AWS says AccessDenied; some emulators' request-level checks say AccessDeniedException.
    matches!(
        failure.code.as_deref(),
        Some("AccessDenied" | "AccessDeniedException")
    )
}

fn transient_category(failure: &AwsFailure) -> Option<FailureCategory> {
    match failure.kind {
        AwsFailureKind::Timeout => Some(FailureCategory::TimedOut),
        AwsFailureKind::Unreachable => Some(FailureCategory::Transient),
        AwsFailureKind::Service => {
            let code_transient = failure
                .code
                .as_deref()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c));
            let status_transient = failure.http_status.is_some_and(|s| s >= 500 || s == 429);
            (code_transient || status_transient).then_some(FailureCategory::Transient)
        }
    }
}

fn failure(
    category: FailureCategory,
    aws: Option<&AwsFailure>,
    explanation: impl Into<String>,
) -> StageFailure {
    StageFailure {
        category,
        aws_error_code: aws.and_then(|a| a.code.clone()),
        aws_request_id: aws.and_then(|a| a.request_id.clone()),
        explanation: explanation.into(),
        possible_causes: Vec::new(),
        fix: String::new(),
        fix_document: None,
        bucket_region: None,
    }
}

impl StageFailure {
    fn causes(mut self, causes: &[&str]) -> Self {
        self.possible_causes = causes.iter().map(|c| (*c).to_owned()).collect();
        self
    }
    fn fix(mut self, fix: impl Into<String>, document: Option<Value>) -> Self {
        self.fix = fix.into();
        self.fix_document = document;
        self
    }
}

fn transient_failure(category: FailureCategory, aws: &AwsFailure, what: &str) -> StageFailure {
    let explanation = if category == FailureCategory::TimedOut {
        format!("AWS did not answer {what} in time.")
    } else {
        format!("AWS could not serve {what} right now (throttling or a temporary outage).")
    };
    failure(category, Some(aws), explanation)
        .causes(&["A temporary AWS condition, not your configuration."])
        .fix("Nothing to change: run the test again in a minute.", None)
}

struct Context<'a> {
    destination: &'a Destination,
    principal: &'a PrincipalArn,
    started: Instant,
    settings: TestSettings,
}

impl Context<'_> {
    fn remaining(&self) -> Duration {
        self.settings
            .deadline
            .saturating_sub(self.started.elapsed())
    }

    /// Runs one AWS call within what is left of the deadline.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, AwsFailure>>,
    ) -> Result<T, AwsFailure> {
        match tokio::time::timeout(self.remaining(), call).await {
            Ok(result) => result,
            Err(_) => Err(AwsFailure {
                kind: AwsFailureKind::Timeout,
                ..AwsFailure::default()
            }),
        }
    }

    fn trust_policy(&self, external_id: &str) -> Value {
        serde_json::to_value(policy::trust_policy(self.principal.as_str(), external_id))
            .unwrap_or(Value::Null)
    }
}

/// Runs every stage in order and stops at the first failure; later stages are reported as skipped.
pub async fn run<P: ConnectionProber + ?Sized>(
    prober: &P,
    destination: &Destination,
    principals: &PlatformPrincipals,
    settings: TestSettings,
) -> ConnectionTestResult {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let mut stages: Vec<StageResult> = Vec::new();
    let mut bucket_region = None;
    let outcome = run_stages(
        prober,
        destination,
        principals,
        settings,
        started,
        &mut stages,
        &mut bucket_region,
    )
    .await;
    for stage in [
        Stage::Configuration,
        Stage::ConfusedDeputyGuard,
        Stage::AssumeRole,
        Stage::LocateBucket,
        Stage::Write,
    ] {
        if !stages.iter().any(|s| s.stage == stage) {
            stages.push(StageResult {
                stage,
                status: StageStatus::Skipped,
                duration_ms: 0,
                failure: None,
            });
        }
    }
    let passed = outcome.is_ok();
    ConnectionTestResult {
        passed,
        config_version: destination.config_version,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        category: stages
            .iter()
            .find_map(|s| s.failure.as_ref().map(|f| f.category)),
        test_object_key: passed.then(|| test_object_key(destination)),
        bucket_region,
        stages,
    }
}

struct Recorder<'a> {
    stages: &'a mut Vec<StageResult>,
}

impl Recorder<'_> {
    fn passed(&mut self, stage: Stage, since: Instant) {
        self.stages.push(StageResult {
            stage,
            status: StageStatus::Passed,
            duration_ms: since.elapsed().as_millis() as u64,
            failure: None,
        });
    }
    fn skipped(&mut self, stage: Stage) {
        self.stages.push(StageResult {
            stage,
            status: StageStatus::Skipped,
            duration_ms: 0,
            failure: None,
        });
    }
    fn failed(&mut self, stage: Stage, since: Instant, failure: StageFailure) -> Result<(), ()> {
        self.stages.push(StageResult {
            stage,
            status: StageStatus::Failed,
            duration_ms: since.elapsed().as_millis() as u64,
            failure: Some(failure),
        });
        Err(())
    }
}

async fn run_stages<P: ConnectionProber + ?Sized>(
    prober: &P,
    destination: &Destination,
    principals: &PlatformPrincipals,
    settings: TestSettings,
    started: Instant,
    stages: &mut Vec<StageResult>,
    bucket_region: &mut Option<String>,
) -> Result<(), ()> {
    let mut record = Recorder { stages };

    // 1. Configuration
    let since = Instant::now();
    let partition = destination.partition();
    let Some(principal) = principals.for_partition(partition) else {
        return record.failed(
            Stage::Configuration,
            since,
            failure(
                FailureCategory::InvalidConfiguration,
                None,
                format!("This platform has no principal in the {partition} partition, so it cannot write to buckets there."),
            )
            .fix("Use a bucket in a partition the platform serves (see GET /platform).", None),
        );
    };
    let ctx = Context {
        destination,
        principal,
        started,
        settings,
    };
    let role = match &destination.auth {
        AuthMode::BucketPolicy => None,
        AuthMode::IamRole {
            external_id,
            role_arn,
        } => {
            let Some(role_arn) = role_arn else {
                return record.failed(
                    Stage::Configuration,
                    since,
                    failure(FailureCategory::InvalidConfiguration, None, "No role ARN has been set for this destination yet.")
                        .fix("Create the role from the rendered policies, then PATCH the destination with its roleArn.", None),
                );
            };
            if role_arn.partition() != partition {
                return record.failed(
                    Stage::Configuration,
                    since,
                    failure(
                        FailureCategory::InvalidConfiguration,
                        None,
                        format!(
                            "The role is in the {} partition but the bucket's configuration is in {partition}; trust cannot cross partitions.",
                            role_arn.partition()
                        ),
                    )
                    .fix("Create the role in the same partition as the bucket.", None),
                );
            }
            Some((role_arn, external_id))
        }
    };
    if let Some(key) = &destination.kms_key
        && key.partition() != partition
    {
        return record.failed(
            Stage::Configuration,
            since,
            failure(
                FailureCategory::InvalidConfiguration,
                None,
                "The KMS key is in another partition than the bucket.",
            )
            .fix("Use a KMS key from the bucket's partition.", None),
        );
    }
    record.passed(Stage::Configuration, since);

    // 2–3. Role mode: the confused-deputy guard, then the real AssumeRole.
    let session = match role {
        None => {
            record.skipped(Stage::ConfusedDeputyGuard);
            record.skipped(Stage::AssumeRole);
            None
        }
        Some((role_arn, external_id)) => {
            let name = session_name(destination);
            let since = Instant::now();
            let without_id = ctx
                .call(prober.assume_role(AssumeRoleRequest {
                    role_arn,
                    external_id: None,
                    session_name: &name,
                    session_policy: None,
                }))
                .await;
            match without_id {
                // Never used: dropping these credentials is the point.
                Ok(_) => {
                    return record.failed(
                        Stage::ConfusedDeputyGuard,
                        since,
                        failure(
                            FailureCategory::RoleAssumableWithoutExternalId,
                            None,
                            "We could assume your role WITHOUT the External ID. Any other customer of this platform could point us at it and write to your bucket (the confused-deputy problem), so we refuse to use it.",
                        )
                        .causes(&["The role's trust policy has no sts:ExternalId condition, or the condition does not apply to our principal."])
                        .fix(
                            "Replace the role's trust policy with this one; it requires your External ID.",
                            Some(ctx.trust_policy(external_id.expose())),
                        ),
                    );
                }
                Err(e) if is_access_denied(&e) => record.passed(Stage::ConfusedDeputyGuard, since),
                Err(e) => {
                    let category =
                        transient_category(&e).unwrap_or(FailureCategory::RoleNotAssumable);
                    let f = if category == FailureCategory::RoleNotAssumable {
                        failure(category, Some(&e), format!("AWS rejected the role: {}", e.message.clone().unwrap_or_default()))
                            .fix("Check that the Role ARN is exactly the one shown on the role's summary page.", None)
                    } else {
                        transient_failure(category, &e, "the role check")
                    };
                    return record.failed(Stage::ConfusedDeputyGuard, since, f);
                }
            }

            let since = Instant::now();
            let session_policy =
                serde_json::to_string(&policy::permissions_policy(destination)).unwrap_or_default();
            let mut backoff = settings.first_backoff;
            let assumed = loop {
                let attempt = ctx
                    .call(prober.assume_role(AssumeRoleRequest {
                        role_arn,
                        external_id: Some(external_id),
                        session_name: &name,
                        session_policy: Some(&session_policy),
                    }))
                    .await;
                match attempt {
                    Ok(credentials) => break Ok(credentials),
                    // A role created seconds ago answers AccessDenied until IAM has propagated it.
                    Err(e)
                        if (is_access_denied(&e)
                            || transient_category(&e) == Some(FailureCategory::Transient))
                            && since.elapsed() + backoff < settings.propagation_budget
                            && backoff < ctx.remaining() =>
                    {
                        tokio::time::sleep(backoff).await;
                        backoff = backoff.saturating_mul(2);
                    }
                    Err(e) => break Err(e),
                }
            };
            match assumed {
                Ok(credentials) => {
                    record.passed(Stage::AssumeRole, since);
                    Some(credentials)
                }
                Err(e) => {
                    let f = match transient_category(&e) {
                        Some(category) => transient_failure(category, &e, "AssumeRole"),
                        None => failure(
                            FailureCategory::RoleNotAssumable,
                            Some(&e),
                            format!(
                                "We could not assume {role_arn} with your External ID. AWS gives the same AccessDenied for several different mistakes, so check each cause below."
                            ),
                        )
                        .causes(&[
                            "The role does not exist, or the Role ARN has a typo (account id, path or name).",
                            "The role's trust policy does not name our platform principal.",
                            "The trust policy's sts:ExternalId condition is missing or holds a different External ID.",
                            "The role was created moments ago and IAM has not propagated it yet (retry in a minute).",
                        ])
                        .fix(
                            "Make the role's trust policy exactly this document, and check the Role ARN.",
                            Some(ctx.trust_policy(external_id.expose())),
                        ),
                    };
                    return record.failed(Stage::AssumeRole, since, f);
                }
            }
        }
    };

    // 4–5. Find the bucket's region and write the test object there.
    let key = test_object_key(destination);
    let body = format!(
        "Written by the data platform's Test Connection for destination {} at {}. Every test overwrites this object; it is safe to delete.\n",
        destination.id,
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let configured = destination.region.as_ref().map(|r| r.as_str().to_owned());
    let mut region = configured
        .clone()
        .unwrap_or_else(|| default_region(partition).to_owned());
    let since = Instant::now();
    let mut written = put_object(
        &ctx,
        prober,
        session.as_ref(),
        &region,
        &key,
        body.as_bytes(),
    )
    .await;
    if let Err(e) = &written
        && let Some(actual) = redirect_region(e)
    {
        if configured.is_some() && actual != region {
            let mut f = failure(
                FailureCategory::WrongRegion,
                Some(e),
                format!("The bucket is in {actual}, not in the configured region {region}."),
            )
            .fix(
                format!(
                    "Set the destination's region to {actual} (or remove it and we will find it)."
                ),
                None,
            );
            f.bucket_region = Some(actual.clone());
            *bucket_region = Some(actual);
            return record.failed(Stage::LocateBucket, since, f);
        }
        region = actual;
        written = put_object(
            &ctx,
            prober,
            session.as_ref(),
            &region,
            &key,
            body.as_bytes(),
        )
        .await;
    }
    match written {
        Ok(()) => {
            *bucket_region = Some(region);
            record.passed(Stage::LocateBucket, since);
            record.passed(Stage::Write, since);
            Ok(())
        }
        Err(e) if e.code.as_deref() == Some("NoSuchBucket") => record.failed(
            Stage::LocateBucket,
            since,
            failure(
                FailureCategory::BucketNotFound,
                Some(&e),
                format!(
                    "There is no bucket named {} in the {partition} partition.",
                    destination.bucket
                ),
            )
            .causes(&[
                "The bucket name has a typo.",
                "The bucket was deleted.",
                "The bucket is in another partition (China or GovCloud).",
            ])
            .fix(
                "Check the bucket name on the S3 console and update the destination.",
                None,
            ),
        ),
        Err(e) => {
            *bucket_region = Some(region);
            record.passed(Stage::LocateBucket, since);
            record.failed(Stage::Write, since, write_failure(&ctx, &e))
        }
    }
}

async fn put_object<P: ConnectionProber + ?Sized>(
    ctx: &Context<'_>,
    prober: &P,
    session: Option<&SessionCredentials>,
    region: &str,
    key: &str,
    body: &[u8],
) -> Result<(), AwsFailure> {
    ctx.call(prober.put_test_object(PutTestObjectRequest {
        session,
        bucket: &ctx.destination.bucket,
        key,
        region,
        expected_bucket_owner: ctx.destination.bucket_owner.as_ref(),
        kms_key: ctx.destination.kms_key.as_ref(),
        body,
    }))
    .await
}

/// S3 names the bucket's real region on a `PermanentRedirect` (301) and on several other errors.
fn redirect_region(failure: &AwsFailure) -> Option<String> {
    let redirected = failure.http_status == Some(301)
        || matches!(
            failure.code.as_deref(),
            Some(
                "PermanentRedirect"
                    | "AuthorizationHeaderMalformed"
                    | "IllegalLocationConstraintException"
            )
        );
    redirected.then(|| failure.bucket_region.clone()).flatten()
}

fn write_failure(ctx: &Context<'_>, e: &AwsFailure) -> StageFailure {
    let destination = ctx.destination;
    if let Some(category) = transient_category(e) {
        return transient_failure(category, e, "the test upload");
    }
    let code = e.code.as_deref().unwrap_or_default();
    let message = e.message.as_deref().unwrap_or_default();
    let mentions_kms = code.starts_with("KMS.") || message.to_ascii_lowercase().contains("kms");
    if mentions_kms && destination.kms_key.is_some() {
        return failure(FailureCategory::KmsKeyNotUsable, Some(e), "S3 could not encrypt the object with the destination's KMS key.")
            .causes(&[
                "The key policy does not allow our principal (or your role) kms:GenerateDataKey and kms:Decrypt.",
                "The key is disabled, pending deletion, or in another region than the bucket.",
                "A key-policy condition (for example on the encryption context) does not match.",
            ])
            .fix("Grant kms:GenerateDataKey and kms:Decrypt on the key, and check that it is enabled.", None);
    }
    if code == "AccessControlListNotSupported"
        || (code == "InvalidArgument" && message.to_ascii_lowercase().contains("acl"))
    {
        return failure(FailureCategory::AclRejected, Some(e), "The bucket rejected the bucket-owner-full-control ACL header that every upload of ours carries.")
            .causes(&["A bucket policy or setting that refuses ACL headers other than none."])
            .fix("Allow uploads with x-amz-acl: bucket-owner-full-control (the setting 'Bucket owner enforced' accepts it).", None);
    }
    if is_access_denied(e) || e.http_status == Some(403) {
        let owner_mentioned = message.to_ascii_lowercase().contains("owner");
        if owner_mentioned && destination.bucket_owner.is_some() {
            return failure(
                FailureCategory::UnexpectedBucketOwner,
                Some(e),
                format!(
                    "The bucket {} is not owned by account {}, so we did not write to it.",
                    destination.bucket,
                    destination
                        .bucket_owner
                        .as_ref()
                        .map(|a| a.as_str())
                        .unwrap_or_default()
                ),
            )
            .causes(&[
                "The bucket owner account id is wrong.",
                "The bucket was deleted and its name taken by another account.",
            ])
            .fix(
                "Correct bucketOwnerAccountId, or check who owns the bucket now.",
                None,
            );
        }
        let mut causes = vec![];
        match &destination.auth {
            AuthMode::IamRole { .. } => {
                causes.push(
                    "The role's permissions policy is missing or does not allow s3:PutObject.",
                );
                causes.push("The policy covers another folder or bucket than this destination's.");
            }
            AuthMode::BucketPolicy => {
                causes.push("The bucket policy has no statement for our principal.");
                causes.push("The statement covers another folder, or lacks s3:PutObject.");
            }
        }
        causes.push(
            "An explicit Deny (bucket policy, SCP or permissions boundary) blocks the upload.",
        );
        if destination.bucket_owner.is_some() {
            causes.push("The bucket is owned by another account than the expected bucket owner (S3 answers that with the same AccessDenied).");
        }
        if destination.kms_key.is_none() {
            causes
                .push("The bucket's default encryption uses a KMS key we are not allowed to use.");
        }
        let (fix, document) = match &destination.auth {
            AuthMode::IamRole { .. } => (
                "Attach this permissions policy to the role (it allows exactly the destination folder).",
                serde_json::to_value(policy::permissions_policy(destination)).ok(),
            ),
            AuthMode::BucketPolicy => (
                "Add this statement to the bucket policy.",
                serde_json::to_value(policy::bucket_policy_statement(
                    destination,
                    ctx.principal.as_str(),
                ))
                .ok(),
            ),
        };
        let mut f = failure(
            FailureCategory::PutAccessDenied,
            Some(e),
            format!(
                "AWS denied the test upload to s3://{}/{}.",
                destination.bucket,
                test_object_key(destination)
            ),
        )
        .fix(fix, document);
        f.possible_causes = causes.into_iter().map(str::to_owned).collect();
        return f;
    }
    failure(
        FailureCategory::InvalidConfiguration,
        Some(e),
        format!("S3 refused the test upload: {code} {message}")
            .trim()
            .to_owned(),
    )
    .fix("Check the bucket's settings for the error above.", None)
}
