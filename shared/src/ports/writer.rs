//! The AWS calls that write for a destination (Test Connection's test object and deliveries alike),
//! and the failures they tell apart.

use std::future::Future;

use crate::domain::{AccountId, BucketName, ExternalId, KmsKeyArn, RoleArn, RoleSessionName};

/// Temporary credentials from AssumeRole. They never leave the function: no `Serialize`, and a
/// redacted `Debug`.
#[derive(Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCredentials(<redacted>)")
    }
}

pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a RoleArn,
    /// `None` (and a wrong one) on purpose for the confused-deputy guard.
    pub external_id: Option<&'a ExternalId>,
    pub session_name: &'a RoleSessionName,
    /// Scopes the session below what the role allows.
    pub session_policy: Option<&'a str>,
}

/// Where one object goes, and as whom: every write of ours names the bucket's expected owner, the
/// `bucket-owner-full-control` ACL, and the destination's KMS key when it has one.
#[derive(Debug, Clone, Copy)]
pub struct ObjectTarget<'a> {
    pub session: &'a SessionCredentials,
    pub bucket: &'a BucketName,
    pub key: &'a str,
    pub region: &'a str,
    pub expected_bucket_owner: Option<&'a AccountId>,
    pub kms_key: Option<&'a KmsKeyArn>,
}

/// An object's bytes and what S3 is told about them.
#[derive(Debug, Clone)]
pub struct ObjectBody {
    pub bytes: bytes::Bytes,
    pub content_type: &'static str,
}

/// What S3 answered for a written object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenObject {
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// An AWS failure, classified by the adapter that saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// `AccessDenied` (STS and S3 alike): AWS does not say why.
    AccessDenied,
    /// S3's own word that the bucket is owned by another account than `ExpectedBucketOwner`.
    OwnerMismatch,
    NoSuchBucket,
    /// The bucket lives in `actual`, not where we asked.
    WrongRegion {
        actual: String,
    },
    /// S3 could not use the KMS key.
    KmsDenied,
    /// The bucket refused the ACL header.
    AclRejected,
    /// Throttling or a 5xx: worth a retry.
    Throttled,
    Timeout,
    /// No answer at all: DNS, connection, TLS.
    Unreachable,
    /// Anything else AWS refused; the evidence carries its code.
    Other,
}

/// What AWS said, safe to show a customer: codes and ids, never messages (which can name other
/// accounts' resources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsEvidence {
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub http_status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    pub failure: ProbeFailure,
    pub evidence: AwsEvidence,
}

impl ProbeError {
    pub fn new(failure: ProbeFailure) -> Self {
        Self {
            failure,
            evidence: AwsEvidence::default(),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(
            self.failure,
            ProbeFailure::Throttled | ProbeFailure::Timeout | ProbeFailure::Unreachable
        )
    }
}

/// The AWS operations that write for a destination, and nothing else: STS as the platform's
/// connector, and S3 with the session AssumeRole returned.
pub trait ObjectWriter: Send + Sync {
    /// # Errors
    /// A classified `ProbeError`; `AccessDenied` for every refusal STS does not explain.
    fn assume_role(
        &self,
        request: AssumeRoleRequest<'_>,
    ) -> impl Future<Output = Result<SessionCredentials, ProbeError>> + Send;

    /// One PutObject of `body` to `target`.
    ///
    /// # Errors
    /// A classified `ProbeError`.
    fn put_object(
        &self,
        target: ObjectTarget<'_>,
        body: ObjectBody,
    ) -> impl Future<Output = Result<WrittenObject, ProbeError>> + Send;
}
