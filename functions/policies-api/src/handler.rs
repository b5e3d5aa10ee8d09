//! Request → rendered documents → response. No SDK calls, no environment reads.

use serde::Serialize;
use serde_json::Value;

use shared::config::PlatformPrincipals;
use shared::domain::{AuthMode, Destination, DestinationId, TenantId};
use shared::http::{
    ApiRequest, ApiResponse, FieldError, Problem, Route, finish, json_object, load_destination,
    resolve,
};
use shared::policy::{
    MergeError, OurWrite, PolicyDocument, RenderError, RenderedPolicies, Statement,
    merge_statement, object_resource, render, to_pretty_json,
};
use shared::ports::DestinationStore;

pub struct App<S> {
    pub store: S,
    pub principals: PlatformPrincipals,
}

pub async fn handle<S: DestinationStore>(app: &App<S>, request: ApiRequest) -> ApiResponse {
    let result = route(app, &request).await;
    finish(&request, result)
}

async fn route<S: DestinationStore>(
    app: &App<S>,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let route = resolve(&request.method, &request.path)?;
    let tenant = request.tenant.as_ref().ok_or_else(Problem::unauthorized)?;
    match route {
        Route::GetPolicies(id) => {
            let destination = load_destination(&app.store, tenant, &id, request).await?;
            let rendered = render(&destination, &app.principals).map_err(render_problem)?;
            Ok(ApiResponse::json(
                200,
                &PoliciesBody::new(&destination, &rendered),
            ))
        }
        Route::MergeBucketPolicy(id) => merge(app, tenant, &id, request).await,
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}

fn render_problem(error: RenderError) -> Problem {
    match error {
        RenderError::PartitionNotServed(_) => {
            Problem::conflict("partition-not-served", error.to_string())
        }
        RenderError::TooLarge { .. } => {
            Problem::unprocessable("policy-too-large", error.to_string())
        }
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

impl RenderedDocument {
    fn new<T: Serialize>(kind: &'static str, purpose: &'static str, document: &T) -> Self {
        Self {
            kind,
            purpose,
            document: serde_json::to_value(document).unwrap_or(Value::Null),
            text: to_pretty_json(document),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PoliciesBody<'a> {
    destination_id: &'a str,
    auth_mode: shared::domain::AuthModeKind,
    platform_principal: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    documents: Vec<RenderedDocument>,
}

impl<'a> PoliciesBody<'a> {
    fn new(destination: &'a Destination, rendered: &'a RenderedPolicies) -> Self {
        let mut documents = Vec::new();
        let mut push_policy = |kind, purpose, doc: &Option<PolicyDocument>| {
            if let Some(doc) = doc {
                documents.push(RenderedDocument::new(kind, purpose, doc));
            }
        };
        push_policy(
            "permissionsPolicy",
            "Create this IAM policy in your account: it lets the role put objects in the destination folder only.",
            &rendered.permissions_policy,
        );
        push_policy(
            "trustPolicy",
            "Use this as the role's custom trust policy: only our platform principal, presenting your External ID, may assume the role.",
            &rendered.trust_policy,
        );
        push_policy(
            "bucketPolicy",
            "Simple setup: use this as the bucket's whole policy when it has none yet.",
            &rendered.bucket_policy,
        );
        let mut push_statement = |kind, purpose, statement: &Option<Statement>| {
            if let Some(statement) = statement {
                documents.push(RenderedDocument::new(kind, purpose, statement));
            }
        };
        push_statement(
            "bucketPolicyStatement",
            "Advanced setup: add this statement to the bucket's existing policy (or let the merge endpoint do it).",
            &rendered.bucket_policy_statement,
        );
        push_statement(
            "keyPolicyStatement",
            "Add this statement to the KMS key's policy so our principal can encrypt objects with the key.",
            &rendered.key_policy_statement,
        );
        Self {
            destination_id: destination.id.as_str(),
            auth_mode: destination.auth.kind(),
            platform_principal: &rendered.platform_principal,
            external_id: destination.external_id().map(|e| e.expose()),
            documents,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    policy: Value,
    text: String,
    replaced_existing: bool,
    warnings: Vec<shared::policy::MergeWarning>,
}

async fn merge<S: DestinationStore>(
    app: &App<S>,
    tenant: &TenantId,
    id: &DestinationId,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let body = json_object(request, &["application/json"], false)?;
    let mut fields = shared::http::Fields::new(body, &["existingPolicy"], &[]);
    // Customers paste text from the console; programs send the object. Both are accepted.
    let existing = match fields.raw("existingPolicy") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(object @ Value::Object(_)) => Some(object.to_string()),
        Some(_) => {
            fields.errors.push(FieldError::new(
                "existingPolicy",
                "must be the policy as a JSON object or as text",
            ));
            None
        }
        None => {
            fields
                .errors
                .push(FieldError::new("existingPolicy", "is required"));
            None
        }
    };
    fields.finish()?;
    let existing = existing.unwrap_or_default();

    let destination = load_destination(&app.store, tenant, id, request).await?;
    if let AuthMode::IamRole { .. } = destination.auth {
        return Err(Problem::conflict(
            "not-bucket-policy-mode",
            "This destination uses an IAM role; its bucket policy needs no statement from us.",
        ));
    }
    let rendered = render(&destination, &app.principals).map_err(render_problem)?;
    let Some(statement) = rendered.bucket_policy_statement else {
        return Err(Problem::internal());
    };
    let resource = object_resource(&destination);
    let outcome = merge_statement(
        &existing,
        &statement,
        &OurWrite {
            principal: &rendered.platform_principal,
            object_resource: &resource,
        },
    )
    .map_err(|e| match e {
        MergeError::TooLarge { .. } => Problem::unprocessable("policy-too-large", e.to_string()),
        other => Problem::validation(vec![FieldError::new("existingPolicy", other)]),
    })?;
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
