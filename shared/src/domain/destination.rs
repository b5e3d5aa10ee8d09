//! The destination aggregate: what a customer configured, its lifecycle and its invariants. Every
//! state change goes through a method here, and each bumps the version once.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use super::actor::Actor;
use super::check::{CheckResult, FailureCategory};
use super::revalidation::{
    ConnectionEvent, ConnectionEventKind, DeliveryTarget, RevalidationSettings, RevalidationState,
};
use super::rotation::{
    ExternalIdRotation, NextExternalId, RetiredExternalId, RotationError, RotationProof,
};
use super::{
    AccountId, BucketName, Description, DestinationId, DestinationName, ExternalId,
    ExternalIdError, Folder, KeyTemplate, KmsKeyArn, Partition, Region, RoleArn, TenantId,
};

/// How we authenticate to the customer's bucket. Fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AuthMode {
    /// We assume the customer's role, which must require `external_id`.
    #[serde(rename_all = "camelCase")]
    IamRole { external_id: ExternalId },
    /// The customer's bucket policy grants this destination's writer session.
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

/// `Draft` until the first Save after a passing test; re-validation then moves it between the
/// other two. The status is about the active configuration, never about pending changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    Draft,
    Verified,
    Failing,
}

/// Where and how deliveries are written: everything a connection check exercises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub bucket: BucketName,
    pub folder: Folder,
    #[serde(default)]
    pub region: Option<Region>,
    /// Role mode only: the customer's role, once they have created it.
    #[serde(default)]
    pub role_arn: Option<RoleArn>,
    #[serde(default)]
    pub kms_key: Option<KmsKeyArn>,
    /// The account the customer says owns the bucket.
    #[serde(default)]
    pub bucket_owner: Option<AccountId>,
    /// The partition of the deployment that created the destination (set by
    /// [`Destination::new_draft`]): where it lives when it names no region, role or key.
    #[serde(default = "aws")]
    pub home: Partition,
}

fn aws() -> Partition {
    Partition::Aws
}

impl Configuration {
    /// The partition the destination names itself: its region's, else its role's, else its key's.
    pub fn named_partition(&self) -> Option<Partition> {
        self.region
            .as_ref()
            .map(Region::partition)
            .or_else(|| self.role_arn.as_ref().map(RoleArn::partition))
            .or_else(|| self.kms_key.as_ref().map(KmsKeyArn::partition))
    }

    /// Where the destination lives: the partition it names, else the deployment's own (`home`),
    /// never a silent `aws` on a China or GovCloud deployment.
    pub fn partition(&self) -> Partition {
        self.named_partition().unwrap_or(self.home)
    }

    /// A role or key in another partition than the region (or the role) names: trust never
    /// crosses a partition, so such a destination cannot work.
    pub fn partition_conflict(&self) -> Option<PartitionConflict> {
        let region = self.region.as_ref().map(Region::partition);
        let role = self.role_arn.as_ref().map(RoleArn::partition);
        let key = self.kms_key.as_ref().map(KmsKeyArn::partition);
        let mut named = None;
        for (field, partition) in [("region", region), ("roleArn", role), ("kmsKeyArn", key)] {
            let Some(partition) = partition else { continue };
            match named {
                None => named = Some((field, partition)),
                Some((by, expected)) if expected != partition => {
                    return Some(PartitionConflict {
                        field,
                        partition,
                        named_by: by,
                        expected,
                    });
                }
                Some(_) => {}
            }
        }
        None
    }

    /// The account that must own the bucket: the customer's word for it, else the role's account
    /// (a role-mode role grants through its identity policy, which reaches its own account's
    /// buckets without a bucket policy).
    pub fn expected_owner(&self) -> Option<AccountId> {
        self.bucket_owner
            .clone()
            .or_else(|| self.role_arn.as_ref().map(|r| r.account().clone()))
    }
}

