//! What the API returns for a destination. Separate from storage so either can change alone.

use serde::Serialize;

use crate::domain::check::CheckResult;
use crate::domain::{AuthMode, AuthModeKind, Configuration, Destination, Status};

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Where deliveries go, in API field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationView<'a> {
    pub bucket: &'a str,
    pub folder: &'a str,
    pub region: Option<&'a str>,
    /// Role mode only (`null` until set); absent in bucket-policy mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<Option<&'a str>>,
    pub kms_key_arn: Option<&'a str>,
    pub bucket_owner_account_id: Option<&'a str>,
}

impl<'a> ConfigurationView<'a> {
    fn new(auth: AuthModeKind, c: &'a Configuration) -> Self {
        Self {
            bucket: c.bucket.as_str(),
            folder: c.folder.as_str(),
            region: c.region.as_ref().map(|r| r.as_str()),
            role_arn: (auth == AuthModeKind::IamRole)
                .then(|| c.role_arn.as_ref().map(|r| r.as_str())),
            kms_key_arn: c.kms_key.as_ref().map(|k| k.as_str()),
            bucket_owner_account_id: c.bucket_owner.as_ref().map(|a| a.as_str()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveView<'a> {
    #[serde(flatten)]
    pub configuration: ConfigurationView<'a>,
    /// The bucket owner pinned at Save: every write names it as `ExpectedBucketOwner`.
    pub pinned_bucket_owner_account_id: Option<&'a str>,
    pub config_version: u64,
    pub saved_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub auth_mode: AuthModeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    /// The configuration under edit: what PATCH changes and Test Connection tests.
    #[serde(flatten)]
    pub configuration: ConfigurationView<'a>,
    pub status: Status,
    pub version: u64,
    pub config_version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub saved_at: Option<String>,
    pub latest_test: Option<&'a CheckResult>,
    /// Whether the latest test is about the current configuration (Save needs it to be, and passed).
    pub latest_test_current: bool,
    /// The configuration deliveries use; `null` until the first Save.
    pub active: Option<ActiveView<'a>>,
    /// A saved destination whose configuration under edit differs from the active one.
    pub has_pending_changes: bool,
    /// The latest re-validation of the active configuration.
    pub last_check: Option<&'a CheckResult>,
    pub next_check_at: Option<String>,
}

impl<'a> From<&'a Destination> for DestinationView<'a> {
    fn from(d: &'a Destination) -> Self {
        let auth = d.auth().kind();
        Self {
            id: d.id().as_str(),
            name: d.name().as_str(),
            description: d.description().as_str(),
            auth_mode: auth,
            external_id: match d.auth() {
                AuthMode::IamRole { external_id } => Some(external_id.expose()),
                AuthMode::BucketPolicy => None,
            },
            configuration: ConfigurationView::new(auth, d.configuration()),
            status: d.status(),
            version: d.version(),
            config_version: d.config_version(),
            created_at: rfc3339(d.created_at()),
            updated_at: rfc3339(d.updated_at()),
            saved_at: d.saved_at().map(rfc3339),
            latest_test: d.latest_test(),
            latest_test_current: d.latest_test_is_current(),
            active: d.active().map(|a| ActiveView {
                configuration: ConfigurationView::new(auth, &a.configuration),
                pinned_bucket_owner_account_id: a.pinned_owner.as_ref().map(|o| o.as_str()),
                config_version: a.config_version,
                saved_at: rfc3339(a.saved_at),
            }),
            has_pending_changes: d.has_pending_changes(),
            last_check: d.revalidation().last_check.as_ref(),
            next_check_at: d.revalidation().next_check_at.map(rfc3339),
        }
    }
}

/// A strong ETag naming the stored version.
pub fn etag(destination: &Destination) -> String {
    format!("\"{}\"", destination.version())
}
