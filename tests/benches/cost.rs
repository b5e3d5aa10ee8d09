//! Issue 26's "our own cost, side by side": CPU time, peak memory and the Lambda bill of a
//! re-validation check and of a delivered GiB, ours (the release binaries through the runtime
//! stub) beside the same work written with boto3 (`boto3_costs.py`), against the same emulator in
//! the same run.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use shared::app::writer::StreamSettings;
use shared::ports::DestinationRepository;

use super::{
    Bench, Done, Feed, MIB, Running, aws_s3_cp, delivery_message, median, mib_per_s, ms, quick,
    random_file, root, unique, verdict,
};

/// Checks per row: enough that CPU time (counted in 10 ms ticks) is read to about 1%.
fn checks() -> usize {
    if quick() { 20 } else { 300 }
}
fn delivered_bytes() -> u64 {
    if quick() { 64 * MIB } else { 1024 * MIB }
}
const DELIVERY_ROUNDS: usize = 3;

/// AWS Lambda's published arm64 price (us-east-1, first tier), and the date of the copy read.
const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
const PRICE_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
const PRICE_DATE: &str = "AWS's us-east-1 arm64 price as quoted in May 2026 (the latest copy read, on 2026-12-06): $0.0000133334 per GB-second, $0.20 per million requests";
/// Lambda gives a function CPU in proportion to its memory: a whole vCPU at 1,769 MB.
const MEMORY_MB: f64 = 128.0;
const FULL_VCPU_MB: f64 = 1769.0;

/// What a process spent on some work.
struct Spent {
    wall: Duration,
    cpu: Duration,
    peak_rss_mb: f64,
}

impl Spent {
    /// At 128 MB the function gets 128/1,769 of a vCPU: its duration is at least its CPU time
    /// stretched by that share, and at least the wall time measured here.
    fn billed(&self) -> Duration {
        self.wall.max(self.cpu.mul_f64(FULL_VCPU_MB / MEMORY_MB))
    }

    /// The bill at 128 MB, or why there is none: a process that needs more memory cannot run there.
    fn bill(&self, requests: f64, per: f64, digits: usize) -> String {
        if self.peak_rss_mb > MEMORY_MB {
            return format!("needs more than {MEMORY_MB:.0} MB");
        }
        format!("{:.digits$}", self.dollars(requests) / per)
    }

    fn dollars(&self, requests: f64) -> f64 {
        self.billed().as_secs_f64() * MEMORY_MB / 1024.0 * PRICE_PER_GB_SECOND
            + requests * PRICE_PER_REQUEST
    }
}

/// utime + stime of a running process, every thread: what `getrusage` reports, read from
/// /proc/<pid>/stat (in clock ticks) so the process can go on running.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    // The command name is in parentheses and may hold spaces: count fields after it.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Duration::from_secs_f64(ticks as f64 / per_second)
}

/// Runs `boto3_costs.py` with `job`; what it spent on the work (after its imports and connector).
fn boto3(job: &Value) -> Spent {
    let mut python = Command::new(root().join("target/tools/venv/bin/python"));
    python.arg(root().join("tests/benches/boto3_costs.py"));
    baseline(
        python,
        "python with boto3 (infra/bench.sh installs it)",
        job,
    )
}

/// Runs `dev/bench-sdk-check` with `job`: the same calls as boto3's, made with the Rust SDK.
fn bare_sdk(job: &Value) -> Spent {
    let binary = Command::new(super::binary("bench-sdk-check"));
    baseline(binary, "bench-sdk-check (infra/bench.sh builds it)", job)
}

/// A baseline that reads `job` on stdin and answers what it spent as one JSON line.
fn baseline(mut command: Command, what: &str, job: &Value) -> Spent {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{what} failed");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    Spent {
        wall: Duration::from_secs_f64(answer["wallSeconds"].as_f64().unwrap()),
        cpu: Duration::from_secs_f64(answer["cpuSeconds"].as_f64().unwrap()),
        peak_rss_mb: answer["peakRssKb"].as_f64().unwrap() / 1024.0,
    }
}

