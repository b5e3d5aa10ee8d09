//! The route table as axum routers: each function serves its own rows of [`ROUTES`], the local
//! server and the tests all of them. axum matches the path and the method; the row makes the
//! [`Route`] from the path's parameters; the function's handler gets it with the neutral request.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use tracing::Instrument;

use super::api::{ApiRequest, ApiResponse};
use super::claims::TokenClaims;
use super::input::MAX_BODY_BYTES;
use super::lambda::from_parts;
use super::problem::Problem;
use super::router::{Function, ROUTES, Resolved, RouteSpec};

/// The router serving `functions`' routes with `handler`. Claims name where the authorizer's
/// token says who the caller is (see [`from_parts`]).
///
/// Every path of the table is known to every function's router, as the stage's `$default` route
/// sends whatever no route matched (a wrong method too) to one of them: a known path with a
/// method the table does not declare there, HEAD included, is a 405 with `Allow`; another
/// function's route (which API Gateway never sends here) and unknown paths are 404s; all problems.
pub fn router<H, Fut>(functions: &[Function], claims: TokenClaims, handler: H) -> Router
where
    H: Fn(Resolved, ApiRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ApiResponse> + Send + 'static,
{
    let claims = Arc::new(claims);
    let not_found = {
        let claims = claims.clone();
        move |request: Request| {
            let detail = format!("No resource at {}.", request.uri().path());
            refuse(request, claims.clone(), Problem::not_found(detail))
        }
    };
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for spec in ROUTES {
        let methods = by_path
            .remove(spec.template)
            .unwrap_or_else(|| not_allowed(spec.template, claims.clone()));
        let methods = if functions.contains(&spec.function) {
            let (handler, claims) = (handler.clone(), claims.clone());
            methods.on(
                method_filter(spec.method),
                move |params: Result<RawPathParams, RawPathParamsRejection>, request| {
                    serve_route(spec, params, request, claims.clone(), handler.clone())
                },
            )
        } else {
            methods.on(method_filter(spec.method), not_found.clone())
        };
        by_path.insert(spec.template, methods);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (template, methods)| {
            // openapi.yaml: a trailing slash on a path is ignored.
            router
                .route(&format!("{template}/"), methods.clone())
                .route(template, methods)
        })
        .fallback(not_found)
}

/// `template`'s methods before any is added: every method answers 405 with the table's `Allow`
/// for the path. HEAD too: axum would otherwise answer it with the GET endpoint, and the API
/// declares no HEAD.
fn not_allowed(template: &'static str, claims: Arc<TokenClaims>) -> MethodRouter {
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|spec| spec.template == template)
        .map(|spec| spec.method)
        .collect();
    let refusal = move |request: Request| {
        refuse(
            request,
            claims.clone(),
            Problem::method_not_allowed(&allowed),
        )
    };
    MethodRouter::new()
        .on(MethodFilter::HEAD, refusal.clone())
        .fallback(refusal)
}

