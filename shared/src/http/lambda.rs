//! Conversion between API Gateway (HTTP API, payload 2.0) events and the neutral request, and the
//! Lambda runtime loop that serves a function's router.

use lambda_http::Body;
use lambda_http::http::request::Parts;
use lambda_http::request::RequestContext;

use super::api::{Access, ApiRequest};
use super::claims::TokenClaims;
use super::input::parse_query;
use crate::domain::{Actor, TenantId};

/// Builds the neutral request. The tenant and the write permission are read from the JWT
/// authorizer's claims (named by `claims`) and nowhere else: not from a header, the path or the
/// body. The actor is the token's subject. The platform caller is the IAM authorizer's caller
/// ARN, and nothing else.
pub fn from_parts(parts: &Parts, body: Vec<u8>, claims: &TokenClaims) -> ApiRequest {
    let (tenant, actor, access, platform_caller, request_id) =
        match parts.extensions.get::<RequestContext>() {
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
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        // The runtime keeps the raw query string in the URI; decoded here as form data, as
        // lambda_http's own query map decodes it.
        query: parts.uri.query().map(parse_query).unwrap_or_default(),
        headers,
        body,
        tenant,
        actor,
        platform_caller,
        access,
        request_id,
    }
}

/// [`from_parts`] for an event as the runtime parsed it.
pub fn from_lambda(request: lambda_http::Request, claims: &TokenClaims) -> ApiRequest {
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    from_parts(&parts, body, claims)
}

/// Serves API Gateway events with `router` until the runtime stops. `main` builds the router's
/// dependencies once, before calling this.
pub async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(router).await
}
