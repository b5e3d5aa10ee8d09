//! The benchmark harness (`infra/bench.sh`): cold start, size, memory, warm latency, AWS calls per
//! operation and re-validation throughput, each beside its baseline from the same run. Prints the
//! tables and writes BENCHMARKS.md. Not part of the test suite.
//!
//! Every timed invocation does the work its name says, against the platform in the emulator: the
//! API functions answer 2xx for a real destination, Test Connection passes, the scheduler queues
//! a due destination, the worker re-tests one (its version moves each time), the stream function
//! queues, the event publisher publishes a pending outbox entry. Anything else stops the run.

mod cost;
mod counting_proxy;
mod runtime_stub;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use serde_json::{Value, json};

use counting_proxy::CountingProxy;
use dev_support::accounts::unique;
use dev_support::events::{EVENT_DESTINATION_ID, raw, sqs_batch};
use dev_support::platform::{EmulatedPlatform, Options};
use dev_support::services::{Services, WORKER, quick_check_settings};
use runtime_stub::{RuntimeStub, Signal};
use shared::adapters::dynamodb::DynamoDbStore;
use shared::app::writer::StreamSettings;
use shared::domain::delivery::{DeliveryId, DeliveryStatus};
use shared::domain::revalidation::RevalidationRequest;
use shared::domain::{Activity, ActivityEntry, Actor, AuthModeKind, DestinationId, TenantId};
use shared::ports::{DeliveryRecords, DestinationRepository, NewRecord};
use shared::testing::DestinationBuilder;
use support::api::TENANT;
use support::stand_in::StandIn;
use support::world::World;

/// `BENCH_QUICK=1` runs every section at a tenth of its size or less and leaves BENCHMARKS.md
/// alone: for checking the harness, not for numbers.
fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some()
}

const ROUNDS: usize = 20;
/// Warm invocations after each cold start, for that round's warm latency of the same event.
const WARM_PER_ROUND: usize = 5;
const WARM_INVOCATIONS: usize = 1000;
const HELLO: &str = "bench-hello";
/// The staged file the cold-start and warm rows deliver (1 KiB).
const SMALL_STAGED_KEY: &str = "tenant-a/bench/small.bin";

