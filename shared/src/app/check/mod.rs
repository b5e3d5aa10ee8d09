//! The connection check: prove we can write to the customer's bucket, or say exactly which stage
//! failed, why, and what to change. One function per stage, folded by [`run`]; every sentence a
//! customer reads comes from [`diagnosis`]. Shared by Test Connection and re-validation.

// A stage's error is the customer-facing `StageFailure`, built once per failed check, never on a
// hot path: its size matters less than stages being able to return it directly.
#![allow(clippy::result_large_err)]

pub mod diagnosis;

use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use super::writer::{self, Deadline, PlanError, WritePlan, WriteTarget};
use crate::domain::check::{CheckResult, Stage, StageFailure, StageResult, StageStatus};
use crate::domain::{AuthMode, Destination, ExternalId, PartitionIdentity, PlatformIdentity};
use crate::policy;
use crate::ports::{
    AssumeRoleRequest, KmsRefusal, ObjectBody, ObjectWriter, ProbeError, ProbeFailure,
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
/// (re-validation), written to exactly as deliveries write to it.
pub struct CheckTarget<'a> {
    pub write: WriteTarget<'a>,
    pub config_version: u64,
    /// Role mode: the IDs the trust policy must accept (the fix a trust failure shows).
    pub trusted: Vec<&'a ExternalId>,
    /// Role mode: IDs the role must refuse besides none and a wrong one: those completed
    /// rotations retired whose grace window has ended.
    pub refused: Vec<&'a ExternalId>,
}

impl<'a> CheckTarget<'a> {
    /// Test Connection: the configuration under edit, the owner the customer gave (or the role's).
    pub fn under_edit(destination: &'a Destination, now: OffsetDateTime) -> Self {
        Self::of(
            destination,
            WriteTarget::under_edit(destination),
            destination.config_version(),
            now,
        )
    }

    /// Re-validation: the active configuration and the owner pinned when it was saved.
    pub fn active(destination: &'a Destination, now: OffsetDateTime) -> Option<Self> {
        Some(Self::of(
            destination,
            WriteTarget::active(destination)?,
            destination.active()?.config_version,
            now,
        ))
    }

    fn of(
        destination: &'a Destination,
        write: WriteTarget<'a>,
        config_version: u64,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            write,
            config_version,
            trusted: destination.trusted_external_ids(),
            refused: destination.rotation().due(now).map(|r| &r.id).collect(),
        }
    }
}

/// The object a check writes: one fixed key per destination, so checks overwrite instead of
/// piling up (we have no permission to delete).
pub fn test_object_key(target: &WriteTarget<'_>) -> String {
    target
        .configuration
        .folder
        .key(&format!(".connection-test-{}", target.id))
}

/// Runs every stage in order and stops at the first failure; later stages are reported skipped.
pub async fn run<W: ObjectWriter>(
    writer: &W,
    target: &CheckTarget<'_>,
    platform: &PlatformIdentity,
    settings: CheckSettings,
) -> CheckResult {
    let started_at = OffsetDateTime::now_utc();
    let check = Check {
        writer,
        target: &target.write,
        trusted: &target.trusted,
        refused: &target.refused,
        platform,
        settings,
        started: Instant::now(),
        deadline: Deadline::after(settings.deadline),
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
        test_object_key: passed.then(|| test_object_key(&target.write)),
        bucket_region: written.as_ref().ok().cloned().or(log.bucket_region),
        bucket_owner: passed
            .then(|| target.write.expected_owner.clone())
            .flatten(),
        stages,
    }
}

async fn pipeline<W: ObjectWriter>(
    check: &Check<'_, W>,
    log: &mut StageLog,
) -> Result<String, Stopped> {
    let since = Instant::now();
    let plan = writer::plan(check.target, check.platform).map_err(|e| configuration_failure(&e));
    let plan = log.record(Stage::Configuration, since, plan)?;
    let session = match plan.external_id {
        Some(_) => {
            let (guard, assumed) = guard_and_assume(check, &plan).await;
            log.record_timed(Stage::ConfusedDeputyGuard, guard)?;
            log.record_timed(Stage::AssumeRole, assumed)?
        }
        None => {
            log.skip(Stage::ConfusedDeputyGuard);
            let since = Instant::now();
            let writer = assume_writer(check, &plan).await;
            log.record(Stage::AssumeRole, since, writer)?
        }
    };
    locate_and_write(check, &plan, &session, log).await
}

