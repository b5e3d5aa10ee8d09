//! Pure domain: validated values, the destination aggregate, check results, re-validation
//! vocabulary, the audit trail and the platform's identity. No I/O.

mod activity;
mod actor;
mod bucket;
pub mod check;
pub mod delivery;
mod destination;
mod external_id;
#[cfg(test)]
mod fixtures;
mod folder;
mod object_key;
mod partition;
mod platform;
pub mod revalidation;
mod role_arn;
mod rotation;
mod values;

pub use activity::{Activity, ActivityEntry};
pub use actor::{Actor, ActorError};
pub use bucket::{BucketName, BucketNameError};
pub use destination::{
    ActiveConfiguration, AuthMode, AuthModeKind, Configuration, Destination, DestinationParts,
    DestinationPatch, NewDestination, NothingToDiscard, PatchError, PatchOutcome, SaveError,
    StaleCheck, Status, TargetChange,
};
pub use external_id::{ExternalId, ExternalIdError};
pub use folder::{Folder, FolderError, MAX_FOLDER_BYTES};
pub use object_key::{DEFAULT_KEY_TEMPLATE, KeyTemplate, KeyTemplateError, MAX_KEY_BYTES};
pub use partition::{Partition, Region, RegionError};
pub use platform::{
    CONNECTOR_SESSION_NAME, PartitionIdentity, PlatformIdentity, PlatformIdentityError,
    session_name,
};
pub use role_arn::{PrincipalArn, RoleArn, RoleArnError, RoleSessionName, RoleSessionNameError};
pub use rotation::{
    DEFAULT_GRACE, ExternalIdRotation, NextExternalId, RetiredExternalId, RotationError,
    RotationProof,
};
pub use values::{
    AccountId, AccountIdError, Description, DescriptionError, DestinationId, DestinationIdError,
    DestinationName, DestinationNameError, IdempotencyKey, IdempotencyKeyError, KmsKeyArn,
    KmsKeyArnError, TenantId, TenantIdError,
};
