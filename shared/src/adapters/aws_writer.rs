//! The object writer over STS and S3 (Test Connection's test object and deliveries alike), and the
//! one place where AWS errors become [`ProbeFailure`]s.
//!
//! The writer calls STS as the platform's connector role, which our function's own (execution)
//! role assumes once and keeps refreshed: the connector is the identity customers trust, and it
//! can do nothing but assume customer roles and the writer role. Every write is made with the
//! session that AssumeRole returned.

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{Credentials, IdentityCache, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart, ObjectCannedAcl,
    ServerSideEncryption,
};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use super::connector_session::AheadOfFirstUse;
use crate::domain::{RoleArn, RoleSessionName};
use crate::ports::{
    AssumeRoleRequest, AwsEvidence, FullObjectChecksum, KmsRefusal, ObjectBody, ObjectTarget,
    ObjectWriter, ProbeError, ProbeFailure, SessionCredentials, UploadedPart, WrittenObject,
};

/// A session serves one check or one delivery's writes, so the shortest duration STS allows.
const SESSION_SECONDS: i32 = 900;

pub struct AwsWriter {
    /// Signs as the connector.
    sts: aws_sdk_sts::Client,
    /// Shared settings (HTTP client, timeouts, endpoint, path style) for the per-call S3 clients.
    s3_base: aws_sdk_s3::Config,
    multipart_action_names: bool,
}

/// How S3 is reached: AWS needs neither; local emulators need path style, and some name the
/// multipart requests' actions on their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Options {
    pub force_path_style: bool,
    /// Session policies granting `s3:PutObject` also grant `s3:CreateMultipartUpload`,
    /// `s3:UploadPart` and `s3:CompleteMultipartUpload` (AWS authorises those as `s3:PutObject`).
    pub multipart_action_names: bool,
}

impl AwsWriter {
    /// The writer over ready clients: `sts` signs as the connector; `s3_base` carries the shared
    /// settings of the per-call S3 clients.
    pub fn new(sts: aws_sdk_sts::Client, s3_base: aws_sdk_s3::Config) -> Self {
        Self {
            sts,
            s3_base,
            multipart_action_names: false,
        }
    }

    /// The writer over `config` (our own credentials, HTTP client, timeouts, endpoint), acting as
    /// `connector` under `session`; `force_path_style` for S3 emulators. The connector's first
    /// session is asked for now, in the background (`connector_session`); nothing else is called
    /// until the first check.
    pub async fn from_config(
        config: &SdkConfig,
        connector: &RoleArn,
        session: &RoleSessionName,
        options: S3Options,
    ) -> Self {
        let provider = aws_config::sts::AssumeRoleProvider::builder(connector.as_str())
            .session_name(session.as_str())
            .configure(config)
            .build()
            .await;
        // The connector's session gets a cache of its own. The SDK's default cache is shared by
        // every client built from `config`, holds 64 credential sets and evicts an arbitrary one
        // when full: every per-call S3 client (one per destination session) would add a set,
        // and once the connector's was evicted each check paid an extra AssumeRole for it.
        let as_connector = config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(AheadOfFirstUse::start(
                provider,
            )))
            .identity_cache(IdentityCache::lazy().build())
            .build();
        // A destination's session signs the one call it was assumed for: nothing to cache.
        let s3_base = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(options.force_path_style)
            .identity_cache(IdentityCache::no_cache())
            .build();
        Self {
            multipart_action_names: options.multipart_action_names,
            ..Self::new(aws_sdk_sts::Client::new(&as_connector), s3_base)
        }
    }

    /// The writer of a function that writes for destinations: the connector of the partition the
    /// function runs in, under its fixed session name.
    ///
    /// # Errors
    /// The platform has no connector in this function's partition.
    pub async fn as_connector(
        config: &SdkConfig,
        platform: &crate::domain::PlatformIdentity,
        options: S3Options,
    ) -> Result<Self, crate::aws::PartitionNotServed> {
        let (connector, session) =
            crate::aws::own_partition_identity(config, platform)?.connector_role();
        Ok(Self::from_config(config, &connector, &session, options).await)
    }

    /// The session policy as sent: with the emulator's multipart action names when asked for.
    fn session_policy(&self, policy: Option<&str>) -> Option<String> {
        let policy = policy?;
        if !self.multipart_action_names {
            return Some(policy.to_owned());
        }
        let Ok(mut document) = serde_json::from_str::<serde_json::Value>(policy) else {
            return Some(policy.to_owned());
        };
        for statement in document["Statement"].as_array_mut().into_iter().flatten() {
            if let Some(actions) = statement["Action"].as_array_mut()
                && actions.iter().any(|a| a == "s3:PutObject")
            {
                for name in [
                    "s3:CreateMultipartUpload",
                    "s3:UploadPart",
                    "s3:CompleteMultipartUpload",
                ] {
                    actions.push(name.into());
                }
            }
        }
        Some(document.to_string())
    }
}

