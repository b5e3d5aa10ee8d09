//! The one table from use-case errors to problems. Causes of 5xx answers are logged here (inside
//! the request's span) and never shown; clients learn only what they can act on.

use crate::app::ModifyError;
use crate::app::delivery::{DeliveryReadError, RequestError, VendError};
use crate::app::destinations::{CreateError, PlatformAccountField, ReadError, UpdateError};
use crate::app::policies::{MergePolicyError, PoliciesError, PreviewError};
use crate::app::testing::{HistoryError, TestError};
use crate::app::writer::PlanError;
use crate::domain::delivery::DeliveryRefused;
use crate::domain::{NothingToDiscard, PatchError, RotationError, SaveError};
use crate::policy::{MergeError, RenderError};
use crate::ports::{RetryAfter, StoreError};

use super::problem::{Problem, ProblemType};

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => Problem::of(
                ProblemType::InvalidCursor,
                "The cursor is not valid for this listing; start again without it.",
            ),
            StoreError::VersionConflict { .. } => Problem::of(
                ProblemType::ConcurrentModification,
                "The destination kept changing while we tried to update it; retry.",
            ),
            StoreError::AlreadyExists => Problem::of(
                ProblemType::AlreadyExists,
                "A destination with this id already exists; retry.",
            ),
            StoreError::LimitReached { cap } => limit_reached(cap),
            StoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "destination store failed");
                Problem::unavailable()
            }
            StoreError::Corrupt(cause) => {
                tracing::error!(error = %cause, "stored data does not read back");
                Problem::internal()
            }
        }
    }
}

fn limit_reached(cap: u32) -> Problem {
    Problem::of(
        ProblemType::DestinationLimitReached,
        format!("This tenant already has {cap} destinations, the most allowed; delete one first."),
    )
}

fn retry_after(wait: RetryAfter, what: &str) -> Problem {
    Problem::rate_limited(wait.0.as_secs().max(1), what)
}

fn platform_account(field: PlatformAccountField) -> Problem {
    Problem::field(
        field.api_name(),
        "is in one of this platform's own AWS accounts; use an account of yours",
    )
}

impl From<ReadError> for Problem {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::NotFound => Problem::destination_not_found(),
            ReadError::Store(e) => e.into(),
        }
    }
}

impl From<CreateError> for Problem {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::RateLimited(wait) => retry_after(wait, "destinations created"),
            CreateError::LimitReached { cap } => limit_reached(cap),
            CreateError::BucketOwnerRequired => Problem::field(
                "bucketOwnerAccountId",
                "is required for a bucket-policy destination: the 12-digit id of the account that owns the bucket",
            ),
            CreateError::PlatformAccount(field) => platform_account(field),
            CreateError::Partition(e) => e.into(),
            CreateError::IdempotencyKeyReused => Problem::of(
                ProblemType::IdempotencyKeyReused,
                "This Idempotency-Key was already used with a different request body.",
            ),
            CreateError::Entropy => {
                tracing::error!("the OS random source failed");
                Problem::internal()
            }
            CreateError::Store(e) => e.into(),
        }
    }
}

impl<E: Into<Problem>> From<ModifyError<E>> for Problem {
    fn from(error: ModifyError<E>) -> Self {
        match error {
            ModifyError::NotFound => Problem::destination_not_found(),
            ModifyError::PreconditionFailed => Problem::precondition_failed(),
            ModifyError::Rejected(e) => e.into(),
            ModifyError::Conflict => Problem::of(
                ProblemType::ConcurrentModification,
                "The destination kept changing while we tried to update it; retry.",
            ),
            ModifyError::Store(e) => e.into(),
        }
    }
}

impl From<PatchError> for Problem {
    fn from(error: PatchError) -> Self {
        let field = match error {
            PatchError::RoleArnInBucketPolicyMode => "roleArn",
            PatchError::BucketOwnerRequired => "bucketOwnerAccountId",
            PatchError::PartitionConflict(conflict) => conflict.field,
            PatchError::PartitionNotServed(partition) => return partition_not_served(partition),
        };
        Problem::field(field, error)
    }
}