/// The configuration deliveries use: set by Save, re-validated on a schedule, changed only by the
/// next Save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveConfiguration {
    pub configuration: Configuration,
    pub config_version: u64,
    /// The bucket owner the passing test saw, sent as `ExpectedBucketOwner` on every write, so a
    /// bucket deleted and re-created in another account never receives data.
    pub pinned_owner: Option<AccountId>,
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
}

impl ActiveConfiguration {
    /// Where the deliveries of this configuration go, and who writes them.
    pub fn target(&self) -> DeliveryTarget {
        DeliveryTarget {
            bucket: self.configuration.bucket.clone(),
            folder: self.configuration.folder.clone(),
            bucket_owner: self.pinned_owner.clone(),
            role_arn: self.configuration.role_arn.clone(),
            kms_key_arn: self.configuration.kms_key.clone(),
        }
    }
}

/// A Save that moved a saved destination's deliveries: the target before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetChange {
    pub before: DeliveryTarget,
    pub after: DeliveryTarget,
}

/// Everything a caller may choose when creating a destination; the id and External ID are ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDestination {
    pub name: DestinationName,
    pub description: Description,
    /// Where deliveries land inside the folder.
    pub key_template: KeyTemplate,
    pub auth: AuthModeKind,
    pub configuration: Configuration,
}

/// A field whose partition differs from the one an earlier field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionConflict {
    /// The API name of the field in another partition.
    pub field: &'static str,
    pub partition: Partition,
    /// The API name of the field that named `expected` first.
    pub named_by: &'static str,
    pub expected: Partition,
}

impl std::fmt::Display for PartitionConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "is in the {} partition, but the {} is in {}; a destination lives in one partition",
            self.partition, self.named_by, self.expected
        )
    }
}

/// A partial update. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPatch {
    pub name: Option<DestinationName>,
    pub description: Option<Description>,
    pub key_template: Option<KeyTemplate>,
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
    #[error("a destination using a bucket policy needs the bucket owner's account id")]
    BucketOwnerRequired,
    #[error("{0}")]
    PartitionConflict(PartitionConflict),
    #[error("this deployment serves no destination in the {0} partition")]
    PartitionNotServed(Partition),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaveError {
    #[error("run Test Connection first: this configuration has never been tested")]
    NeverTested,
    #[error("the latest connection test failed; fix the problem it reported and test again")]
    LatestTestFailed,
    #[error("the configuration changed after the latest connection test; test again before saving")]
    ConfigurationChangedSinceTest,
    #[error("nothing to save: the active configuration is already the tested one")]
    NothingToSave,
    #[error(
        "an External ID rotation is open: its tests present the next ID, which deliveries do not use yet; complete or cancel the rotation, then test and save"
    )]
    RotationOpen,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("there are no pending changes to discard")]
pub struct NothingToDiscard;

/// What a patch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchOutcome {
    /// The configuration under test changed: a new Test Connection (and Save) is needed.
    pub configuration_changed: bool,
    /// Anything changed at all (else nothing is stored).
    pub changed: bool,
}

/// A destination as stored: no serde here, so no rename in the domain can change what is stored.
/// Adapters keep their own versioned records and translate through [`DestinationParts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    id: DestinationId,
    tenant: TenantId,
    name: DestinationName,
    description: Description,
    /// Where deliveries land inside the folder: applies to the next delivery, like the name.
    key_template: KeyTemplate,
    auth: AuthMode,
    /// What PATCH edits and Test Connection tests. For a saved destination that differs from the
    /// active configuration, these are the pending changes.
    configuration: Configuration,
    /// Bumped whenever `configuration` changes; a test result names the version it tested.
    config_version: u64,
    active: Option<ActiveConfiguration>,
    status: Status,
    /// Bumped by every stored change; guards against lost updates.
    version: u64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    /// The latest Test Connection of `configuration`.
    latest_test: Option<CheckResult>,
    revalidation: RevalidationState,
    /// Role mode: an External ID rotation in progress, and the IDs earlier ones retired.
    rotation: ExternalIdRotation,
}