/// Throttling and server-side trouble: worth a retry, not the customer's to fix.
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

/// What a service error says, read once. The message is used to tell failures apart and is
/// never shown to anyone: it can name other accounts' resources.
struct Answer<'a> {
    code: Option<&'a str>,
    message: String,
    status: u16,
    bucket_region: Option<String>,
}

fn classify(answer: &Answer<'_>) -> ProbeFailure {
    let code = answer.code.unwrap_or_default();
    let message = answer.message.to_ascii_lowercase();
    if let Some(actual) = &answer.bucket_region
        && (answer.status == 301
            || matches!(
                code,
                "PermanentRedirect"
                    | "AuthorizationHeaderMalformed"
                    | "IllegalLocationConstraintException"
            ))
    {
        return ProbeFailure::WrongRegion {
            actual: actual.clone(),
        };
    }
    match code {
        "NoSuchBucket" => ProbeFailure::NoSuchBucket,
        "PreconditionFailed" => ProbeFailure::AlreadyExists,
        "AccessControlListNotSupported" => ProbeFailure::AclRejected,
        "InvalidArgument" if message.contains("acl") => ProbeFailure::AclRejected,
        // A KMS action (`kms:GenerateDataKey`) or key ARN (`arn:aws:kms:`) named in the message:
        // "kms" alone may be part of a bucket's or role's name.
        c if c.starts_with("KMS.")
            || message.contains("kms:")
            || message.contains("key management service") =>
        {
            ProbeFailure::KmsDenied(kms_refusal(c, &message))
        }
        // S3 answers a wrong ExpectedBucketOwner with AccessDenied; the message names the owner.
        "AccessDenied" | "AccessDeniedException" if message.contains("bucket owner") => {
            ProbeFailure::OwnerMismatch
        }
        // AWS says AccessDenied; some emulators' request-level checks say AccessDeniedException.
        "AccessDenied" | "AccessDeniedException" => ProbeFailure::AccessDenied,
        c if TRANSIENT_CODES.contains(&c) => ProbeFailure::Throttled,
        _ if answer.status >= 500 || answer.status == 429 => ProbeFailure::Throttled,
        _ if answer.status == 403 => ProbeFailure::AccessDenied,
        _ => ProbeFailure::Other,
    }
}

/// Which grant was missing, from the code S3 passes on from KMS or IAM's access-denied wording
/// (`message` is lowercase).
fn kms_refusal(code: &str, message: &str) -> KmsRefusal {
    match code {
        "KMS.DisabledException" | "KMS.KMSInvalidStateException" => KmsRefusal::KeyNotEnabled,
        "KMS.NotFoundException" => KmsRefusal::KeyNotFound,
        _ if message.contains("explicit deny") => KmsRefusal::ExplicitDeny,
        _ if message.contains("no resource-based policy allows") => KmsRefusal::KeyPolicy,
        _ if message.contains("no identity-based policy allows")
            || message.contains("no session policy allows") =>
        {
            KmsRefusal::IdentityPolicy
        }
        _ => KmsRefusal::Unspecified,
    }
}

fn to_probe_error<E: ProvideErrorMetadata>(error: SdkError<E, HttpResponse>) -> ProbeError {
    match error {
        SdkError::TimeoutError(_) => ProbeError::new(ProbeFailure::Timeout),
        SdkError::DispatchFailure(dispatch) => ProbeError::new(if dispatch.is_timeout() {
            ProbeFailure::Timeout
        } else {
            ProbeFailure::Unreachable
        }),
        SdkError::ServiceError(context) => {
            let raw = context.raw();
            let header = |name: &str| raw.headers().get(name).map(str::to_owned);
            let answer = Answer {
                code: context.err().code(),
                message: context.err().message().unwrap_or_default().to_owned(),
                status: raw.status().as_u16(),
                bucket_region: header("x-amz-bucket-region"),
            };
            ProbeError {
                failure: classify(&answer),
                evidence: AwsEvidence {
                    code: answer.code.map(str::to_owned),
                    request_id: header("x-amz-request-id").or_else(|| header("x-amzn-requestid")),
                    http_status: Some(answer.status),
                },
            }
        }
        SdkError::ResponseError(context) => {
            let raw = context.raw();
            let answer = Answer {
                code: None,
                message: String::new(),
                status: raw.status().as_u16(),
                bucket_region: raw.headers().get("x-amz-bucket-region").map(str::to_owned),
            };
            ProbeError {
                failure: classify(&answer),
                evidence: AwsEvidence {
                    http_status: Some(answer.status),
                    ..AwsEvidence::default()
                },
            }
        }
        _ => ProbeError {
            failure: ProbeFailure::Other,
            evidence: AwsEvidence {
                code: Some("ClientError".to_owned()),
                ..AwsEvidence::default()
            },
        },
    }
}

