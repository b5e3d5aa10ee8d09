//! The destination aggregate: what a customer configured, its lifecycle and its invariants.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use super::connection_test::ConnectionTestResult;
use super::{
    AccountId, BucketName, Description, DestinationId, DestinationName, ExternalId,
    ExternalIdError, Folder, KmsKeyArn, Partition, Region, RoleArn, TenantId,
};

/// How we authenticate to the customer's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AuthMode {
    /// We assume the customer's role, which must require `external_id`.
    #[serde(rename_all = "camelCase")]
    IamRole {
        external_id: ExternalId,
        role_arn: Option<RoleArn>,
    },
    /// The customer's bucket policy grants our platform principal directly.
    BucketPolicy,
}

impl AuthMode {
    pub fn kind(&self) -> AuthModeKind {
        match self {
            AuthMode::IamRole { .. } => AuthModeKind::IamRole,
            AuthMode::BucketPolicy => AuthModeKind::BucketPolicy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthModeKind {
    IamRole,
    BucketPolicy,
}

/// `Draft` until saved after a passing test; re-validation then moves it between the other two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Draft,
    Verified,
    Failing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub id: DestinationId,
    pub tenant: TenantId,
    pub name: DestinationName,
    pub description: Description,
    pub bucket: BucketName,
    pub region: Option<Region>,
    pub folder: Folder,
    pub auth: AuthMode,
    pub kms_key: Option<KmsKeyArn>,
    /// The account that must own the bucket; sent as `ExpectedBucketOwner` so that we never write
    /// to a bucket someone else took over under the same name.
    #[serde(default)]
    pub bucket_owner: Option<AccountId>,
    pub status: Status,
    /// Bumped by every stored change; guards against lost updates.
    pub version: u64,
    /// Bumped only when what a connection test exercises changes (bucket, folder, region, role, key,
    /// bucket owner).
    pub config_version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub saved_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub latest_test: Option<ConnectionTestResult>,
    #[serde(default)]
    pub revalidation: RevalidationState,
}

/// What re-validation keeps between checks of a saved destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevalidationState {
    /// Transient failures in a row; the status turns failing only past a threshold, so it does not flap.
    pub consecutive_transient_failures: u32,
    /// Start of the current run of failures.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub first_failure_at: Option<OffsetDateTime>,
    /// When the scheduler should next check it; `None` for destinations never saved.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_check_at: Option<OffsetDateTime>,
}

/// Everything a caller may choose when creating a destination; the id and External ID are ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDestination {
    pub name: DestinationName,
    pub description: Description,
    pub bucket: BucketName,
    pub region: Option<Region>,
    pub folder: Folder,
    pub auth: AuthModeKind,
    pub kms_key: Option<KmsKeyArn>,
    pub bucket_owner: Option<AccountId>,
}

/// A partial update. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPatch {
    pub name: Option<DestinationName>,
    pub description: Option<Description>,
    pub bucket: Option<BucketName>,
    pub folder: Option<Folder>,
    pub region: Option<Option<Region>>,
    pub role_arn: Option<Option<RoleArn>>,
    pub kms_key: Option<Option<KmsKeyArn>>,
    pub bucket_owner: Option<Option<AccountId>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    #[error(
        "a destination using a bucket policy has no role ARN; create a new destination to use an IAM role"
    )]
    RoleArnInBucketPolicyMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaveError {
    #[error("run Test Connection first: this destination has never been tested")]
    NeverTested,
    #[error("the latest connection test failed; fix the problem it reported and test again")]
    LatestTestFailed,
    #[error("the configuration changed after the latest connection test; test again before saving")]
    ConfigurationChangedSinceTest,
}

