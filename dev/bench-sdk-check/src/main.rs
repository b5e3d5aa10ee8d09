//! The re-validation check's AWS calls made straight with the Rust SDK, call for call as
//! `tests/benches/boto3_costs.py check` makes them with boto3: no Lambda runtime, no domain code,
//! no logs or metrics. The cost benchmark runs it beside our worker and boto3, so the gap between
//! the SDKs and what our own code adds are each measured.
//!
//! Reads the same JSON job on stdin and prints the same JSON line (CPU and wall seconds spent on
//! the checks alone, peak RSS).

use std::collections::HashMap;
use std::io::Read as _;
use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::config::{Credentials, IdentityCache};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use aws_sdk_sts::error::ProvideErrorMetadata;
use serde_json::{Value, json};

/// What the process has spent so far: user + system CPU, every thread (`getrusage`).
fn cpu_spent() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// This process's own peak RSS in KB (VmHWM), as the harness reads our binaries'. Not
/// `ru_maxrss`: Linux carries that across exec from the process that spawned us.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|kb| kb.split_whitespace().next()?.parse().ok())
        })
        .expect("VmHWM in /proc/self/status")
}

/// The job's string field `name`.
fn text<'a>(job: &'a Value, name: &str) -> &'a str {
    job[name]
        .as_str()
        .unwrap_or_else(|| panic!("the job names {name}"))
}

struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    /// Signs as the connector, whose session is assumed once and cached, as our functions do.
    sts: aws_sdk_sts::Client,
    /// Shared settings of the per-session S3 clients.
    s3_base: aws_sdk_s3::Config,
}

async fn clients(job: &Value) -> Clients {
    let config = shared::aws::defaults()
        .endpoint_url(text(job, "endpoint"))
        .region(aws_config::Region::new(text(job, "region").to_owned()))
        .credentials_provider(Credentials::new(
            text(job, "accessKeyId"),
            text(job, "secretAccessKey"),
            None,
            None,
            "bench",
        ))
        .load()
        .await;
    let connector = aws_config::sts::AssumeRoleProvider::builder(text(job, "connectorRoleArn"))
        .session_name(text(job, "connectorSessionName"))
        .configure(&config)
        .build()
        .await;
    let as_connector = config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(connector))
        .build();
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        sts: aws_sdk_sts::Client::new(&as_connector),
        s3_base: aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .identity_cache(IdentityCache::no_cache())
            .build(),
    }
}

fn item(pairs: &[(&str, &str)], number: Option<(&str, &str)>) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<_, _> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), AttributeValue::S(value.to_string())))
        .collect();
    if let Some((name, value)) = number {
        item.insert(name.to_owned(), AttributeValue::N(value.to_owned()));
    }
    item
}

async fn check_once(job: &Value, clients: &Clients) {
    let table = text(job, "table");
    let pk = text(&job["destinationKey"], "PK");
    let key = item(
        &[("PK", pk), ("SK", text(&job["destinationKey"], "SK"))],
        None,
    );
    let slot = |held| {
        item(
            &[("PK", pk), ("SK", "BENCH#SDK#SLOT")],
            Some(("held", held)),
        )
    };
    let got = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem");
    assert!(got.item.is_some(), "the destination is stored");
    put(clients, table, slot("1")).await;
    let (role, name) = (text(job, "roleArn"), text(job, "sessionName"));
    let assume = || {
        clients
            .sts
            .assume_role()
            .role_arn(role)
            .role_session_name(name)
    };
    assert!(
        refused(assume().send().await),
        "refused without the External ID"
    );
    let wrong = uuid::Uuid::new_v4().to_string();
    assert!(
        refused(assume().external_id(wrong).send().await),
        "refused with a wrong one"
    );
    let assumed = assume()
        .external_id(text(job, "externalId"))
        .send()
        .await
        .expect("AssumeRole with the External ID");
    let session = assumed.credentials.expect("a session");
    let s3 = aws_sdk_s3::Client::from_conf(
        clients
            .s3_base
            .to_builder()
            .credentials_provider(Credentials::new(
                session.access_key_id,
                session.secret_access_key,
                Some(session.session_token),
                None,
                "destination-session",
            ))
            .build(),
    );
    s3.put_object()
        .bucket(text(job, "bucket"))
        .key(format!(
            "{}connection-test/{}.txt",
            text(job, "folder"),
            uuid::Uuid::new_v4()
        ))
        .body(ByteStream::from_static(b"connection test"))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("PutObject");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();
    let history_key = format!("BENCH#SDK#TEST#{now}");
    for sk in ["BENCH#SDK#RESULT", history_key.as_str()] {
        put(
            clients,
            table,
            item(&[("PK", pk), ("SK", sk), ("outcome", "passed")], None),
        )
        .await;
    }
    put(clients, table, slot("0")).await;
}

/// Whether STS answered `AccessDenied`, as boto3_costs.py's `refused` asks.
fn refused<T, E: ProvideErrorMetadata>(answer: Result<T, E>) -> bool {
    answer.is_err_and(|error| error.code() == Some("AccessDenied"))
}

async fn put(clients: &Clients, table: &str, item: HashMap<String, AttributeValue>) {
    clients
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
}

#[tokio::main]
async fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("a job on stdin");
    let job: Value = serde_json::from_str(&input).expect("a JSON job");
    assert_eq!(text(&job, "kind"), "check", "only checks are made here");
    let clients = clients(&job).await;
    check_once(&job, &clients).await; // warm, as our row's first check is not counted
    let (started, cpu_before) = (Instant::now(), cpu_spent());
    for _ in 0..job["checks"].as_u64().expect("a number of checks") {
        check_once(&job, &clients).await;
    }
    let (wall, cpu_after) = (started.elapsed(), cpu_spent());
    println!(
        "{}",
        json!({
            "wallSeconds": wall.as_secs_f64(),
            "cpuSeconds": (cpu_after - cpu_before).as_secs_f64(),
            "peakRssKb": peak_rss_kb(),
        })
    );
}