/// Every field of a [`Destination`], for a store to rebuild one from its own record (and only
/// for that: state changes go through the aggregate's methods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationParts {
    pub id: DestinationId,
    pub tenant: TenantId,
    pub name: DestinationName,
    pub description: Description,
    pub key_template: KeyTemplate,
    pub auth: AuthMode,
    pub configuration: Configuration,
    pub config_version: u64,
    pub active: Option<ActiveConfiguration>,
    pub status: Status,
    pub version: u64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub latest_test: Option<CheckResult>,
    pub revalidation: RevalidationState,
    pub rotation: ExternalIdRotation,
}

/// Moves every field across in both directions. Each side is destructured exhaustively, so a field
/// added to either struct and not listed here does not compile.
macro_rules! destination_parts_conversions {
    ($($field:ident),+ $(,)?) => {
        impl From<DestinationParts> for Destination {
            fn from(parts: DestinationParts) -> Self {
                let DestinationParts { $($field),+ } = parts;
                Self { $($field),+ }
            }
        }

        impl From<&Destination> for DestinationParts {
            fn from(destination: &Destination) -> Self {
                let Destination { $($field),+ } = destination.clone();
                Self { $($field),+ }
            }
        }
    };
}

destination_parts_conversions!(
    id,
    tenant,
    name,
    description,
    key_template,
    auth,
    configuration,
    config_version,
    active,
    status,
    version,
    created_at,
    updated_at,
    latest_test,
    revalidation,
    rotation,
);

impl Destination {
    /// A new destination of a deployment in the `home` partition.
    pub fn new_draft(
        id: DestinationId,
        tenant: TenantId,
        input: NewDestination,
        home: Partition,
        now: OffsetDateTime,
    ) -> Result<Self, ExternalIdError> {
        let auth = match input.auth {
            AuthModeKind::IamRole => AuthMode::IamRole {
                external_id: ExternalId::generate()?,
            },
            AuthModeKind::BucketPolicy => AuthMode::BucketPolicy,
        };
        let mut configuration = input.configuration;
        configuration.home = home;
        if auth == AuthMode::BucketPolicy {
            configuration.role_arn = None;
        }
        Ok(Self {
            id,
            tenant,
            name: input.name,
            description: input.description,
            key_template: input.key_template,
            auth,
            configuration,
            config_version: 1,
            active: None,
            status: Status::Draft,
            version: 1,
            created_at: now,
            updated_at: now,
            latest_test: None,
            revalidation: RevalidationState::default(),
            rotation: ExternalIdRotation::default(),
        })
    }

    pub fn id(&self) -> &DestinationId {
        &self.id
    }
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    pub fn name(&self) -> &DestinationName {
        &self.name
    }
    pub fn description(&self) -> &Description {
        &self.description
    }

    pub fn key_template(&self) -> &KeyTemplate {
        &self.key_template
    }
    pub fn auth(&self) -> &AuthMode {
        &self.auth
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn config_version(&self) -> u64 {
        self.config_version
    }
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }
    pub fn latest_test(&self) -> Option<&CheckResult> {
        self.latest_test.as_ref()
    }
    pub fn revalidation(&self) -> &RevalidationState {
        &self.revalidation
    }
    /// The configuration under edit and test (the pending one when it differs from the active).
    pub fn configuration(&self) -> &Configuration {
        &self.configuration
    }
    pub fn active(&self) -> Option<&ActiveConfiguration> {
        self.active.as_ref()
    }

    pub fn external_id(&self) -> Option<&ExternalId> {
        match &self.auth {
            AuthMode::IamRole { external_id } => Some(external_id),
            AuthMode::BucketPolicy => None,
        }
    }

    pub fn rotation(&self) -> &ExternalIdRotation {
        &self.rotation
    }