struct Check<'a, W> {
    writer: &'a W,
    target: &'a WriteTarget<'a>,
    trusted: &'a [&'a ExternalId],
    refused: &'a [&'a ExternalId],
    platform: &'a PlatformIdentity,
    settings: CheckSettings,
    started: Instant,
    deadline: Deadline,
}

/// The configuration stage's diagnosis of a configuration nobody may write to.
fn configuration_failure(error: &PlanError) -> StageFailure {
    match error {
        PlanError::PartitionNotServed(partition) => diagnosis::partition_not_served(*partition),
        PlanError::BucketOwnerRequired => diagnosis::bucket_owner_required(),
        PlanError::RoleNotSet => diagnosis::role_not_set(),
        PlanError::RoleInOtherPartition {
            role,
            configuration,
        } => diagnosis::role_in_other_partition(*role, *configuration),
        PlanError::PlatformAccount { what, account } => diagnosis::platform_account(what, account),
        PlanError::KeyInOtherPartition => diagnosis::key_in_other_partition(),
    }
}

fn trust_fix(identity: &PartitionIdentity, trusted: &[&ExternalId]) -> Value {
    let trusted: Vec<&str> = trusted.iter().map(|id| id.expose()).collect();
    serde_json::to_value(policy::trust_policy(identity.connector.as_str(), &trusted))
        .unwrap_or(Value::Null)
}

type Timed<T> = (Result<T, StageFailure>, Duration);