impl Bench {
    /// `function`'s environment, aimed straight at the emulator (not through the counting proxy,
    /// as the boto3 side is not).
    fn direct_env(&self, function: &str) -> Vec<(String, String)> {
        let mut env = self.env[function].clone();
        for (name, value) in &mut env {
            if name == "AWS_ENDPOINT_URL" {
                value.clone_from(&self.world.platform.endpoint);
            }
        }
        env
    }

    /// What boto3 needs to do a check or a delivery as `function` would.
    async fn boto3_job(&self, function: &str, kind: &str) -> Value {
        let env: std::collections::BTreeMap<_, _> = self.direct_env(function).into_iter().collect();
        let destination = self
            .world
            .store()
            .get(&self.tenant(), &self.id())
            .await
            .unwrap()
            .expect("the bench destination");
        let role_arn = destination
            .active()
            .and_then(|active| active.configuration.role_arn.clone())
            .expect("the bench destination is saved in role mode");
        // As the function takes on the connector (the emulated stack names its session).
        let logical_id = super::FUNCTIONS
            .iter()
            .find(|f| f.binary == function)
            .expect("a benchmarked function")
            .logical_id;
        let identity = self.world.platform.function(logical_id);
        let platform = identity
            .settings()
            .platform()
            .expect("the function's platform identity");
        let (connector, connector_session) =
            shared::aws::own_partition_identity(&identity.config, &platform)
                .expect("the function's partition is served")
                .connector_role();
        let key = shared::adapters::dynamodb::keys::destination(&self.tenant(), &self.id());
        let key: serde_json::Map<String, Value> = key
            .iter()
            .map(|(name, value)| (name.clone(), json!(value.as_s().unwrap())))
            .collect();
        json!({
            "kind": kind,
            "endpoint": self.world.platform.endpoint,
            "region": env["AWS_REGION"],
            "accessKeyId": env["AWS_ACCESS_KEY_ID"],
            "secretAccessKey": env["AWS_SECRET_ACCESS_KEY"],
            "table": env["TABLE_NAME"],
            "destinationKey": key,
            "connectorRoleArn": connector.as_str(),
            "connectorSessionName": connector_session.as_str(),
            "roleArn": role_arn.as_str(),
            "externalId": destination.external_id().expect("role mode").expose(),
            "sessionName": shared::domain::session_name(&self.id()).as_str(),
            "bucket": self.bucket,
            "folder": "bench/",
            "checks": checks(),
            "stagingBucket": self.world.platform.staging_bucket,
            "partSize": StreamSettings::default().part_size,
            "concurrency": StreamSettings::default().concurrency,
        })
    }

    /// `checks()` re-validations by the worker binary, after one that is not counted.
    async fn our_checks(&self) -> Spent {
        let mut last = self.version().await - 1;
        let (running, _) =
            Running::start("revalidate-worker", &self.direct_env("revalidate-worker"));
        let first = self.event(Feed::WorkerMessage, &mut last).await;
        running.invoke(&first, Done::NoFailedItems);
        let before = cpu_of(running.child.id());
        let mut wall = Duration::ZERO;
        for _ in 0..checks() {
            let event = self.event(Feed::WorkerMessage, &mut last).await;
            wall += running.invoke(&event, Done::NoFailedItems);
        }
        Spent {
            wall,
            cpu: cpu_of(running.child.id()) - before,
            peak_rss_mb: running.peak_rss_kb() as f64 / 1024.0,
        }
    }