    /// The External ID Test Connection presents: an open rotation's next ID (what it must prove
    /// before the rotation may complete), else the current one. Deliveries and re-validation
    /// always present the current one.
    pub fn external_id_under_test(&self) -> Option<&ExternalId> {
        let current = self.external_id()?;
        Some(self.rotation.next.as_ref().map_or(current, |next| &next.id))
    }

    /// The IDs the role's trust policy must accept now: the current one, and an open rotation's
    /// next one beside it.
    pub fn trusted_external_ids(&self) -> Vec<&ExternalId> {
        self.external_id()
            .into_iter()
            .chain(self.rotation.next.as_ref().map(|next| &next.id))
            .collect()
    }

    /// The role deliveries go through: the active configuration's, or, before the first Save,
    /// the one under edit.
    fn delivering_role(&self) -> Option<&RoleArn> {
        self.active
            .as_ref()
            .map_or(&self.configuration, |a| &a.configuration)
            .role_arn
            .as_ref()
    }

    /// Starts replacing the External ID: a next one from the OS CSPRNG, which the trust policy
    /// must accept beside the current one until the rotation completes.
    pub fn start_rotation(
        &mut self,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        if self.external_id().is_none() {
            return Err(RotationError::NotRoleMode);
        }
        if self.rotation.is_open() {
            return Err(RotationError::AlreadyOpen);
        }
        let id = ExternalId::generate().map_err(|_| RotationError::Entropy)?;
        self.rotation.next = Some(NextExternalId {
            id,
            started_at: now,
            started_by: actor.clone(),
            proven: None,
        });
        self.changed(now);
        Ok(())
    }

    /// Drops an open rotation: the current ID stays the only one. The next one may already be in
    /// the role's trust policy (it was shown and offered), so it is retired like a replaced ID:
    /// after `grace` a role that still accepts it fails its checks. A test that presented it
    /// proves nothing about the current ID, so it no longer counts for Save.
    pub fn cancel_rotation(
        &mut self,
        grace: time::Duration,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        let next = self.rotation.next.take().ok_or(RotationError::NotOpen)?;
        if self
            .latest_test
            .as_ref()
            .is_some_and(|t| t.started_at >= next.started_at)
        {
            self.latest_test = None;
        }
        self.rotation.retired.push(RetiredExternalId {
            id: next.id,
            retired_at: now,
            grace_ends_at: now + grace,
            overdue_reported: false,
        });
        self.changed(now);
        Ok(())
    }

    /// A passing Test Connection assumed `role` with `tested`: when that is the open rotation's
    /// next ID, the rotation may complete for that role. Returns whether it counted.
    fn record_rotation_proof(
        &mut self,
        tested: &ExternalId,
        role: &RoleArn,
        now: OffsetDateTime,
    ) -> bool {
        match &mut self.rotation.next {
            Some(next) if next.id == *tested => {
                next.proven = Some(RotationProof {
                    role: role.clone(),
                    at: now,
                });
                true
            }
            _ => false,
        }
    }

    /// Completes the open rotation, only once a passing Test Connection proved the next ID on the
    /// role deliveries use: from now on only the new ID is sent and rendered, and after `grace`
    /// the role must refuse the old one.
    pub fn complete_rotation(
        &mut self,
        grace: time::Duration,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        let next = self.rotation.next.as_ref().ok_or(RotationError::NotOpen)?;
        let role = self.delivering_role();
        if !next
            .proven
            .as_ref()
            .is_some_and(|proof| Some(&proof.role) == role)
        {
            return Err(RotationError::NotProven);
        }
        let AuthMode::IamRole { external_id } = &mut self.auth else {
            return Err(RotationError::NotRoleMode);
        };
        let Some(next) = self.rotation.next.take() else {
            return Err(RotationError::NotOpen);
        };
        let old = std::mem::replace(external_id, next.id);
        self.rotation.retired.push(RetiredExternalId {
            id: old,
            retired_at: now,
            grace_ends_at: now + grace,
            overdue_reported: false,
        });
        self.changed(now);
        Ok(())
    }

