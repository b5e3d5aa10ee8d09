//! What the API returns for a destination. Separate from storage so either can change alone.

use serde::Serialize;
use serde_json::Value;

use crate::policy::{MergeOutcome, MergeWarning, RenderedPolicies, to_pretty_json};

use crate::app::delivery::Vended;
use crate::domain::check::{CheckResult, FailureCategory};
use crate::domain::delivery::{Delivery, DeliveryStatus};
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
    /// Where deliveries land inside the folder.
    pub object_key_template: &'a str,
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
    /// Role mode, while a rotation is open or a retired ID must still be removed from the trust
    /// policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id_rotation: Option<RotationView<'a>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationView<'a> {
    pub next: Option<NextExternalIdView<'a>>,
    /// IDs completed rotations retired that the role may have to stop accepting (their values
    /// are never shown again).
    pub retired: Vec<RetiredView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextExternalIdView<'a> {
    pub external_id: &'a str,
    pub started_at: String,
    pub started_by: &'a str,
    /// When a passing Test Connection proved it, and on which role.
    pub proven_at: Option<String>,
    pub proven_role_arn: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiredView {
    pub retired_at: String,
    /// From then on a role that accepts the retired ID fails re-validation.
    pub grace_ends_at: String,
    pub overdue: bool,
}

impl<'a> RotationView<'a> {
    fn of(destination: &'a Destination) -> Option<Self> {
        let rotation = destination.rotation();
        if destination.external_id().is_none()
            || (rotation.next.is_none() && rotation.retired.is_empty())
        {
            return None;
        }
        Some(Self {
            next: rotation.next.as_ref().map(|next| NextExternalIdView {
                external_id: next.id.expose(),
                started_at: rfc3339(next.started_at),
                started_by: next.started_by.as_str(),
                proven_at: next.proven.as_ref().map(|p| rfc3339(p.at)),
                proven_role_arn: next.proven.as_ref().map(|p| p.role.as_str()),
            }),
            retired: rotation
                .retired
                .iter()
                .map(|r| RetiredView {
                    retired_at: rfc3339(r.retired_at),
                    grace_ends_at: rfc3339(r.grace_ends_at),
                    overdue: r.overdue_reported,
                })
                .collect(),
        })
    }
}

impl<'a> From<&'a Destination> for DestinationView<'a> {
    fn from(d: &'a Destination) -> Self {
        let auth = d.auth().kind();
        Self {
            id: d.id().as_str(),
            name: d.name().as_str(),
            description: d.description().as_str(),
            object_key_template: d.key_template().as_str(),
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
            external_id_rotation: RotationView::of(d),
        }
    }
}

/// A strong ETag naming the stored version.
pub fn etag(destination: &Destination) -> String {
    format!("\"{}\"", destination.version())
}

/// One document, as an object and as the exact text to paste.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenderedDocument {
    kind: &'static str,
    purpose: &'static str,
    document: Value,
    text: String,
}

/// A policy or a statement, as a JSON value and as pretty text.
trait ErasedDocument {
    fn value(&self) -> Value;
    fn text(&self) -> String;
}

impl<T: Serialize> ErasedDocument for T {
    fn value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        to_pretty_json(self)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoliciesView<'a> {
    destination_id: &'a str,
    auth_mode: AuthModeKind,
    /// The identity the documents grant: the connector (role mode) or this destination's own
    /// writer session (bucket-policy mode).
    platform_principal: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    documents: Vec<RenderedDocument>,
    /// The same documents as one-click CloudFormation, an AWS CLI script and Terraform.
    setup_kit: String,
}

impl<'a> PoliciesView<'a> {
    pub fn new(destination: &'a Destination, rendered: &'a RenderedPolicies) -> Self {
        Self {
            destination_id: destination.id().as_str(),
            auth_mode: destination.auth().kind(),
            platform_principal: &rendered.platform_principal,
            external_id: destination.external_id().map(|e| e.expose()),
            documents: documents(rendered),
            setup_kit: format!("/destinations/{}/setup-kit", destination.id()),
        }
    }
}