/// A destination in a partition this deployment has no principals in.
pub fn partition_not_served(partition: crate::domain::Partition) -> Problem {
    Problem::of(
        ProblemType::PartitionNotServed,
        format!(
            "This deployment serves no destination in the {partition} partition: its region, role and key must be in the partition the platform runs in."
        ),
    )
}

impl From<UpdateError> for Problem {
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::Patch(e) => e.into(),
            UpdateError::PlatformAccount(field) => platform_account(field),
            UpdateError::Modify(e) => e.into(),
        }
    }
}

impl From<PreviewError> for Problem {
    fn from(error: PreviewError) -> Self {
        match error {
            PreviewError::Policies(e) => e.into(),
            PreviewError::Patch(e) => e.into(),
            PreviewError::PlatformAccount(field) => platform_account(field),
        }
    }
}

impl From<SaveError> for Problem {
    fn from(error: SaveError) -> Self {
        let kind = match error {
            SaveError::NothingToSave => ProblemType::NothingToSave,
            SaveError::RotationOpen => ProblemType::RotationOpen,
            _ => ProblemType::NotVerified,
        };
        Problem::of(kind, format!("Cannot save: {error}."))
    }
}

impl From<RotationError> for Problem {
    fn from(error: RotationError) -> Self {
        let kind = match error {
            RotationError::NotRoleMode => ProblemType::NotRoleMode,
            RotationError::AlreadyOpen => ProblemType::RotationOpen,
            RotationError::NotOpen => ProblemType::NoRotation,
            RotationError::NotProven => ProblemType::RotationNotProven,
            RotationError::Entropy => {
                return Problem::of(
                    ProblemType::Internal,
                    "No External ID could be generated; nothing was changed. Try again.",
                );
            }
        };
        Problem::of(kind, format!("{}.", capitalise(&error.to_string())))
    }
}

/// A domain message as the start of a sentence.
fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl From<NothingToDiscard> for Problem {
    fn from(error: NothingToDiscard) -> Self {
        Problem::of(
            ProblemType::NothingToDiscard,
            format!("Cannot discard: {error}."),
        )
    }
}

impl From<TestError> for Problem {
    fn from(error: TestError) -> Self {
        match error {
            TestError::NotFound => Problem::destination_not_found(),
            TestError::InProgress => Problem::of(
                ProblemType::TestInProgress,
                "A connection test for this destination is already running; wait for its result.",
            ),
            TestError::RateLimited(wait) => retry_after(wait, "connection tests"),
            TestError::NotSaved => Problem::of(
                ProblemType::NotSaved,
                "This destination has never been saved, so it has no active configuration to check: use Test Connection on the configuration under edit, then Save.",
            ),
            TestError::TooManyRunning(wait) => retry_after(
                wait,
                "checks running at once (connection tests and re-validation)",
            ),
            TestError::Store(e) => e.into(),
        }
    }
}

impl From<HistoryError> for Problem {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::NotFound => Problem::destination_not_found(),
            HistoryError::Store(e) => e.into(),
        }
    }
}

impl From<RenderError> for Problem {
    fn from(error: RenderError) -> Self {
        let kind = match error {
            RenderError::PartitionNotServed(_) => ProblemType::PartitionNotServed,
            RenderError::TooLarge { .. } => ProblemType::PolicyTooLarge,
        };
        Problem::of(kind, format!("Cannot render the policies: {error}."))
    }
}

impl From<PoliciesError> for Problem {
    fn from(error: PoliciesError) -> Self {
        match error {
            PoliciesError::NotFound => Problem::destination_not_found(),
            PoliciesError::Render(e) => e.into(),
            PoliciesError::Store(e) => e.into(),
        }
    }
}

