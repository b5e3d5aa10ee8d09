//! `infra/local-run.sh` starts fakecloud, then this: it sets up the platform account (admin, connector
//! role, table) in the emulator and serves the whole HTTP API on 127.0.0.1, dispatching each request
//! in-process to the same handlers the Lambda functions run.
//!
//! Locally the tenant comes from an `X-Tenant-Id` header, turned into the authorizer claim here. The
//! deployed functions read the claim only (shared::http::lambda), so that header means nothing there.

mod platform;
mod revalidation;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use shared::domain::TenantId;
use shared::http::{ApiRequest, ApiResponse, Function, MAX_BODY_BYTES, Problem, resolve};
use tokio::net::TcpListener;

use platform::LocalPlatform;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint =
        std::env::var("FAKECLOUD_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr} ({e}): is the local run already up? Stop it, or set PORT to another port.")
    })?;

    let revalidation = shared::config::RevalidationEnv::from_lookup(|name| {
        // Locally, re-validation runs every 30 s unless REVALIDATE_INTERVAL says otherwise.
        std::env::var(name)
            .ok()
            .or_else(|| (name == "REVALIDATE_INTERVAL").then(|| "30s".to_owned()))
    })?;
    let interval = revalidation.settings.interval.unsigned_abs();
    let platform = Arc::new(LocalPlatform::set_up(&endpoint).await?);
    if interval.is_zero() {
        println!("  Re-validation is off (REVALIDATE_INTERVAL=0).");
    } else {
        revalidation::spawn(platform.clone(), interval, revalidation.settings);
    }
    println!();
    println!("  Destinations API    http://{addr}");
    println!("  AWS emulator        {endpoint}   (admin credentials: infra/.local/admin.env)");
    println!("  Platform principal  {}", platform.principal_arn);
    if !interval.is_zero() {
        println!(
            "  Re-validation       every {}s; destination events are printed here",
            interval.as_secs()
        );
    }
    println!("  Send the tenant as X-Tenant-Id; Ctrl-C stops everything.");
    println!();

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let platform = platform.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| serve(platform.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                return Ok(());
            }
        }
    }
}

async fn serve(
    platform: Arc<LocalPlatform>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = uuid::Uuid::new_v4().to_string();
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
    let tenant = headers
        .iter()
        .find(|(k, _)| k == "x-tenant-id")
        .and_then(|(_, v)| TenantId::new(v).ok());
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let api_request = ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        headers,
        body,
        tenant,
        request_id,
    };
    let response =
        match resolve(&api_request.method, &api_request.path).map(|route| route.function()) {
            Ok(Function::PoliciesApi) => {
                policies_api::handler::handle(&platform.policies, api_request).await
            }
            Ok(Function::TestConnection) => {
                test_connection::handler::handle(&platform.test_connection, api_request).await
            }
            // Unknown routes go where API Gateway's $default route sends them.
            _ => destinations_api::handler::handle(&platform.destinations, api_request).await,
        };
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

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&raw[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