/// A router handing every request, whatever its path, to `handler` (the setup page: its own
/// function, behind the stage's page routes).
pub fn every_request<H, Fut>(claims: TokenClaims, handler: H) -> Router
where
    H: Fn(ApiRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ApiResponse> + Send + 'static,
{
    let claims = Arc::new(claims);
    Router::new().fallback(move |request: Request| {
        let (claims, handler) = (claims.clone(), handler.clone());
        async move {
            match neutral(request, &claims).await {
                Ok(request) => handler(request).await.into_response(),
                Err(refusal) => refusal.into_response(),
            }
        }
    })
}

async fn serve_route<H, Fut>(
    spec: &'static RouteSpec,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    claims: Arc<TokenClaims>,
    handler: H,
) -> Response
where
    H: Fn(Resolved, ApiRequest) -> Fut,
    Fut: Future<Output = ApiResponse>,
{
    let request = match neutral(request, &claims).await {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let span = tracing::info_span!("request", request_id = %request.request_id);
    // A parameter axum could not decode (not UTF-8) names no destination.
    let values: Vec<(&str, &str)> = params
        .as_ref()
        .map(|params| params.iter().collect())
        .ok()
        .unwrap_or_default();
    let response = match spec.resolve(&values) {
        Ok(resolved) => handler(resolved, request).instrument(span).await,
        Err(problem) => super::finish(&request, Err(problem)),
    };
    response.into_response()
}

/// Answers `problem` to a request no route serves.
async fn refuse(request: Request, claims: Arc<TokenClaims>, problem: Problem) -> Response {
    match neutral(request, &claims).await {
        Ok(request) => super::finish(&request, Err(problem)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The neutral request, or the answer to a body over the limit (read no further than it).
async fn neutral(request: Request, claims: &TokenClaims) -> Result<ApiRequest, ApiResponse> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => Ok(from_parts(&parts, body.to_vec(), claims)),
        Err(_) => {
            let request = from_parts(&parts, Vec::new(), claims);
            Err(super::finish(
                &request,
                Err(Problem::payload_too_large(MAX_BODY_BYTES)),
            ))
        }
    }
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        // The table is a constant: a test routes every row, so this cannot ship.
        other => unreachable!("no route may use {other}"),
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        let mut builder = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        // Only a header that is not valid HTTP could fail here, and ours are all constant ASCII.
        builder
            .body(Body::from(self.body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Route;
    use lambda_http::tower::ServiceExt;

    const ID: &str = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";

    const EVERY_FUNCTION: [Function; 4] = [
        Function::DestinationsApi,
        Function::PoliciesApi,
        Function::TestConnection,
        Function::DeliveriesApi,
    ];

    /// Answers with the resolved route, as `Debug`, and the function.
    fn echo(functions: &[Function]) -> Router {
        router(
            functions,
            TokenClaims::default(),
            |resolved, _request| async move {
                ApiResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: format!("{:?} {:?}", resolved.function, resolved.route),
                }
            },
        )
    }

    async fn send(router: &Router, method: &str, path: &str) -> (u16, String, Option<String>) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), allow)
    }

    fn concrete(template: &str) -> String {
        template
            .replace("{id}", ID)
            .replace("{deliveryId}", "export-1")
    }

    #[tokio::test]
    async fn every_declared_route_reaches_its_function_and_no_other() {
        for function in EVERY_FUNCTION {
            let router = echo(&[function]);
            for spec in ROUTES {
                let path = concrete(spec.template);
                let (status, body, _) = send(&router, spec.method, &path).await;
                if spec.function == function {
                    assert_eq!(status, 200, "{} {path}: {body}", spec.method);
                    assert!(body.starts_with(&format!("{function:?} ")), "{body}");
                } else {
                    // Another function's route: API Gateway never sends it here.
                    assert_eq!(status, 404, "{} {path}: {body}", spec.method);
                }
            }
        }
    }

    #[tokio::test]
    async fn path_parameters_make_the_route() {
        let router = echo(&EVERY_FUNCTION);
        let (_, body, _) = send(
            &router,
            "GET",
            &format!("/destinations/{ID}/deliveries/export-1"),
        )
        .await;
        let expected = Route::GetDelivery(
            crate::domain::DestinationId::new(ID).unwrap(),
            crate::domain::delivery::DeliveryId::new("export-1").unwrap(),
        );
        assert_eq!(body, format!("DestinationsApi {expected:?}"));
    }

    #[tokio::test]
    async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        let router = echo(&EVERY_FUNCTION);
        let (status, body, _) = send(&router, "GET", "/nope").await;
        assert_eq!(status, 404);
        assert!(body.contains("/problems/not-found"), "{body}");
        assert_eq!(send(&router, "GET", "/destinations/x/y/z").await.0, 404);
        let (status, body, allow) = send(&router, "PUT", &format!("/destinations/{ID}")).await;
        assert_eq!(status, 405);
        assert_eq!(allow.as_deref(), Some("GET, PATCH, DELETE"));
        assert!(
            body.contains("This resource supports GET, PATCH, DELETE."),
            "{body}"
        );
    }

    /// What the stage's `$default` route sends the destinations function: every request no route
    /// matched, another function's path with a wrong method included.
    #[tokio::test]
    async fn the_default_function_knows_every_path_for_its_405s() {
        let router = echo(&[Function::DestinationsApi]);
        for (method, path, allow) in [
            ("GET", format!("/destinations/{ID}/test"), "POST"),
            ("PUT", format!("/destinations/{ID}/policies"), "GET"),
            ("GET", "/internal/deliveries".to_owned(), "POST"),
        ] {
            let (status, body, allowed) = send(&router, method, &path).await;
            assert_eq!(status, 405, "{method} {path}: {body}");
            assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
            assert!(body.contains("/problems/method-not-allowed"), "{body}");
        }
    }

    #[tokio::test]
    async fn head_is_not_a_get() {
        let router = echo(&EVERY_FUNCTION);
        let (status, _, allow) = send(&router, "HEAD", "/destinations").await;
        assert_eq!((status, allow.as_deref()), (405, Some("POST, GET")));
        let path = format!("/destinations/{ID}/tests");
        let (status, _, allow) = send(&router, "HEAD", &path).await;
        assert_eq!((status, allow.as_deref()), (405, Some("GET")));
    }

    #[tokio::test]
    async fn malformed_ids_look_like_missing_destinations() {
        let router = echo(&EVERY_FUNCTION);
        let (status, body, _) = send(&router, "GET", "/destinations/not-a-uuid").await;
        assert_eq!(status, 404);
        assert!(
            body.contains(&Problem::destination_not_found().detail),
            "{body}"
        );
        let (status, body, _) =
            send(&router, "GET", &format!("/destinations/{ID}/deliveries/..")).await;
        assert_eq!(status, 404);
        assert!(
            body.contains(&Problem::delivery_not_found().detail),
            "{body}"
        );
    }

    #[tokio::test]
    async fn trailing_slashes_are_ignored() {
        let router = echo(&EVERY_FUNCTION);
        let (status, body, _) = send(&router, "GET", "/destinations/").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "DestinationsApi ListDestinations")
        );
        let (status, body, _) = send(&router, "POST", &format!("/destinations/{ID}/test/")).await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_before_any_handler() {
        let router = echo(&EVERY_FUNCTION);
        let request = Request::builder()
            .method("POST")
            .uri("/destinations")
            .body(Body::from(vec![b' '; MAX_BODY_BYTES + 1]))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 413);
    }
}
