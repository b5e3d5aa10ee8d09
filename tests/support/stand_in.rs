//! A minimal local stand-in for the three AWS services a re-validation check calls (DynamoDB, STS,
//! S3), answering each request after a fixed, modelled round trip. Against it the throughput
//! ratio measures how well the worker overlaps AWS's waiting, not how fast an emulator sharing
//! the machine's two cores can work.
//!
//! It keeps items in memory and evaluates exactly the condition expressions the store writes
//! (a condition it does not know is refused with a `ValidationException`, so the checks fail
//! loudly rather than pass unguarded); AssumeRole hands out session credentials for any role;
//! PutObject is allowed to the writer session of each stored destination (as the bucket policies
//! the service renders allow it) and to sessions a test allows, refused to any other (the check's
//! decoy session among them), keeps nothing and echoes the object's checksum; an unsigned PUT (a
//! pre-signed CloudFormation response URL) is taken. Signatures are not verified.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Map, Value, json};

/// Per service: requests, and their summed round trips.
#[derive(Clone, Default)]
pub struct Counts(Arc<Mutex<BTreeMap<String, (u64, Duration)>>>);

impl Counts {
    /// Requests per service since the last take.
    pub fn take(&self) -> BTreeMap<String, u64> {
        self.take_timed()
            .into_iter()
            .map(|(service, (n, _))| (service, n))
            .collect()
    }

    /// Requests and mean round trip to the emulator per service since the last take.
    pub fn take_timed(&self) -> BTreeMap<String, (u64, Duration)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .map(|(service, (n, total))| (service, (n, total / n.max(1) as u32)))
            .collect()
    }

    pub fn record(&self, service: &str, round_trip: Duration) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(service.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += round_trip;
    }
}

type Item = Map<String, Value>;

pub struct StandIn {
    pub endpoint: String,
    /// Requests per service and their round trips (the modelled one, plus our own handling).
    pub counts: Counts,
    state: Arc<State>,
}

struct State {
    items: Mutex<HashMap<(String, String), Item>>,
    latency: BTreeMap<&'static str, Duration>,
    /// Off while a benchmark seeds its items: only the measured requests wait.
    modelling: AtomicBool,
    counts: Counts,
    /// Every AssumeRole's `RoleSessionName`, in order; a session's access key is `ASIA` and its
    /// index here.
    sessions: Mutex<Vec<String>>,
    /// The sessions S3 lets write, as a bucket policy naming each destination's writer session
    /// would: every stored destination's, and those a test allows.
    writers: Mutex<HashSet<String>>,
}

