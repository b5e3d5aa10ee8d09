//! The connection check: prove we can write to the customer's bucket, or say exactly which stage
//! failed, why, and what to change. One function per stage, folded by [`run`]; every sentence a
//! customer reads comes from [`diagnosis`]. Shared by Test Connection and re-validation.

// A stage's error is the customer-facing `StageFailure`, built once per failed check, never on a
// hot path: its size matters less than stages being able to return it directly.
#![allow(clippy::result_large_err)]

pub mod diagnosis;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::domain::check::{CheckResult, Stage, StageFailure, StageResult, StageStatus};
use crate::domain::{
    AccountId, AuthMode, Configuration, Destination, DestinationId, ExternalId, PartitionIdentity,
    PlatformIdentity, RoleArn, session_name,
};
use crate::policy;
use crate::ports::{
    AssumeRoleRequest, ConnectionProber, ProbeError, ProbeFailure, PutTestObjectRequest,
    SessionCredentials,
};
use diagnosis::DeniedWrite;

/// Limits that keep a check well inside API Gateway's 29 seconds.
#[derive(Debug, Clone, Copy)]
pub struct CheckSettings {
    /// The whole check, every stage and retry included.
    pub deadline: Duration,
    /// How long AssumeRole keeps being retried while a new role may still be propagating in IAM.
    pub propagation_budget: Duration,
    pub first_backoff: Duration,
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(24),
            propagation_budget: Duration::from_secs(12),
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// What one check exercises: the configuration under edit (Test Connection) or the active one
/// (re-validation).
pub struct CheckTarget<'a> {
    pub id: &'a DestinationId,
    pub auth: &'a AuthMode,
    pub configuration: &'a Configuration,
    pub config_version: u64,
    /// Sent as `ExpectedBucketOwner` on the write.
    pub expected_owner: Option<AccountId>,
}

impl<'a> CheckTarget<'a> {
    /// Test Connection: the configuration under edit, the owner the customer gave (or the role's).
    pub fn under_edit(destination: &'a Destination) -> Self {
        Self {
            id: destination.id(),
            auth: destination.auth(),
            configuration: destination.configuration(),
            config_version: destination.config_version(),
            expected_owner: destination.configuration().expected_owner(),
        }
    }

    /// Re-validation: the active configuration and the owner pinned when it was saved.
    pub fn active(destination: &'a Destination) -> Option<Self> {
        let active = destination.active()?;
        Some(Self {
            id: destination.id(),
            auth: destination.auth(),
            configuration: &active.configuration,
            config_version: active.config_version,
            expected_owner: active
                .pinned_owner
                .clone()
                .or_else(|| active.configuration.expected_owner()),
        })
    }
}

/// The object a check writes: one fixed key per destination, so checks overwrite instead of
/// piling up (we have no permission to delete).
pub fn test_object_key(target: &CheckTarget<'_>) -> String {
    target
        .configuration
        .folder
        .key(&format!(".connection-test-{}", target.id))
}

/// Runs every stage in order and stops at the first failure; later stages are reported skipped.
pub async fn run<P: ConnectionProber>(
    prober: &P,
    target: &CheckTarget<'_>,
    platform: &PlatformIdentity,
    settings: CheckSettings,
) -> CheckResult {
    let started_at = OffsetDateTime::now_utc();
    let check = Check {
        prober,
        target,
        platform,
        settings,
        started: Instant::now(),
    };
    let mut log = StageLog::default();
    let written = pipeline(&check, &mut log).await;
    let passed = written.is_ok();
    let stages = log.finish();
    CheckResult {
        passed,
        config_version: target.config_version,
        started_at,
        duration_ms: millis(check.started.elapsed()),
        category: stages
            .iter()
            .find_map(|s| s.failure.as_ref().map(|f| f.category)),
        test_object_key: passed.then(|| test_object_key(target)),
        bucket_region: written.as_ref().ok().cloned().or(log.bucket_region),
        bucket_owner: passed.then(|| target.expected_owner.clone()).flatten(),
        stages,
    }
}

async fn pipeline<P: ConnectionProber>(
    check: &Check<'_, P>,
    log: &mut StageLog,
) -> Result<String, Stopped> {
    let since = Instant::now();
    let prepared = log.record(Stage::Configuration, since, configuration(check))?;
    let session = match &prepared.role {
        Some((role, external_id)) => {
            let (guard, assumed) = guard_and_assume(check, &prepared, role, external_id).await;
            log.record_timed(Stage::ConfusedDeputyGuard, guard)?;
            log.record_timed(Stage::AssumeRole, assumed)?
        }
        None => {
            log.skip(Stage::ConfusedDeputyGuard);
            let since = Instant::now();
            let writer = assume_writer(check, &prepared).await;
            log.record(Stage::AssumeRole, since, writer)?
        }
    };
    locate_and_write(check, &prepared, &session, log).await
}