    /// One delivery of the staged `key` by the deliver binary, from exec to its answer.
    async fn our_delivery(&self, staged: &str, bytes: u64) -> Spent {
        let id = unique("cost");
        let event = delivery_message(&self.delivery_request(&id, staged)).to_string();
        let (running, init) = Running::start("deliver", &self.direct_env("deliver"));
        let took = running.invoke_within(
            event.as_bytes(),
            Done::NoFailedItems,
            Duration::from_secs(900),
        );
        let spent = Spent {
            wall: init + took,
            cpu: cpu_of(running.child.id()),
            peak_rss_mb: running.peak_rss_kb() as f64 / 1024.0,
        };
        drop(running);
        let key = self.assert_delivered(&id, bytes).await;
        self.remove(&key).await;
        spent
    }

    /// The same delivery by boto3: checked whole in the bucket, then removed.
    async fn boto3_delivery(&self, staged: &str, bytes: u64) -> Spent {
        let key = format!("bench/boto3-{}.bin", unique("cost"));
        let mut job = self.boto3_job("deliver", "deliver").await;
        job["stagedKey"] = json!(staged);
        job["key"] = json!(key);
        let spent = boto3(&job);
        let written = self
            .world
            .customer_role_account()
            .s3()
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .expect("boto3 delivered the file");
        assert_eq!(written.content_length(), Some(bytes as i64));
        self.remove(&key).await;
        spent
    }
}

/// The median of each measure over rounds (each taken separately).
fn median_of(rounds: &[Spent]) -> Spent {
    let of = |f: &dyn Fn(&Spent) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    Spent {
        wall: Duration::from_secs_f64(of(&|s| s.wall.as_secs_f64())),
        cpu: Duration::from_secs_f64(of(&|s| s.cpu.as_secs_f64())),
        peak_rss_mb: of(&|s| s.peak_rss_mb),
    }
}

