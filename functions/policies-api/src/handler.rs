//! Request → rendered documents (or merged policy) → response. No SDK calls, no environment reads.

use serde::Serialize;
use serde_json::Value;

use shared::app::policies;
use shared::domain::{AuthModeKind, Destination, PlatformIdentity};
use shared::http::{
    ApiRequest, ApiResponse, FieldError, Problem, Route, caller, dto, finish, resolve,
};
use shared::kit::{ApiAccess, KitSettings};
use shared::policy::{MergeWarning, RenderedPolicies, to_pretty_json};
use shared::ports::{DestinationRepository, RateLimiter};

pub struct App<S> {
    pub store: S,
    pub platform: PlatformIdentity,
    pub kit: crate::KitConfig,
}

pub async fn handle<S: DestinationRepository + RateLimiter>(
    app: &App<S>,
    request: ApiRequest,
) -> ApiResponse {
    let result = route(app, &request).await;
    finish(&request, result)
}

async fn route<S: DestinationRepository + RateLimiter>(
    app: &App<S>,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let route = resolve(&request.method, &request.path)?;
    let fallback = shared::domain::Actor::new("unknown").expect("a valid constant");
    let caller = caller(request, &fallback)?;
    match route {
        Route::GetPolicies(id) => {
            let (destination, rendered) =
                policies::rendered(&app.store, &app.platform, caller.tenant, &id).await?;
            Ok(ApiResponse::json(
                200,
                &PoliciesBody::new(&destination, &rendered),
            ))
        }
        Route::GetSetupKit(id) => {
            let settings = kit_settings(&app.kit, request, caller.tenant);
            let kit = policies::setup_kit(&app.store, &app.platform, &settings, caller.tenant, &id)
                .await?;
            Ok(ApiResponse::json(200, &kit))
        }
        Route::MergeBucketPolicy(id) => {
            let policy_only = merge_output(request)?;
            let existing = dto::existing_policy(request)?;
            let outcome = policies::merge(
                &app.store,
                &app.store,
                &app.platform,
                caller.tenant,
                &id,
                &existing,
            )
            .await?;
            if policy_only {
                return Ok(ApiResponse::json(200, &outcome.policy));
            }
            Ok(ApiResponse::json(
                200,
                &MergeBody {
                    text: to_pretty_json(&outcome.policy),
                    policy: outcome.policy,
                    replaced_existing: outcome.replaced_existing,
                    warnings: outcome.warnings,
                },
            ))
        }
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
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
struct PoliciesBody<'a> {
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

impl<'a> PoliciesBody<'a> {
    fn new(destination: &'a Destination, rendered: &'a RenderedPolicies) -> Self {
        let document = |kind, purpose, doc: Option<&dyn ErasedDocument>| {
            doc.map(|d| RenderedDocument {
                kind,
                purpose,
                document: d.value(),
                text: d.text(),
            })
        };
        let documents = [
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
                "Add this statement to the KMS key's policy so this destination's writer identity can encrypt objects with the key through S3.",
                rendered.key_policy_statement.as_ref().map(|d| d as &dyn ErasedDocument),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        Self {
            destination_id: destination.id().as_str(),
            auth_mode: destination.auth().kind(),
            platform_principal: &rendered.platform_principal,
            external_id: destination.external_id().map(|e| e.expose()),
            documents,
            setup_kit: format!("/destinations/{}/setup-kit", destination.id()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    policy: Value,
    text: String,
    replaced_existing: bool,
    warnings: Vec<MergeWarning>,
}

/// `?output=policy` asks for the merged policy alone (what the CLI script puts on the bucket).
fn merge_output(request: &ApiRequest) -> Result<bool, Problem> {
    let mut errors = Vec::new();
    let mut policy_only = false;
    for (name, value) in &request.query {
        match (name.as_str(), value.as_str()) {
            ("output", "policy") => policy_only = true,
            ("output", _) => errors.push(FieldError::new("output", "must be \"policy\"")),
            _ => errors.push(FieldError::new(name.clone(), "unknown query parameter")),
        }
    }
    if errors.is_empty() {
        Ok(policy_only)
    } else {
        Err(Problem::validation(errors))
    }
}

/// The kit's templates, and the API as this request reached it (for the CLI script).
fn kit_settings(
    kit: &crate::KitConfig,
    request: &ApiRequest,
    tenant: &shared::domain::TenantId,
) -> KitSettings {
    let scheme = request.header("x-forwarded-proto").unwrap_or("http");
    let host = request.header("host").unwrap_or("localhost");
    let base_url = format!("{scheme}://{host}");
    KitSettings {
        templates_url: kit.templates_url.clone(),
        api: if kit.tenant_header {
            ApiAccess::TenantHeader {
                base_url,
                tenant: tenant.as_str().to_owned(),
            }
        } else {
            ApiAccess::Bearer { base_url }
        },
    }
}