/// What a function is fed: a sample event (re-aimed at the benchmark's destination), or one
/// made fresh for each invocation so that the work is never a no-op.
#[derive(Clone, Copy)]
enum Feed {
    Sample(&'static str),
    /// An SQS message naming the destination's current version: the worker re-tests it.
    WorkerMessage,
    /// The sample stream record of an outbox entry, with the entry put back first.
    PendingEvent,
    /// A whole delivery request of the staged small file under a new delivery id, on the delivery
    /// queue (the previous one is checked to have been delivered first).
    DeliveryMessage,
    /// `POST /internal/deliveries` of the staged small file under a new delivery id.
    DeliveryRequest,
    /// CloudFormation's Create of the setup kit for the platform's kit bucket, answered to a
    /// local response URL.
    KitEvent,
}

/// What counts as done for each function (an answer that is not this stops the run).
#[derive(Clone, Copy)]
enum Done {
    /// Any answer on `/response` (hello-world's echo).
    Answered,
    /// API Gateway response with a 2xx status.
    Http2xx,
    /// A 200 whose body says the test passed.
    TestPassed,
    /// `{"queued": n}` with n ≥ 1.
    Queued,
    /// A batch response with no failed item.
    NoFailedItems,
    /// A custom resource's SUCCESS (its answer to CloudFormation was taken too).
    Succeeded,
}

struct Function {
    binary: &'static str,
    /// The template's logical id, for its environment and identity.
    logical_id: &'static str,
    feed: Feed,
    done: Done,
}

const FUNCTIONS: &[Function] = &[
    Function {
        binary: "destinations-api",
        logical_id: "DestinationsApiFunction",
        feed: Feed::Sample("destinations-get.json"),
        done: Done::Http2xx,
    },
    Function {
        binary: "policies-api",
        logical_id: "PoliciesApiFunction",
        feed: Feed::Sample("policies-get.json"),
        done: Done::Http2xx,
    },
    Function {
        binary: "test-connection",
        logical_id: "TestConnectionFunction",
        feed: Feed::Sample("connection-test.json"),
        done: Done::TestPassed,
    },
    Function {
        binary: "revalidate-scheduler",
        logical_id: "RevalidateSchedulerFunction",
        feed: Feed::Sample("revalidate-schedule.json"),
        done: Done::Queued,
    },
    Function {
        binary: "revalidate-worker",
        logical_id: "RevalidateWorkerFunction",
        feed: Feed::WorkerMessage,
        done: Done::NoFailedItems,
    },
    Function {
        binary: "revalidate-on-change",
        logical_id: "RevalidateOnChangeFunction",
        feed: Feed::Sample("revalidate-stream.json"),
        done: Done::Queued,
    },
    Function {
        binary: "publish-events",
        logical_id: "PublishEventsFunction",
        feed: Feed::PendingEvent,
        done: Done::NoFailedItems,
    },
    Function {
        binary: "deliver",
        logical_id: "DeliverFunction",
        feed: Feed::DeliveryMessage,
        done: Done::NoFailedItems,
    },
    Function {
        binary: "deliveries-api",
        logical_id: "DeliveriesApiFunction",
        feed: Feed::DeliveryRequest,
        done: Done::Http2xx,
    },
    Function {
        binary: "publish-kit",
        logical_id: "PublishKitFunction",
        feed: Feed::KitEvent,
        done: Done::Succeeded,
    },
    Function {
        binary: "setup-page",
        logical_id: "SetupPageFunction",
        feed: Feed::Sample("setup-page-get.json"),
        done: Done::Http2xx,
    },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn binary(name: &str) -> PathBuf {
    root().join("target/release").join(name)
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**MISSED**" }
}

/// The platform in the emulator with one saved role-mode destination (through the API, from its
/// rendered documents) that the sample events name, and one overdue for re-validation.
struct Bench {
    world: World,
    destination: String,
    /// The saved destination's bucket (the customer's, in the role account).
    bucket: String,
    /// The last delivery the deliver function was sent, to check before the next.
    last_delivery: std::sync::Mutex<Option<String>>,
    proxy: CountingProxy,
    /// Takes the setup kit's answers to CloudFormation (its pre-signed response URL).
    response_url: StandIn,
    /// Each function's environment, as the template sets it, with its own credentials.
    env: BTreeMap<&'static str, Vec<(String, String)>>,
}

impl Bench {
    async fn set_up() -> Bench {
        let emulator = dev_support::emulator::emulator();
        // A table without its stream, as the throughput rows use: fakecloud's stream bookkeeping
        // makes every write slower than the last (AWS's does not), and no row reads the stream
        // (the stream functions are fed their sample records).
        let options = Options {
            stream: false,
            ..Default::default()
        };
        let mut platform = Box::pin(EmulatedPlatform::create(emulator, options)).await;
        // The rate limits step aside for a thousand tests in a row.
        for limit in [
            "CREATES_PER_MINUTE",
            "MERGES_PER_MINUTE",
            "TEST_CONNECTIONS_PER_MINUTE",
            "REQUESTS_PER_MINUTE",
        ] {
            platform.set_env(limit, "1000000");
        }
        let services = Box::pin(Services::wire(&platform, quick_check_settings())).await;
        let dispatcher = dev_support::dispatch::Dispatcher::new(&platform);
        let world = World {
            platform,
            services,
            dispatcher,
        };
        let bucket = world.role_account_bucket().await;
        let created = world
            .api()
            .create(json!({"name": "Bench", "bucket": bucket, "folder": "bench", "authMode": "iamRole"}))
            .await;
        let destination = created["id"].as_str().unwrap().to_owned();
        let role = world.role_from_rendered(&destination).await;
        world
            .api()
            .patch(&destination, json!({"roleArn": role}))
            .await
            .expect(200);
        world.api().test(&destination).await.expect(200);
        world.api().save(&destination).await.expect(200);
        // And one saved long ago and never re-checked here: always due, so every scheduler run
        // has a check to queue.
        let overdue = DestinationBuilder::new(AuthModeKind::BucketPolicy)
            .tenant(TENANT)
            .bucket(&bucket)
            .owner(&world.customer_role_account().id)
            .saved();
        world
            .store()
            .create(NewRecord {
                destination: &overdue,
                activity: &ActivityEntry {
                    at: time::OffsetDateTime::now_utc(),
                    actor: Actor::new("bench").unwrap(),
                    activity: Activity::Created,
                    version: overdue.version(),
                },
                idempotency: None,
                cap: u32::MAX,
            })
            .await
            .unwrap();

        let proxy = CountingProxy::start(emulator.addr);
        let mut env = BTreeMap::new();
        for function in FUNCTIONS {
            let identity = world.platform.function(function.logical_id);
            let credentials = identity
                .config
                .credentials_provider()
                .expect("credentials")
                .provide_credentials()
                .await
                .expect("credentials");
            let mut vars: Vec<(String, String)> = identity
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            vars.extend([
                ("AWS_REGION".into(), dev_support::accounts::REGION.into()),
                (
                    "AWS_ACCESS_KEY_ID".into(),
                    credentials.access_key_id().into(),
                ),
                (
                    "AWS_SECRET_ACCESS_KEY".into(),
                    credentials.secret_access_key().into(),
                ),
                ("AWS_ENDPOINT_URL".into(), proxy.endpoint.clone()),
                // The deployed level (template.yaml: ApplicationLogLevel INFO).
                ("AWS_LAMBDA_LOG_LEVEL".into(), "INFO".into()),
            ]);
            env.insert(function.binary, vars);
        }
        env.insert(HELLO, vec![]);
        world
            .platform
            .account
            .s3()
            .put_object()
            .bucket(&world.platform.staging_bucket)
            .key(SMALL_STAGED_KEY)
            .body(aws_sdk_s3::primitives::ByteStream::from(vec![b'x'; 1024]))
            .send()
            .await
            .expect("staging the small file");
        Bench {
            world,
            destination,
            bucket,
            last_delivery: std::sync::Mutex::new(None),
            proxy,
            response_url: StandIn::start(BTreeMap::new()).await,
            env,
        }
    }

    fn tenant(&self) -> TenantId {
        TenantId::new(TENANT).unwrap()
    }

    fn id(&self) -> DestinationId {
        DestinationId::new(&self.destination).unwrap()
    }

    async fn version(&self) -> u64 {
        self.world
            .store()
            .get(&self.tenant(), &self.id())
            .await
            .unwrap()
            .expect("the bench destination")
            .version()
    }

    /// The next event for `feed`, and what must hold before it is sent.
    async fn event(&self, feed: Feed, last_version: &mut u64) -> Vec<u8> {
        match feed {
            Feed::Sample(file) => raw(file).replace(EVENT_DESTINATION_ID, &self.destination),
            Feed::KitEvent => {
                let mut event: Value =
                    serde_json::from_str(&raw("publish-kit-create.json")).unwrap();
                let platform = &self.world.platform;
                let deployed = &platform.function("TestConnectionFunction").env;
                event["ResponseURL"] = json!(format!(
                    "{}/cloudformation-response",
                    self.response_url.endpoint
                ));
                event["ResourceProperties"]["Bucket"] = json!(platform.kit_bucket);
                event["ResourceProperties"]["PlatformPrincipalArns"] =
                    json!(deployed["PLATFORM_PRINCIPAL_ARNS"]);
                event["ResourceProperties"]["WriterRoleArns"] = json!(deployed["WRITER_ROLE_ARNS"]);
                event.to_string()
            }
            Feed::WorkerMessage => {
                let version = self.version().await;
                assert!(
                    version > *last_version,
                    "the worker's last check did not store a result (version {version})"
                );
                *last_version = version;
                serde_json::to_string(&sqs_batch(&[RevalidationRequest {
                    tenant_id: self.tenant(),
                    destination_id: self.id(),
                    version,
                }]))
                .unwrap()
            }
            Feed::PendingEvent => {
                let event: Value =
                    serde_json::from_str(&raw("publish-events-stream.json")).unwrap();
                let image = event["Records"][0]["dynamodb"]["NewImage"].clone();
                let item: serde_dynamo::Item = serde_json::from_value(image).unwrap();
                let item: std::collections::HashMap<String, AttributeValue> = item.into();
                let dynamodb = self.world.dynamodb();
                let key: std::collections::HashMap<String, AttributeValue> = item
                    .iter()
                    .filter(|(k, _)| *k == "PK" || *k == "SK")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // The previous invocation published its entry and removed it.
                let left = dynamodb
                    .get_item()
                    .table_name(&self.world.platform.table)
                    .set_key(Some(key))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    left.item.is_none() || *last_version == 0,
                    "the publisher left its outbox entry"
                );
                *last_version += 1;
                dynamodb
                    .put_item()
                    .table_name(&self.world.platform.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .unwrap();
                raw("publish-events-stream.json")
            }
            Feed::DeliveryMessage => {
                let previous = self.last_delivery.lock().unwrap().take();
                if let Some(previous) = previous {
                    self.assert_delivered(&previous, 1024).await;
                }
                let id = unique("bench");
                *self.last_delivery.lock().unwrap() = Some(id.clone());
                delivery_message(&self.delivery_request(&id, SMALL_STAGED_KEY)).to_string()
            }
            Feed::DeliveryRequest => {
                let body = self.delivery_request(&unique("bench"), SMALL_STAGED_KEY);
                let mut event: Value =
                    serde_json::from_str(&raw("deliveries-request.json")).unwrap();
                event["body"] = json!(body.to_string());
                event.to_string()
            }
        }
        .into_bytes()
    }

    /// What an exporter asks for: `key` of the staging bucket delivered under `delivery_id`.
    fn delivery_request(&self, delivery_id: &str, key: &str) -> Value {
        json!({
            "tenantId": TENANT, "destinationId": self.destination, "deliveryId": delivery_id,
            "source": {"bucket": self.world.platform.staging_bucket, "key": key},
            "name": "bench.bin"
        })
    }

    /// Panics unless `delivery_id` was delivered whole; returns its object key.
    async fn assert_delivered(&self, delivery_id: &str, bytes: u64) -> String {
        let delivery = self
            .world
            .store()
            .delivery(
                &self.tenant(),
                &self.id(),
                &DeliveryId::new(delivery_id).unwrap(),
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("delivery {delivery_id} was never stored"));
        assert_eq!(delivery.status, DeliveryStatus::Delivered, "{delivery:?}");
        assert_eq!(
            delivery.written.as_ref().map(|w| w.bytes),
            Some(bytes),
            "{delivery:?}"
        );
        delivery.key
    }
}

/// The delivery queue's sample batch, holding one message: `request`.
fn delivery_message(request: &Value) -> Value {
    let mut event: Value = serde_json::from_str(&raw("deliver-sqs-batch.json")).unwrap();
    let mut record = event["Records"][0].clone();
    record["body"] = json!(request.to_string());
    event["Records"] = json!([record]);
    event
}

fn check_done(name: &str, done: Done, ok: bool, body: &[u8]) {
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let fine = ok
        && match done {
            Done::Answered => true,
            Done::Http2xx => answer["statusCode"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s)),
            Done::TestPassed => {
                answer["statusCode"] == 200
                    && answer["body"]
                        .as_str()
                        .and_then(|b| serde_json::from_str::<Value>(b).ok())
                        .is_some_and(|b| b["passed"] == true)
            }
            Done::Queued => answer["queued"].as_u64().is_some_and(|n| n >= 1),
            Done::NoFailedItems => answer["batchItemFailures"]
                .as_array()
                .is_some_and(Vec::is_empty),
            Done::Succeeded => answer["Status"] == "SUCCESS",
        };
    assert!(
        fine,
        "{name} did not do its work: {}",
        String::from_utf8_lossy(body)
    );
}

struct Running {
    name: &'static str,
    child: Child,
    stub: RuntimeStub,
}

impl Running {
    fn start(name: &'static str, env: &[(String, String)]) -> (Running, Duration) {
        let stub = RuntimeStub::start();
        let started = Instant::now();
        let child = Command::new(binary(name))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &stub.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{name}: {e}; run infra/bench.sh, which builds the release binaries")
            });
        let init = match stub.wait(Duration::from_secs(30)) {
            Some(Signal::Ready(at)) => at - started,
            _ => panic!("{name} never asked for an event"),
        };
        (Running { name, child, stub }, init)
    }

    /// Sends one event; returns how long the answer took, once it is checked to be `done`.
    fn invoke(&self, event: &[u8], done: Done) -> Duration {
        self.invoke_within(event, done, Duration::from_secs(60))
    }

    fn invoke_within(&self, event: &[u8], done: Done, limit: Duration) -> Duration {
        let sent = Instant::now();
        self.stub.send(event.to_vec());
        match self.stub.wait(limit) {
            Some(Signal::Answered { at, ok, body }) => {
                check_done(self.name, done, ok, &body);
                at - sent
            }
            _ => panic!("{} did not answer an event within {limit:?}", self.name),
        }
    }

    fn peak_rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// boto3's cold start for the same work: the interpreter, the import, and the three clients a
