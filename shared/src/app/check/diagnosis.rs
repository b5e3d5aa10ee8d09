//! Every sentence a customer reads about a failed check: what happened, what can cause it, and the
//! fix. Product and support review this one file; the stages only choose which entry applies.

use serde_json::Value;

use crate::domain::check::{FailureCategory, StageFailure};
use crate::domain::{AccountId, AuthModeKind, BucketName, Partition};
use crate::ports::{AwsEvidence, KmsRefusal, ProbeError};

fn failure(category: FailureCategory, explanation: String) -> StageFailure {
    StageFailure {
        category,
        aws_error_code: None,
        aws_request_id: None,
        explanation,
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
    fn evidence(mut self, evidence: &AwsEvidence) -> Self {
        self.aws_error_code = evidence.code.clone();
        self.aws_request_id = evidence.request_id.clone();
        self
    }
}

// ---- Configuration ----

pub fn partition_not_served(partition: Partition) -> StageFailure {
    failure(
        FailureCategory::InvalidConfiguration,
        format!("This platform has no principal in the {partition} partition, so it cannot write to buckets there."),
    )
    .fix("Use a bucket in a partition the platform serves (see GET /platform).", None)
}

pub fn role_not_set() -> StageFailure {
    failure(
        FailureCategory::InvalidConfiguration,
        "No role ARN has been set for this destination yet.".into(),
    )
    .fix(
        "Create the role from the rendered policies (or the setup kit), then PATCH the destination with its roleArn.",
        None,
    )
}

pub fn role_in_other_partition(role: Partition, bucket: Partition) -> StageFailure {
    failure(
        FailureCategory::InvalidConfiguration,
        format!("The role is in the {role} partition but the bucket's configuration is in {bucket}; trust cannot cross partitions."),
    )
    .fix("Create the role in the same partition as the bucket.", None)
}

pub fn key_in_other_partition() -> StageFailure {
    failure(
        FailureCategory::InvalidConfiguration,
        "The KMS key is in another partition than the bucket.".into(),
    )
    .fix("Use a KMS key from the bucket's partition.", None)
}

pub fn platform_account(what: &str, account: &AccountId) -> StageFailure {
    failure(
        FailureCategory::InvalidConfiguration,
        format!("The {what} is in account {account}, which belongs to this platform. Inside its own account the platform could write without any grant of yours, so it never writes there."),
    )
    .fix(format!("Use a {what} in your own AWS account."), None)
}

pub fn bucket_owner_required() -> StageFailure {
    failure(
        FailureCategory::InvalidConfiguration,
        "A bucket-policy destination needs the account id of the bucket's owner, so that we only ever write into that account's bucket.".into(),
    )
    .fix("PATCH the destination with bucketOwnerAccountId (the 12-digit id of the account that owns the bucket).", None)
}

pub fn entropy() -> StageFailure {
    failure(
        FailureCategory::Transient,
        "The check could not draw the random values it needs on our side.".into(),
    )
    .causes(&["A temporary problem on our side, not your configuration."])
    .fix("Nothing to change: run the test again in a minute.", None)
}

// ---- Confused-deputy guard ----

pub fn assumable_without_external_id(trust_fix: Value) -> StageFailure {
    failure(
        FailureCategory::RoleAssumableWithoutExternalId,
        "We could assume your role WITHOUT the External ID. Any other customer of this platform could point us at it and write to your bucket (the confused-deputy problem), so we refuse to use it.".into(),
    )
    .causes(&["The role's trust policy has no sts:ExternalId condition, or the condition does not apply to our principal."])
    .fix("Replace the role's trust policy with this one; it requires your External ID.", Some(trust_fix))
}

pub fn accepts_retired_external_id(trust_fix: Value) -> StageFailure {
    failure(
        FailureCategory::RetiredExternalIdAccepted,
        "Your role still accepts the External ID that an External ID rotation retired, and its grace window has ended. Whoever learnt the old ID (the reason to rotate it) could still point us at your role, so the destination fails until the role refuses it.".into(),
    )
    .causes(&[
        "The role's trust policy still lists the old External ID beside the new one (the policy shown while the rotation was open).",
        "A second statement of the trust policy still requires the old External ID.",
    ])
    .fix("Replace the role's trust policy with this one; it accepts only the current External ID.", Some(trust_fix))
}

pub fn accepts_any_external_id(trust_fix: Value) -> StageFailure {
    failure(
        FailureCategory::RoleAcceptsAnyExternalId,
        "We could assume your role with a random External ID that is not yours. Any other customer of this platform could point us at it and write to your bucket (the confused-deputy problem), so we refuse to use it.".into(),
    )
    .causes(&[
        "The trust policy matches the External ID with a wildcard (StringLike \"*\") instead of StringEquals on your value.",
        "The trust policy only checks that an External ID is present (a Null condition), not which one.",
        "A second statement trusts our principal without the sts:ExternalId condition.",
    ])
    .fix("Replace the role's trust policy with this one; it requires exactly your External ID.", Some(trust_fix))
}

pub fn role_rejected(error: &ProbeError) -> StageFailure {
    failure(
        FailureCategory::RoleNotAssumable,
        "AWS rejected the role before checking its trust policy.".into(),
    )
    .evidence(&error.evidence)
    .causes(&["The Role ARN is malformed, or names something that is not a role."])
    .fix(
        "Copy the Role ARN exactly as shown on the role's summary page.",
        None,
    )
}

// ---- AssumeRole ----

pub fn role_not_assumable(role: &str, error: &ProbeError, trust_fix: Value) -> StageFailure {
    failure(
        FailureCategory::RoleNotAssumable,
        format!("We could not assume {role} with your External ID. AWS gives the same AccessDenied for several different mistakes, so check each cause below."),
    )
    .evidence(&error.evidence)
    .causes(&[
        "The role does not exist, or the Role ARN has a typo (account id, path or name).",
        "The role's trust policy does not name our platform principal.",
        "The trust policy's sts:ExternalId condition is missing or holds a different External ID.",
        "The role was created moments ago and IAM has not propagated it yet (retry in a minute).",
    ])
    .fix("Make the role's trust policy exactly this document, and check the Role ARN.", Some(trust_fix))
}

pub fn writer_not_assumable(error: &ProbeError) -> StageFailure {
    failure(
        FailureCategory::Transient,
        "The platform could not take on this destination's writer identity. This is on our side, not in your bucket policy.".into(),
    )
    .evidence(&error.evidence)
    .causes(&["A temporary problem or a misconfiguration of the platform."])
    .fix("Nothing to change on your side: run the test again later, and contact support with the request id if it persists.", None)
}

// ---- Any stage ----

pub fn transient(error: &ProbeError, what: &str) -> StageFailure {
    let (category, explanation) = match error.failure {
        crate::ports::ProbeFailure::Timeout => (
            FailureCategory::TimedOut,
            format!("AWS did not answer {what} in time."),
        ),
        _ => (
            FailureCategory::Transient,
            format!("AWS could not serve {what} right now (throttling or a temporary outage)."),
        ),
    };
    failure(category, explanation)
        .evidence(&error.evidence)
        .causes(&["A temporary AWS condition, not your configuration."])
        .fix("Nothing to change: run the test again in a minute.", None)
}

// ---- Locate bucket ----

pub fn bucket_not_found(
    bucket: &BucketName,
    partition: Partition,
    error: &ProbeError,
) -> StageFailure {
    failure(
        FailureCategory::BucketNotFound,
        format!("There is no bucket named {bucket} in the {partition} partition."),
    )
    .evidence(&error.evidence)
    .causes(&[
        "The bucket name has a typo.",
        "The bucket was deleted.",
        "The bucket is in another partition (China or GovCloud).",
    ])
    .fix(
        "Check the bucket name on the S3 console and update the destination.",
        None,
    )
}

pub fn wrong_region(actual: &str, configured: &str, error: &ProbeError) -> StageFailure {
    let mut f = failure(
        FailureCategory::WrongRegion,
        format!("The bucket is in {actual}, not in the configured region {configured}."),
    )
    .evidence(&error.evidence)
    .causes(&["The destination's region was set to another region than the bucket's."])
    .fix(
        format!("Set the destination's region to {actual} (or remove it and we will find it)."),
        None,
    );
    f.bucket_region = Some(actual.to_owned());
    f
}

// ---- Write ----

/// What S3's refusal to use a KMS key means for this destination.
pub struct KmsDenial {
    pub refusal: KmsRefusal,
    pub auth: AuthModeKind,
    /// Whether the destination names a key at all.
    pub has_kms_key: bool,
    /// The statement the key policy needs (for the writer session, or the role).
    pub key_policy_statement: Option<Value>,
    /// Role mode: the role's permissions policy, which grants the key through S3.
    pub permissions_policy: Option<Value>,
}

/// S3 could not encrypt the test upload: which grant AWS found missing, and the document to fix it.
pub fn kms_not_usable(denial: KmsDenial, error: &ProbeError) -> StageFailure {
    let kms = |explanation: &str| {
        failure(FailureCategory::KmsKeyNotUsable, explanation.to_owned()).evidence(&error.evidence)
    };
    if !denial.has_kms_key {
        return kms("The bucket encrypts new objects with a KMS key by default (SSE-KMS), and this destination names no KMS key, so nothing grants us the use of that key.")
            .causes(&[
                "The bucket's default encryption is SSE-KMS with a customer managed key.",
                "The destination was created without its kmsKeyArn.",
            ])
            .fix("Set the destination's kmsKeyArn to the key of the bucket's default encryption (S3 console: the bucket, Properties, Default encryption), then apply the documents again: they then grant that key.", None);
    }
    let identity = match denial.auth {
        AuthModeKind::IamRole => "your role",
        AuthModeKind::BucketPolicy => "this destination's writer session",
    };
    match denial.refusal {
        KmsRefusal::KeyPolicy => kms(&format!("The KMS key's policy does not let {identity} use the key."))
            .causes(&[
                "The key policy has no statement for the identity that writes (a key in another account is granted by its key policy alone).",
                "The key policy's statement has a kms:ViaService or encryption-context condition that does not match S3 writing to this bucket.",
                "The key policy does not let IAM policies grant the key (no statement for the key's account).",
            ])
            .fix("Add this statement to the key policy (KMS console: Customer managed keys, the key, Key policy, Edit).", denial.key_policy_statement),
        KmsRefusal::IdentityPolicy => match denial.auth {
            AuthModeKind::IamRole => kms("Your role's permissions policy does not allow it to use the KMS key.")
                .causes(&[
                    "The permissions policy lacks kms:GenerateDataKey and kms:Decrypt on this key.",
                    "Its kms:ViaService or encryption-context condition names another region, bucket or folder.",
                    "The policy names another key than the destination's kmsKeyArn.",
                ])
                .fix("Attach this permissions policy to the role (it grants the key through S3, for this bucket only).", denial.permissions_policy),
            AuthModeKind::BucketPolicy => kms("The platform may use a customer's KMS key only through S3 in the key's own region, and this upload did not qualify.")
                .causes(&[
                    "The key is in another region than the bucket (S3 can only use a key of the bucket's region).",
                    "The destination's kmsKeyArn is not the key S3 used.",
                ])
                .fix("Use a KMS key in the bucket's region and set it as the destination's kmsKeyArn.", None),
        },
        KmsRefusal::ExplicitDeny => kms(&format!("An explicit Deny stops {identity} from using the KMS key."))
            .causes(&[
                "A Deny statement in the key policy.",
                "A service control policy (SCP) or permissions boundary that denies KMS.",
                "A Deny in the role's own policies.",
            ])
            .fix("Remove or narrow the Deny so that it does not apply to this identity writing through S3.", None),
        KmsRefusal::KeyNotEnabled => kms("The KMS key is disabled or scheduled for deletion, so S3 cannot encrypt with it.")
            .causes(&["Someone disabled the key.", "The key is pending deletion."])
            .fix("Enable the key (KMS console: the key, Key actions, Enable), or cancel its scheduled deletion.", None),
        KmsRefusal::KeyNotFound => kms("KMS has no such key where S3 looked for it.")
            .causes(&[
                "The key ARN has a typo.",
                "The key is in another region than the bucket.",
                "The key was deleted.",
            ])
            .fix("Check the destination's kmsKeyArn, and use a key in the bucket's region.", None),
        KmsRefusal::Unspecified => kms("S3 could not encrypt the object with the destination's KMS key.")
            .causes(&[
                "The key policy does not allow the writing identity kms:GenerateDataKey and kms:Decrypt.",
                "The role's permissions policy does not allow the key (role mode).",
                "The key is disabled, pending deletion, or in another region than the bucket.",
                "A kms:ViaService or encryption-context condition does not match.",
            ])
            .fix("Grant the key through its key policy with this statement, and check that it is enabled and in the bucket's region.", denial.key_policy_statement),
    }
}

pub fn acl_rejected(error: &ProbeError) -> StageFailure {
    failure(
        FailureCategory::AclRejected,
        "The bucket rejected the bucket-owner-full-control ACL header that every upload of ours carries.".into(),
    )
    .evidence(&error.evidence)
    .causes(&["A bucket policy or setting that refuses ACL headers other than none."])
    .fix("Allow uploads with x-amz-acl: bucket-owner-full-control (the setting 'Bucket owner enforced' accepts it).", None)
}

pub fn owner_mismatch(bucket: &BucketName, owner: &AccountId, error: &ProbeError) -> StageFailure {
    failure(
        FailureCategory::UnexpectedBucketOwner,
        format!("The bucket {bucket} is not owned by account {owner}, so we did not write to it."),
    )
    .evidence(&error.evidence)
    .causes(&[
        "The bucket owner account id is wrong.",
        "The bucket was deleted and its name taken by another account.",
    ])
    .fix(
        "Correct bucketOwnerAccountId, or check who owns the bucket now.",
        None,
    )
}

/// What the write's AccessDenied can mean, per auth mode.
pub struct DeniedWrite<'a> {
    pub auth: AuthModeKind,
    pub object: String,
    pub owner: Option<&'a AccountId>,
    pub has_kms_key: bool,
    /// Bucket-policy mode: the shared principal policies named before each destination wrote as
    /// its own identity.
    pub former_principal: Option<&'a str>,
    pub fix_document: Option<Value>,
}

