//! The result of a connection check (Test Connection or re-validation), as stored on the
//! destination and returned to customers.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AccountId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    Configuration,
    ConfusedDeputyGuard,
    AssumeRole,
    LocateBucket,
    Write,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Configuration,
        Stage::ConfusedDeputyGuard,
        Stage::AssumeRole,
        Stage::LocateBucket,
        Stage::Write,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StageStatus {
    Passed,
    Failed,
    Skipped,
}

/// What went wrong, precisely enough to choose the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureCategory {
    InvalidConfiguration,
    RoleNotAssumable,
    RoleAssumableWithoutExternalId,
    RoleAcceptsAnyExternalId,
    BucketNotFound,
    WrongRegion,
    PutAccessDenied,
    KmsKeyNotUsable,
    UnexpectedBucketOwner,
    AclRejected,
    /// Bucket-policy mode: the bucket policy lets more than this destination's own session write
    /// (the writer role, the platform's account, everyone), so another tenant could name it.
    BucketPolicyGrantsOthers,
    /// After an External ID rotation's grace window, the role still accepts the retired ID.
    RetiredExternalIdAccepted,
    Transient,
    TimedOut,
}

impl FailureCategory {
    pub const ALL: [FailureCategory; 14] = [
        FailureCategory::InvalidConfiguration,
        FailureCategory::RoleNotAssumable,
        FailureCategory::RoleAssumableWithoutExternalId,
        FailureCategory::RoleAcceptsAnyExternalId,
        FailureCategory::BucketNotFound,
        FailureCategory::WrongRegion,
        FailureCategory::PutAccessDenied,
        FailureCategory::KmsKeyNotUsable,
        FailureCategory::UnexpectedBucketOwner,
        FailureCategory::AclRejected,
        FailureCategory::BucketPolicyGrantsOthers,
        FailureCategory::RetiredExternalIdAccepted,
        FailureCategory::Transient,
        FailureCategory::TimedOut,
    ];

    /// Transient failures may pass on retry; the others need the customer to change something.
    pub fn is_transient(self) -> bool {
        matches!(self, FailureCategory::Transient | FailureCategory::TimedOut)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageFailure {
    pub category: FailureCategory,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_request_id: Option<String>,
    pub explanation: String,
    /// AWS answers several different mistakes with the same error; we list them rather than guess.
    pub possible_causes: Vec<String>,
    pub fix: String,
    /// A document to paste (for example the exact trust policy), when the fix is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_document: Option<serde_json::Value>,
    /// The bucket's actual region, when the configured one was wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageResult {
    pub stage: Stage,
    pub status: StageStatus,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<StageFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub passed: bool,
    /// The configuration this result is about; Save compares it with the current one.
    pub config_version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<FailureCategory>,
    /// The object written by a passing check (overwritten by the next one, never piling up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_object_key: Option<String>,
    /// The region the bucket was found in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_region: Option<String>,
    /// The account the bucket had to belong to (sent as `ExpectedBucketOwner`); pinned on Save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<AccountId>,
    pub stages: Vec<StageResult>,
}

impl CheckResult {
    pub fn first_failure(&self) -> Option<&StageFailure> {
        self.stages.iter().find_map(|s| s.failure.as_ref())
    }
}
