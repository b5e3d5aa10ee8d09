//! Requests as API Gateway hands them to our functions, sent to the function that serves the
//! route, with every response checked against openapi.yaml on the way back.

use dev_support::gateway::{self, HttpFunctions, HttpStore};
use lambda_http::tower::ServiceExt;
use serde_json::Value;
use shared::domain::{Actor, TenantId};
use shared::http::{Access, ApiRequest, ApiResponse, TokenClaims};
use shared::ports::{DeliveryQueue, ObjectWriter};

pub const TENANT: &str = "tenant-a";
pub const ACTOR: &str = "user-1";
/// The exporter identity that signs internal requests in the tests.
pub const EXPORTER: &str = "arn:aws:sts::111111111111:assumed-role/exporter/export-run-1";

/// A request of tenant `tenant-a`, acting as `user-1` with the write permission.
pub fn request(method: &str, path: &str) -> ApiRequest {
    ApiRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        tenant: Some(TenantId::new(TENANT).expect("valid")),
        actor: Some(Actor::user(ACTOR).expect("valid")),
        access: Access::Write,
        request_id: uuid::Uuid::new_v4().to_string(),
        ..ApiRequest::default()
    }
}

pub trait RequestExt {
    fn json(self, body: Value) -> Self;
    fn body_as(self, content_type: &str, body: &str) -> Self;
    fn header(self, name: &str, value: &str) -> Self;
    fn query(self, name: &str, value: &str) -> Self;
    fn tenant(self, tenant: &str) -> Self;
    fn actor(self, actor: &str) -> Self;
    fn anonymous(self) -> Self;
    /// A token of the tenant without the write permission.
    fn reader(self) -> Self;
    /// Signed by the platform's exporter (the IAM authorizer's caller), with no tenant token.
    fn platform(self) -> Self;
}

impl RequestExt for ApiRequest {
    fn json(self, body: Value) -> Self {
        self.body_as("application/json", &body.to_string())
    }
    fn body_as(mut self, content_type: &str, body: &str) -> Self {
        self.headers.retain(|(k, _)| k != "content-type");
        self.headers
            .push(("content-type".into(), content_type.into()));
        self.body = body.as_bytes().to_vec();
        self
    }
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }
    fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(TenantId::new(tenant).expect("valid tenant"));
        self
    }
    fn actor(mut self, actor: &str) -> Self {
        self.actor = Some(Actor::user(actor).expect("valid actor"));
        self
    }
    fn anonymous(mut self) -> Self {
        self.tenant = None;
        self
    }
    fn reader(mut self) -> Self {
        self.access = Access::Read;
        self
    }
    fn platform(mut self) -> Self {
        self.tenant = None;
        self.actor = None;
        self.platform_caller = Some(EXPORTER.to_owned());
        self
    }
}

/// A response that matched openapi.yaml.
#[derive(Debug, Clone)]
pub struct Reply {
    pub response: ApiResponse,
}

impl Reply {
    pub fn status(&self) -> u16 {
        self.response.status
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.response.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", self.response.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.header_value(name)
    }
    /// The problem type slug of an error response.
    pub fn problem(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("/problems/")
            .to_owned()
    }
    /// Panics with the body unless the status is `status`.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status(), status, "{}", self.response.body);
        self
    }
    /// Panics with the body unless the answer is the problem `kind` with `status`.
    pub fn expect_problem(self, status: u16, kind: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(reply.problem(), kind, "{}", reply.response.body);
        reply
    }
}

/// The HTTP functions, as API Gateway routes to them: one router over all four, each request
/// carrying its caller as the authorizers' context.
pub struct Api {
    router: axum::Router,
}

impl Api {
    pub fn new<S, P, Q>(functions: HttpFunctions<S, P, Q>) -> Self
    where
        S: HttpStore,
        P: ObjectWriter + 'static,
        Q: DeliveryQueue + 'static,
    {
        Self {
            router: functions.router(TokenClaims::default()),
        }
    }

