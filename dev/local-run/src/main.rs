//! `infra/local-run.sh` starts fakecloud, then this: it builds the platform inside the emulator
//! from template.yaml (account 111111111111), serves the whole HTTP API on 127.0.0.1 through the
//! same handlers the Lambda functions run (dev_support::server), and plays Lambda's event sources
//! (stream, queue, schedules) so that re-validation and events run too.

use std::sync::Arc;
use std::time::Duration;

use dev_support::dispatch::Dispatcher;
use dev_support::emulator::Emulator;
use dev_support::platform::{EmulatedPlatform, Options, PlatformAccounts};
use dev_support::services::{Services, quick_check_settings};
use tokio::net::TcpListener;

/// Fixed so that the walkthrough's ARNs stay the same from run to run.
pub const PLATFORM_ACCOUNT: &str = "111111111111";

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
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr} ({e}): is the local run already up? Stop it, or set PORT to another port.")
    })?;

    let emulator = Emulator::attach(&endpoint);
    let mut platform = Box::pin(EmulatedPlatform::create(
        &emulator,
        Options {
            account_id: Some(PLATFORM_ACCOUNT.to_owned()),
            platform_accounts: PlatformAccounts::StandIn,
            suffix: "local".to_owned(),
            stream: true,
            template: None,
            publish_kit: true,
        },
    ))
    .await;
    platform.set_env(
        "REVALIDATE_INTERVAL",
        &format!("{}s", interval.as_secs().max(1)),
    );
    // The kit's CLI script reaches this server with the tenant header instead of a token.
    if let Some(policies) = platform
        .functions
        .get_mut(dev_support::services::POLICIES_API)
    {
        policies
            .env
            .insert("SETUP_KIT_TENANT_HEADER".into(), "true".into());
    }
    let admin_env = write_admin_env(&platform, &endpoint)?;
    let services = Arc::new(Box::pin(Services::wire(&platform, quick_check_settings())).await);
    spawn_event_sources(services.clone(), Dispatcher::new(&platform), interval);

    println!();
    println!("  Setup page          http://{addr}/   (open it in a browser; pick any tenant)");
    println!("  Destinations API    http://{addr}");
    println!(
        "  AWS emulator        {endpoint}   (admin credentials: {})",
        admin_env.display()
    );
    println!(
        "  Connector           {}   (what customers' roles trust)",
        platform.connector_principal
    );
    println!("  Writer role         {}", platform.writer_role_arn);
    println!(
        "  Staging bucket      {}   (stage files here, then POST /internal/deliveries with X-Platform-Caller)",
        platform.staging_bucket
    );
    println!("  Setup kit templates {}", platform.kit_templates_url);
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

    dev_support::server::serve(listener, services, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    println!("stopping");
    Ok(())
}

/// `source target/local-run/admin.env` points the AWS CLI at the platform account in the emulator
/// (`LOCAL_RUN_DIR` moves the directory).
fn write_admin_env(
    platform: &EmulatedPlatform,
    endpoint: &str,
) -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::var_os("LOCAL_RUN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dev_support::template::repo_root().join("target/local-run"));
    std::fs::create_dir_all(&dir)?;
    let region = dev_support::accounts::REGION;
    let path = dir.join("admin.env");
    std::fs::write(
        &path,
        format!(
            "# The platform account's admin in the local emulator; `source` this to use the AWS CLI against it.\n\
             export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_REGION={region}\n\
             export AWS_DEFAULT_REGION={region}\nexport AWS_ENDPOINT_URL={endpoint}\n",
            platform.account.access_key_id, platform.account.secret_access_key
        ),
    )?;
    Ok(path)
}

/// Lambda's event sources: stream and queue every second, the schedules at their rates.
fn spawn_event_sources(services: Arc<Services>, dispatcher: Dispatcher, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut since_schedule = Duration::ZERO;
        let mut since_sweep = Duration::ZERO;
        let mut since_delivery_sweep = Duration::ZERO;
        loop {
            tick.tick().await;
            since_schedule += Duration::from_secs(1);
            since_sweep += Duration::from_secs(1);
            since_delivery_sweep += Duration::from_secs(1);
            if since_delivery_sweep >= Duration::from_secs(60) {
                since_delivery_sweep = Duration::ZERO;
                let queued = dispatcher
                    .run_delivery_sweep(&services, time::OffsetDateTime::now_utc())
                    .await;
                if queued > 0 {
                    println!("deliveries: {queued} due delivery(ies) queued again");
                }
            }
            if !interval.is_zero() && since_schedule >= interval {
                since_schedule = Duration::ZERO;
                let queued = dispatcher.run_schedule(&services).await;
                if queued["queued"].as_u64().unwrap_or(0) > 0 {
                    println!("re-validation: {} destination(s) queued", queued["queued"]);
                }
            }
            if since_sweep >= Duration::from_secs(300) {
                since_sweep = Duration::ZERO;
                dispatcher.run_sweep(&services).await;
            }
            dispatcher.pump(&services).await;
            for event in dispatcher.observed_events().await {
                println!(
                    "event: {} {}",
                    event["detail-type"].as_str().unwrap_or("?"),
                    event["detail"]
                );
            }
        }
    });
}