struct Check<'a, P> {
    prober: &'a P,
    target: &'a CheckTarget<'a>,
    platform: &'a PlatformIdentity,
    settings: CheckSettings,
    started: Instant,
}

impl<P: ConnectionProber> Check<'_, P> {
    fn remaining(&self) -> Duration {
        self.settings
            .deadline
            .saturating_sub(self.started.elapsed())
    }

    /// Runs one AWS call within what is left of the deadline.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        tokio::time::timeout(self.remaining(), call)
            .await
            .unwrap_or_else(|_| Err(ProbeError::new(ProbeFailure::Timeout)))
    }

    async fn assume(
        &self,
        role_arn: &RoleArn,
        external_id: Option<&ExternalId>,
        session_policy: Option<&str>,
    ) -> Result<SessionCredentials, ProbeError> {
        let session_name = session_name(self.target.id);
        self.call(self.prober.assume_role(AssumeRoleRequest {
            role_arn,
            external_id,
            session_name: &session_name,
            session_policy,
        }))
        .await
    }
}

/// What the configuration stage established for the others.
struct Prepared<'a> {
    identity: &'a PartitionIdentity,
    role: Option<(&'a RoleArn, &'a ExternalId)>,
    /// This check's session may write only this destination's objects, into the expected owner's
    /// bucket, whatever its role allows.
    session_policy: String,
}

fn configuration<'a, P>(check: &Check<'a, P>) -> Result<Prepared<'a>, StageFailure> {
    let target = check.target;
    let config = target.configuration;
    let partition = config.partition();
    let identity = check
        .platform
        .for_partition(partition)
        .ok_or_else(|| diagnosis::partition_not_served(partition))?;
    let role = match target.auth {
        AuthMode::BucketPolicy => {
            if target.expected_owner.is_none() {
                return Err(diagnosis::bucket_owner_required());
            }
            None
        }
        AuthMode::IamRole { external_id } => {
            let role = config
                .role_arn
                .as_ref()
                .ok_or_else(diagnosis::role_not_set)?;
            if role.partition() != partition {
                return Err(diagnosis::role_in_other_partition(
                    role.partition(),
                    partition,
                ));
            }
            if check.platform.is_platform_account(role.account()) {
                return Err(diagnosis::platform_account("role", role.account()));
            }
            Some((role, external_id))
        }
    };
    if let Some(owner) = &target.expected_owner
        && check.platform.is_platform_account(owner)
    {
        return Err(diagnosis::platform_account("bucket", owner));
    }
    if config
        .kms_key
        .as_ref()
        .is_some_and(|k| k.partition() != partition)
    {
        return Err(diagnosis::key_in_other_partition());
    }
    let session_policy = policy::session_policy(config, target.expected_owner.as_ref());
    Ok(Prepared {
        identity,
        role,
        session_policy: serde_json::to_string(&session_policy).unwrap_or_default(),
    })
}

fn trust_fix(identity: &PartitionIdentity, external_id: &ExternalId) -> Value {
    serde_json::to_value(policy::trust_policy(
        identity.connector.as_str(),
        external_id.expose(),
    ))
    .unwrap_or(Value::Null)
}

type Timed<T> = (Result<T, StageFailure>, Duration);

/// The confused-deputy guard and the real AssumeRole, concurrently: the check takes no longer
/// than one AssumeRole unless IAM is still propagating a new role, and then the guard runs again
/// once the role is visible, so a brand-new loose role cannot slip through.
async fn guard_and_assume<P: ConnectionProber>(
    check: &Check<'_, P>,
    prepared: &Prepared<'_>,
    role: &RoleArn,
    external_id: &ExternalId,
) -> (Timed<()>, Timed<SessionCredentials>) {
    let Ok(wrong_id) = ExternalId::generate() else {
        return (
            (Err(diagnosis::entropy()), Duration::ZERO),
            (Ok(placeholder()), Duration::ZERO),
        );
    };
    let fix = trust_fix(prepared.identity, external_id);
    let since = Instant::now();
    let (guard, assumed) = tokio::join!(
        async { (guard(check, role, &wrong_id, &fix).await, since.elapsed()) },
        async {
            let assumed =
                assume_while_propagating(check, role, external_id, &prepared.session_policy).await;
            (assumed, since.elapsed())
        }
    );
    let (mut guard, guard_took) = guard;
    let (assumed, assume_took) = assumed;
    if let (Ok(()), Ok((_, true))) = (&guard, &assumed) {
        guard = self::guard(check, role, &wrong_id, &fix).await;
    }
    let assumed = assumed.map(|(credentials, _)| credentials).map_err(|e| {
        if e.is_transient() {
            diagnosis::transient(&e, "AssumeRole")
        } else {
            diagnosis::role_not_assumable(role.as_str(), &e, fix.clone())
        }
    });
    ((guard, guard_took), (assumed, assume_took))
}