/// How an edit changes one document the customer applies.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
enum DocumentChange {
    Unchanged,
    Changed,
    Added,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreviewedDocument {
    #[serde(flatten)]
    document: RenderedDocument,
    change: DocumentChange,
    /// Today's text of a changed document, so the lines that differ can be marked.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_text: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RemovedDocument {
    kind: &'static str,
    text: String,
}

/// `POST .../policies/preview`: the documents an edit would render, each marked against today's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPreviewView {
    destination_id: String,
    /// Whether the customer must apply a document again before the edited configuration can work.
    must_reapply: bool,
    documents: Vec<PreviewedDocument>,
    /// Documents today's configuration has and the edited one no longer needs.
    removed_documents: Vec<RemovedDocument>,
}

impl PolicyPreviewView {
    pub fn new(
        destination: &Destination,
        before: &RenderedPolicies,
        after: &RenderedPolicies,
    ) -> Self {
        let mut previous = documents(before);
        let documents: Vec<PreviewedDocument> = documents(after)
            .into_iter()
            .map(|document| {
                let old = previous
                    .iter()
                    .position(|p| p.kind == document.kind)
                    .map(|i| previous.remove(i));
                let (change, previous_text) = match old {
                    None => (DocumentChange::Added, None),
                    Some(old) if old.document == document.document => {
                        (DocumentChange::Unchanged, None)
                    }
                    Some(old) => (DocumentChange::Changed, Some(old.text)),
                };
                PreviewedDocument {
                    document,
                    change,
                    previous_text,
                }
            })
            .collect();
        Self {
            destination_id: destination.id().as_str().to_owned(),
            must_reapply: documents
                .iter()
                .any(|d| d.change != DocumentChange::Unchanged),
            documents,
            removed_documents: previous
                .into_iter()
                .map(|d| RemovedDocument {
                    kind: d.kind,
                    text: d.text,
                })
                .collect(),
        }
    }
}