impl Destination {
    pub fn new_draft(
        id: DestinationId,
        tenant: TenantId,
        input: NewDestination,
        now: OffsetDateTime,
    ) -> Result<Self, ExternalIdError> {
        let auth = match input.auth {
            AuthModeKind::IamRole => AuthMode::IamRole {
                external_id: ExternalId::generate()?,
                role_arn: None,
            },
            AuthModeKind::BucketPolicy => AuthMode::BucketPolicy,
        };
        Ok(Self {
            id,
            tenant,
            name: input.name,
            description: input.description,
            bucket: input.bucket,
            region: input.region,
            folder: input.folder,
            auth,
            kms_key: input.kms_key,
            bucket_owner: input.bucket_owner,
            status: Status::Draft,
            version: 1,
            config_version: 1,
            created_at: now,
            updated_at: now,
            saved_at: None,
            latest_test: None,
            revalidation: RevalidationState::default(),
        })
    }

    pub fn role_arn(&self) -> Option<&RoleArn> {
        match &self.auth {
            AuthMode::IamRole { role_arn, .. } => role_arn.as_ref(),
            AuthMode::BucketPolicy => None,
        }
    }

    pub fn external_id(&self) -> Option<&ExternalId> {
        match &self.auth {
            AuthMode::IamRole { external_id, .. } => Some(external_id),
            AuthMode::BucketPolicy => None,
        }
    }

    /// The partition the destination lives in: the region's, else the role's, else the key's, else `aws`.
    pub fn partition(&self) -> Partition {
        self.region
            .as_ref()
            .map(Region::partition)
            .or_else(|| self.role_arn().map(RoleArn::partition))
            .or_else(|| self.kms_key.as_ref().map(KmsKeyArn::partition))
            .unwrap_or(Partition::Aws)
    }

    /// Applies a patch in memory. Returns whether the tested configuration changed, in which case the
    /// destination needs a new test (and a new Save) before it counts as verified again.
    pub fn apply(
        &mut self,
        patch: DestinationPatch,
        now: OffsetDateTime,
    ) -> Result<bool, PatchError> {
        if let (AuthMode::BucketPolicy, Some(Some(_))) = (&self.auth, &patch.role_arn) {
            return Err(PatchError::RoleArnInBucketPolicyMode);
        }
        let before = self.tested_configuration();
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(description) = patch.description {
            self.description = description;
        }
        if let Some(bucket) = patch.bucket {
            self.bucket = bucket;
        }
        if let Some(folder) = patch.folder {
            self.folder = folder;
        }
        if let Some(region) = patch.region {
            self.region = region;
        }
        if let Some(kms_key) = patch.kms_key {
            self.kms_key = kms_key;
        }
        if let Some(bucket_owner) = patch.bucket_owner {
            self.bucket_owner = bucket_owner;
        }
        if let (AuthMode::IamRole { role_arn, .. }, Some(new_role)) =
            (&mut self.auth, patch.role_arn)
        {
            *role_arn = new_role;
        }
        let config_changed = before != self.tested_configuration();
        if config_changed {
            self.config_version += 1;
            self.status = Status::Draft;
        }
        self.updated_at = now;
        Ok(config_changed)
    }

    /// The seed's "Save": only a destination whose latest test passed on its current configuration.
    pub fn save(&mut self, now: OffsetDateTime) -> Result<(), SaveError> {
        let test = self.latest_test.as_ref().ok_or(SaveError::NeverTested)?;
        if test.config_version != self.config_version {
            return Err(SaveError::ConfigurationChangedSinceTest);
        }
        if !test.passed {
            return Err(SaveError::LatestTestFailed);
        }
        self.status = Status::Verified;
        self.saved_at = Some(now);
        self.updated_at = now;
        self.revalidation = RevalidationState {
            next_check_at: Some(now),
            ..RevalidationState::default()
        };
        Ok(())
    }

    /// Saved once: re-validation looks after it from then on. Drafts are never re-tested.
    pub fn is_saved(&self) -> bool {
        self.saved_at.is_some()
    }

    #[allow(clippy::type_complexity)]
    fn tested_configuration(
        &self,
    ) -> (
        BucketName,
        Folder,
        Option<Region>,
        Option<RoleArn>,
        Option<KmsKeyArn>,
        Option<AccountId>,
    ) {
        (
            self.bucket.clone(),
            self.folder.clone(),
            self.region.clone(),
            self.role_arn().cloned(),
            self.kms_key.clone(),
            self.bucket_owner.clone(),
        )
    }
}
