//! Pure domain: validated values, the destination aggregate and connection-test results. No I/O.

mod bucket;
pub mod connection_test;
mod destination;
mod external_id;
mod folder;
mod partition;
mod role_arn;
mod values;

pub use bucket::{BucketName, BucketNameError};
pub use destination::{
    AuthMode, AuthModeKind, Destination, DestinationPatch, NewDestination, PatchError,
    RevalidationState, SaveError, Status,
};
pub use external_id::{ExternalId, ExternalIdError};
pub use folder::{Folder, FolderError, MAX_FOLDER_BYTES};
pub use partition::{Partition, Region, RegionError};
pub use role_arn::{PrincipalArn, RoleArn, RoleArnError};
pub use values::{
    AccountId, AccountIdError, Description, DescriptionError, DestinationId, DestinationIdError,
    DestinationName, DestinationNameError, KmsKeyArn, KmsKeyArnError, TenantId, TenantIdError,
};