impl StandIn {
    pub async fn start(latency: BTreeMap<&'static str, Duration>) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let counts = Counts::default();
        let state = Arc::new(State {
            items: Mutex::default(),
            latency,
            modelling: AtomicBool::new(false),
            counts: counts.clone(),
            sessions: Mutex::default(),
            writers: Mutex::default(),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn {
            endpoint,
            counts,
            state,
        }
    }

    /// From now on every request waits its service's modelled round trip.
    pub fn model_latency(&self, on: bool) {
        self.state.modelling.store(on, Ordering::SeqCst);
    }

    /// Forgets every item and session (between benchmark rows).
    pub fn clear(&self) {
        lock(&self.state.items).clear();
        lock(&self.state.sessions).clear();
        lock(&self.state.writers).clear();
    }

    /// Lets the session `name` write (besides every stored destination's writer session).
    pub fn allow_writer(&self, name: &str) {
        lock(&self.state.writers).insert(name.to_owned());
    }

    /// The session name of every AssumeRole answered, in order.
    pub fn assumed_sessions(&self) -> Vec<String> {
        lock(&self.state.sessions).clone()
    }
}

/// `KEY/DATE/REGION/SERVICE/aws4_request` of a SigV4 `Authorization` header.
fn credential(headers: &hyper::HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .split("Credential=")
        .nth(1)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn reply(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "stand-in")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

fn dynamodb_error(kind: &str, message: &str, extra: Value) -> Response<Full<Bytes>> {
    let mut body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    reply(400, "application/x-amz-json-1.0", body.to_string())
}

impl State {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        // `Credential=KEY/DATE/REGION/SERVICE/aws4_request` names the service.
        let service = credential(request.headers())
            .and_then(|scope| scope.split('/').nth(3))
            .unwrap_or("unsigned")
            .to_owned();
        if self.modelling.load(Ordering::SeqCst)
            && let Some(delay) = self.latency.get(service.as_str())
        {
            tokio::time::sleep(*delay).await;
        }
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let response = match service.as_str() {
            "dynamodb" => {
                let target = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
                    .unwrap_or_default();
                let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                self.dynamodb(target, &input)
            }
            "sts" => assume_role(&body, &self.sessions),
            "s3" => {
                // The access key names the session (`ASIA<index>`).
                let session = credential(&parts.headers)
                    .and_then(|scope| scope.split('/').next())
                    .and_then(|key| key.strip_prefix("ASIA")?.parse::<usize>().ok())
                    .and_then(|index| lock(&self.sessions).get(index).cloned())
                    .unwrap_or_default();
                let may_write = lock(&self.writers).contains(&session);
                put_object(&parts, may_write)
            }
            // An unsigned PUT is a custom resource's answer to CloudFormation's pre-signed URL.
            "unsigned" if parts.method == hyper::Method::PUT => {
                reply(200, "text/plain", String::new())
            }
            other => reply(400, "text/plain", format!("the stand-in has no {other}")),
        };
        self.counts.record(&service, started.elapsed());
        response
    }

    fn dynamodb(&self, operation: &str, input: &Value) -> Response<Full<Bytes>> {
        let ok = |body: Value| reply(200, "application/x-amz-json-1.0", body.to_string());
        let mut items = lock(&self.items);
        match operation {
            "GetItem" => match key_of(&input["Key"]).and_then(|key| items.get(&key)) {
                Some(item) => ok(json!({ "Item": item })),
                None => ok(json!({})),
            },
            "PutItem" => match judged_put(input, |key| items.get(key).cloned()) {
                Ok((key, item)) => {
                    self.grant_writer(&key);
                    items.insert(key, item);
                    ok(json!({}))
                }
                Err(Refusal::Condition) => dynamodb_error(
                    "ConditionalCheckFailedException",
                    "The conditional request failed",
                    Value::Null,
                ),
                Err(Refusal::Unmodelled(what)) => {
                    dynamodb_error("ValidationException", &what, Value::Null)
                }
            },
            "TransactWriteItems" => {
                let writes = input["TransactItems"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                // All or nothing: every condition is judged before anything is written.
                let mut staged: HashMap<(String, String), Item> = HashMap::new();
                let mut reasons = Vec::new();
                let mut failed = false;
                for write in &writes {
                    let outcome = match (&write["Put"], &write["Update"]) {
                        (Value::Object(_), _) => judged_put(&write["Put"], |key| {
                            staged.get(key).or_else(|| items.get(key)).cloned()
                        })
                        .map(|(key, item)| {
                            staged.insert(key, item);
                        }),
                        // Only the create's count of a tenant's destinations, which no check
                        // reads: its cap is judged, the count is not kept.
                        (_, Value::Object(update)) => {
                            if update.get("UpdateExpression") == Some(&json!("ADD #count :delta")) {
                                Ok(())
                            } else {
                                Err(Refusal::Unmodelled(format!("update {update:?}")))
                            }
                        }
                        _ => Err(Refusal::Unmodelled(format!("transaction item {write}"))),
                    };
                    match outcome {
                        Ok(()) => reasons.push(json!({"Code": "None"})),
                        Err(Refusal::Condition) => {
                            failed = true;
                            reasons.push(json!({"Code": "ConditionalCheckFailed"}));
                        }
                        Err(Refusal::Unmodelled(what)) => {
                            return dynamodb_error("ValidationException", &what, Value::Null);
                        }
                    }
                }
                if failed {
                    return dynamodb_error(
                        "TransactionCanceledException",
                        "Transaction cancelled",
                        json!({ "CancellationReasons": reasons }),
                    );
                }
                for key in staged.keys() {
                    self.grant_writer(key);
                }
                items.extend(staged);
                ok(json!({}))
            }
            other => dynamodb_error(
                "ValidationException",
                &format!("the stand-in does not model {other}"),
                Value::Null,
            ),
        }
    }
}

impl State {
    /// A stored destination's writer session (`destination-<id without hyphens>`) may write.
    fn grant_writer(&self, (_, sort_key): &(String, String)) {
        if let Some(id) = sort_key.strip_prefix("DESTINATION#") {
            lock(&self.writers).insert(format!("destination-{}", id.replace('-', "")));
        }
    }
}

enum Refusal {
    Condition,
    Unmodelled(String),
}

fn key_of(key_or_item: &Value) -> Option<(String, String)> {
    let s = |name: &str| key_or_item[name]["S"].as_str().map(str::to_owned);
    Some((s("PK")?, s("SK")?))
}

/// A put's key and item, once its condition holds against what is stored under that key.
fn judged_put(
    input: &Value,
    stored: impl Fn(&(String, String)) -> Option<Item>,
) -> Result<((String, String), Item), Refusal> {
    let item = input["Item"]
        .as_object()
        .cloned()
        .ok_or_else(|| Refusal::Unmodelled("a put without an item".into()))?;
    let key = key_of(&input["Item"]).ok_or_else(|| Refusal::Unmodelled("no PK/SK".into()))?;
    if let Some(condition) = input["ConditionExpression"].as_str()
        && !holds(
            condition,
            stored(&key).as_ref(),
            &input["ExpressionAttributeValues"],
        )?
    {
        return Err(Refusal::Condition);
    }
    Ok((key, item))
}

/// The store's conditions on a put, and nothing else.
fn holds(condition: &str, existing: Option<&Item>, values: &Value) -> Result<bool, Refusal> {
    let number = |v: &Value| v["N"].as_str().and_then(|n| n.parse::<i128>().ok());
    let attribute = |name: &str| existing.and_then(|item| item.get(name));
    let below = |name: &str, value: &str| match (attribute(name), values.get(value)) {
        (Some(stored), Some(bound)) => number(stored) < number(bound),
        _ => false,
    };
    Ok(match condition {
        "attribute_not_exists(PK)" => existing.is_none(),
        "attribute_exists(PK)" => existing.is_some(),
        "version = :expected" => {
            attribute("version").and_then(number) == values.get(":expected").and_then(number)
                && existing.is_some()
        }
        "holder = :holder" => existing.is_some() && attribute("holder") == values.get(":holder"),
        "attribute_not_exists(PK) OR lease_until < :now" => {
            existing.is_none() || below("lease_until", ":now")
        }
        "attribute_not_exists(PK) OR expires_at < :now" => {
            existing.is_none() || below("expires_at", ":now")
        }
        other => return Err(Refusal::Unmodelled(format!("condition {other}"))),
    })
}

/// Form-encoded AssumeRole: session credentials for an hour, named for the session asked for.
fn assume_role(body: &[u8], sessions: &Mutex<Vec<String>>) -> Response<Full<Bytes>> {
    let form = String::from_utf8_lossy(body);
    let field = |name: &str| {
        form.split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(percent_decode)
            .unwrap_or_default()
    };
    if field("Action") != "AssumeRole" {
        return reply(
            400,
            "text/xml",
            "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>".into(),
        );
    }
    let role = field("RoleArn");
    let session = field("RoleSessionName");
    let index = {
        let mut sessions = lock(sessions);
        sessions.push(session.clone());
        sessions.len() - 1
    };
    let (account, role_name) = role
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .unwrap_or(("000000000000", "unknown"));
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a timestamp");
    reply(
        200,
        "text/xml",
        format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIA{index}</AccessKeyId><SecretAccessKey>stand-in-secret</SecretAccessKey><SessionToken>stand-in-token</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASTANDIN:{session}</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/{role_name}/{session}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></AssumeRoleResponse>"
        ),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// PutObject: nothing is kept; the object's checksum comes back as S3 returns it. A session that
/// may not write is refused as S3 refuses it.
fn put_object(parts: &hyper::http::request::Parts, may_write: bool) -> Response<Full<Bytes>> {
    if parts.method != hyper::Method::PUT {
        return reply(
            501,
            "application/xml",
            format!(
                "<Error><Code>NotImplemented</Code><Message>the stand-in answers PutObject only, not {}</Message></Error>",
                parts.method
            ),
        );
    }
    if !may_write {
        return reply(
            403,
            "application/xml",
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".into(),
        );
    }
    let mut response = Response::builder()
        .status(200)
        .header("etag", "\"stand-in\"")
        .header("x-amz-request-id", "stand-in");
    for (name, value) in &parts.headers {
        if name.as_str().starts_with("x-amz-checksum-") {
            response = response.header(name, value);
        }
    }
    response.body(Full::new(Bytes::new())).expect("a response")
}