    /// An event of the rotation (started or completed), raised by `actor` through the outbox with
    /// the change itself.
    pub fn rotation_event(
        &self,
        kind: ConnectionEventKind,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> ConnectionEvent {
        ConnectionEvent {
            changed_by: Some(actor.clone()),
            ..self.event(kind, now)
        }
    }

    /// An event of this destination as it is now (one per version), with nothing but its kind.
    fn event(&self, kind: ConnectionEventKind, now: OffsetDateTime) -> ConnectionEvent {
        ConnectionEvent {
            event_id: format!("{}/{}", self.id, self.version),
            kind,
            tenant_id: self.tenant.clone(),
            destination_id: self.id.clone(),
            destination_name: self.name.as_str().to_owned(),
            category: None,
            delivery_id: None,
            first_failure_at: None,
            changed_by: None,
            before: None,
            after: None,
            occurred_at: now,
        }
    }

    /// Saved once: re-validation looks after it from then on. Drafts are never re-tested.
    pub fn is_saved(&self) -> bool {
        self.active.is_some()
    }

    pub fn saved_at(&self) -> Option<OffsetDateTime> {
        self.active.as_ref().map(|a| a.saved_at)
    }

    /// A saved destination whose configuration under edit differs from the one deliveries use.
    pub fn has_pending_changes(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.configuration != self.configuration)
    }

    /// Whether the latest test is about the configuration under edit (Save needs it, and passed).
    pub fn latest_test_is_current(&self) -> bool {
        self.latest_test
            .as_ref()
            .is_some_and(|t| t.config_version == self.config_version)
    }

    fn changed(&mut self, now: OffsetDateTime) {
        self.version += 1;
        self.updated_at = now;
    }

    /// Applies a patch. Name, description and key template change at once; bucket, folder, region, role, key and
    /// owner change the configuration under edit only: on a saved destination they are pending
    /// until tested and saved, and deliveries keep using the active configuration meanwhile.
    pub fn apply(
        &mut self,
        patch: DestinationPatch,
        now: OffsetDateTime,
    ) -> Result<PatchOutcome, PatchError> {
        if let (AuthMode::BucketPolicy, Some(Some(_))) = (&self.auth, &patch.role_arn) {
            return Err(PatchError::RoleArnInBucketPolicyMode);
        }
        if let (AuthMode::BucketPolicy, Some(None)) = (&self.auth, &patch.bucket_owner) {
            return Err(PatchError::BucketOwnerRequired);
        }
        let before = (
            self.name.clone(),
            self.description.clone(),
            self.configuration.clone(),
            self.key_template.clone(),
        );
        let config = &mut self.configuration;
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(description) = patch.description {
            self.description = description;
        }
        if let Some(key_template) = patch.key_template {
            self.key_template = key_template;
        }
        if let Some(bucket) = patch.bucket {
            config.bucket = bucket;
        }
        if let Some(folder) = patch.folder {
            config.folder = folder;
        }
        if let Some(region) = patch.region {
            config.region = region;
        }
        if let Some(kms_key) = patch.kms_key {
            config.kms_key = kms_key;
        }
        if let Some(bucket_owner) = patch.bucket_owner {
            config.bucket_owner = bucket_owner;
        }
        if let (AuthMode::IamRole { .. }, Some(role_arn)) = (&self.auth, patch.role_arn) {
            config.role_arn = role_arn;
        }
        if let Some(conflict) = self.configuration.partition_conflict() {
            // Refused whole: nothing of the patch stays.
            (
                self.name,
                self.description,
                self.configuration,
                self.key_template,
            ) = before;
            return Err(PatchError::PartitionConflict(conflict));
        }
        let configuration_changed = before.2 != self.configuration;
        let changed = configuration_changed
            || before.0 != self.name
            || before.1 != self.description
            || before.3 != self.key_template;
        if configuration_changed {
            self.config_version += 1;
        }
        if changed {
            self.changed(now);
        }
        Ok(PatchOutcome {
            configuration_changed,
            changed,
        })
    }