/// The confused-deputy guard and the real AssumeRole, concurrently: the check takes no longer
/// than one AssumeRole unless IAM is still propagating a new role, and then the guard runs again
/// once the role is visible, so a brand-new loose role cannot slip through.
async fn guard_and_assume<W: ObjectWriter>(
    check: &Check<'_, W>,
    plan: &WritePlan<'_>,
) -> (Timed<()>, Timed<SessionCredentials>) {
    let Ok(wrong_id) = ExternalId::generate() else {
        return (
            (Err(diagnosis::entropy()), Duration::ZERO),
            (Ok(placeholder()), Duration::ZERO),
        );
    };
    let fix = trust_fix(plan.identity, check.trusted);
    let since = Instant::now();
    let (guard, assumed) = tokio::join!(
        async { (guard(check, plan, &wrong_id, &fix).await, since.elapsed()) },
        async {
            let assumed = assume_while_propagating(check, plan).await;
            (assumed, since.elapsed())
        }
    );
    let (mut guard, guard_took) = guard;
    let (assumed, assume_took) = assumed;
    if let (Ok(()), Ok((_, true))) = (&guard, &assumed) {
        guard = self::guard(check, plan, &wrong_id, &fix).await;
    }
    let assumed = assumed.map(|(credentials, _)| credentials).map_err(|e| {
        if e.is_transient() {
            diagnosis::transient(&e, "AssumeRole")
        } else {
            diagnosis::role_not_assumable(plan.role.as_str(), &e, fix.clone())
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
        expires_at: None,
    }
}

/// Refuses a role we can assume without this destination's External ID, or with a wrong one, or
/// (after a rotation's grace window) with the ID it retired: the plan's own AssumeRole with the
/// External ID left out or replaced, and no session policy.
async fn guard<W: ObjectWriter>(
    check: &Check<'_, W>,
    plan: &WritePlan<'_>,
    wrong_id: &ExternalId,
    fix: &Value,
) -> Result<(), StageFailure> {
    let probe = |external_id| AssumeRoleRequest {
        external_id,
        session_policy: None,
        ..plan.assume_request()
    };
    let assume = |external_id| {
        check
            .deadline
            .call(check.writer.assume_role(probe(external_id)))
    };
    // Whatever these calls return is dropped unused: proving they fail is the point.
    let (without, wrong, retired) = tokio::join!(
        assume(None),
        assume(Some(wrong_id)),
        futures::future::join_all(check.refused.iter().map(|id| assume(Some(id))))
    );
    if without.is_ok() {
        return Err(diagnosis::assumable_without_external_id(fix.clone()));
    }
    if wrong.is_ok() {
        return Err(diagnosis::accepts_any_external_id(fix.clone()));
    }
    if retired.iter().any(Result::is_ok) {
        return Err(diagnosis::accepts_retired_external_id(fix.clone()));
    }
    match [without, wrong]
        .into_iter()
        .chain(retired)
        .filter_map(Result::err)
        .find(|e| e.failure != ProbeFailure::AccessDenied)
    {
        None => Ok(()),
        Some(e) if e.is_transient() => Err(diagnosis::transient(&e, "the role check")),
        Some(e) => Err(diagnosis::role_rejected(&e)),
    }
}

/// The plan's session, with the External ID. A role created seconds ago answers AccessDenied
/// until IAM has propagated it, so denials and throttling are retried within the propagation
/// budget. Returns whether it had to retry.
async fn assume_while_propagating<W: ObjectWriter>(
    check: &Check<'_, W>,
    plan: &WritePlan<'_>,
) -> Result<(SessionCredentials, bool), ProbeError> {
    let since = Instant::now();
    let mut backoff = check.settings.first_backoff;
    let mut retried = false;
    loop {
        match writer::open_session(check.writer, plan, check.deadline).await {
            Ok(credentials) => return Ok((credentials, retried)),
            Err(e)
                if matches!(
                    e.failure,
                    ProbeFailure::AccessDenied | ProbeFailure::Throttled
                ) && since.elapsed() + backoff < check.settings.propagation_budget
                    && backoff < check.deadline.remaining() =>
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
async fn assume_writer<W: ObjectWriter>(
    check: &Check<'_, W>,
    plan: &WritePlan<'_>,
) -> Result<SessionCredentials, StageFailure> {
    writer::open_session(check.writer, plan, check.deadline)
        .await
        .map_err(|e| {
            if e.is_transient() {
                diagnosis::transient(&e, "AssumeRole")
            } else {
                diagnosis::writer_not_assumable(&e)
            }
        })
}

/// Writes the test object through the writer, which follows S3 to the bucket's region when none is
/// configured. `LocateBucket` covers the attempts that found the region; `Write` the one that wrote.
async fn locate_and_write<W: ObjectWriter>(
    check: &Check<'_, W>,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    log: &mut StageLog,
) -> Result<String, Stopped> {
    let target = check.target;
    let config = target.configuration;
    let key = test_object_key(target);
    let text = format!(
        "Written by the data platform's Test Connection for destination {} at {}. Every test overwrites this object; it is safe to delete.\n",
        target.id,
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let body = writer::body(text.into(), "text/plain; charset=utf-8");
    match writer::put(check.writer, plan, session, &key, body, check.deadline).await {
        Ok(put) => {
            log.passed(Stage::LocateBucket, put.located_after);
            if matches!(target.auth, AuthMode::BucketPolicy) {
                let since = Instant::now();
                if let Err(failure) = only_this_session_writes(check, plan, &put.region, &key).await
                {
                    let took = put.write_took + since.elapsed();
                    return Err(log.failed(Stage::Write, took, failure));
                }
            }
            log.passed(Stage::Write, put.write_took);
            Ok(put.region)
        }
        Err(failed) if failed.configured_region_wrong => {
            log.bucket_region = Some(failed.region.clone());
            let configured = config.region.as_ref().map_or("", |r| r.as_str());
            let failure = diagnosis::wrong_region(&failed.region, configured, &failed.error);
            Err(log.failed(Stage::LocateBucket, failed.located_after, failure))
        }
        Err(failed) if failed.error.failure == ProbeFailure::NoSuchBucket => {
            let failure =
                diagnosis::bucket_not_found(&config.bucket, config.partition(), &failed.error);
            let took = failed.located_after + failed.attempt_took;
            Err(log.failed(Stage::LocateBucket, took, failure))
        }
        Err(failed) => {
            log.bucket_region = Some(failed.region);
            log.passed(Stage::LocateBucket, failed.located_after);
            let failure = write_failure(check, plan, &failed.error);
            Err(log.failed(Stage::Write, failed.attempt_took, failure))
        }
    }
}

/// Bucket-policy mode: proves the bucket policy grants this destination's session and no other.
/// A decoy session of our writer (a `destination-…` name that belongs to no destination, with the
/// same session policy) tries the same upload over the test object just written, with
/// `If-None-Match: *`: S3 authorises it first, so a 412 means the decoy was allowed (and nothing
/// was written), and AccessDenied means it was not. Anything else fails closed, like the External
/// ID guard.
async fn only_this_session_writes<W: ObjectWriter>(
    check: &Check<'_, W>,
    plan: &WritePlan<'_>,
    region: &str,
    key: &str,
) -> Result<(), StageFailure> {
    let decoy = crate::domain::session_name(&crate::domain::DestinationId::generate());
    let request = AssumeRoleRequest {
        session_name: &decoy,
        ..plan.assume_request()
    };
    let session = check
        .deadline
        .call(check.writer.assume_role(request))
        .await
        .map_err(|e| {
            if e.is_transient() {
                diagnosis::transient(&e, "the bucket policy check")
            } else {
                diagnosis::writer_not_assumable(&e)
            }
        })?;
    let probe = ObjectBody {
        only_if_absent: true,
        ..writer::body(bytes::Bytes::new(), "text/plain; charset=utf-8")
    };
    let answer = check
        .deadline
        .call(
            check
                .writer
                .put_object(plan.object(&session, region, key), probe),
        )
        .await;
    match answer {
        Err(e) if e.failure == ProbeFailure::AccessDenied => Ok(()),
        // Allowed: refused only because the object exists, or (had it vanished) written.
        Err(e) if e.failure == ProbeFailure::AlreadyExists => Err(grants_others(check)),
        Ok(_) => Err(grants_others(check)),
        Err(e) if e.is_transient() => Err(diagnosis::transient(&e, "the bucket policy check")),
        Err(e) => Err(diagnosis::s3_refused(&e)),
    }
}

fn grants_others<W>(check: &Check<'_, W>) -> StageFailure {
    let target = check.target;
    let config = target.configuration;
    let statement = check
        .platform
        .writer_session(config.partition(), target.id)
        .and_then(|w| {
            serde_json::to_value(policy::bucket_policy_statement(
                target.id,
                config,
                w.as_str(),
            ))
            .ok()
        });
    diagnosis::bucket_policy_grants_others(statement)
}

fn write_failure<W>(check: &Check<'_, W>, plan: &WritePlan<'_>, e: &ProbeError) -> StageFailure {
    let target = check.target;
    let config = target.configuration;
    match &e.failure {
        _ if e.is_transient() => diagnosis::transient(e, "the test upload"),
        ProbeFailure::KmsDenied(refusal) => kms_failure(check, *refusal, e),
        ProbeFailure::AclRejected => diagnosis::acl_rejected(e),
        ProbeFailure::OwnerMismatch => match &target.expected_owner {
            Some(owner) => diagnosis::owner_mismatch(&config.bucket, owner, e),
            None => diagnosis::s3_refused(e),
        },
        ProbeFailure::AccessDenied => {
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
                    .then(|| plan.identity.connector.as_str()),
                fix_document,
            };
            diagnosis::put_denied(denied, e)
        }
        _ => diagnosis::s3_refused(e),
    }
}

fn kms_failure<W>(check: &Check<'_, W>, refusal: KmsRefusal, e: &ProbeError) -> StageFailure {
    let target = check.target;
    let config = target.configuration;
    // The identity S3 asked KMS for: the role (role mode) or this destination's writer session.
    let principal = match target.auth {
        AuthMode::IamRole { .. } => config.role_arn.as_ref().map(|r| r.as_str().to_owned()),
        AuthMode::BucketPolicy => check
            .platform
            .writer_session(config.partition(), target.id)
            .map(|w| w.as_str().to_owned()),
    };
    let key_policy_statement = principal
        .and_then(|p| policy::key_policy_statement(target.id, config, &p))
        .and_then(|s| serde_json::to_value(s).ok());
    let permissions_policy = matches!(target.auth, AuthMode::IamRole { .. })
        .then(|| serde_json::to_value(policy::permissions_policy(config)).ok())
        .flatten();
    diagnosis::kms_not_usable(
        diagnosis::KmsDenial {
            refusal,
            auth: target.auth.kind(),
            has_kms_key: config.kms_key.is_some(),
            key_policy_statement,
            permissions_policy,
        },
        e,
    )
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