pub async fn cost_section(bench: &Bench, report: &mut String) {
    let n = checks() as u32;
    let ours = bench.our_checks().await;
    let job = bench.boto3_job("revalidate-worker", "check").await;
    let (bare, theirs) = (bare_sdk(&job), boto3(&job));
    let per = |spent: &Spent| Spent {
        wall: spent.wall / n,
        cpu: spent.cpu / n,
        peak_rss_mb: spent.peak_rss_mb,
    };
    let (ours, bare, theirs) = (per(&ours), per(&bare), per(&theirs));
    let cpu_ratio = theirs.cpu.as_secs_f64() / ours.cpu.as_secs_f64();
    writeln!(report, "## Our own cost beside boto3's\n\nCPU is user + system time of the whole process (every thread; `getrusage`'s count, read from /proc for our running binary, from `getrusage` by the two baselines), spent on the work alone: our first check and boto3's imports, clients and connector session are left out, and the delivery rows count our process from exec. Peak RSS is each process's own high-water mark (`VmHWM` in /proc; not `ru_maxrss`, which Linux carries across exec from the spawning process). Lambda's bill at 128 MB arm64 takes a duration of at least the wall time measured here and at least the CPU time stretched to the 128/1,769 of a vCPU Lambda gives 128 MB; priced at {PRICE_DATE}. All three against the same emulator, which shares the machine's 2 cores.\n\nPer re-validation check ({n} checks of the benchmark's IAM-role destination: the worker binary through the runtime stub, one SQS message each, beside `tests/benches/boto3_costs.py check` making the same AWS calls: the destination's item, a check slot taken and released, the guard's two refused AssumeRoles, the AssumeRole with the External ID, the probe written with a checksum by a client on those credentials (boto3 binds credentials to a client: one per session, from one long-lived session, as ours builds an S3 client per session), the result and its history entry), and beside `dev/bench-sdk-check` making those calls as the script does with the Rust SDK and our HTTP client. The bill counts one request per check, as each message here is its own invocation (the deployed queue batches up to 10):\n\n| | CPU ms per check | wall ms per check | peak RSS MB | billed ms at 128 MB (at least) | $ per million checks |\n|---|---|---|---|---|---|").unwrap();
    let rows = [
        ("ours (revalidate-worker)", &ours),
        (
            "the same calls bare, Rust SDK (`dev/bench-sdk-check`)",
            &bare,
        ),
        ("the same calls, boto3", &theirs),
    ];
    for (name, spent) in rows {
        writeln!(
            report,
            "| {name} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
            ms(spent.cpu),
            ms(spent.wall),
            spent.peak_rss_mb,
            ms(spent.billed()),
            spent.bill(1.0, 1.0 / 1_000_000.0, 2)
        )
        .unwrap();
    }
    let sdk_ratio = theirs.cpu.as_secs_f64() / bare.cpu.as_secs_f64();
    writeln!(
        report,
        "\nboto3's CPU per check ÷ ours: {cpu_ratio:.1}× (goal ≥ 20×: {}). The same calls made bare with the Rust SDK (no Lambda runtime, none of our code) take {sdk_ratio:.1}× less CPU than boto3's: the most that any code around these calls could reach{}. Our worker spends {:.2} ms per check beyond the bare calls (the Lambda runtime's exchange, the domain, logs and metrics), {:.0}% of its CPU.\n",
        verdict(cpu_ratio >= 20.0),
        if sdk_ratio < 20.0 {
            ", below the goal, which these nine calls cannot meet whatever surrounds them"
        } else {
            ""
        },
        ms(ours.cpu.saturating_sub(bare.cpu)),
        100.0 * ours.cpu.saturating_sub(bare.cpu).as_secs_f64() / ours.cpu.as_secs_f64(),
    )
    .unwrap();

    let bytes = delivered_bytes();
    let file = random_file(bytes);
    let staged = bench.stage(&file).await;
    let (mut ours, mut theirs, mut cp) = (Vec::new(), Vec::new(), Vec::new());
    let rounds = if quick() { 1 } else { DELIVERY_ROUNDS };
    for _ in 0..rounds {
        ours.push(bench.our_delivery(&staged, bytes).await);
        theirs.push(bench.boto3_delivery(&staged, bytes).await);
        let key = format!("bench/cp-{}.bin", unique("cost"));
        cp.push(mib_per_s(bytes, aws_s3_cp(bench, &file, &key)));
        bench.remove(&key).await;
    }
    let (ours, theirs, cp) = (median_of(&ours), median_of(&theirs), median(&cp));
    let gib = bytes as f64 / (1024.0 * MIB as f64);
    writeln!(report, "Per delivered GiB ({} MiB file, {} alternating runs, medians): the deliver binary from exec to its answer for a queue message (the staged file read from the staging bucket and written through the customer's role as a multipart upload, {} MiB parts, {} in flight), beside `boto3_costs.py deliver` doing the same with boto3's transfer manager at the same part size and parts in flight, and `aws s3 cp` of the file from the local disk with the customer's own credentials.\n\n| | MiB/s | CPU s per GiB | peak RSS MB | billed s per GiB at 128 MB (at least) | $ per GiB |\n|---|---|---|---|---|---|", bytes / MIB, rounds, StreamSettings::default().part_size / MIB, StreamSettings::default().concurrency).unwrap();
    for (name, spent) in [("ours (deliver)", &ours), ("boto3", &theirs)] {
        writeln!(
            report,
            "| {name} | {:.0} | {:.2} | {:.1} | {:.1} | {} |",
            mib_per_s(bytes, spent.wall),
            spent.cpu.as_secs_f64() / gib,
            spent.peak_rss_mb,
            spent.billed().as_secs_f64() / gib,
            spent.bill(1.0, gib, 5)
        )
        .unwrap();
    }
    let ratio = mib_per_s(bytes, ours.wall) / cp;
    writeln!(
        report,
        "| aws s3 cp | {cp:.0} | | | | |\n\nOur throughput ÷ `aws s3 cp`'s: {ratio:.2}× (goal ≥ 1.0×: {}); boto3's CPU per GiB ÷ ours: {:.1}×.\n",
        verdict(ratio >= 1.0),
        theirs.cpu.as_secs_f64() / ours.cpu.as_secs_f64()
    )
    .unwrap();
}