pub fn put_denied(denied: DeniedWrite<'_>, error: &ProbeError) -> StageFailure {
    let mut causes: Vec<String> = match denied.auth {
        AuthModeKind::IamRole => vec![
            "The role's permissions policy is missing or does not allow s3:PutObject and s3:PutObjectAcl with the bucket-owner-full-control ACL.".into(),
            "The policy covers another folder or bucket than this destination's.".into(),
        ],
        AuthModeKind::BucketPolicy => vec![
            "The bucket policy has no statement for this destination's writer session (each destination has its own).".into(),
            "The statement covers another folder, or lacks s3:PutObject.".into(),
        ],
    };
    if let Some(former) = denied.former_principal {
        causes.push(format!("The bucket policy still names the platform's former shared principal {former}, which no longer writes for any destination: replace that statement with the one below."));
    }
    causes.push(
        "An explicit Deny (bucket policy, SCP or permissions boundary) blocks the upload.".into(),
    );
    if let Some(owner) = denied.owner {
        causes.push(format!("The bucket is owned by another account than {owner} (S3 answers that with the same AccessDenied)."));
    }
    if !denied.has_kms_key {
        causes.push(
            "The bucket's default encryption uses a KMS key we are not allowed to use.".into(),
        );
    }
    let fix = match denied.auth {
        AuthModeKind::IamRole => {
            "Attach this permissions policy to the role (it allows exactly the destination folder)."
        }
        AuthModeKind::BucketPolicy => {
            "Add this statement to the bucket policy (the setup kit's CLI script merges it for you)."
        }
    };
    let mut f = failure(
        FailureCategory::PutAccessDenied,
        format!("AWS denied the test upload to {}.", denied.object),
    )
    .evidence(&error.evidence)
    .fix(fix, denied.fix_document);
    f.possible_causes = causes;
    f
}

