//! The connection prober over STS and S3.

use async_trait::async_trait;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::ports::{
    AssumeRoleRequest, AwsFailure, AwsFailureKind, ConnectionProber, PutTestObjectRequest,
    SessionCredentials,
};

/// Sessions are only used for one test object, so the shortest duration STS allows.
const SESSION_SECONDS: i32 = 900;

pub struct AwsProber {
    sts: aws_sdk_sts::Client,
    /// Shared settings (HTTP client, timeouts, endpoint, path style) for the per-call S3 clients.
    s3_base: aws_sdk_s3::Config,
}

impl AwsProber {
    pub fn new(sts: aws_sdk_sts::Client, s3_base: aws_sdk_s3::Config) -> Self {
        Self { sts, s3_base }
    }

    /// The prober over `config` (our own credentials, HTTP client, timeouts, endpoint);
    /// `force_path_style` for S3 emulators.
    pub fn from_config(config: &aws_config::SdkConfig, force_path_style: bool) -> Self {
        let s3_base = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .build();
        Self::new(aws_sdk_sts::Client::new(config), s3_base)
    }
}

fn to_failure<E: ProvideErrorMetadata>(error: SdkError<E, HttpResponse>) -> AwsFailure {
    match error {
        SdkError::TimeoutError(_) => AwsFailure {
            kind: AwsFailureKind::Timeout,
            ..AwsFailure::default()
        },
        SdkError::DispatchFailure(dispatch) => AwsFailure {
            kind: if dispatch.is_timeout() {
                AwsFailureKind::Timeout
            } else {
                AwsFailureKind::Unreachable
            },
            ..AwsFailure::default()
        },
        SdkError::ServiceError(context) => {
            let raw = context.raw();
            let header = |name: &str| raw.headers().get(name).map(str::to_owned);
            AwsFailure {
                kind: AwsFailureKind::Service,
                code: context.err().code().map(str::to_owned),
                message: context.err().message().map(str::to_owned),
                request_id: header("x-amz-request-id").or_else(|| header("x-amzn-requestid")),
                http_status: Some(raw.status().as_u16()),
                bucket_region: header("x-amz-bucket-region"),
            }
        }
        SdkError::ResponseError(context) => AwsFailure {
            kind: AwsFailureKind::Service,
            http_status: Some(context.raw().status().as_u16()),
            bucket_region: context
                .raw()
                .headers()
                .get("x-amz-bucket-region")
                .map(str::to_owned),
            ..AwsFailure::default()
        },
        other => AwsFailure {
            kind: AwsFailureKind::Service,
            code: Some("ClientError".to_owned()),
            message: Some(other.to_string()),
            ..AwsFailure::default()
        },
    }
}

#[async_trait]
impl ConnectionProber for AwsProber {
    async fn assume_role(
        &self,
        request: AssumeRoleRequest<'_>,
    ) -> Result<SessionCredentials, AwsFailure> {
        let output = self
            .sts
            .assume_role()
            .role_arn(request.role_arn.as_str())
            .role_session_name(request.session_name)
            .set_external_id(request.external_id.map(|id| id.expose().to_owned()))
            .set_policy(request.session_policy.map(str::to_owned))
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(to_failure)?;
        let credentials = output.credentials.ok_or_else(|| AwsFailure {
            code: Some("MissingCredentials".to_owned()),
            message: Some("AssumeRole answered without credentials".to_owned()),
            ..AwsFailure::default()
        })?;
        Ok(SessionCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
        })
    }

    async fn put_test_object(&self, request: PutTestObjectRequest<'_>) -> Result<(), AwsFailure> {
        let mut config = self
            .s3_base
            .to_builder()
            .region(Region::new(request.region.to_owned()));
        if let Some(session) = request.session {
            config = config.credentials_provider(Credentials::new(
                &session.access_key_id,
                &session.secret_access_key,
                Some(session.session_token.clone()),
                None,
                "destination-session",
            ));
        }
        if request.bucket.needs_path_style() {
            // Dotted names do not match S3's wildcard TLS certificate in virtual-hosted style.
            config = config.force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        client
            .put_object()
            .bucket(request.bucket.as_str())
            .key(request.key)
            .body(ByteStream::from(request.body.to_vec()))
            .content_type("text/plain; charset=utf-8")
            // The one canned ACL that buckets with ACLs disabled still accept; it gives the bucket
            // owner full control of what we write. Never a separate PutObjectAcl call.
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .set_expected_bucket_owner(request.expected_bucket_owner.map(|a| a.as_str().to_owned()))
            .set_server_side_encryption(request.kms_key.map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id(request.kms_key.map(|k| k.as_str().to_owned()))
            .send()
            .await
            .map_err(to_failure)?;
        Ok(())
    }
}
