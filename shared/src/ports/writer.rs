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
    /// When STS says they stop working.
    pub expires_at: Option<time::OffsetDateTime>,
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
    /// Sent with the object for S3 to verify, when known.
    pub checksum: Option<FullObjectChecksum>,
    /// Sent as `If-None-Match: *`: S3 authorises the request first, then refuses to replace an
    /// object that exists (412). Put over an existing object, it probes who may write without
    /// writing anything.
    pub only_if_absent: bool,
}

/// What S3 answered for a written object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenObject {
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// A full-object CRC-64/NVME checksum: S3 checks the bytes it stored against it and refuses the
/// write on a mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullObjectChecksum(pub u64);

impl FullObjectChecksum {
    /// As S3 spells it (`x-amz-checksum-crc64nvme`): base64 of the big-endian bytes.
    pub fn to_base64(self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.0.to_be_bytes())
    }
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// 1..=10,000.
    pub number: u16,
    pub etag: String,
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
    /// S3 could not use a KMS key, for the reason AWS gave.
    KmsDenied(KmsRefusal),
    /// The bucket refused the ACL header.
    AclRejected,
    /// The write was authorised and refused only because the object exists (`If-None-Match`).
    AlreadyExists,
    /// Throttling or a 5xx: worth a retry.
    Throttled,
    Timeout,
    /// No answer at all: DNS, connection, TLS.
    Unreachable,
    /// Anything else AWS refused; the evidence carries its code.
    Other,
}

/// Which grant S3 found missing when it asked KMS for the object's data key. AWS names it in the
/// message (`… because no resource-based policy allows …`) or the code (`KMS.DisabledException`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsRefusal {
    /// The key policy allows the writing identity nothing (its conditions included).
    KeyPolicy,
    /// The writing identity's own policies (the role's, or the session's) allow no use of the key.
    IdentityPolicy,
    /// An explicit Deny: the key policy, a permissions boundary or an SCP.
    ExplicitDeny,
    /// The key is disabled or pending deletion.
    KeyNotEnabled,
    /// There is no such key in the bucket's region.
    KeyNotFound,
    /// AWS did not say which.
    Unspecified,
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

    /// Starts a multipart upload to `target` (with the same owner, ACL and KMS headers as a
    /// PutObject) whose full-object checksum is given at completion. Returns its upload id.
    ///
    /// # Errors
    /// A classified `ProbeError`.
    fn start_upload(
        &self,
        target: ObjectTarget<'_>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<String, ProbeError>> + Send;

    /// # Errors
    /// A classified `ProbeError`.
    fn upload_part(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
        number: u16,
        bytes: bytes::Bytes,
    ) -> impl Future<Output = Result<UploadedPart, ProbeError>> + Send;

    /// Completes the upload; S3 checks `checksum` against the whole object.
    ///
    /// # Errors
    /// A classified `ProbeError`.
    fn complete_upload(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
        parts: &[UploadedPart],
        checksum: FullObjectChecksum,
    ) -> impl Future<Output = Result<WrittenObject, ProbeError>> + Send;

    /// Discards an upload's parts, so a failed delivery leaves nothing behind.
    ///
    /// # Errors
    /// A classified `ProbeError`.
    fn abort_upload(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), ProbeError>> + Send;
}
