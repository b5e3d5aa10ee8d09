//! What the API returns for a destination. Separate from storage so either can change alone.

use serde::Serialize;

use crate::domain::connection_test::ConnectionTestResult;
use crate::domain::{AuthMode, AuthModeKind, Destination, Status};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub bucket: &'a str,
    pub region: Option<&'a str>,
    pub folder: &'a str,
    pub auth_mode: AuthModeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<Option<&'a str>>,
    pub kms_key_arn: Option<&'a str>,
    pub bucket_owner_account_id: Option<&'a str>,
    pub status: Status,
    pub version: u64,
    pub config_version: u64,
    pub created_at: String,
    pub updated_at: String,
    pub saved_at: Option<String>,
    pub latest_test: Option<&'a ConnectionTestResult>,
    /// Whether the latest test is about the current configuration (Save needs it to be, and passed).
    pub latest_test_current: bool,
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl<'a> From<&'a Destination> for DestinationView<'a> {
    fn from(d: &'a Destination) -> Self {
        let (external_id, role_arn) = match &d.auth {
            AuthMode::IamRole {
                external_id,
                role_arn,
            } => (
                Some(external_id.expose()),
                Some(role_arn.as_ref().map(|r| r.as_str())),
            ),
            AuthMode::BucketPolicy => (None, None),
        };
        Self {
            id: d.id.as_str(),
            name: d.name.as_str(),
            description: d.description.as_str(),
            bucket: d.bucket.as_str(),
            region: d.region.as_ref().map(|r| r.as_str()),
            folder: d.folder.as_str(),
            auth_mode: d.auth.kind(),
            external_id,
            role_arn,
            kms_key_arn: d.kms_key.as_ref().map(|k| k.as_str()),
            bucket_owner_account_id: d.bucket_owner.as_ref().map(|a| a.as_str()),
            status: d.status,
            version: d.version,
            config_version: d.config_version,
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
            saved_at: d.saved_at.map(rfc3339),
            latest_test: d.latest_test.as_ref(),
            latest_test_current: d
                .latest_test
                .as_ref()
                .is_some_and(|t| t.config_version == d.config_version),
        }
    }
}

/// A strong ETag naming the stored version.
pub fn etag(destination: &Destination) -> String {
    format!("\"{}\"", destination.version)
}

/// An `If-Match` value that is neither `*` nor one of our ETags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidIfMatch;

/// Parses `If-Match`; `*` matches any version.
pub fn if_match_version(header: &str) -> Result<Option<u64>, InvalidIfMatch> {
    let value = header.trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix("W/")
        .unwrap_or(value)
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| InvalidIfMatch)
}
