//! The HTTP edge shared by every API function: routes, request parsing, the error → problem
//! table, views, and the API Gateway conversion.

// `Problem` is the error of every HTTP step. It is built once per failed request, never on a hot
// path, so its size matters less than handlers being able to `?` it.
#![allow(clippy::result_large_err)]

mod api;
mod claims;
pub mod dto;
mod input;
#[cfg(feature = "http")]
pub mod lambda;
mod problem;
mod problems;
mod router;
#[cfg(feature = "http")]
mod routing;
mod views;

pub use api::{Access, ApiRequest, ApiResponse};
pub use claims::{TokenClaims, WritePermission};
pub use input::{Fields, MAX_BODY_BYTES, json_object, no_body, page_query, parse_query};
pub use problem::{FieldError, PROBLEM_JSON, Problem, ProblemType};
pub use router::{Authorization, Function, ROUTES, Resolved, Route, RouteSpec};
#[cfg(feature = "http")]
pub use routing::{every_request, router};
pub use views::{
    ActiveView, CallerView, ConfigurationView, CredentialsView, DeliveryView, DestinationView,
    MergeView, PageView, PoliciesView, PolicyPreviewView, etag,
};

use crate::app::Caller;
use crate::domain::Actor;
use crate::ports::{RateLimitedAction, RateLimiter};

/// Stamps the request id on the response (and on the problem, if it is one).
pub fn finish(request: &ApiRequest, result: Result<ApiResponse, Problem>) -> ApiResponse {
    let mut response = match result {
        Ok(response) => response,
        Err(mut problem) => {
            problem.request_id = Some(request.request_id.clone()).filter(|id| !id.is_empty());
            problem.into_response()
        }
    };
    if !request.request_id.is_empty() {
        response = response.header("x-request-id", request.request_id.clone());
    }
    response
}

/// Who the audit trail names for a token without a subject.
static WITHOUT_SUBJECT: std::sync::LazyLock<Actor> =
    std::sync::LazyLock::new(Actor::token_without_subject);

/// The caller of an authenticated route: its tenant, and who acts. A route that changes
/// something needs the token's write permission; a reader sees everything and changes nothing.
pub fn caller<'r>(request: &'r ApiRequest, route: &Resolved) -> Result<Caller<'r>, Problem> {
    let tenant = request.tenant.as_ref().ok_or_else(Problem::unauthorized)?;
    if route.changes_state && request.access != Access::Write {
        return Err(Problem::read_only());
    }
    Ok(Caller {
        tenant,
        actor: request.actor.as_ref().unwrap_or(&WITHOUT_SUBJECT),
    })
}

/// The caller of an authenticated route, once its tenant's request quota lets the request in:
/// one tenant's traffic cannot use up the stage's throttle for every other tenant.
pub async fn admitted_caller<'r, L: RateLimiter>(
    limiter: &L,
    request: &'r ApiRequest,
    route: &Resolved,
) -> Result<Caller<'r>, Problem> {
    let caller = caller(request, route)?;
    limiter
        .acquire(
            caller.tenant,
            RateLimitedAction::ApiRequest,
            time::OffsetDateTime::now_utc(),
        )
        .await?
        .map_err(|wait| Problem::rate_limited(wait.0.as_secs().max(1), "requests"))?;
    Ok(caller)
}

/// The platform identity calling an internal route, as the audit trail names it. A tenant's
/// token is never enough: without the IAM authorizer's caller the request is unauthenticated.
pub fn platform_caller(request: &ApiRequest) -> Result<Actor, Problem> {
    request
        .platform_caller
        .as_deref()
        .and_then(|arn| Actor::platform(arn).ok())
        .ok_or_else(Problem::unauthorized)
}