/// Never used: the pipeline stops at the guard's failure before any credentials are needed.
fn placeholder() -> SessionCredentials {
    SessionCredentials {
        access_key_id: String::new(),
        secret_access_key: String::new(),
        session_token: String::new(),
    }
}

/// Refuses a role we can assume without this destination's External ID, or with a wrong one.
async fn guard<P: ConnectionProber>(
    check: &Check<'_, P>,
    role: &RoleArn,
    wrong_id: &ExternalId,
    fix: &Value,
) -> Result<(), StageFailure> {
    // Whatever these calls return is dropped unused: proving they fail is the point.
    let (without, wrong) = tokio::join!(
        check.assume(role, None, None),
        check.assume(role, Some(wrong_id), None)
    );
    match (without, wrong) {
        (Ok(_), _) => Err(diagnosis::assumable_without_external_id(fix.clone())),
        (_, Ok(_)) => Err(diagnosis::accepts_any_external_id(fix.clone())),
        (Err(a), Err(b)) => match [a, b]
            .into_iter()
            .find(|e| e.failure != ProbeFailure::AccessDenied)
        {
            None => Ok(()),
            Some(e) if e.is_transient() => Err(diagnosis::transient(&e, "the role check")),
            Some(e) => Err(diagnosis::role_rejected(&e)),
        },
    }
}

