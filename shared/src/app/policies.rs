//! The documents a customer applies: rendered for a destination, or merged into the bucket policy
//! they already have.

use time::OffsetDateTime;

use crate::app::destinations::{
    PlatformAccountField, refuse_other_partitions, refuse_platform_accounts,
};
use crate::domain::{
    AuthMode, Destination, DestinationId, DestinationPatch, PatchError, PlatformIdentity, TenantId,
};
use crate::policy::{
    MergeError, MergeOutcome, OurWrite, RenderError, RenderedPolicies, merge_statement,
    object_resource, render,
};
use crate::ports::{DestinationRepository, RateLimitedAction, RateLimiter, RetryAfter, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PoliciesError {
    #[error("no such destination")]
    NotFound,
    #[error(transparent)]
    Render(RenderError),
    #[error(transparent)]
    Store(StoreError),
}

/// The destination and its rendered documents.
pub async fn rendered<S: DestinationRepository>(
    store: &S,
    platform: &PlatformIdentity,
    tenant: &TenantId,
    id: &DestinationId,
) -> Result<(Destination, RenderedPolicies), PoliciesError> {
    let destination = store
        .get(tenant, id)
        .await
        .map_err(PoliciesError::Store)?
        .ok_or(PoliciesError::NotFound)?;
    let rendered = render(&destination, platform).map_err(PoliciesError::Render)?;
    Ok((destination, rendered))
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Policies(PoliciesError),
    #[error(transparent)]
    Patch(PatchError),
    #[error("the {} is in one of the platform's own accounts", .0.api_name())]
    PlatformAccount(PlatformAccountField),
}

/// The documents before and after an edit that is not made: what the customer would have to
/// apply again if they made it.
#[derive(Debug)]
pub struct PolicyPreview {
    /// The destination as the edit would leave it (never stored).
    pub edited: Destination,
    pub before: RenderedPolicies,
    pub after: RenderedPolicies,
}

/// Renders a destination's documents as `patch` would change them, beside today's, changing
/// nothing. The patch is refused exactly as the update would refuse it.
pub async fn preview<S: DestinationRepository>(
    store: &S,
    platform: &PlatformIdentity,
    tenant: &TenantId,
    id: &DestinationId,
    patch: DestinationPatch,
) -> Result<PolicyPreview, PreviewError> {
    refuse_platform_accounts(platform, &patch).map_err(PreviewError::PlatformAccount)?;
    let (mut edited, before) = rendered(store, platform, tenant, id)
        .await
        .map_err(PreviewError::Policies)?;
    edited
        .apply(patch, OffsetDateTime::now_utc())
        .map_err(PreviewError::Patch)?;
    refuse_other_partitions(platform, edited.configuration()).map_err(PreviewError::Patch)?;
    let after =
        render(&edited, platform).map_err(|e| PreviewError::Policies(PoliciesError::Render(e)))?;
    Ok(PolicyPreview {
        edited,
        before,
        after,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum MergePolicyError {
    #[error("too many merge requests")]
    RateLimited(RetryAfter),
    #[error("this destination uses an IAM role; its bucket policy needs no statement from us")]
    NotBucketPolicyMode,
    #[error(transparent)]
    Policies(PoliciesError),
    #[error(transparent)]
    Merge(MergeError),
}

/// Adds (or refreshes) this destination's statement in `existing`, keeping everything else.
pub async fn merge<S: DestinationRepository, L: RateLimiter>(
    store: &S,
    limiter: &L,
    platform: &PlatformIdentity,
    tenant: &TenantId,
    id: &DestinationId,
    existing: &str,
) -> Result<MergeOutcome, MergePolicyError> {
    limiter
        .acquire(
            tenant,
            RateLimitedAction::MergeBucketPolicy,
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(|e| MergePolicyError::Policies(PoliciesError::Store(e)))?
        .map_err(MergePolicyError::RateLimited)?;
    let (destination, rendered) = rendered(store, platform, tenant, id)
        .await
        .map_err(MergePolicyError::Policies)?;
    if let AuthMode::IamRole { .. } = destination.auth() {
        return Err(MergePolicyError::NotBucketPolicyMode);
    }
    let statement = rendered
        .bucket_policy_statement
        .ok_or(MergePolicyError::NotBucketPolicyMode)?;
    let resource = object_resource(destination.configuration());
    merge_statement(
        existing,
        &statement,
        &OurWrite {
            principal: &rendered.platform_principal,
            object_resource: &resource,
        },
    )
    .map_err(MergePolicyError::Merge)
}

/// The setup kit of a destination: its rendered documents as CloudFormation, a CLI script and
/// Terraform.
#[cfg(feature = "kit")]
pub async fn setup_kit<S: DestinationRepository>(
    store: &S,
    platform: &PlatformIdentity,
    settings: &crate::kit::KitSettings,
    tenant: &TenantId,
    id: &DestinationId,
) -> Result<crate::kit::SetupKit, PoliciesError> {
    let (destination, rendered) = rendered(store, platform, tenant, id).await?;
    Ok(crate::kit::setup_kit(
        &destination,
        &rendered,
        platform,
        settings,
    ))
}
