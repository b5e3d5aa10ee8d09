//! API Gateway's part, played for the local run and the tests: every HTTP function behind one
//! router (as the stage routes to them), and the authorizer's context a deployed request carries,
//! built from what the caller is said to be. Requests then take the deployed path: the functions'
//! router reads the tenant from that context and nowhere else.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::response::Response;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
    ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use lambda_http::tower::ServiceExt;
use shared::http::{Access, ApiRequest, ApiResponse, Function, TokenClaims};
use shared::ports::{
    ActivityLog, ActivityRecorder, CheckHistory, CheckLock, CheckSlots, DeliveryQueue,
    DeliveryRecords, DestinationRepository, ObjectWriter, RateLimiter,
};

/// Every function API Gateway routes to.
pub const HTTP_FUNCTIONS: [Function; 4] = [
    Function::DestinationsApi,
    Function::PoliciesApi,
    Function::TestConnection,
    Function::DeliveriesApi,
];

/// The four HTTP functions over one store `S`, writer `P` and delivery queue `Q`.
pub struct HttpFunctions<S, P, Q> {
    pub destinations: Arc<destinations_api::handler::App<S>>,
    pub policies: Arc<policies_api::handler::App<S>>,
    pub test_connection: Arc<test_connection::handler::App<S, P>>,
    pub deliveries: Arc<deliveries_api::handler::App<S, Q, P>>,
}

impl<S, P, Q> Clone for HttpFunctions<S, P, Q> {
    fn clone(&self) -> Self {
        Self {
            destinations: self.destinations.clone(),
            policies: self.policies.clone(),
            test_connection: self.test_connection.clone(),
            deliveries: self.deliveries.clone(),
        }
    }
}

/// What the four functions need of the store, together.
pub trait HttpStore:
    DestinationRepository
    + RateLimiter
    + ActivityLog
    + CheckLock
    + CheckSlots
    + CheckHistory
    + DeliveryRecords
    + ActivityRecorder
    + 'static
{
}

impl<T> HttpStore for T where
    T: DestinationRepository
        + RateLimiter
        + ActivityLog
        + CheckLock
        + CheckSlots
        + CheckHistory
        + DeliveryRecords
        + ActivityRecorder
        + 'static
{
}

impl<S, P, Q> HttpFunctions<S, P, Q>
where
    S: HttpStore,
    P: ObjectWriter + 'static,
    Q: DeliveryQueue + 'static,
{
    /// One router over every function's routes, each request handled by the function that
    /// serves its route; unknown paths get the `$default` route's 404.
    pub fn router(&self, claims: TokenClaims) -> Router {
        let functions = self.clone();
        shared::http::router(&HTTP_FUNCTIONS, claims, move |route, request| {
            let functions = functions.clone();
            async move {
                match route.function {
                    Function::DestinationsApi => {
                        let app = functions.destinations;
                        Box::pin(destinations_api::handler::handle(app, route, request)).await
                    }
                    Function::PoliciesApi => {
                        let app = functions.policies;
                        Box::pin(policies_api::handler::handle(app, route, request)).await
                    }
                    Function::TestConnection => {
                        let app = functions.test_connection;
                        Box::pin(test_connection::handler::handle(app, route, request)).await
                    }
                    Function::DeliveriesApi => {
                        let app = functions.deliveries;
                        Box::pin(deliveries_api::handler::handle(app, route, request)).await
                    }
                }
            }
        })
    }
}

/// Sends `request` through `router` as API Gateway would deliver it: the caller it names becomes
/// the authorizer's context (`claims` say which claims), everything else travels as HTTP.
pub async fn send(router: &Router, request: ApiRequest, claims: &TokenClaims) -> ApiResponse {
    let response = router
        .clone()
        .oneshot(authorized(request, claims))
        .await
        .unwrap_or_else(|never| match never {});
    neutral_response(response).await
}

/// The HTTP request a deployed stage would hand the function for `request`'s caller: its tenant,
/// subject and write permission as the JWT authorizer's claims, its platform caller as the IAM
/// authorizer's caller ARN.
pub fn authorized(request: ApiRequest, claims: &TokenClaims) -> Request<Body> {
    let mut token = HashMap::new();
    if let Some(tenant) = &request.tenant {
        token.insert(claims.tenant.clone(), tenant.as_str().to_owned());
    }
    if let Some(subject) = request
        .actor
        .as_ref()
        .and_then(|actor| actor.as_str().strip_prefix("user:"))
    {
        token.insert("sub".to_owned(), subject.to_owned());
    }
    if request.access == Access::Write {
        token.insert(claims.write.claim.clone(), claims.write.value.clone());
    }
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    if !token.is_empty() {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = token;
        authorizer.jwt = Some(jwt);
    }
    if let Some(caller) = &request.platform_caller {
        let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
        iam.user_arn = Some(caller.clone());
        authorizer.iam = Some(iam);
    }
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    context.request_id = Some(request.request_id.clone()).filter(|id| !id.is_empty());
    let mut uri = request.path.clone();
    if !request.query.is_empty() {
        let pairs: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        uri = format!("{uri}?{}", pairs.join("&"));
    }
    let mut http = Request::builder()
        .method(request.method.as_str())
        .uri(uri)
        .extension(RequestContext::ApiGatewayV2(context))
        .body(Body::from(request.body))
        .expect("a request the tests or the local server built is valid HTTP");
    for (name, value) in &request.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            http.headers_mut().append(name, value);
        }
    }
    http
}

/// A router's answer as the functions made it.
pub async fn neutral_response(response: Response) -> ApiResponse {
    let status = response.status().as_u16();
    let headers = crate::http::header_pairs(response.headers());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the functions' bodies are in memory");
    ApiResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Everything but RFC 3986's unreserved characters, escaped.
fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_query_decodes_to_itself() {
        let raw = [("cursor", "a+b= c/é"), ("limit", "5")];
        let query: Vec<String> = raw
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        assert_eq!(
            shared::http::parse_query(&query.join("&")),
            raw.map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