/// Python connection check would build.
fn boto3_init() -> Duration {
    let venv = root().join("target/tools/venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let started = Instant::now();
    let status = Command::new(python)
        .args([
            "-c",
            "import boto3; s = boto3.session.Session(region_name='us-east-1'); s.client('s3'); s.client('sts'); s.client('dynamodb')",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .status()
        .expect("python with boto3 (infra/bench.sh installs it)");
    assert!(status.success(), "boto3 baseline failed");
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Per round: exec → first `next`, exec → first event answered, and that event's warm latency
/// (the median of the next few of the same kind in the same process).
#[derive(Default)]
struct ColdRuns {
    first_next: Vec<f64>,
    first_answered: Vec<f64>,
    cold_cost: Vec<f64>,
}

async fn cold_start_section(bench: &Bench, report: &mut String) {
    let mut runs: BTreeMap<&str, ColdRuns> = BTreeMap::new();
    let mut boto = Vec::new();
    let hello = Function {
        binary: HELLO,
        logical_id: "",
        feed: Feed::Sample("revalidate-schedule.json"),
        done: Done::Answered,
    };
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for _ in 0..if quick() { 2 } else { ROUNDS } {
        for function in std::iter::once(&hello).chain(FUNCTIONS) {
            let last = versions.entry(function.binary).or_default();
            let first_event = bench.event(function.feed, last).await;
            let (running, init) = Running::start(function.binary, &bench.env[function.binary]);
            let first = running.invoke(&first_event, function.done);
            let mut warm = Vec::with_capacity(WARM_PER_ROUND);
            for _ in 0..WARM_PER_ROUND {
                let event = bench.event(function.feed, last).await;
                warm.push(ms(running.invoke(&event, function.done)));
            }
            drop(running);
            let entry = runs.entry(function.binary).or_default();
            entry.first_next.push(ms(init));
            entry.first_answered.push(ms(init + first));
            entry.cold_cost.push(ms(init + first) - median(&warm));
        }
        boto.push(ms(boto3_init()));
    }
    let hello_cost = median(&runs[HELLO].cold_cost);
    let boto_median = median(&boto);
    writeln!(report, "## Cold start ({ROUNDS} alternating runs, ms)\n\nJudged on what a caller waits for: exec → first event answered, less the same event's warm latency in the same process (the median of the {WARM_PER_ROUND} that follow), so work left to the first request counts. Each function's first event is real work against the emulator (see the warm table); hello-world echoes its event. exec → first `next` is kept for comparison.\n\n| binary | cold cost median | min | max | over hello-world | boto3 ÷ this | goal (≤ +3 ms, ≥ 50× boto3) | first event answered, median | first `next`, median |\n|---|---|---|---|---|---|---|---|---|").unwrap();
    for (name, run) in &runs {
        let cost = median(&run.cold_cost);
        let met = *name == HELLO || (cost - hello_cost <= 3.0 && boto_median / cost >= 50.0);
        writeln!(
            report,
            "| {name} | {cost:.2} | {:.2} | {:.2} | {:+.2} | {:.0}× | {} | {:.2} | {:.2} |",
            percentile(&run.cold_cost, 0.0),
            percentile(&run.cold_cost, 1.0),
            cost - hello_cost,
            boto_median / cost,
            if *name == HELLO {
                "baseline"
            } else {
                verdict(met)
            },
            median(&run.first_answered),
            median(&run.first_next),
        )
        .unwrap();
    }
    writeln!(
        report,
        "| boto3 (interpreter, import, S3, STS and DynamoDB clients) | {boto_median:.1} | {:.1} | {:.1} | | | baseline | | |\n",
        percentile(&boto, 0.0),
        percentile(&boto, 1.0)
    )
    .unwrap();
}

/// The same lambda_http function routing by our table and by axum (dev/bench-router).
const ROUTER_TABLE: &str = "bench-router-table";
const ROUTER_AXUM: &str = "bench-router-axum";
/// More rounds than the functions': the difference judged is a fraction of a millisecond.
const ROUTER_ROUNDS: usize = 60;

/// Issue 27's question: does axum's router, the Rust Lambda ecosystem's usual choice, cost more
/// than +0.3 ms of cold start or +300 KB of binary over our own route table?
async fn router_section(report: &mut String) {
    let event = raw("destinations-get.json").into_bytes();
    let mut runs: BTreeMap<&str, ColdRuns> = BTreeMap::new();
    for _ in 0..if quick() { 2 } else { ROUTER_ROUNDS } {
        for name in [HELLO, ROUTER_TABLE, ROUTER_AXUM] {
            let done = if name == HELLO {
                Done::Answered
            } else {
                Done::Http2xx
            };
            let (running, init) = Running::start(name, &[]);
            let first = running.invoke(&event, done);
            let warm: Vec<f64> = (0..WARM_PER_ROUND)
                .map(|_| ms(running.invoke(&event, done)))
                .collect();
            drop(running);
            let entry = runs.entry(name).or_default();
            entry.first_next.push(ms(init));
            entry.first_answered.push(ms(init + first));
            entry.cold_cost.push(ms(init + first) - median(&warm));
        }
    }
    let arm = |name: &str| file_size_mb(&root().join("target/lambda").join(name).join("bootstrap"));
    let kb = |mb: Option<f64>| mb.map(|mb| mb * 1024.0);
    let cost = |name: &str| median(&runs[name].cold_cost);
    let extra_ms = cost(ROUTER_AXUM) - cost(ROUTER_TABLE);
    let extra_x86_kb = kb(file_size_mb(&binary(ROUTER_AXUM)))
        .zip(kb(file_size_mb(&binary(ROUTER_TABLE))))
        .map(|(axum, table)| axum - table);
    let extra_arm_kb = kb(arm(ROUTER_AXUM))
        .zip(kb(arm(ROUTER_TABLE)))
        .map(|(axum, table)| axum - table);
    writeln!(report, "## Router: axum beside our route table ({ROUTER_ROUNDS} alternating runs)\n\nTwo builds of one lambda_http function that routes `destinations-get.json` and answers with the route it found: one by matching `ROUTES`' templates segment by segment (how the API functions routed before they adopted axum, kept in `dev/bench-router`), one by an axum 0.8 `Router` (default features off) holding the same routes, as the functions now route. The axum build reads its routes from the table, so both link it and the difference is axum's own. Cold cost as in the cold-start table: exec → first event answered, less that event's warm latency. Adopt axum unless it costs more than +0.3 ms or +300 KB.\n\n| binary | cold cost median ms | min | max | first event answered, median | x86_64 KB | arm64 KB |\n|---|---|---|---|---|---|---|").unwrap();
    let show = |v: Option<f64>| v.map_or_else(|| "not built".into(), |v| format!("{v:.0}"));
    for name in [HELLO, ROUTER_TABLE, ROUTER_AXUM] {
        let run = &runs[name];
        writeln!(
            report,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            cost(name),
            percentile(&run.cold_cost, 0.0),
            percentile(&run.cold_cost, 1.0),
            median(&run.first_answered),
            show(kb(file_size_mb(&binary(name)))),
            show(kb(arm(name))),
        )
        .unwrap();
    }
    let verdict = match (extra_x86_kb, extra_arm_kb) {
        (Some(x86), Some(arm)) if extra_ms <= 0.3 && x86 <= 300.0 && arm <= 300.0 => {
            "within the budget: adopt axum"
        }
        (Some(_), Some(_)) => "**over the budget**: the API keeps its own route table",
        _ => "not judged: a build is missing (infra/bench.sh builds both for arm64 too)",
    };
    writeln!(
        report,
        "\naxum over the table: {extra_ms:+.2} ms cold, {} KB x86_64, {} KB arm64: {verdict}.\n",
        show(extra_x86_kb),
        show(extra_arm_kb),
    )
    .unwrap();
}

fn file_size_mb(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / 1_048_576.0)
}

fn size_section(report: &mut String) {
    writeln!(report, "## Size (stripped `bootstrap`, MB)\n\n| function | x86_64 (target/release) | arm64 (cargo lambda, target/lambda) | goal ≤ 8 MB |\n|---|---|---|---|").unwrap();
    for name in std::iter::once(HELLO).chain(FUNCTIONS.iter().map(|f| f.binary)) {
        let x86 = file_size_mb(&binary(name));
        // Where `cargo lambda build --release --arm64` (infra/bench.sh) puts each function.
        let arm = file_size_mb(&root().join("target/lambda").join(name).join("bootstrap"));
        let show = |v: Option<f64>| {
            v.map(|mb| format!("{mb:.2}"))
                .unwrap_or_else(|| "not built".into())
        };
        let met = x86.is_some_and(|mb| mb <= 8.0) && arm.is_some_and(|mb| mb <= 8.0);
        writeln!(
            report,
            "| {name} | {} | {} | {} |",
            show(x86),
            show(arm),
            verdict(met)
        )
        .unwrap();
    }
    writeln!(report).unwrap();
}

async fn warm_section(bench: &Bench, report: &mut String) {
    writeln!(report, "## Warm invocations against the emulator ({WARM_INVOCATIONS} per function, through the runtime stub, logs at INFO)\n\nEach invocation is checked to have done its work before the next (2xx, a passed test, a queued check, a stored re-test, a published event); the AWS calls are counted at a proxy in front of the emulator around every invocation, first included, and shown as the mean per invocation. The table has no stream, as in the throughput rows (fakecloud's stream bookkeeping makes every write slower than the last; AWS's does not; the stream functions are fed their sample records). The emulator keeps what every invocation leaves behind (queued messages, stored deliveries and results); the p50 of the first and of the last 100 invocations shows which rows slow down as it fills.\n\n| function (what each invocation does) | p50 ms | p99 ms | p50 first 100 → last 100 | peak RSS MB (goal ≤ 32) | AWS calls per invocation (mean) |\n|---|---|---|---|---|---|").unwrap();
    for function in FUNCTIONS {
        let mut last = 0;
        let (running, _) = Running::start(function.binary, &bench.env[function.binary]);
        // Calls are counted around each invocation (not while its event is prepared), over all
        // of them: the first warms caches that later ones may not need, and a retry or a lease
        // taken again shows only over many.
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        let invocations = if quick() { 20 } else { WARM_INVOCATIONS };
        let mut latencies = Vec::with_capacity(invocations);
        for _ in 0..=invocations {
            let event = bench.event(function.feed, &mut last).await;
            bench.proxy.counts.take();
            let took = ms(running.invoke(&event, function.done));
            for (service, n) in bench.proxy.counts.take() {
                *calls.entry(service).or_default() += n;
            }
            latencies.push(took);
        }
        // The first invocation's latency belongs to the cold-start table.
        latencies.remove(0);
        let rss = running.peak_rss_kb() as f64 / 1024.0;
        let calls: Vec<String> = calls
            .iter()
            .map(|(s, n)| format!("{s} {:.2}", *n as f64 / (invocations + 1) as f64))
            .collect();
        let what = match function.feed {
            Feed::Sample(file) => file.to_owned(),
            Feed::WorkerMessage => "re-tests the destination (SQS message of its version)".into(),
            Feed::PendingEvent => "publishes one pending outbox event".into(),
            Feed::DeliveryMessage => "delivers a 1 KiB staged file (queue message)".into(),
            Feed::DeliveryRequest => "accepts and queues a delivery request".into(),
            Feed::KitEvent => "publishes the setup kit (CloudFormation Create)".into(),
        };
        let window = latencies.len().min(100);
        writeln!(
            report,
            "| {} ({what}) | {:.2} | {:.2} | {:.2} → {:.2} | {rss:.1} {} | {} |",
            function.binary,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            percentile(&latencies[..window], 0.5),
            percentile(&latencies[latencies.len() - window..], 0.5),
            verdict(rss <= 32.0),
            calls.join(", ")
        )
        .unwrap();
    }
    let create = raw("destinations-create-bucket-policy.json").into_bytes();
    let (running, _) = Running::start("destinations-api", &bench.env["destinations-api"]);
    bench.proxy.counts.take();
    running.invoke(&create, Done::Http2xx);
    let create_calls: u64 = bench.proxy.counts.take().values().sum();
    writeln!(report, "\nCreate (`destinations-create-bucket-policy.json`): {create_calls} AWS call(s): the destination, its activity entry, its idempotency record and the tenant's count in one transaction, plus one counter each for the tenant's request quota (every route) and its create rate limit (goal 2: {}).\n", verdict(create_calls <= 2)).unwrap();
}

fn criterion_median_ns(group: &str) -> Option<f64> {
    let path = root()
        .join("target/criterion")
        .join(group)
        .join("new/estimates.json");
    let estimates: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn rendering_section(report: &mut String) {
    match (
        criterion_median_ns("render/iam_role_documents"),
        criterion_median_ns("render/baseline_serialise_same_json"),
    ) {
        (Some(render), Some(baseline)) => writeln!(
            report,
            "## Policy rendering (criterion medians)\n\nRendering a role destination's documents: {:.2} µs; serialising the same JSON from a prebuilt value: {:.2} µs ({:.1}×). Goal p50 ≤ 20 µs: {}.\n",
            render / 1000.0,
            baseline / 1000.0,
            render / baseline,
            verdict(render / 1000.0 <= 20.0)
        )
        .unwrap(),
        _ => writeln!(report, "## Policy rendering\n\nNo criterion results in target/criterion: run `cargo bench -p shared --bench render` (infra/bench.sh does).\n").unwrap(),
    }
}

/// What the worker is given on AWS (template.yaml): SQS batches of 10, 8 checks at a time per
/// invocation, at most 8 invocations at a time (the event source's MaximumConcurrency).
const SQS_BATCH_SIZE: usize = 10;
const WORKER_CONCURRENCY: usize = 8;
const CONCURRENT_INVOCATIONS: usize = 8;

/// Round trips added to every request when modelling AWS, typical of calls inside one region.
const DESTINATIONS_PER_BUCKET: usize = 100;
const MODELLED_ROUND_TRIP_MS: [(&str, u64); 3] = [("dynamodb", 5), ("s3", 20), ("sts", 15)];

struct Throughput {
    sequential_per_s: f64,
    concurrent_per_s: f64,
    /// Requests per check and mean round trip to the emulator, per service.
    calls: BTreeMap<String, (f64, Duration)>,
}

/// Where the worker's calls go in a throughput row.
#[derive(Clone, Copy)]
enum Backend<'a> {
    /// The emulator, through a counting proxy (which may hold each request for a modelled round
    /// trip before forwarding it).
    Emulator(&'a CountingProxy),
    /// The stand-in: modelled round trips, and no emulator sharing the machine's cores.
    StandIn(&'a StandIn),
}

impl Backend<'_> {
    fn endpoint(&self) -> &str {
        match self {
            Backend::Emulator(proxy) => &proxy.endpoint,
            Backend::StandIn(stand_in) => &stand_in.endpoint,
        }
    }

    fn counts(&self) -> &counting_proxy::Counts {
        match self {
            Backend::Emulator(proxy) => &proxy.counts,
            Backend::StandIn(stand_in) => &stand_in.counts,
        }
    }

    /// How many of the `n` are checked one batch after another. Against the stand-in a check's
    /// time does not depend on N, so 500 of them tell the sequential rate.
    fn sequential_share(&self, n: usize) -> usize {
        match self {
            Backend::Emulator(_) => n / 2,
            Backend::StandIn(_) => (n / 2).min(500),
        }
    }
}

/// `n` saved bucket-policy destinations whose buckets' policies grant their writer sessions;
/// some are re-tested by the worker's handler one batch after another with concurrency 1, the
/// rest as deployed. The worker is wired by its own `wire`, talking to `backend`.
async fn throughput(n: usize, backend: Backend<'_>) -> Throughput {
    // A platform of its own whose table has no stream: fakecloud keeps a table's stream records in
    // one list and trims it on every write, so each write costs time linear in the writes before
    // it, which AWS's streams do not. The worker never reads the stream. Its functions' identities
    // are built from template.yaml for this table, as everywhere else.
    let emulator = dev_support::emulator::emulator();
    let platform = &EmulatedPlatform::create(
        emulator,
        Options {
            stream: false,
            ..Default::default()
        },
    )
    .await;
    // Customers' buckets of DESTINATIONS_PER_BUCKET destinations each, every bucket's policy one
    // statement naming each of its destinations' writer sessions (as the rendered policies do;
    // 100 session ARNs keep a policy well under S3's 20 KB). The stand-in keeps no buckets.
    let customer = match backend {
        Backend::Emulator(_) => Some(dev_support::accounts::Account::create(emulator).await),
        Backend::StandIn(stand_in) => {
            stand_in.clear();
            None
        }
    };
    let owner = customer.as_ref().map_or("210987654321", |c| c.id.as_str());
    let identity = platform.platform_identity();
    let destinations: Vec<_> = (0..n)
        .map(|i| {
            DestinationBuilder::new(AuthModeKind::BucketPolicy)
                .tenant(&format!("tp-{}", i % 50))
                .bucket(&format!("tp-{owner}-{}", i / DESTINATIONS_PER_BUCKET))
                .folder("tp")
                .owner(owner)
                .saved()
        })
        .collect();
    if let Some(customer) = &customer {
        grant_writer_sessions(customer, &identity, &destinations).await;
    }
    let table = platform.table.clone();
    let seeding_client = match backend {
        Backend::Emulator(_) => platform.account.dynamodb(),
        Backend::StandIn(_) => aws_sdk_dynamodb::Client::new(
            &platform
                .account
                .admin
                .to_builder()
                .endpoint_url(backend.endpoint())
                .build(),
        ),
    };
    let seeding = DynamoDbStore::new(seeding_client, table.clone(), Default::default());
    let seeded = seed(&seeding, &destinations).await;
    if let Backend::StandIn(stand_in) = backend {
        stand_in.model_latency(true);
    }
    let t = run_checks(platform, backend, &seeded).await;
    if let Backend::StandIn(stand_in) = backend {
        stand_in.model_latency(false);
    }
    t
}

/// Each bucket's policy: one statement naming each of its destinations' writer sessions.
async fn grant_writer_sessions(
    customer: &dev_support::accounts::Account,
    identity: &shared::domain::PlatformIdentity,
    destinations: &[shared::domain::Destination],
) {
    futures::stream::iter(destinations.chunks(DESTINATIONS_PER_BUCKET))
        .for_each_concurrent(8, |group| {
            let (customer, identity) = (&customer, &identity);
            async move {
                let bucket = group[0].configuration().bucket.to_string();
                customer.create_bucket(&bucket).await;
                let sessions: Vec<String> = group
                    .iter()
                    .map(|d| {
                        identity
                            .writer_session(d.configuration().partition(), d.id())
                            .expect("the platform writes in this partition")
                            .to_string()
                    })
                    .collect();
                let policy = json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": sessions},
                    "Action": "s3:PutObject",
                    "Resource": format!("arn:aws:s3:::{bucket}/tp/*"),
                    "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
                }]});
                customer
                    .put_bucket_policy(&bucket, &policy.to_string())
                    .await;
            }
        })
        .await;
}

