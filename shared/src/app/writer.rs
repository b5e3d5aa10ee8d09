//! Who writes for a destination, and how: the one write path that Test Connection's test object and
//! deliveries share, so that a passing test proves the very session and headers a delivery uses.
//!
//! [`plan`] decides the identity (the customer's role with the destination's External ID, or the
//! platform's writer as `destination-<id>`), the session policy, the pinned owner and the KMS key;
//! [`open_session`] takes that identity on; [`put`] writes one object with it, following S3 to the
//! bucket's region when none is configured. Nothing else in the crate builds a session or a write.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::domain::{
    AccountId, AuthMode, BucketName, Configuration, Destination, DestinationId, ExternalId,
    KmsKeyArn, Partition, PartitionIdentity, PlatformIdentity, RoleArn, RoleSessionName,
    session_name,
};
use crate::policy;
use crate::ports::{
    AssumeRoleRequest, ObjectBody, ObjectTarget, ObjectWriter, ProbeError, ProbeFailure,
    SessionCredentials, WrittenObject,
};

/// Which configuration of a destination is written to, and the owner every write names.
#[derive(Debug, Clone)]
pub struct WriteTarget<'a> {
    pub id: &'a DestinationId,
    pub auth: &'a AuthMode,
    pub configuration: &'a Configuration,
    /// Sent as `ExpectedBucketOwner` on every write.
    pub expected_owner: Option<AccountId>,
}

impl<'a> WriteTarget<'a> {
    /// The configuration under edit (Test Connection), with the owner the customer gave or the
    /// role's account.
    pub fn under_edit(destination: &'a Destination) -> Self {
        Self {
            id: destination.id(),
            auth: destination.auth(),
            configuration: destination.configuration(),
            expected_owner: destination.configuration().expected_owner(),
        }
    }

    /// The active configuration (re-validation and deliveries) and the owner pinned when it was
    /// saved; `None` for a destination never saved.
    pub fn active(destination: &'a Destination) -> Option<Self> {
        let active = destination.active()?;
        Some(Self {
            id: destination.id(),
            auth: destination.auth(),
            configuration: &active.configuration,
            expected_owner: active
                .pinned_owner
                .clone()
                .or_else(|| active.configuration.expected_owner()),
        })
    }
}

/// Why a configuration cannot be written to at all, before any AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    PartitionNotServed(Partition),
    /// Bucket-policy mode writes only into a named owner's bucket.
    BucketOwnerRequired,
    RoleNotSet,
    RoleInOtherPartition {
        role: Partition,
        configuration: Partition,
    },
    /// The role or the bucket is in one of the platform's own accounts.
    PlatformAccount {
        what: &'static str,
        account: AccountId,
    },
    KeyInOtherPartition,
}

/// Everything a write for one destination is made with, decided once.
#[derive(Debug)]
pub struct WritePlan<'a> {
    pub target: &'a WriteTarget<'a>,
    pub identity: &'a PartitionIdentity,
    /// The role whose session writes: the customer's (with `external_id`) or our writer.
    pub role: &'a RoleArn,
    pub external_id: Option<&'a ExternalId>,
    pub session_name: RoleSessionName,
    /// The session may write only this destination's objects, into the expected owner's bucket,
    /// whatever its role allows.
    pub session_policy: String,
}

impl WritePlan<'_> {
    pub fn bucket(&self) -> &BucketName {
        &self.target.configuration.bucket
    }

    pub fn partition(&self) -> Partition {
        self.target.configuration.partition()
    }

    pub fn kms_key(&self) -> Option<&KmsKeyArn> {
        self.target.configuration.kms_key.as_ref()
    }

    /// The region to write to first: the configured one, else the partition's default (S3 then
    /// answers with the bucket's own).
    pub fn first_region(&self) -> String {
        self.target.configuration.region.as_ref().map_or_else(
            || self.partition().default_region().to_owned(),
            |r| r.as_str().to_owned(),
        )
    }

    /// The AssumeRole that opens this plan's session.
    pub fn assume_request(&self) -> AssumeRoleRequest<'_> {
        AssumeRoleRequest {
            role_arn: self.role,
            external_id: self.external_id,
            session_name: &self.session_name,
            session_policy: Some(&self.session_policy),
        }
    }

    /// Where an object under `key` goes, written with `session` in `region`.
    pub fn object<'s>(
        &'s self,
        session: &'s SessionCredentials,
        region: &'s str,
        key: &'s str,
    ) -> ObjectTarget<'s> {
        ObjectTarget {
            session,
            bucket: self.bucket(),
            key,
            region,
            expected_bucket_owner: self.target.expected_owner.as_ref(),
            kms_key: self.kms_key(),
        }
    }
}