impl From<MergePolicyError> for Problem {
    fn from(error: MergePolicyError) -> Self {
        match error {
            MergePolicyError::RateLimited(wait) => retry_after(wait, "bucket-policy merges"),
            MergePolicyError::NotBucketPolicyMode => Problem::of(
                ProblemType::NotBucketPolicyMode,
                "This destination uses an IAM role; its bucket policy needs no statement from us.",
            ),
            MergePolicyError::Policies(e) => e.into(),
            MergePolicyError::Merge(e @ MergeError::TooLarge { .. }) => {
                Problem::of(ProblemType::PolicyTooLarge, format!("Cannot merge: {e}."))
            }
            MergePolicyError::Merge(e) => Problem::field("existingPolicy", e),
        }
    }
}

impl From<RequestError> for Problem {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::NotFound => Problem::destination_not_found(),
            RequestError::NotStaged { staging } => Problem::field(
                "source.bucket",
                format!("must be the platform's staging bucket, {staging}"),
            ),
            RequestError::Refused(DeliveryRefused::NotSaved) => Problem::of(
                ProblemType::NotSaved,
                "The destination has never been saved, so no configuration receives deliveries yet; test it and save it first.",
            ),
            RequestError::Refused(DeliveryRefused::Key(why)) => Problem::field(
                "name",
                format!("cannot name an object with this destination's key template: {why}"),
            ),
            RequestError::Conflict(conflict) => Problem::of(
                ProblemType::DeliveryConflict,
                format!(
                    "Delivery {} was already asked for with another source or name; a delivery id names one file, once.",
                    conflict.0
                ),
            ),
            RequestError::Store(e) => e.into(),
        }
    }
}

impl From<DeliveryReadError> for Problem {
    fn from(error: DeliveryReadError) -> Self {
        match error {
            DeliveryReadError::DestinationNotFound => Problem::destination_not_found(),
            DeliveryReadError::NotFound => Problem::delivery_not_found(),
            DeliveryReadError::Store(e) => e.into(),
        }
    }
}

impl From<VendError> for Problem {
    fn from(error: VendError) -> Self {
        match error {
            VendError::NotFound => Problem::destination_not_found(),
            VendError::NotSaved => Problem::of(
                ProblemType::NotSaved,
                "The destination has never been saved, so nothing may be written to it yet.",
            ),
            VendError::NotVerified(category) => Problem::of(
                ProblemType::NotVerified,
                format!(
                    "The destination is failing its checks ({}); it receives nothing until it passes again.",
                    serde_json::to_value(category)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            ),
            VendError::Plan(PlanError::PartitionNotServed(partition)) => Problem::of(
                ProblemType::PartitionNotServed,
                format!("The platform has no principal in the {partition} partition."),
            ),
            VendError::Plan(_) => Problem::of(
                ProblemType::NotVerified,
                "The destination's saved configuration cannot be written to; test and save it again.",
            ),
            VendError::Session(e) if e.is_transient() => {
                tracing::warn!(failure = ?e.failure, "vending: STS unavailable");
                Problem::unavailable()
            }
            VendError::Session(e) => {
                tracing::warn!(failure = ?e.failure, "vending: the destination's identity was refused");
                Problem::of(
                    ProblemType::NotVerified,
                    "The destination's identity could not be taken on; its next check will say why.",
                )
            }
            VendError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_outages_are_503_and_corrupt_data_500_without_details() {
        let outage: Problem = StoreError::Unavailable("secret cause".into()).into();
        assert_eq!(outage.status, 503);
        assert!(!outage.detail.contains("secret"));
        let corrupt: Problem = StoreError::Corrupt("secret cause".into()).into();
        assert_eq!(corrupt.status, 500);
        assert!(!corrupt.detail.contains("secret"));
    }

    #[test]
    fn save_refusals_say_why() {
        let problem: Problem = SaveError::LatestTestFailed.into();
        assert!(problem.is(ProblemType::NotVerified));
        assert!(problem.detail.contains("latest connection test failed"));
        let nothing: Problem = SaveError::NothingToSave.into();
        assert!(nothing.is(ProblemType::NothingToSave));
    }
}