/// AssumeRole with the External ID. A role created seconds ago answers AccessDenied until IAM has
/// propagated it, so denials and throttling are retried within the propagation budget. Returns
/// whether it had to retry.
async fn assume_while_propagating<P: ConnectionProber>(
    check: &Check<'_, P>,
    role: &RoleArn,
    external_id: &ExternalId,
    session_policy: &str,
) -> Result<(SessionCredentials, bool), ProbeError> {
    let since = Instant::now();
    let mut backoff = check.settings.first_backoff;
    let mut retried = false;
    loop {
        match check
            .assume(role, Some(external_id), Some(session_policy))
            .await
        {
            Ok(credentials) => return Ok((credentials, retried)),
            Err(e)
                if matches!(
                    e.failure,
                    ProbeFailure::AccessDenied | ProbeFailure::Throttled
                ) && since.elapsed() + backoff < check.settings.propagation_budget
                    && backoff < check.remaining() =>
            {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                retried = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Bucket-policy mode: our writer role, in a session named after this destination, which is the
/// principal the customer's bucket policy names.
async fn assume_writer<P: ConnectionProber>(
    check: &Check<'_, P>,
    prepared: &Prepared<'_>,
) -> Result<SessionCredentials, StageFailure> {
    check
        .assume(
            &prepared.identity.writer_role,
            None,
            Some(&prepared.session_policy),
        )
        .await
        .map_err(|e| {
            if e.is_transient() {
                diagnosis::transient(&e, "AssumeRole")
            } else {
                diagnosis::writer_not_assumable(&e)
            }
        })
}

/// Writes the test object, following S3 to the bucket's region when none is configured.
/// `LocateBucket` covers the attempts that found the region; `Write` the one that wrote.
async fn locate_and_write<P: ConnectionProber>(
    check: &Check<'_, P>,
    prepared: &Prepared<'_>,
    session: &SessionCredentials,
    log: &mut StageLog,
) -> Result<String, Stopped> {
    let target = check.target;
    let config = target.configuration;
    let partition = config.partition();
    let configured = config.region.as_ref().map(|r| r.as_str().to_owned());
    let mut region = configured
        .clone()
        .unwrap_or_else(|| partition.default_region().to_owned());
    let key = test_object_key(target);
    let body = format!(
        "Written by the data platform's Test Connection for destination {} at {}. Every test overwrites this object; it is safe to delete.\n",
        target.id,
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let locating = Instant::now();
    let mut attempt = Instant::now();
    let mut written = put(check, session, &region, &key, body.as_bytes()).await;
    if let Err(e) = &written
        && let ProbeFailure::WrongRegion { actual } = &e.failure
    {
        if let Some(configured) = &configured {
            log.bucket_region = Some(actual.clone());
            let failure = diagnosis::wrong_region(actual, configured, e);
            return Err(log.failed(Stage::LocateBucket, locating.elapsed(), failure));
        }
        region = actual.clone();
        attempt = Instant::now();
        written = put(check, session, &region, &key, body.as_bytes()).await;
    }
    let located_after = attempt.duration_since(locating);
    match written {
        Ok(()) => {
            log.passed(Stage::LocateBucket, located_after);
            log.passed(Stage::Write, attempt.elapsed());
            Ok(region)
        }
        Err(e) if e.failure == ProbeFailure::NoSuchBucket => {
            let failure = diagnosis::bucket_not_found(&config.bucket, partition, &e);
            Err(log.failed(Stage::LocateBucket, locating.elapsed(), failure))
        }
        Err(e) => {
            log.bucket_region = Some(region);
            log.passed(Stage::LocateBucket, located_after);
            let failure = write_failure(check, prepared, &e);
            Err(log.failed(Stage::Write, attempt.elapsed(), failure))
        }
    }
}

async fn put<P: ConnectionProber>(
    check: &Check<'_, P>,
    session: &SessionCredentials,
    region: &str,
    key: &str,
    body: &[u8],
) -> Result<(), ProbeError> {
    let config = check.target.configuration;
    check
        .call(check.prober.put_test_object(PutTestObjectRequest {
            session,
            bucket: &config.bucket,
            key,
            region,
            expected_bucket_owner: check.target.expected_owner.as_ref(),
            kms_key: config.kms_key.as_ref(),
            body,
        }))
        .await
}

fn write_failure<P>(check: &Check<'_, P>, prepared: &Prepared<'_>, e: &ProbeError) -> StageFailure {
    let target = check.target;
    let config = target.configuration;
    match &e.failure {
        _ if e.is_transient() => diagnosis::transient(e, "the test upload"),
        ProbeFailure::KmsDenied if config.kms_key.is_some() => diagnosis::kms_not_usable(e),
        ProbeFailure::AclRejected => diagnosis::acl_rejected(e),
        ProbeFailure::OwnerMismatch => match &target.expected_owner {
            Some(owner) => diagnosis::owner_mismatch(&config.bucket, owner, e),
            None => diagnosis::s3_refused(e),
        },
        ProbeFailure::AccessDenied | ProbeFailure::KmsDenied => {
            let writer = check.platform.writer_session(config.partition(), target.id);
            let fix_document = match target.auth {
                AuthMode::IamRole { .. } => {
                    serde_json::to_value(policy::permissions_policy(config)).ok()
                }
                AuthMode::BucketPolicy => writer.as_ref().and_then(|w| {
                    serde_json::to_value(policy::bucket_policy_statement(
                        target.id,
                        config,
                        w.as_str(),
                    ))
                    .ok()
                }),
            };
            let denied = DeniedWrite {
                auth: target.auth.kind(),
                object: format!("s3://{}/{}", config.bucket, test_object_key(target)),
                owner: target.expected_owner.as_ref(),
                has_kms_key: config.kms_key.is_some(),
                former_principal: matches!(target.auth, AuthMode::BucketPolicy)
                    .then(|| prepared.identity.connector.as_str()),
                fix_document,
            };
            diagnosis::put_denied(denied, e)
        }
        _ => diagnosis::s3_refused(e),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The pipeline stopped at a failed stage (already recorded).
struct Stopped;

#[derive(Default)]
struct StageLog {
    stages: Vec<StageResult>,
    bucket_region: Option<String>,
}

impl StageLog {
    fn push(
        &mut self,
        stage: Stage,
        status: StageStatus,
        took: Duration,
        failure: Option<StageFailure>,
    ) {
        self.stages.push(StageResult {
            stage,
            status,
            duration_ms: millis(took),
            failure,
        });
    }

    fn passed(&mut self, stage: Stage, took: Duration) {
        self.push(stage, StageStatus::Passed, took, None);
    }

    fn skip(&mut self, stage: Stage) {
        self.push(stage, StageStatus::Skipped, Duration::ZERO, None);
    }

    fn failed(&mut self, stage: Stage, took: Duration, failure: StageFailure) -> Stopped {
        self.push(stage, StageStatus::Failed, took, Some(failure));
        Stopped
    }

    fn record<T>(
        &mut self,
        stage: Stage,
        since: Instant,
        result: Result<T, StageFailure>,
    ) -> Result<T, Stopped> {
        self.record_timed(stage, (result, since.elapsed()))
    }

    fn record_timed<T>(&mut self, stage: Stage, (result, took): Timed<T>) -> Result<T, Stopped> {
        match result {
            Ok(value) => {
                self.passed(stage, took);
                Ok(value)
            }
            Err(failure) => Err(self.failed(stage, took, failure)),
        }
    }

    /// Every stage, in order; those that never ran are skipped.
    fn finish(&self) -> Vec<StageResult> {
        Stage::ALL
            .into_iter()
            .map(|stage| {
                self.stages
                    .iter()
                    .find(|s| s.stage == stage)
                    .cloned()
                    .unwrap_or(StageResult {
                        stage,
                        status: StageStatus::Skipped,
                        duration_ms: 0,
                        failure: None,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