/// Decides who writes for `target` and how, or why nobody may.
pub fn plan<'a>(
    target: &'a WriteTarget<'a>,
    platform: &'a PlatformIdentity,
) -> Result<WritePlan<'a>, PlanError> {
    let config = target.configuration;
    let partition = config.partition();
    let identity = platform
        .for_partition(partition)
        .ok_or(PlanError::PartitionNotServed(partition))?;
    let (role, external_id) = match target.auth {
        AuthMode::BucketPolicy => {
            if target.expected_owner.is_none() {
                return Err(PlanError::BucketOwnerRequired);
            }
            (&identity.writer_role, None)
        }
        AuthMode::IamRole { external_id } => {
            let role = config.role_arn.as_ref().ok_or(PlanError::RoleNotSet)?;
            if role.partition() != partition {
                return Err(PlanError::RoleInOtherPartition {
                    role: role.partition(),
                    configuration: partition,
                });
            }
            if platform.is_platform_account(role.account()) {
                return Err(PlanError::PlatformAccount {
                    what: "role",
                    account: role.account().clone(),
                });
            }
            (role, Some(external_id))
        }
    };
    if let Some(owner) = &target.expected_owner
        && platform.is_platform_account(owner)
    {
        return Err(PlanError::PlatformAccount {
            what: "bucket",
            account: owner.clone(),
        });
    }
    if config
        .kms_key
        .as_ref()
        .is_some_and(|k| k.partition() != partition)
    {
        return Err(PlanError::KeyInOtherPartition);
    }
    let session_policy = policy::session_policy(config, target.expected_owner.as_ref());
    Ok(WritePlan {
        target,
        identity,
        role,
        external_id,
        session_name: session_name(target.id),
        session_policy: serde_json::to_string(&session_policy).unwrap_or_default(),
    })
}

/// A point in time after which no AWS call is started or awaited.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Runs one AWS call within what is left; a call still running then is a `Timeout`.
    pub async fn call<T>(
        self,
        call: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        tokio::time::timeout(self.remaining(), call)
            .await
            .unwrap_or_else(|_| Err(ProbeError::new(ProbeFailure::Timeout)))
    }
}

/// Takes on the plan's identity: one AssumeRole as the connector.
///
/// # Errors
/// What STS answered, classified; `Timeout` past the deadline.
pub async fn open_session<W: ObjectWriter>(
    writer: &W,
    plan: &WritePlan<'_>,
    deadline: Deadline,
) -> Result<SessionCredentials, ProbeError> {
    deadline
        .call(writer.assume_role(plan.assume_request()))
        .await
}

/// A written object and the region S3 took it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub region: String,
    pub written: WrittenObject,
    /// How long finding the bucket's region took (zero unless a first attempt was redirected).
    pub located_after: Duration,
    /// The attempt that wrote.
    pub write_took: Duration,
}

/// A write that failed, and where it got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutFailure {
    pub error: ProbeError,
    /// The region of the last attempt, or the bucket's own when the configured one is wrong.
    pub region: String,
    /// The bucket is in `region`, but the configuration names another one.
    pub configured_region_wrong: bool,
    /// How long finding the bucket's region took before the failed attempt.
    pub located_after: Duration,
    pub attempt_took: Duration,
}

/// Writes `body` under `key` with `session`. Without a configured region, a redirect to the
/// bucket's region is followed once; with one, the redirect is the failure.
///
/// # Errors
/// The failed attempt, classified, with the region it was made in.
pub async fn put<W: ObjectWriter>(
    writer: &W,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    key: &str,
    body: ObjectBody,
    deadline: Deadline,
) -> Result<Put, PutFailure> {
    let configured = plan.target.configuration.region.is_some();
    let mut region = plan.first_region();
    let locating = Instant::now();
    let mut attempt = Instant::now();
    let mut result = deadline
        .call(writer.put_object(plan.object(session, &region, key), body.clone()))
        .await;
    if let Err(error) = &result
        && let ProbeFailure::WrongRegion { actual } = &error.failure
    {
        if configured {
            return Err(PutFailure {
                region: actual.clone(),
                configured_region_wrong: true,
                located_after: locating.elapsed(),
                attempt_took: Duration::ZERO,
                error: error.clone(),
            });
        }
        region = actual.clone();
        attempt = Instant::now();
        result = deadline
            .call(writer.put_object(plan.object(session, &region, key), body))
            .await;
    }
    let located_after = attempt.duration_since(locating);
    match result {
        Ok(written) => Ok(Put {
            region,
            written,
            located_after,
            write_took: attempt.elapsed(),
        }),
        Err(error) => Err(PutFailure {
            error,
            region,
            configured_region_wrong: false,
            located_after,
            attempt_took: attempt.elapsed(),
        }),
    }
}