    /// Sends `request` to the function serving its route (unknown routes to the `$default`
    /// function) and checks the response against openapi.yaml.
    pub async fn send(&self, request: ApiRequest) -> Reply {
        let (method, path) = (request.method.clone(), request.path.clone());
        let response = gateway::send(&self.router, request, &TokenClaims::default()).await;
        crate::contract::assert_documented(&method, &path, &response);
        Reply { response }
    }

    /// Sends a request exactly as the Lambda runtime parsed it from an API Gateway event.
    pub async fn send_event(&self, request: lambda_http::Request) -> Reply {
        let (method, path) = (
            request.method().to_string(),
            request.uri().path().to_owned(),
        );
        let response = self
            .router
            .clone()
            .oneshot(request.map(|body| axum::body::Body::from(body.to_vec())))
            .await
            .unwrap_or_else(|never| match never {});
        let response = gateway::neutral_response(response).await;
        crate::contract::assert_documented(&method, &path, &response);
        Reply { response }
    }

    /// Asks for a delivery as the platform's exporter does.
    pub async fn request_delivery(&self, body: Value) -> Reply {
        self.send(
            request("POST", "/internal/deliveries")
                .platform()
                .json(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(request("GET", path)).await
    }

    /// Creates a destination from `body` and returns it.
    pub async fn create(&self, body: Value) -> Value {
        self.create_as(TENANT, body).await
    }

    /// Creates a destination; returns its id.
    pub async fn create_id(&self, body: Value) -> String {
        self.create(body).await["id"]
            .as_str()
            .expect("a created destination has an id")
            .to_owned()
    }

    /// Creates a destination of `tenant`.
    pub async fn create_as(&self, tenant: &str, body: Value) -> Value {
        self.send(request("POST", "/destinations").tenant(tenant).json(body))
            .await
            .expect(201)
            .json()
    }

    pub async fn patch(&self, id: &str, body: Value) -> Reply {
        self.send(request("PATCH", &format!("/destinations/{id}")).json(body))
            .await
    }

    /// The documents `edit` would render, beside today's (nothing is changed).
    pub async fn preview(&self, id: &str, edit: Value) -> Reply {
        self.send(request("POST", &format!("/destinations/{id}/policies/preview")).json(edit))
            .await
    }

    /// Check now: the active configuration of a saved destination.
    pub async fn check_now(&self, id: &str) -> Reply {
        self.send(request("POST", &format!("/destinations/{id}/check")))
            .await
    }

    pub async fn test(&self, id: &str) -> Reply {
        self.send(request("POST", &format!("/destinations/{id}/test")))
            .await
    }

    pub async fn save(&self, id: &str) -> Reply {
        self.send(request("POST", &format!("/destinations/{id}/save")))
            .await
    }

    /// The rendered document of `kind` (`trustPolicy`, `bucketPolicy`, …) as text.
    pub async fn document(&self, id: &str, kind: &str) -> String {
        let policies = self
            .get(&format!("/destinations/{id}/policies"))
            .await
            .expect(200)
            .json();
        policies["documents"]
            .as_array()
            .expect("documents")
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {policies}"))["text"]
            .as_str()
            .expect("text")
            .to_owned()
    }
}

/// The stage that failed and its category, or ("passed", "") when every stage passed.
pub fn verdict(result: &Value) -> (String, String) {
    if result["passed"] == Value::Bool(true) {
        for stage in result["stages"].as_array().expect("stages") {
            assert_ne!(stage["status"], "failed", "{result}");
        }
        return ("passed".into(), String::new());
    }
    let failed = result["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap_or_else(|| panic!("a failed check with no failed stage: {result}"));
    (
        failed["stage"].as_str().expect("stage").to_owned(),
        failed["failure"]["category"]
            .as_str()
            .expect("category")
            .to_owned(),
    )
}

/// The failure of a failed check.
pub fn failure(result: &Value) -> Value {
    result["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["status"] == "failed")
        .map(|s| s["failure"].clone())
        .unwrap_or_else(|| panic!("no failure in {result}"))
}

/// Waits, if need be, until a burst of calls can fit in one rate-limit window (a minute): not in
/// the last seconds of one.
pub async fn within_one_rate_window() {
    while time::OffsetDateTime::now_utc().second() > 50 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
