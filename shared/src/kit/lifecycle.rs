//! The S3 lifecycle rule the kit adds to the destination's bucket: the parts of a multipart upload
//! that never completed are removed. Our uploads are aborted when they fail, and an attempt whose
//! worker was lost has its upload aborted by the next one; this rule is for the rest (an abort
//! that itself failed, a destination deleted mid-upload), so no parts are billed forever.

use serde::Serialize;

use crate::domain::Destination;

/// Our uploads complete or are aborted within minutes; a week leaves the customer's own long
/// uploads alone when the folder is the whole bucket.
pub const DAYS_AFTER_INITIATION: u32 = 7;

/// One rule of a bucket's lifecycle configuration, as S3's API spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleRule {
    #[serde(rename = "ID")]
    pub id: String,
    pub filter: Filter,
    pub status: &'static str,
    pub abort_incomplete_multipart_upload: AbortIncompleteMultipartUpload,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// The destination's folder (every key we write starts with it); empty for the whole bucket.
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AbortIncompleteMultipartUpload {
    pub days_after_initiation: u32,
}

/// The rule for `destination`: its id names the destination, so the kit's scripts replace their
/// own rule on a second run and keep every other.
pub fn incomplete_uploads_rule(destination: &Destination) -> LifecycleRule {
    LifecycleRule {
        id: rule_id(destination),
        filter: Filter {
            prefix: destination.configuration().folder.as_str().to_owned(),
        },
        status: "Enabled",
        abort_incomplete_multipart_upload: AbortIncompleteMultipartUpload {
            days_after_initiation: DAYS_AFTER_INITIATION,
        },
    }
}

/// Letters, digits and hyphens only (quoted nowhere in the scripts), within S3's 255 characters.
pub fn rule_id(destination: &Destination) -> String {
    format!(
        "DataPlatformDestination-{}-IncompleteUploads",
        destination.id()
    )
}
