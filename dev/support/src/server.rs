//! The HTTP API on a local port, as API Gateway serves it deployed: each request goes to the
//! function that serves its route (unknown routes to the `$default` one), and the setup page at
//! `/`. The tenant comes from an `X-Tenant-Id` header (or a bearer token the test configured), the
//! actor from `X-Actor` and the token's groups from `X-Groups` (without it, the local user may
//! write), standing in for the authorizer's claims; on the internal routes, `X-Platform-Caller`
//! stands in for the IAM authorizer's caller ARN.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use shared::domain::{Actor, TenantId};
use shared::http::{
    Access, ApiRequest, ApiResponse, MAX_BODY_BYTES, Problem, TokenClaims, WritePermission,
    parse_query,
};
use tokio::net::TcpListener;

use crate::services::Services;

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    services: Arc<Services>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let router = services.http().router(TokenClaims::default());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let (services, router) = (services.clone(), router.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        respond(services.clone(), router.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            () = &mut shutdown => return Ok(()),
        }
    }
}

async fn respond(
    services: Arc<Services>,
    router: axum::Router,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return Ok(to_hyper(
                Problem::payload_too_large(MAX_BODY_BYTES).into_response(),
            ));
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let bearer = header("authorization").and_then(|value| {
        let tokens = services.bearer_tokens.lock().ok()?;
        tokens.get(value.strip_prefix("Bearer ")?).cloned()
    });
    let access = match (&bearer, header("x-groups")) {
        (Some((_, access)), _) => *access,
        (None, Some(groups)) => WritePermission::default().access(Some(groups.as_str())),
        (None, None) => Access::Write,
    };
    let request = ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(parse_query).unwrap_or_default(),
        tenant: bearer
            .map(|(tenant, _)| tenant)
            .or_else(|| header("x-tenant-id").and_then(|t| TenantId::new(&t).ok())),
        actor: header("x-actor")
            .and_then(|a| Actor::user(&a).ok())
            .or_else(|| Actor::user("local-user").ok()),
        platform_caller: header("x-platform-caller"),
        access,
        headers,
        body,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    if setup_page::handler::serves(&request.path) {
        return Ok(to_hyper(setup_page::handler::handle(
            &services.page,
            &request,
        )));
    }
    let response = crate::gateway::send(&router, request, &TokenClaims::default()).await;
    Ok(to_hyper(response))
}

fn to_hyper(response: ApiResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