    /// Records a Test Connection of the configuration under edit. A result about a configuration
    /// that changed while the test ran is history only: returns false and changes nothing.
    /// Makes `result` the latest test when it tested the configuration under edit as it is now;
    /// a passing test that presented an open rotation's next ID (`presented`) also proves it for
    /// the role it assumed.
    pub fn record_test(
        &mut self,
        result: CheckResult,
        presented: Option<&ExternalId>,
        now: OffsetDateTime,
    ) -> bool {
        if result.config_version != self.config_version {
            return false;
        }
        if result.passed
            && let (Some(presented), Some(role)) = (presented, self.configuration.role_arn.clone())
        {
            self.record_rotation_proof(presented, &role, now);
        }
        self.latest_test = Some(result);
        self.changed(now);
        true
    }

    /// The guide's "Save": the configuration under edit becomes the active one, only if its latest
    /// test passed. The bucket owner that test saw is pinned from now on. Returns the change of
    /// delivery target when a saved destination's deliveries now go elsewhere or are written by
    /// another role (see [`Destination::configuration_changed`]).
    pub fn save(
        &mut self,
        settings: &RevalidationSettings,
        now: OffsetDateTime,
    ) -> Result<Option<TargetChange>, SaveError> {
        if self.rotation.is_open() {
            return Err(SaveError::RotationOpen);
        }
        let test = self.latest_test.as_ref().ok_or(SaveError::NeverTested)?;
        if test.config_version != self.config_version {
            return Err(SaveError::ConfigurationChangedSinceTest);
        }
        if !test.passed {
            return Err(SaveError::LatestTestFailed);
        }
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.config_version == self.config_version)
        {
            return Err(SaveError::NothingToSave);
        }
        let before = self.active.as_ref().map(ActiveConfiguration::target);
        let active = ActiveConfiguration {
            configuration: self.configuration.clone(),
            config_version: self.config_version,
            pinned_owner: test
                .bucket_owner
                .clone()
                .or_else(|| self.configuration.expected_owner()),
            saved_at: now,
        };
        let after = active.target();
        self.active = Some(active);
        self.status = Status::Verified;
        self.revalidation = RevalidationState {
            next_check_at: Some(now + settings.interval),
            ..RevalidationState::default()
        };
        self.changed(now);
        Ok(before
            .filter(|before| *before != after)
            .map(|before| TargetChange { before, after }))
    }

    /// `Destination Configuration Changed`, for the change a Save made: one per Save (the id
    /// names the version), through the outbox with the Save itself.
    pub fn configuration_changed(
        &self,
        change: TargetChange,
        changed_by: &Actor,
        now: OffsetDateTime,
    ) -> ConnectionEvent {
        ConnectionEvent {
            changed_by: Some(changed_by.clone()),
            before: Some(change.before),
            after: Some(change.after),
            ..self.event(ConnectionEventKind::ConfigurationChanged, now)
        }
    }

    /// Drops the pending changes: the configuration under edit returns to the active one.
    pub fn discard(&mut self, now: OffsetDateTime) -> Result<(), NothingToDiscard> {
        if !self.has_pending_changes() {
            return Err(NothingToDiscard);
        }
        let active = self.active.as_ref().ok_or(NothingToDiscard)?;
        self.configuration = active.configuration.clone();
        self.config_version += 1;
        self.changed(now);
        Ok(())
    }

    /// Records a re-validation of the active configuration and returns the transition it makes,
    /// if any. Definitive failures turn a verified destination failing at once; transient ones only
    /// after `transient_failures_before_failing` in a row. A result about another active
    /// configuration than the current one is ignored (returns `Err`).
    pub fn record_check(
        &mut self,
        result: CheckResult,
        settings: &RevalidationSettings,
        now: OffsetDateTime,
    ) -> Result<Option<ConnectionEvent>, StaleCheck> {
        let active_version = self.active.as_ref().map(|a| a.config_version);
        if active_version != Some(result.config_version) {
            return Err(StaleCheck);
        }
        let before = self.status;
        let previous_category = self
            .revalidation
            .last_check
            .as_ref()
            .and_then(|t| t.category);
        let state = &mut self.revalidation;
        let transition = if result.passed {
            state.consecutive_transient_failures = 0;
            let first_failure_at = state.first_failure_at.take();
            self.status = Status::Verified;
            (before == Status::Failing).then_some((
                ConnectionEventKind::Restored,
                first_failure_at,
                previous_category,
            ))
        } else {
            let category = result.category;
            let transient = category.is_some_and(FailureCategory::is_transient);
            if state.first_failure_at.is_none() {
                state.first_failure_at = Some(result.started_at);
            }
            state.consecutive_transient_failures = if transient {
                state.consecutive_transient_failures + 1
            } else {
                0
            };
            let gives_up = !transient
                || state.consecutive_transient_failures
                    >= settings.transient_failures_before_failing;
            // A transient blip leaves a verified status alone until the threshold is reached.
            if gives_up || before != Status::Verified {
                self.status = Status::Failing;
            }
            (before == Status::Verified && self.status == Status::Failing).then_some((
                ConnectionEventKind::Failed,
                state.first_failure_at,
                category,
            ))
        };
        self.revalidation.next_check_at = Some(now + settings.interval);
        self.revalidation.last_check = Some(result);
        self.changed(now);
        Ok(
            transition.map(|(kind, first_failure_at, category)| ConnectionEvent {
                category,
                first_failure_at: Some(first_failure_at.unwrap_or(now)),
                ..self.event(kind, now)
            }),
        )
    }
}

