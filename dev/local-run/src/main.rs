//! `infra/local-run.sh` starts fakecloud, then this: it builds the platform inside the emulator
//! from template.yaml (account 111111111111), serves the whole HTTP API on 127.0.0.1 through the
//! same handlers the Lambda functions run, and plays Lambda's event sources (stream, queue,
//! schedule) so that re-validation and events run too.
//!
//! Locally the tenant comes from an `X-Tenant-Id` header (and the actor from `X-Actor`), turned
//! into what the authorizer's claims give the deployed functions (shared::http::lambda), where
//! those headers mean nothing.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dev_support::dispatch::Dispatcher;
use dev_support::emulator::Emulator;
use dev_support::platform::{EmulatedPlatform, Options, PlatformAccounts};
use dev_support::services::{Services, quick_check_settings};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use shared::domain::{Actor, TenantId};
use shared::http::{ApiRequest, ApiResponse, Function, MAX_BODY_BYTES, Problem, resolve};
use tokio::net::TcpListener;

/// Fixed so that the walkthrough's ARNs stay the same from run to run.
pub const PLATFORM_ACCOUNT: &str = "111111111111";

struct Local {
    services: Services,
    dispatcher: Dispatcher,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint =
        std::env::var("FAKECLOUD_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(raw) => raw
            .parse()
            .map_err(|_| format!("PORT={raw:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let interval = match std::env::var("REVALIDATE_INTERVAL") {
        Ok(raw) => shared::config::parse_duration(&raw).ok_or_else(|| {
            format!("REVALIDATE_INTERVAL={raw:?} is not a duration like 30s, 15m or 1h")
        })?,
        Err(_) => Duration::from_secs(30),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr} ({e}): is the local run already up? Stop it, or set PORT to another port.")
    })?;

    let emulator = Emulator::attach(&endpoint);
    let mut platform = EmulatedPlatform::create(
        &emulator,
        Options {
            account_id: Some(PLATFORM_ACCOUNT.to_owned()),
            platform_accounts: PlatformAccounts::StandIn,
            suffix: "local".to_owned(),
            stream: true,
        },
    )
    .await;
    platform.set_env(
        "REVALIDATE_INTERVAL",
        &format!("{}s", interval.as_secs().max(1)),
    );
    write_admin_env(&platform, &endpoint)?;
    let local = Arc::new(Local {
        services: Services::wire(&platform, quick_check_settings()).await,
        dispatcher: Dispatcher::new(&platform),
    });
    spawn_event_sources(local.clone(), interval);

    println!();
    println!("  Destinations API    http://{addr}");
    println!("  AWS emulator        {endpoint}   (admin credentials: target/local-run/admin.env)");
    println!(
        "  Connector           {}   (what customers' roles trust)",
        platform.connector_principal
    );
    println!("  Writer role         {}", platform.writer_role_arn);
    if interval.is_zero() {
        println!("  Re-validation       off (REVALIDATE_INTERVAL=0)");
    } else {
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
                let local = local.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| serve(local.clone(), request));
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

/// `source target/local-run/admin.env` points the AWS CLI at the platform account in the emulator.
fn write_admin_env(platform: &EmulatedPlatform, endpoint: &str) -> std::io::Result<()> {
    let dir = dev_support::template::repo_root().join("target/local-run");
    std::fs::create_dir_all(&dir)?;
    let region = dev_support::accounts::REGION;
    std::fs::write(
        dir.join("admin.env"),
        format!(
            "# The platform account's admin in the local emulator; `source` this to use the AWS CLI against it.\n\
             export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_REGION={region}\n\
             export AWS_DEFAULT_REGION={region}\nexport AWS_ENDPOINT_URL={endpoint}\n",
            platform.account.access_key_id, platform.account.secret_access_key
        ),
    )
}

/// Lambda's event sources: stream and queue every second, the schedules at their rates.
fn spawn_event_sources(local: Arc<Local>, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut since_schedule = Duration::ZERO;
        let mut since_sweep = Duration::ZERO;
        loop {
            tick.tick().await;
            since_schedule += Duration::from_secs(1);
            since_sweep += Duration::from_secs(1);
            if !interval.is_zero() && since_schedule >= interval {
                since_schedule = Duration::ZERO;
                let queued = local.dispatcher.run_schedule(&local.services).await;
                if queued["queued"].as_u64().unwrap_or(0) > 0 {
                    println!("re-validation: {} destination(s) queued", queued["queued"]);
                }
            }
            if since_sweep >= Duration::from_secs(300) {
                since_sweep = Duration::ZERO;
                local.dispatcher.run_sweep(&local.services).await;
            }
            local.dispatcher.pump(&local.services).await;
            for event in local.dispatcher.observed_events().await {
                println!(
                    "event: {} {}",
                    event["detail-type"].as_str().unwrap_or("?"),
                    event["detail"]
                );
            }
        }
    });
}

async fn serve(
    local: Arc<Local>,
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
    let request = ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        tenant: header("x-tenant-id").and_then(|t| TenantId::new(&t).ok()),
        actor: header("x-actor")
            .and_then(|a| Actor::new(&a).ok())
            .or_else(|| Actor::new("local-user").ok()),
        headers,
        body,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let services = &local.services;
    let response = match resolve(&request.method, &request.path).map(|route| route.function()) {
        Ok(Function::PoliciesApi) => {
            policies_api::handler::handle(&services.policies, request).await
        }
        Ok(Function::TestConnection) => {
            test_connection::handler::handle(&services.test_connection, request).await
        }
        // Unknown routes go where API Gateway's $default route sends them.
        _ => destinations_api::handler::handle(&services.destinations, request).await,
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

/// `application/x-www-form-urlencoded` decoding of a query component.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(())
            {
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
