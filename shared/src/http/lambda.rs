//! Conversion between API Gateway (HTTP API, payload 2.0) events and the neutral request/response.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::api::{Access, ApiRequest, ApiResponse};
use super::claims::TokenClaims;
use crate::domain::{Actor, TenantId};

/// Builds the neutral request. The tenant and the write permission are read from the JWT
/// authorizer's claims (named by `claims`) and nowhere else: not from a header, the path or the
/// body. The actor is the token's subject. The platform caller is the IAM authorizer's caller
/// ARN, and nothing else.
pub fn from_lambda(request: Request, claims: &TokenClaims) -> ApiRequest {
    let (tenant, actor, access, platform_caller, request_id) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            let authorizer = context.authorizer.as_ref();
            let token = authorizer
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| &jwt.claims);
            let claim = |name: &str| token.and_then(|c| c.get(name));
            (
                claim(&claims.tenant).and_then(|raw| TenantId::new(raw).ok()),
                claim("sub").and_then(|raw| Actor::user(raw).ok()),
                claims
                    .write
                    .access(claim(&claims.write.claim).map(String::as_str)),
                authorizer
                    .and_then(|a| a.iam.as_ref())
                    .and_then(|iam| iam.user_arn.clone())
                    .filter(|arn| !arn.is_empty()),
                context.request_id.clone().unwrap_or_default(),
            )
        }
        _ => (None, None, Access::Read, None, String::new()),
    };
    let query = request
        .query_string_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let body = match request.into_body() {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    ApiRequest {
        method,
        path,
        query,
        headers,
        body,
        tenant,
        actor,
        platform_caller,
        access,
        request_id,
    }
}

pub fn to_lambda(response: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    let body = if response.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(response.body)
    };
    // Only a header that is not valid HTTP could fail here, and ours are all constant ASCII.
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// Serves API Gateway events with `handler` until the runtime stops. `main` builds the handler's
/// dependencies once, before calling this.
pub async fn serve<F, Fut>(claims: &TokenClaims, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(ApiRequest) -> Fut + Sync,
    Fut: std::future::Future<Output = ApiResponse> + Send,
{
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |event: Request| async move {
        let request = from_lambda(event, claims);
        let span = tracing::info_span!("request", request_id = %request.request_id);
        // Boxed: a handler's state machine can be large, and the runtime polls it on the main
        // thread's stack.
        let response = Box::pin(tracing::Instrument::instrument(handler(request), span)).await;
        Ok::<_, lambda_http::Error>(to_lambda(response))
    }))
    .await
}