/// The documents of a rendering, in the order a customer applies them.
fn documents(rendered: &RenderedPolicies) -> Vec<RenderedDocument> {
    let document = |kind, purpose, doc: Option<&dyn ErasedDocument>| {
        doc.map(|d| RenderedDocument {
            kind,
            purpose,
            document: d.value(),
            text: d.text(),
        })
    };
    [
            document(
                "permissionsPolicy",
                "Attach this policy to the role: it lets the role put objects in the destination folder only, with the bucket-owner-full-control ACL.",
                rendered.permissions_policy.as_ref().map(|d| d as &dyn ErasedDocument),
            ),
            document(
                "trustPolicy",
                "Use this as the role's trust policy: only our connector, presenting your External ID, may assume the role.",
                rendered.trust_policy.as_ref().map(|d| d as &dyn ErasedDocument),
            ),
            document(
                "bucketPolicy",
                "Simple setup: use this as the bucket's whole policy when it has none yet. It grants this destination's own writer identity and no other.",
                rendered.bucket_policy.as_ref().map(|d| d as &dyn ErasedDocument),
            ),
            document(
                "bucketPolicyStatement",
                "Advanced setup: add this statement to the bucket's existing policy (or let the merge endpoint or the setup kit's CLI script do it).",
                rendered.bucket_policy_statement.as_ref().map(|d| d as &dyn ErasedDocument),
            ),
            document(
                "keyPolicyStatement",
                "Add this statement to the KMS key's policy so the identity that writes (this destination's writer session, or your role) can encrypt objects with the key through S3. A key in another account than that identity needs it; a key in the role's own account needs it only when its policy does not let IAM policies grant it.",
                rendered.key_policy_statement.as_ref().map(|d| d as &dyn ErasedDocument),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeView {
    policy: Value,
    text: String,
    replaced_existing: bool,
    warnings: Vec<MergeWarning>,
}

impl From<MergeOutcome> for MergeView {
    fn from(outcome: MergeOutcome) -> Self {
        Self {
            text: to_pretty_json(&outcome.policy),
            policy: outcome.policy,
            replaced_existing: outcome.replaced_existing,
            warnings: outcome.warnings,
        }
    }
}

/// One page of a list, and where the next one starts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One delivery, as its tenant and the exporter that asked for it see it. The staged source is
/// the platform's business and is not shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView<'a> {
    pub delivery_id: &'a str,
    pub destination_id: &'a str,
    pub name: &'a str,
    /// The object's key in the destination's bucket, fixed when the delivery was asked for.
    pub key: &'a str,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub requested_by: &'a str,
    pub requested_at: String,
    pub updated_at: String,
    /// When the next attempt may start (queued, failed, or an attempt's lease); `null` when none will.
    pub next_attempt_at: Option<String>,
    pub bytes: Option<u64>,
    /// Base64 CRC-64/NVME of the whole object, as S3 checked it.
    pub checksum: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub version_id: Option<&'a str>,
    pub duration_ms: Option<u64>,
    /// Why the last attempt failed (failed and parked deliveries).
    pub failure_category: Option<FailureCategory>,
}

impl<'a> From<&'a Delivery> for DeliveryView<'a> {
    fn from(d: &'a Delivery) -> Self {
        let written = d.written.as_ref();
        Self {
            delivery_id: d.id.as_str(),
            destination_id: d.destination.as_str(),
            name: d.name.as_str(),
            key: &d.key,
            status: d.status,
            attempts: d.attempts,
            requested_by: d.requested_by.as_str(),
            requested_at: rfc3339(d.requested_at),
            updated_at: rfc3339(d.updated_at),
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            bytes: written.map(|w| w.bytes),
            checksum: written.map(|w| w.checksum.as_str()),
            etag: written.and_then(|w| w.etag.as_deref()),
            version_id: written.and_then(|w| w.version_id.as_deref()),
            duration_ms: written.map(|w| w.duration_ms),
            failure_category: d.failure,
        }
    }
}

/// The signed-in caller (`GET /me`): what the page needs to show only what they may do.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerView<'a> {
    pub tenant_id: &'a str,
    /// As the activity trail names them.
    pub actor: &'a str,
    /// Whether the token carries the write permission: without it, every route that changes,
    /// tests or saves answers 403 `read-only`.
    pub can_write: bool,
}

/// A vended session and how to write with it. The only response that carries credentials: built
/// for this route alone, sent with `Cache-Control: no-store`, never logged.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsView<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: Option<String>,
    bucket: &'a str,
    key_prefix: &'a str,
    region: &'a str,
    expected_bucket_owner: Option<&'a str>,
    /// To send with every PutObject.
    headers: std::collections::BTreeMap<&'static str, String>,
}

impl<'a> From<&'a Vended> for CredentialsView<'a> {
    fn from(v: &'a Vended) -> Self {
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("x-amz-acl", "bucket-owner-full-control".to_owned());
        if let Some(owner) = &v.expected_bucket_owner {
            headers.insert("x-amz-expected-bucket-owner", owner.as_str().to_owned());
        }
        if let Some(key) = &v.kms_key {
            headers.insert("x-amz-server-side-encryption", "aws:kms".to_owned());
            headers.insert(
                "x-amz-server-side-encryption-aws-kms-key-id",
                key.as_str().to_owned(),
            );
        }
        Self {
            access_key_id: &v.credentials.access_key_id,
            secret_access_key: &v.credentials.secret_access_key,
            session_token: &v.credentials.session_token,
            expiration: v.credentials.expires_at.map(rfc3339),
            bucket: v.bucket.as_str(),
            key_prefix: &v.key_prefix,
            region: &v.region,
            expected_bucket_owner: v.expected_bucket_owner.as_ref().map(|o| o.as_str()),
            headers,
        }
    }
}