impl ObjectWriter for AwsWriter {
    async fn assume_role(
        &self,
        request: AssumeRoleRequest<'_>,
    ) -> Result<SessionCredentials, ProbeError> {
        let output = self
            .sts
            .assume_role()
            .role_arn(request.role_arn.as_str())
            .role_session_name(request.session_name.as_str())
            .set_external_id(request.external_id.map(|id| id.expose().to_owned()))
            .set_policy(self.session_policy(request.session_policy))
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(to_probe_error)?;
        let credentials = output.credentials.ok_or_else(|| ProbeError {
            failure: ProbeFailure::Other,
            evidence: AwsEvidence {
                code: Some("MissingCredentials".to_owned()),
                ..AwsEvidence::default()
            },
        })?;
        Ok(SessionCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
            expires_at: time::OffsetDateTime::from_unix_timestamp(credentials.expiration.secs())
                .ok(),
        })
    }

    async fn put_object(
        &self,
        target: ObjectTarget<'_>,
        body: ObjectBody,
    ) -> Result<WrittenObject, ProbeError> {
        let output = self
            .s3_as(&target)
            .put_object()
            .bucket(target.bucket.as_str())
            .key(target.key)
            .body(ByteStream::from(body.bytes))
            .content_type(body.content_type)
            // The one canned ACL that buckets with ACLs disabled still accept; it gives the bucket
            // owner full control of what we write. Never a separate PutObjectAcl call.
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .set_expected_bucket_owner(target.expected_bucket_owner.map(|a| a.as_str().to_owned()))
            .set_server_side_encryption(target.kms_key.map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(target.kms_key.map(|k| k.as_str().to_owned()))
            .set_checksum_crc64_nvme(body.checksum.map(FullObjectChecksum::to_base64))
            .set_if_none_match(body.only_if_absent.then(|| "*".to_owned()))
            .send()
            .await
            .map_err(to_probe_error)?;
        Ok(WrittenObject {
            etag: output.e_tag,
            version_id: output.version_id,
        })
    }

    async fn start_upload(
        &self,
        target: ObjectTarget<'_>,
        content_type: &'static str,
    ) -> Result<String, ProbeError> {
        let output = self
            .s3_as(&target)
            .create_multipart_upload()
            .bucket(target.bucket.as_str())
            .key(target.key)
            .content_type(content_type)
            // The same owner ACL, owner pin and key as a single PutObject.
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .set_expected_bucket_owner(owner(&target))
            .set_server_side_encryption(target.kms_key.map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(target.kms_key.map(|k| k.as_str().to_owned()))
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .map_err(to_probe_error)?;
        output.upload_id.ok_or_else(|| missing("MissingUploadId"))
    }

    async fn upload_part(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
        number: u16,
        bytes: bytes::Bytes,
    ) -> Result<UploadedPart, ProbeError> {
        let output = self
            .s3_as(&target)
            .upload_part()
            .bucket(target.bucket.as_str())
            .key(target.key)
            .upload_id(upload_id)
            .part_number(i32::from(number))
            .set_expected_bucket_owner(owner(&target))
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(to_probe_error)?;
        Ok(UploadedPart {
            number,
            etag: output.e_tag.ok_or_else(|| missing("MissingETag"))?,
        })
    }

    async fn complete_upload(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
        parts: &[UploadedPart],
        checksum: FullObjectChecksum,
    ) -> Result<WrittenObject, ProbeError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(i32::from(p.number))
                            .e_tag(&p.etag)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let output = self
            .s3_as(&target)
            .complete_multipart_upload()
            .bucket(target.bucket.as_str())
            .key(target.key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .set_expected_bucket_owner(owner(&target))
            .checksum_type(ChecksumType::FullObject)
            .checksum_crc64_nvme(checksum.to_base64())
            .send()
            .await
            .map_err(to_probe_error)?;
        Ok(WrittenObject {
            etag: output.e_tag,
            version_id: output.version_id,
        })
    }

    async fn abort_upload(
        &self,
        target: ObjectTarget<'_>,
        upload_id: &str,
    ) -> Result<(), ProbeError> {
        self.s3_as(&target)
            .abort_multipart_upload()
            .bucket(target.bucket.as_str())
            .key(target.key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(owner(&target))
            .send()
            .await
            .map_err(to_probe_error)?;
        Ok(())
    }
}

fn owner(target: &ObjectTarget<'_>) -> Option<String> {
    target.expected_bucket_owner.map(|a| a.as_str().to_owned())
}

fn missing(code: &str) -> ProbeError {
    ProbeError {
        failure: ProbeFailure::Other,
        evidence: AwsEvidence {
            code: Some(code.to_owned()),
            ..AwsEvidence::default()
        },
    }
}

impl AwsWriter {
    /// An S3 client signing with the target's session, in the target's region.
    fn s3_as(&self, target: &ObjectTarget<'_>) -> aws_sdk_s3::Client {
        let session = target.session;
        let mut config = self
            .s3_base
            .to_builder()
            .region(Region::new(target.region.to_owned()))
            .credentials_provider(Credentials::new(
                &session.access_key_id,
                &session.secret_access_key,
                Some(session.session_token.clone()),
                None,
                "destination-session",
            ));
        if target.bucket.needs_path_style() {
            // Dotted names do not match S3's wildcard TLS certificate in virtual-hosted style.
            config = config.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(
        code: Option<&'static str>,
        message: &str,
        status: u16,
        region: Option<&str>,
    ) -> ProbeFailure {
        classify(&Answer {
            code,
            message: message.to_owned(),
            status,
            bucket_region: region.map(str::to_owned),
        })
    }

    #[test]
    fn every_answer_the_checks_distinguish_is_classified() {
        use ProbeFailure::*;
        let kms_denied = |why: &str| {
            format!(
                "User: arn:aws:sts::111122223333:assumed-role/r/destination-1 is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:111122223333:key/k {why}"
            )
        };
        let moved = || WrongRegion {
            actual: "eu-west-1".into(),
        };
        // (code, message, status, x-amz-bucket-region) → what the check makes of it
        type Row = (
            Option<&'static str>,
            String,
            u16,
            Option<&'static str>,
            ProbeFailure,
        );
        let table: Vec<Row> = vec![
            (Some("AccessDenied"), "Access Denied".into(), 403, None, AccessDenied),
            (Some("AccessDeniedException"), String::new(), 403, None, AccessDenied),
            (Some("NoSuchBucket"), String::new(), 404, None, NoSuchBucket),
            (Some("PermanentRedirect"), String::new(), 301, Some("eu-west-1"), moved()),
            (None, String::new(), 301, Some("eu-west-1"), moved()),
            (Some("PermanentRedirect"), String::new(), 301, None, Other),
            (
                Some("KMS.DisabledException"),
                String::new(),
                400,
                None,
                KmsDenied(KmsRefusal::KeyNotEnabled),
            ),
            (
                Some("KMS.KMSInvalidStateException"),
                String::new(),
                400,
                None,
                KmsDenied(KmsRefusal::KeyNotEnabled),
            ),
            (
                Some("KMS.NotFoundException"),
                "Invalid keyId".into(),
                400,
                None,
                KmsDenied(KmsRefusal::KeyNotFound),
            ),
            (
                Some("AccessDenied"),
                "not authorized to perform kms:GenerateDataKey".into(),
                403,
                None,
                KmsDenied(KmsRefusal::Unspecified),
            ),
            (
                Some("AccessDenied"),
                kms_denied("because no resource-based policy allows the kms:GenerateDataKey action"),
                403,
                None,
                KmsDenied(KmsRefusal::KeyPolicy),
            ),
            (
                Some("AccessDenied"),
                kms_denied("because no identity-based policy allows the kms:GenerateDataKey action"),
                403,
                None,
                KmsDenied(KmsRefusal::IdentityPolicy),
            ),
            (
                Some("AccessDenied"),
                kms_denied("because no session policy allows the kms:GenerateDataKey action"),
                403,
                None,
                KmsDenied(KmsRefusal::IdentityPolicy),
            ),
            (
                Some("AccessDenied"),
                kms_denied("with an explicit deny in a resource-based policy"),
                403,
                None,
                KmsDenied(KmsRefusal::ExplicitDeny),
            ),
            // A bucket named for KMS is no KMS failure.
            (
                Some("AccessDenied"),
                "User: arn:aws:sts::1:assumed-role/w/destination-1 is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::acme-kms-logs/x".into(),
                403,
                None,
                AccessDenied,
            ),
            (
                Some("AccessDenied"),
                "on resource: arn:aws:kms:eu-west-1:1:key/k".into(),
                403,
                None,
                KmsDenied(KmsRefusal::Unspecified),
            ),
            (Some("AccessControlListNotSupported"), String::new(), 400, None, AclRejected),
            (Some("InvalidArgument"), "ACL not allowed".into(), 400, None, AclRejected),
            (Some("SlowDown"), String::new(), 503, None, Throttled),
            (Some("Weird"), String::new(), 500, None, Throttled),
            (Some("Weird"), String::new(), 400, None, Other),
        ];
        for (code, message, status, region, expected) in table {
            assert_eq!(
                answer(code, &message, status, region),
                expected,
                "{code:?} {status} {message:?}"
            );
        }
    }
}
