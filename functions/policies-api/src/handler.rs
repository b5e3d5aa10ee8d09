//! Request → rendered documents (or merged policy) → response. No SDK calls, no environment reads.

use std::sync::Arc;

use shared::app::policies;
use shared::domain::PlatformIdentity;
use shared::http::{
    ApiRequest, ApiResponse, MergeView, PoliciesView, PolicyPreviewView, Problem, Resolved, Route,
    admitted_caller, dto, finish,
};
use shared::kit::{ApiAccess, KitSettings};
use shared::policy::MergeWarningKind;
use shared::ports::{DestinationRepository, RateLimiter};

pub struct App<S> {
    pub store: S,
    pub platform: PlatformIdentity,
    pub kit: crate::KitConfig,
}

pub async fn handle<S: DestinationRepository + RateLimiter>(
    app: Arc<App<S>>,
    resolved: Resolved,
    request: ApiRequest,
) -> ApiResponse {
    let result = route(&app, resolved, &request).await;
    finish(&request, result)
}

async fn route<S: DestinationRepository + RateLimiter>(
    app: &App<S>,
    resolved: Resolved,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let caller = admitted_caller(&app.store, request, &resolved).await?;
    match resolved.route {
        Route::GetPolicies(id) => {
            let (destination, rendered) =
                policies::rendered(&app.store, &app.platform, caller.tenant, &id).await?;
            Ok(ApiResponse::json(
                200,
                &PoliciesView::new(&destination, &rendered),
            ))
        }
        Route::PreviewPolicies(id) => {
            let patch = dto::patch(request)?;
            let preview =
                policies::preview(&app.store, &app.platform, caller.tenant, &id, patch).await?;
            Ok(ApiResponse::json(
                200,
                &PolicyPreviewView::new(&preview.edited, &preview.before, &preview.after),
            ))
        }
        Route::GetSetupKit(id) => {
            let settings = kit_settings(&app.kit, request, caller.tenant);
            let kit = policies::setup_kit(&app.store, &app.platform, &settings, caller.tenant, &id)
                .await?;
            Ok(ApiResponse::json(200, &kit))
        }
        Route::MergeBucketPolicy(id) => {
            let policy_only = dto::merge_output(request)?;
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
                // What the kit's script reads before it applies the policy: it refuses to apply
                // one that lets others write unless told to.
                let grants_others = outcome
                    .warnings
                    .iter()
                    .filter(|w| w.kind == MergeWarningKind::GrantsOthers)
                    .count();
                return Ok(ApiResponse::json(200, &outcome.policy)
                    .header("x-grants-others", grants_others.to_string()));
            }
            Ok(ApiResponse::json(200, &MergeView::from(outcome)))
        }
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}

/// The kit's templates, and the API as this request reached it (for the CLI script).
fn kit_settings(
    kit: &crate::KitConfig,
    request: &ApiRequest,
    tenant: &shared::domain::TenantId,
) -> KitSettings {
    let host = request.header("host").unwrap_or("localhost");
    KitSettings {
        templates_url: kit.templates_url.clone(),
        api: if kit.tenant_header {
            // The local run, on this machine: plain http.
            ApiAccess::TenantHeader {
                base_url: format!("http://{host}"),
                tenant: tenant.as_str().to_owned(),
            }
        } else {
            // Deployed, the script sends the customer's token: https whatever the request said
            // (API Gateway serves nothing else).
            ApiAccess::Bearer {
                base_url: format!("https://{host}"),
            }
        },
    }
}
