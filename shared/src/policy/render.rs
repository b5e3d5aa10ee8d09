//! Renders every document a customer needs for a destination, from typed structures.

use serde::Serialize;
use thiserror::Error;

use super::document::{PolicyDocument, Statement, iam_size};
use crate::domain::{
    AccountId, AuthMode, Configuration, Destination, DestinationId, ExternalId, Partition,
    PlatformIdentity,
};

/// IAM's default quota for a role trust policy (adjustable by the customer, but not by us).
pub const TRUST_POLICY_LIMIT: usize = 2_048;
/// IAM's limit for a customer-managed policy.
pub const MANAGED_POLICY_LIMIT: usize = 6_144;
/// STS's limit for a session policy passed to AssumeRole.
pub const SESSION_POLICY_LIMIT: usize = 2_048;
/// S3's limit for a bucket policy, in bytes.
pub const BUCKET_POLICY_LIMIT: usize = 20 * 1024;

/// The only canned ACL that works on every bucket, including those with ACLs disabled. We send it
/// on every upload, which is why the grants below include `s3:PutObjectAcl`, for that value only.
pub const BUCKET_OWNER_FULL_CONTROL: &str = "bucket-owner-full-control";
pub const PUT_ACTIONS: [&str; 2] = ["s3:PutObject", "s3:PutObjectAcl"];
/// A multipart upload's parts and completion are authorised as `s3:PutObject` but carry no ACL
/// header (the ACL is sent when the upload starts), and aborting one is its own action.
pub const PART_ACTIONS: [&str; 2] = ["s3:PutObject", "s3:AbortMultipartUpload"];
/// Every write action a destination's grant holds.
pub const WRITE_ACTIONS: [&str; 3] = ["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"];
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
    /// The identity the documents grant: the connector (role mode) or this destination's writer
    /// session (bucket-policy mode).
    pub platform_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_policy: Option<PolicyDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<PolicyDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_policy: Option<PolicyDocument>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_policy_statement: Option<Statement>,
    /// With SSE-KMS, the statement the key policy needs: a key in another account than the writing
    /// identity is authorised by its key policy, whatever the identity's own policies say. Names
    /// this destination's writer session (bucket-policy mode) or the customer's role (role mode,
    /// once its ARN is set); a key in the role's own account needs it only when its key policy
    /// does not let IAM policies grant it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_policy_statement: Option<Statement>,
}

fn bucket_arn(configuration: &Configuration) -> String {
    format!(
        "arn:{}:s3:::{}",
        configuration.partition(),
        configuration.bucket
    )
}

/// `arn:<partition>:s3:::<bucket>/<folder>*`: exactly the folder, nothing wider.
pub fn object_resource(configuration: &Configuration) -> String {
    format!("{}/{}*", bucket_arn(configuration), configuration.folder)
}

/// Unique per destination and alphanumeric only (IAM rejects other Sid characters).
pub fn statement_sid(id: &DestinationId) -> String {
    format!("{SID_PREFIX}{}", id.as_str().replace('-', ""))
}

/// Only into `owner`'s bucket when we know the owner. `aws:ResourceAccount` is the global form of
/// `s3:ResourceAccount`; S3 sets both, and the local emulator evaluates only the global one.
fn in_owners_account(statement: Statement, owner: Option<&AccountId>) -> Statement {
    match owner {
        Some(owner) => {
            statement.with_condition("StringEquals", "aws:ResourceAccount", owner.as_str())
        }
        None => statement,
    }
}

/// Put objects (and start multipart uploads) under the folder, only with the bucket-owner ACL.
fn put_statement(configuration: &Configuration, owner: Option<&AccountId>) -> Statement {
    let statement = Statement::allow(&PUT_ACTIONS, vec![object_resource(configuration)])
        .with_sid("PutObjectsInDestinationFolder")
        .with_condition("StringEquals", "s3:x-amz-acl", BUCKET_OWNER_FULL_CONTROL);
    in_owners_account(statement, owner)
}

/// Upload, complete and abort the parts of those uploads: requests that carry no ACL header, so
/// this statement allows only requests without one (any ACL sent must meet the statement above).
fn parts_statement(configuration: &Configuration, owner: Option<&AccountId>) -> Statement {
    let statement = Statement::allow(&PART_ACTIONS, vec![object_resource(configuration)])
        .with_sid("UploadPartsInDestinationFolder")
        .with_condition("Null", "s3:x-amz-acl", "true");
    in_owners_account(statement, owner)
}

/// The key, only as S3 uses it for this bucket: through S3 in the key's region, with the bucket's
/// encryption context (the bucket's ARN with S3 Bucket Keys, the object's without).
fn kms_conditions(configuration: &Configuration, statement: Statement) -> Statement {
    let Some(key) = &configuration.kms_key else {
        return statement;
    };
    let via = format!("s3.{}.{}", key.region(), key.partition().dns_suffix());
    statement
        .with_condition("StringEquals", "kms:ViaService", via)
        .with_condition_any(
            "StringLike",
            "kms:EncryptionContext:aws:s3:arn",
            vec![bucket_arn(configuration), object_resource(configuration)],
        )
}

fn kms_statement(configuration: &Configuration) -> Option<Statement> {
    let key = configuration.kms_key.as_ref()?;
    let statement = Statement::allow(&KMS_ACTIONS, vec![key.as_str().to_owned()])
        .with_sid("UseDestinationKmsKeyThroughS3");
    Some(kms_conditions(configuration, statement))
}

fn write_policy(configuration: &Configuration, owner: Option<&AccountId>) -> PolicyDocument {
    let mut statements = vec![
        put_statement(configuration, owner),
        parts_statement(configuration, owner),
    ];
    statements.extend(kms_statement(configuration));
    PolicyDocument::new(statements)
}

