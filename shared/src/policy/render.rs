//! Renders every document a customer needs for a destination, from typed structures.

use serde::Serialize;
use thiserror::Error;

use super::document::{PolicyDocument, Statement, iam_size};
use crate::config::PlatformPrincipals;
use crate::domain::{AuthMode, Destination, Partition};

/// IAM's default quota for a role trust policy (adjustable by the customer, but not by us).
pub const TRUST_POLICY_LIMIT: usize = 2_048;
/// IAM's limit for a customer-managed policy.
pub const MANAGED_POLICY_LIMIT: usize = 6_144;
/// S3's limit for a bucket policy, in bytes.
pub const BUCKET_POLICY_LIMIT: usize = 20 * 1024;

/// The only canned ACL that works on every bucket, including those with ACLs disabled.
pub const BUCKET_OWNER_FULL_CONTROL: &str = "bucket-owner-full-control";
pub const PUT_ACTIONS: [&str; 2] = ["s3:PutObject", "s3:PutObjectAcl"];
pub const KMS_ACTIONS: [&str; 2] = ["kms:GenerateDataKey", "kms:Decrypt"];

/// Names the product in every statement we ask a customer to add, so they can tell it apart later.
pub const SID_PREFIX: &str = "DataPlatformDestination";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    #[error(
        "this platform has no principal in the {0} partition, so it cannot write to buckets there"
    )]
    PartitionNotServed(Partition),
    #[error("the {document} would be {size} characters, over the {limit}-character limit")]
    TooLarge {
        document: &'static str,
        size: usize,
        limit: usize,
    },
}

/// The documents for one destination; which ones exist depends on its auth mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedPolicies {
    pub platform_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_policy: Option<PolicyDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<PolicyDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_policy: Option<PolicyDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_policy_statement: Option<Statement>,
    /// Bucket-policy mode with SSE-KMS: the statement the key policy needs (cross-account keys are
    /// authorised by the key policy, not by ours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_policy_statement: Option<Statement>,
}

/// `arn:<partition>:s3:::<bucket>/<folder>*`: exactly the folder, nothing wider.
pub fn object_resource(destination: &Destination) -> String {
    format!(
        "arn:{}:s3:::{}/{}*",
        destination.partition(),
        destination.bucket,
        destination.folder
    )
}

/// Unique per destination and alphanumeric only (IAM rejects other Sid characters).
pub fn statement_sid(destination: &Destination) -> String {
    format!("{SID_PREFIX}{}", destination.id.as_str().replace('-', ""))
}

/// What the customer's role may do: put objects under the folder, and use the KMS key if there is one.
pub fn permissions_policy(destination: &Destination) -> PolicyDocument {
    let mut statements = vec![
        Statement::allow(&PUT_ACTIONS, vec![object_resource(destination)])
            .with_sid("PutObjectsInDestinationFolder"),
    ];
    if let Some(key) = &destination.kms_key {
        statements.push(
            Statement::allow(&KMS_ACTIONS, vec![key.as_str().to_owned()])
                .with_sid("UseDestinationKmsKey"),
        );
    }
    PolicyDocument::new(statements)
}

/// The role trusts our platform principal, and only when it presents this destination's External ID.
pub fn trust_policy(platform_principal: &str, external_id: &str) -> PolicyDocument {
    PolicyDocument::new(vec![
        Statement::allow(&["sts:AssumeRole"], Vec::new())
            .with_sid("TrustPlatformWithExternalId")
            .with_principal(platform_principal)
            .with_condition("StringEquals", "sts:ExternalId", external_id),
    ])
}

/// One statement granting our principal the put actions, only with the bucket-owner ACL.
pub fn bucket_policy_statement(destination: &Destination, platform_principal: &str) -> Statement {
    Statement::allow(&PUT_ACTIONS, vec![object_resource(destination)])
        .with_sid(statement_sid(destination))
        .with_principal(platform_principal)
        .with_condition("StringEquals", "s3:x-amz-acl", BUCKET_OWNER_FULL_CONTROL)
}

fn key_policy_statement(destination: &Destination, platform_principal: &str) -> Option<Statement> {
    let key = destination.kms_key.as_ref()?;
    // In a key policy "*" would also mean this key; naming it keeps the statement explicit.
    Some(
        Statement::allow(&KMS_ACTIONS, vec![key.as_str().to_owned()])
            .with_sid(format!("{}Kms", statement_sid(destination)))
            .with_principal(platform_principal),
    )
}

pub fn render(
    destination: &Destination,
    principals: &PlatformPrincipals,
) -> Result<RenderedPolicies, RenderError> {
    let partition = destination.partition();
    let principal = principals
        .for_partition(partition)
        .ok_or(RenderError::PartitionNotServed(partition))?
        .as_str()
        .to_owned();
    let mut rendered = RenderedPolicies {
        platform_principal: principal.clone(),
        permissions_policy: None,
        trust_policy: None,
        bucket_policy: None,
        bucket_policy_statement: None,
        key_policy_statement: None,
    };
    match &destination.auth {
        AuthMode::IamRole { external_id, .. } => {
            let permissions = permissions_policy(destination);
            check_size("permissions policy", &permissions, MANAGED_POLICY_LIMIT)?;
            let trust = trust_policy(&principal, external_id.expose());
            check_size("trust policy", &trust, TRUST_POLICY_LIMIT)?;
            rendered.permissions_policy = Some(permissions);
            rendered.trust_policy = Some(trust);
        }
        AuthMode::BucketPolicy => {
            let statement = bucket_policy_statement(destination, &principal);
            let whole = PolicyDocument::new(vec![statement.clone()]);
            check_size("bucket policy", &whole, BUCKET_POLICY_LIMIT)?;
            rendered.bucket_policy = Some(whole);
            rendered.bucket_policy_statement = Some(statement);
            rendered.key_policy_statement = key_policy_statement(destination, &principal);
        }
    }
    Ok(rendered)
}

pub(super) fn check_size(
    document: &'static str,
    policy: &PolicyDocument,
    limit: usize,
) -> Result<(), RenderError> {
    let size = iam_size(policy);
    if size > limit {
        return Err(RenderError::TooLarge {
            document,
            size,
            limit,
        });
    }
    Ok(())
}