/// The destinations stored as saved, each with what re-validation would queue for it.
async fn seed(
    seeding: &DynamoDbStore,
    destinations: &[shared::domain::Destination],
) -> Vec<RevalidationRequest> {
    futures::stream::iter(destinations)
        .map(|destination| async move {
            let activity = ActivityEntry {
                at: time::OffsetDateTime::now_utc(),
                actor: Actor::new("bench").unwrap(),
                activity: Activity::Created,
                version: destination.version(),
            };
            seeding
                .create(NewRecord {
                    destination,
                    activity: &activity,
                    idempotency: None,
                    cap: u32::MAX,
                })
                .await
                .unwrap();
            RevalidationRequest {
                tenant_id: destination.tenant().clone(),
                destination_id: destination.id().clone(),
                version: destination.version(),
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// The worker's handler over `seeded`: a share one batch after another, the rest as deployed;
/// every check verified to have passed and been stored.
async fn run_checks(
    platform: &EmulatedPlatform,
    backend: Backend<'_>,
    seeded: &[RevalidationRequest],
) -> Throughput {
    let n = seeded.len();
    let table = platform.table.clone();
    let identity = platform.function(WORKER);
    let config = identity
        .config
        .to_builder()
        .endpoint_url(backend.endpoint())
        .build();
    let env = identity.env.clone();
    let settings = shared::config::Settings(move |name: &str| {
        if name == "TABLE_NAME" {
            Some(table.clone())
        } else {
            env.get(name).cloned()
        }
    });
    let worker = revalidate_worker::wire(&settings, &config, quick_check_settings())
        .await
        .expect("worker configuration");
    let checker = worker.checker();
    let checker = &checker;
    let (first, second) = seeded.split_at(backend.sequential_share(n));
    backend.counts().take();

    let started = Instant::now();
    for batch in first.chunks(SQS_BATCH_SIZE) {
        let response = revalidate_worker::handler::handle(checker, 1, sqs_batch(batch)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let sequential = started.elapsed().as_secs_f64();

    let started = Instant::now();
    futures::stream::iter(second.chunks(SQS_BATCH_SIZE))
        .map(|batch| {
            revalidate_worker::handler::handle(checker, WORKER_CONCURRENCY, sqs_batch(batch))
        })
        .buffer_unordered(CONCURRENT_INVOCATIONS)
        .for_each(|response| async move {
            assert!(response.batch_item_failures.is_empty());
        })
        .await;
    let concurrent = started.elapsed().as_secs_f64();
    let calls = backend
        .counts()
        .take_timed()
        .into_iter()
        .map(|(service, (count, mean))| (service, (count as f64 / n as f64, mean)))
        .collect();

    // The checks really ran and passed (a skipped or failed check would flatter the numbers).
    for request in seeded.iter().step_by((n / 20).max(1)) {
        let stored = worker
            .store
            .get(&request.tenant_id, &request.destination_id)
            .await
            .unwrap()
            .expect("seeded destination");
        assert_eq!(stored.version(), request.version + 1, "checked once");
        assert_eq!(
            stored.status(),
            shared::domain::Status::Verified,
            "the check passed: {:?}",
            stored.revalidation()
        );
    }
    Throughput {
        sequential_per_s: first.len() as f64 / sequential,
        concurrent_per_s: second.len() as f64 / concurrent,
        calls,
    }
}

async fn throughput_section(report: &mut String, fresh_machine: &str) {
    let emulator = dev_support::emulator::emulator();
    let modelled_latency: BTreeMap<&'static str, Duration> = MODELLED_ROUND_TRIP_MS
        .iter()
        .map(|(service, ms)| (*service, Duration::from_millis(*ms)))
        .collect();
    let measured = CountingProxy::start(emulator.addr);
    let modelled = CountingProxy::with_latency(emulator.addr, modelled_latency.clone());
    let stand_in = StandIn::start(modelled_latency).await;
    let added: Vec<String> = MODELLED_ROUND_TRIP_MS
        .iter()
        .map(|(s, ms)| format!("{s} {ms} ms"))
        .collect();
    let added = added.join(", ");
    writeln!(report, "## Re-validation throughput (destinations per second)\n\nThe worker's handler, wired by its own `wire`, over saved bucket-policy destinations. Sequential: batches of {SQS_BATCH_SIZE} with concurrency 1, one invocation after another. Concurrent: as deployed, {CONCURRENT_INVOCATIONS} invocations at a time, each {WORKER_CONCURRENCY} checks at a time. Every check is verified to have passed and been stored; the calls are those counted per check, over all of them.\n\n- **Stand-in** (judged): a minimal local stand-in for DynamoDB, STS and S3 (`tests/support/stand_in.rs`) answers each request after AWS's modelled round trip ({added}); it keeps items in memory and evaluates the store's condition expressions, so the worker does all its work, and no emulator shares the machine's 2 cores with it. The ratio measures how well the worker overlaps AWS's waiting. 500 destinations are checked sequentially (a check's time does not depend on N), the rest concurrently.\n- **Emulator** (not judged, kept beside it): fakecloud on a fresh table without its stream (its stream bookkeeping costs every write time linear in the writes before it; AWS's does not), through a proxy, as measured and with the modelled round trips added before forwarding; half of N each way. The emulator's own work is in every round trip and shares the two cores with the checks.\n\n| N | backend | calls per check (mean round trip) | sequential /s | concurrent /s | ratio (goal ≥ 20×) | s per 1,000 concurrent |\n|---|---|---|---|---|---|---|").unwrap();
    let stand_in_sizes: &[usize] = if quick() {
        &[100, 200]
    } else {
        &[1_000, 4_000, 10_000]
    };
    let emulator_sizes: &[usize] = if quick() { &[100] } else { &[1_000, 4_000] };
    let mut rows: Vec<(usize, &str, Backend<'_>, bool)> = Vec::new();
    for &n in stand_in_sizes {
        rows.push((
            n,
            "stand-in, modelled AWS",
            Backend::StandIn(&stand_in),
            true,
        ));
    }
    for &n in emulator_sizes {
        rows.push((
            n,
            "emulator, as measured",
            Backend::Emulator(&measured),
            false,
        ));
        rows.push((
            n,
            "emulator + modelled AWS",
            Backend::Emulator(&modelled),
            false,
        ));
    }
    // Seconds per 1,000 concurrent checks against the stand-in, per N.
    let mut judged_rows: Vec<(usize, f64)> = Vec::new();
    for (n, label, backend, judged) in rows {
        let t = throughput(n, backend).await;
        let ratio = t.concurrent_per_s / t.sequential_per_s;
        let per_thousand = 1000.0 / t.concurrent_per_s;
        let goal = if judged {
            judged_rows.push((n, per_thousand));
            verdict(ratio >= 20.0).to_owned()
        } else {
            "not judged: the emulator's work is in every round trip".to_owned()
        };
        let calls: Vec<String> = t
            .calls
            .iter()
            .map(|(s, (per, mean))| format!("{s} {per:.2} ({:.1} ms)", ms(*mean)))
            .collect();
        writeln!(
            report,
            "| {n} | {label} | {} | {:.0} | {:.0} | {ratio:.1}× {goal} | {per_thousand:.2} |",
            calls.join(", "),
            t.sequential_per_s,
            t.concurrent_per_s,
        )
        .unwrap();
        save(report, fresh_machine);
    }
    if let (Some(first), Some(last)) = (judged_rows.first(), judged_rows.last()) {
        // Linear: the time per 1,000 stays within a quarter of itself as N grows.
        let linear = last.1 <= first.1 * 1.25;
        writeln!(report, "\nLinear in N (time per 1,000 concurrent checks against the stand-in, within 25% from N = {} to {}): {} ({:.2} s → {:.2} s).\n", first.0, last.0, verdict(linear), first.1, last.1).unwrap();
    }
}

const MIB: u64 = 1 << 20;

/// The file of the throughput and memory rows (the goal is for 1 GiB).
fn delivery_bytes() -> u64 {
    if quick() { 64 * MIB } else { 1024 * MIB }
}
const DELIVERY_ROUNDS: usize = 3;
/// The file of the part-size rows, and the `(part MiB, parts in flight)` tried on it: each within
/// the 64 MB memory goal, `(in flight + 1) × part` being what a multipart upload holds.
fn sweep_bytes() -> u64 {
    if quick() { 32 * MIB } else { 256 * MIB }
}
const SWEEP: &[(u64, usize)] = &[(5, 8), (8, 2), (8, 4), (8, 6), (16, 2), (16, 3)];
const SWEEP_ROUNDS: usize = 2;

/// A local file of `bytes` pseudo-random bytes (xorshift: nothing compresses or dedups it).
fn random_file(bytes: u64) -> PathBuf {
    use std::io::Write;
    let path = root().join(format!("target/bench-delivery-{}.bin", bytes / MIB));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes) {
        return path;
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut chunk = vec![0u8; MIB as usize];
    for _ in 0..bytes / MIB {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
    path
}

impl Bench {
    /// Puts `path` into the staging bucket as the exporter would; returns its key.
    async fn stage(&self, path: &Path) -> String {
        let key = format!(
            "{TENANT}/bench/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        self.world
            .platform
            .account
            .s3()
            .put_object()
            .bucket(&self.world.platform.staging_bucket)
            .key(&key)
            .body(
                aws_sdk_s3::primitives::ByteStream::from_path(path)
                    .await
                    .unwrap(),
            )
            .send()
            .await
            .expect("staging the file");
        key
    }

    /// Removes a delivered object (the emulator keeps objects in memory).
    async fn remove(&self, key: &str) {
        self.world
            .customer_role_account()
            .s3()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("removing a delivered object");
    }
}

/// `aws s3 cp` of `path` into the destination's bucket with the customer's own credentials, from
/// exec to exit.
fn aws_s3_cp(bench: &Bench, path: &Path, key: &str) -> Duration {
    let account = bench.world.customer_role_account();
    let started = Instant::now();
    let status = Command::new(root().join("target/tools/venv/bin/aws"))
        .args(["s3", "cp", "--only-show-errors"])
        .arg(path)
        .arg(format!("s3://{}/{key}", bench.bucket))
        .env("AWS_ACCESS_KEY_ID", &account.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &account.secret_access_key)
        .env("AWS_DEFAULT_REGION", dev_support::accounts::REGION)
        .env("AWS_ENDPOINT_URL", &bench.world.platform.endpoint)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .status()
        .expect("the AWS CLI (infra/bench.sh installs it)");
    let took = started.elapsed();
    assert!(status.success(), "aws s3 cp failed");
    took
}

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / MIB as f64 / took.as_secs_f64()
}

async fn delivery_section(bench: &Bench, report: &mut String) {
    let bytes = delivery_bytes();
    let file = random_file(bytes);
    let staged = bench.stage(&file).await;
    // Straight to the emulator, as `aws s3 cp` goes: not through the counting proxy.
    let mut env = bench.env["deliver"].clone();
    for (name, value) in &mut env {
        if name == "AWS_ENDPOINT_URL" {
            value.clone_from(&bench.world.platform.endpoint);
        }
    }
    let (mut ours, mut theirs, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..if quick() { 1 } else { DELIVERY_ROUNDS } {
        let id = unique("large");
        let event = delivery_message(&bench.delivery_request(&id, &staged)).to_string();
        let (running, init) = Running::start("deliver", &env);
        let took = running.invoke_within(
            event.as_bytes(),
            Done::NoFailedItems,
            Duration::from_secs(900),
        );
        rss.push(running.peak_rss_kb() as f64 / 1024.0);
        drop(running);
        let key = bench.assert_delivered(&id, bytes).await;
        bench.remove(&key).await;
        ours.push(mib_per_s(bytes, init + took));
        let key = format!("bench/cp-{id}.bin");
        theirs.push(mib_per_s(bytes, aws_s3_cp(bench, &file, &key)));
        bench.remove(&key).await;
    }
    let (ours, theirs, rss) = (median(&ours), median(&theirs), percentile(&rss, 1.0));
    let stream = StreamSettings::default();
    writeln!(report, "## Delivery ({} MiB file, {DELIVERY_ROUNDS} alternating runs)\n\nThe deliver binary through the runtime stub, from exec to its answer, for a queue message asking for the staged file: it assumes the customer's role, reads the file from the staging bucket and writes it into the destination as a multipart upload ({} MiB parts, {} in flight, full-object CRC-64/NVME), then stores the record (checked: delivered, every byte). Beside it `aws s3 cp` of the same file from the local disk into the same bucket, with the customer's own credentials (AWS CLI defaults: 8 MiB parts, 10 requests in flight), from exec to exit. Both against the same emulator, which shares the machine's 2 cores; the delivery also reads the file, which `aws s3 cp` does not.\n\n| | MiB/s (median) | ratio (goal ≥ 1.0×) | peak RSS MB (goal ≤ 64) |\n|---|---|---|---|\n| deliver | {ours:.0} | {:.2}× {} | {rss:.1} {} |\n| aws s3 cp | {theirs:.0} | baseline | |\n", bytes / MIB, stream.part_size / MIB, stream.concurrency, ours / theirs, verdict(ours / theirs >= 1.0), verdict(rss <= 64.0)).unwrap();

    // Part size and parts in flight, in process: the function's own wiring with each setting.
    let sweep = sweep_bytes();
    let staged = bench.stage(&random_file(sweep)).await;
    let identity = bench
        .world
        .platform
        .function(dev_support::services::DELIVER);
    let mut worker = deliver::wire(&identity.settings(), &identity.config)
        .await
        .expect("the deliver function's wiring");
    writeln!(report, "Part size and parts in flight, chosen here: the same delivery of a {} MiB file through the function's handler and wiring, in this process, {SWEEP_ROUNDS} runs each (median). Memory held is at most (in flight + 1) × part.\n\n| part MiB | in flight | memory bound MiB | MiB/s | |\n|---|---|---|---|---|", sweep / MIB).unwrap();
    let mut rows = Vec::new();
    for &(part, in_flight) in if quick() { &SWEEP[..2] } else { SWEEP } {
        worker.stream = StreamSettings {
            part_size: part * MIB,
            concurrency: in_flight,
            ..StreamSettings::default()
        };
        let mut rates = Vec::new();
        for _ in 0..SWEEP_ROUNDS {
            let id = unique("sweep");
            let event =
                serde_json::from_value(delivery_message(&bench.delivery_request(&id, &staged)))
                    .unwrap();
            let started = Instant::now();
            let response = deliver::handler::deliver_messages(
                &worker.deliverer(),
                &worker.staging_bucket,
                event,
            )
            .await;
            let took = started.elapsed();
            assert!(
                response.batch_item_failures.is_empty(),
                "the delivery failed"
            );
            let key = bench.assert_delivered(&id, sweep).await;
            bench.remove(&key).await;
            rates.push(mib_per_s(sweep, took));
        }
        rows.push((part, in_flight, median(&rates)));
    }
    let best = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    for (part, in_flight, rate) in rows {
        let chosen = part * MIB == stream.part_size && in_flight == stream.concurrency;
        writeln!(
            report,
            "| {part} | {in_flight} | {} | {rate:.0} | {}{:.0}% of the best |",
            (in_flight as u64 + 1) * part,
            if chosen { "**deployed**: " } else { "" },
            rate / best * 100.0
        )
        .unwrap();
    }
    writeln!(report).unwrap();
}

/// Written after every section, so an interrupted run still leaves what it measured, followed by
/// the fresh-machine section, which infra/fresh-machine.sh measures and this keeps.
fn save(report: &str, fresh_machine: &str) {
    if quick() {
        return;
    }
    std::fs::write(
        root().join("BENCHMARKS.md"),
        format!("{report}{fresh_machine}"),
    )
    .expect("writing BENCHMARKS.md");
}

/// What the file says of itself. Each section's stamp names the emulator build it ran against
/// (infra/bench.sh exports it), since sections are measured at different times.
const HEADER: &str = "Written by `infra/bench.sh` (tests/benches/functions.rs) on a 2-core machine, against fakecloud 0.51.0 on loopback. Every number sits beside its baseline from the same run. A section may be measured on its own (`BENCH_SECTIONS=cold,size,router,warm,rendering,delivery,cost,throughput`); each says under it when, at which commit and against which build of the emulator it was measured (a line that names no build ran against its release profile as published, opt-level 3; a section without that line is from an earlier full run).";

/// The sections, by the start of their heading, in the file's order.
const SECTIONS: [(&str, &str); 8] = [
    ("cold", "## Cold start"),
    ("size", "## Size"),
    ("router", "## Router"),
    ("warm", "## Warm invocations"),
    ("rendering", "## Policy rendering"),
    ("delivery", "## Delivery"),
    ("cost", "## Our own cost beside boto3's"),
    ("throughput", "## Re-validation throughput"),
];

/// `BENCH_SECTIONS=cold,warm,…` measures only those sections (names in [`SECTIONS`]); the others
/// stay as BENCHMARKS.md has them.
fn measured(section: &str) -> bool {
    std::env::var("BENCH_SECTIONS")
        .map(|list| list.split(',').any(|s| s.trim() == section))
        .unwrap_or(true)
}

/// The section under `heading` in `text`, up to the next one.
fn section_of(text: &str, heading: &str) -> Option<String> {
    let at = text.find(&format!("\n{heading}"))? + 1;
    let end = text[at + 1..]
        .find("\n## ")
        .map_or(text.len(), |i| at + 1 + i + 1);
    Some(text[at..end].to_owned())
}

/// When and from which commit a section was measured, under it.
fn stamp(report: &mut String) {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let changed = git(&["status", "--porcelain", "--", ".", ":!BENCHMARKS.md"]);
    let emulator = std::env::var("BENCH_EMULATOR_BUILD")
        .map(|build| format!(", against fakecloud built with {build}"))
        .unwrap_or_default();
    writeln!(
        report,
        "_Measured {} at commit {commit}{}{emulator}._\n",
        time::OffsetDateTime::now_utc().date(),
        if changed.is_empty() {
            ""
        } else {
            " with uncommitted changes"
        }
    )
    .unwrap();
}

#[tokio::main]
async fn main() {
    let previous = std::fs::read_to_string(root().join("BENCHMARKS.md")).unwrap_or_default();
    let fresh_machine = section_of(&previous, "## A fresh machine").unwrap_or_default();
    let mut report = format!("# Benchmarks\n\n{HEADER}\n\n",);
    let bench = Box::pin(Bench::set_up()).await;
    for (name, heading) in SECTIONS {
        if !measured(name) {
            report.push_str(&section_of(&previous, heading).unwrap_or_default());
            continue;
        }
        match name {
            "cold" => cold_start_section(&bench, &mut report).await,
            "size" => size_section(&mut report),
            "router" => router_section(&mut report).await,
            "warm" => warm_section(&bench, &mut report).await,
            "rendering" => rendering_section(&mut report),
            "delivery" => delivery_section(&bench, &mut report).await,
            "cost" => cost::cost_section(&bench, &mut report).await,
            _ => throughput_section(&mut report, &fresh_machine).await,
        }
        stamp(&mut report);
        save(&report, &fresh_machine);
    }
    // Sections kept as they were after the last measured one are saved too.
    save(&report, &fresh_machine);
    println!("{report}{fresh_machine}");
}