/// What the customer's role may do: put objects under the folder, and use the KMS key if there is one.
pub fn permissions_policy(configuration: &Configuration) -> PolicyDocument {
    write_policy(configuration, configuration.bucket_owner.as_ref())
}

/// What one check's or delivery's session may do, whatever its role allows: the same writes,
/// into the expected owner's bucket only, and the key only through S3 in its region. STS takes at
/// most 2,048 characters here, so the session policy leaves out what only repeats the grants it
/// narrows: Sids, and the key's encryption-context condition (the session can only write this
/// folder, so S3 can only use the key for it).
pub fn session_policy(configuration: &Configuration, owner: Option<&AccountId>) -> PolicyDocument {
    scoped_session_policy(configuration, owner, true)
}

/// A session that may only put whole objects, with the owner ACL: the one handed to an exporter.
/// A multipart upload's parts carry no ACL header, so a session allowed to send them could also
/// put an object without the ACL; this one cannot.
pub fn single_put_session_policy(
    configuration: &Configuration,
    owner: Option<&AccountId>,
) -> PolicyDocument {
    scoped_session_policy(configuration, owner, false)
}

fn scoped_session_policy(
    configuration: &Configuration,
    owner: Option<&AccountId>,
    parts: bool,
) -> PolicyDocument {
    let mut statements = vec![Statement {
        sid: None,
        ..put_statement(configuration, owner)
    }];
    if parts {
        statements.push(Statement {
            sid: None,
            ..parts_statement(configuration, owner)
        });
    }
    if let Some(key) = &configuration.kms_key {
        let via = format!("s3.{}.{}", key.region(), key.partition().dns_suffix());
        statements.push(
            Statement::allow(&KMS_ACTIONS, vec![key.as_str().to_owned()]).with_condition(
                "StringEquals",
                "kms:ViaService",
                via,
            ),
        );
    }
    PolicyDocument::new(statements)
}

/// The role trusts our connector, and only when it presents this destination's External ID (or,
/// while a rotation is open, either of its two: the current and the next).
pub fn trust_policy(connector: &str, external_ids: &[&str]) -> PolicyDocument {
    PolicyDocument::new(vec![
        Statement::allow(&["sts:AssumeRole"], Vec::new())
            .with_sid("TrustPlatformWithExternalId")
            .with_principal(connector)
            .with_condition_any(
                "StringEquals",
                "sts:ExternalId",
                external_ids.iter().map(|id| (*id).to_owned()).collect(),
            ),
    ])
}

/// One statement granting this destination's writer session, and no other identity, the write
/// actions on the folder. It names no ACL condition: one statement cannot both require the ACL on
/// puts and allow a multipart upload's parts, which carry none. The ACL is required on our side, by
/// the writer role's own policy and every session policy, which S3 evaluates with this statement
/// for a write from another account.
pub fn bucket_policy_statement(
    id: &DestinationId,
    configuration: &Configuration,
    writer_session: &str,
) -> Statement {
    Statement::allow(&WRITE_ACTIONS, vec![object_resource(configuration)])
        .with_sid(statement_sid(id))
        .with_principal(writer_session)
}

/// What the destination's key policy must grant `principal` (the identity that writes).
pub fn key_policy_statement(
    id: &DestinationId,
    configuration: &Configuration,
    principal: &str,
) -> Option<Statement> {
    let key = configuration.kms_key.as_ref()?;
    // In a key policy "*" would also mean this key; naming it keeps the statement explicit.
    let statement = Statement::allow(&KMS_ACTIONS, vec![key.as_str().to_owned()])
        .with_sid(format!("{}Kms", statement_sid(id)))
        .with_principal(principal);
    Some(kms_conditions(configuration, statement))
}

pub fn render(
    destination: &Destination,
    platform: &PlatformIdentity,
) -> Result<RenderedPolicies, RenderError> {
    let configuration = destination.configuration();
    let partition = configuration.partition();
    let identity = platform
        .for_partition(partition)
        .ok_or(RenderError::PartitionNotServed(partition))?;
    match destination.auth() {
        AuthMode::IamRole { .. } => {
            let permissions = permissions_policy(configuration);
            check_size("permissions policy", &permissions, MANAGED_POLICY_LIMIT)?;
            let trusted: Vec<&str> = destination
                .trusted_external_ids()
                .into_iter()
                .map(ExternalId::expose)
                .collect();
            let trust = trust_policy(identity.connector.as_str(), &trusted);
            check_size("trust policy", &trust, TRUST_POLICY_LIMIT)?;
            Ok(RenderedPolicies {
                platform_principal: identity.connector.as_str().to_owned(),
                permissions_policy: Some(permissions),
                trust_policy: Some(trust),
                bucket_policy: None,
                bucket_policy_statement: None,
                key_policy_statement: configuration.role_arn.as_ref().and_then(|role| {
                    key_policy_statement(destination.id(), configuration, role.as_str())
                }),
            })
        }
        AuthMode::BucketPolicy => {
            let writer = platform
                .writer_session(partition, destination.id())
                .ok_or(RenderError::PartitionNotServed(partition))?;
            let statement =
                bucket_policy_statement(destination.id(), configuration, writer.as_str());
            let whole = PolicyDocument::new(vec![statement.clone()]);
            check_size("bucket policy", &whole, BUCKET_POLICY_LIMIT)?;
            Ok(RenderedPolicies {
                platform_principal: writer.as_str().to_owned(),
                permissions_policy: None,
                trust_policy: None,
                bucket_policy: Some(whole),
                bucket_policy_statement: Some(statement),
                key_policy_statement: key_policy_statement(
                    destination.id(),
                    configuration,
                    writer.as_str(),
                ),
            })
        }
    }
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