impl Destination {
    /// What a check of the active configuration says about the IDs rotations retired (those
    /// whose grace window had ended at `now`, the time the check's target was read at, were
    /// probed): a passing check saw each refused, so they are done with; a check that found one
    /// still accepted raises the overdue event, once per retired ID. Call with the same write as
    /// [`Destination::record_check`].
    pub fn settle_retired(
        &mut self,
        result: &CheckResult,
        now: OffsetDateTime,
    ) -> Option<ConnectionEvent> {
        let probed = now;
        let guard_passed = result.stages.iter().any(|s| {
            s.stage == super::check::Stage::ConfusedDeputyGuard
                && s.status == super::check::StageStatus::Passed
        });
        if result.passed || guard_passed {
            // The guard tried every due retired ID and the role refused each.
            self.rotation.retired.retain(|r| r.grace_ends_at > probed);
            return None;
        }
        if result.category != Some(FailureCategory::RetiredExternalIdAccepted) {
            return None;
        }
        let mut newly_overdue = false;
        for retired in &mut self.rotation.retired {
            if retired.grace_ends_at <= probed && !retired.overdue_reported {
                retired.overdue_reported = true;
                newly_overdue = true;
            }
        }
        newly_overdue.then(|| ConnectionEvent {
            // Beside the same version's Failed event: its own id.
            event_id: format!("{}/{}/rotation-overdue", self.id, self.version),
            category: Some(FailureCategory::RetiredExternalIdAccepted),
            first_failure_at: Some(result.started_at),
            ..self.event(ConnectionEventKind::RotationOverdue, now)
        })
    }
}

/// A re-validation result about an active configuration that is no longer the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the check is about a configuration that is no longer active")]
pub struct StaleCheck;

#[cfg(test)]
#[path = "destination_tests.rs"]
mod tests;