/// Bucket-policy mode: a session of our writer that belongs to no destination could write too.
pub fn bucket_policy_grants_others(statement: Option<Value>) -> StageFailure {
    failure(
        FailureCategory::BucketPolicyGrantsOthers,
        "The bucket policy lets more than this destination's own writer session put objects here: a session of ours that belongs to no destination was allowed the same upload. Another customer of the platform could then name this bucket and have their data written into it, so we do not use it.".into(),
    )
    .causes(&[
        "A statement names the platform's writer role itself (arn:…:role/…) instead of this destination's session (arn:…:sts::…:assumed-role/…/destination-…).",
        "A statement names the platform's whole account (…:root or the account id) or every principal (\"*\").",
        "A statement uses a wildcard in the session name (destination-*).",
    ])
    .fix(
        "Grant only this destination's session: replace those statements with this one, then test again.",
        statement,
    )
}

pub fn s3_refused(error: &ProbeError) -> StageFailure {
    let code = error.evidence.code.as_deref().unwrap_or("an error");
    failure(
        FailureCategory::InvalidConfiguration,
        format!("S3 refused the test upload with {code}."),
    )
    .evidence(&error.evidence)
    .causes(&["A bucket setting that refuses uploads like ours (see the AWS error code)."])
    .fix("Check the bucket's settings for the error code above, or contact support with the request id.", None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ProbeFailure;

    fn every_entry() -> Vec<StageFailure> {
        let error = ProbeError::new(ProbeFailure::AccessDenied);
        let timeout = ProbeError::new(ProbeFailure::Timeout);
        let owner = AccountId::new("222222222222").unwrap();
        let bucket = BucketName::new("bucket").unwrap();
        let doc = serde_json::json!({});
        vec![
            partition_not_served(Partition::AwsCn),
            role_not_set(),
            role_in_other_partition(Partition::AwsCn, Partition::Aws),
            key_in_other_partition(),
            platform_account("bucket", &owner),
            bucket_owner_required(),
            entropy(),
            assumable_without_external_id(doc.clone()),
            accepts_retired_external_id(doc.clone()),
            accepts_any_external_id(doc.clone()),
            role_rejected(&error),
            role_not_assumable("arn", &error, doc.clone()),
            writer_not_assumable(&error),
            transient(&error, "x"),
            transient(&timeout, "x"),
            bucket_not_found(&bucket, Partition::Aws, &error),
            wrong_region("eu-west-1", "us-east-1", &error),
            kms_not_usable(
                KmsDenial {
                    refusal: KmsRefusal::KeyPolicy,
                    auth: AuthModeKind::IamRole,
                    has_kms_key: true,
                    key_policy_statement: Some(doc.clone()),
                    permissions_policy: None,
                },
                &error,
            ),
            acl_rejected(&error),
            owner_mismatch(&bucket, &owner, &error),
            put_denied(
                DeniedWrite {
                    auth: AuthModeKind::BucketPolicy,
                    object: "s3://bucket/x".into(),
                    owner: Some(&owner),
                    has_kms_key: false,
                    former_principal: Some("arn:aws:iam::111111111111:role/c"),
                    fix_document: Some(doc),
                },
                &error,
            ),
            s3_refused(&error),
            bucket_policy_grants_others(Some(serde_json::json!({}))),
        ]
    }

    #[test]
    fn every_category_has_an_explanation_causes_and_a_fix() {
        let entries = every_entry();
        for category in FailureCategory::ALL {
            let of_category: Vec<&StageFailure> =
                entries.iter().filter(|f| f.category == category).collect();
            assert!(!of_category.is_empty(), "{category:?} has no entry");
            for entry in of_category {
                assert!(entry.explanation.ends_with('.'), "{entry:?}");
                assert!(!entry.fix.is_empty(), "{entry:?}");
            }
        }
    }

    #[test]
    fn failures_of_aws_calls_list_their_causes() {
        for entry in every_entry()
            .into_iter()
            .filter(|f| f.category != FailureCategory::InvalidConfiguration)
        {
            assert!(!entry.possible_causes.is_empty(), "{entry:?}");
        }
    }
}
