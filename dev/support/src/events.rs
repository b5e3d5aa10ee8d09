//! The sample events in `tests/events/`, the same files `sam local invoke -e` uses, parsed the way
//! the Lambda runtime parses them.

use shared::domain::revalidation::RevalidationRequest;
use shared::http::ApiRequest;
use shared::http::lambda::from_lambda;

/// The claims the sample events carry the tenant (`tenant_id`) and the write permission
/// (`destinations-writers` in `cognito:groups`) in: the template's defaults.
pub fn token_claims() -> shared::http::TokenClaims {
    shared::http::TokenClaims::default()
}
/// The destination id the sample events' paths name.
pub const EVENT_DESTINATION_ID: &str = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";
/// The tenant the sample events' claims name.
pub const EVENT_TENANT: &str = "tenant-a";

pub fn raw(name: &str) -> String {
    crate::template::repo_file(&format!("tests/events/{name}"))
}

/// An API Gateway event exactly as the Lambda runtime parses it.
pub fn lambda_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&raw(name))
        .unwrap_or_else(|e| panic!("tests/events/{name} is not an API Gateway event: {e}"))
}

/// The neutral request a handler sees for this event.
pub fn api_request(name: &str) -> ApiRequest {
    from_lambda(lambda_request(name), &token_claims())
}

/// The sample event `name`, re-aimed at destination `id`.
pub fn at(name: &str, id: &str) -> ApiRequest {
    let mut request = api_request(name);
    request.path = request.path.replace(EVENT_DESTINATION_ID, id);
    request
}

/// `request` with another JSON body (and no idempotency key or precondition).
pub fn with_json(mut request: ApiRequest, body: serde_json::Value) -> ApiRequest {
    request.body = body.to_string().into_bytes();
    request
        .headers
        .retain(|(k, _)| k != "idempotency-key" && k != "if-match");
    request
}

/// `request` as another tenant's.
pub fn as_tenant(mut request: ApiRequest, tenant: &str) -> ApiRequest {
    request.tenant = Some(shared::domain::TenantId::new(tenant).expect("a valid tenant"));
    request
}

/// A parsed JSON event of another kind (SQS, stream, EventBridge).
pub fn parse<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&raw(name)).unwrap_or_else(|e| panic!("tests/events/{name}: {e}"))
}

/// An SQS batch as the worker receives it, one message per request (ids `m0`, `m1`, …).
pub fn sqs_batch(requests: &[RevalidationRequest]) -> aws_lambda_events::sqs::SqsEvent {
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = requests
        .iter()
        .enumerate()
        .map(|(i, request)| {
            let mut message = aws_lambda_events::sqs::SqsMessage::default();
            message.message_id = Some(format!("m{i}"));
            message.body = Some(serde_json::to_string(request).expect("request serialises"));
            message
        })
        .collect();
    event
}

/// The sample events made from stored items: the table's stream records of a Save and a rename
/// (`revalidate-stream.json`), and of a new outbox entry (`publish-events-stream.json`).
pub fn generated() -> Vec<(&'static str, String)> {
    use shared::adapters::dynamodb::{destination_item, outbox_item};
    use shared::domain::revalidation::{
        ConnectionEvent, ConnectionEventKind, RevalidationSettings,
    };
    use shared::domain::{AuthModeKind, BucketName, DestinationName, DestinationPatch};
    use shared::testing::{DestinationBuilder, NOW, passed};

    let image =
        |item| sorted(serde_json::to_value(serde_dynamo::Item::from(item)).expect("an image"));
    let record = |event_id: &str,
                  name: &str,
                  sequence: &str,
                  old: Option<serde_json::Value>,
                  new: serde_json::Value| {
        let mut dynamodb = serde_json::json!({
            "ApproximateCreationDateTime": 1_795_780_800,
            "Keys": {"PK": new["PK"].clone(), "SK": new["SK"].clone()},
            "NewImage": new,
            "SequenceNumber": sequence,
            "SizeBytes": 1024,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        serde_json::json!({
            "eventID": event_id,
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-1",
            "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/destinations/stream/2026-11-27T12:00:00.000",
        })
    };
    let settings = RevalidationSettings::default();
    let saved = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .id(EVENT_DESTINATION_ID)
        .tenant(EVENT_TENANT)
        .bucket("acme-raw-events")
        .folder("incoming")
        .saved();
    // A pending bucket change, tested, then saved: the active configuration changes.
    let mut pending = saved.clone();
    pending
        .apply(
            DestinationPatch {
                bucket: Some(BucketName::new("acme-raw-events-eu").expect("valid")),
                ..DestinationPatch::default()
            },
            NOW,
        )
        .expect("a valid patch");
    pending.record_test(passed(pending.config_version()), None, NOW);
    let mut after_save = pending.clone();
    after_save
        .save(&settings, NOW)
        .expect("a passing test allows Save");
    // A rename: the active configuration stays.
    let mut renamed = saved.clone();
    renamed
        .apply(
            DestinationPatch {
                name: Some(DestinationName::new("Raw events (EU)").expect("valid")),
                ..DestinationPatch::default()
            },
            NOW,
        )
        .expect("a valid patch");
    let item = |d: &shared::domain::Destination| image(destination_item(d).expect("serialises"));
    let stream = serde_json::json!({"Records": [
        record("c4ca4238a0b923820dcc509a6f75849b", "MODIFY", "111100000000000000001", Some(item(&pending)), item(&after_save)),
        record("c81e728d9d4c2f636f067f89cc14862c", "MODIFY", "111100000000000000002", Some(item(&saved)), item(&renamed)),
    ]});
    let event = ConnectionEvent {
        event_id: format!("{EVENT_DESTINATION_ID}/5"),
        kind: ConnectionEventKind::Failed,
        tenant_id: saved.tenant().clone(),
        destination_id: saved.id().clone(),
        destination_name: saved.name().as_str().to_owned(),
        category: Some(shared::domain::check::FailureCategory::PutAccessDenied),
        delivery_id: None,
        first_failure_at: Some(NOW),
        changed_by: None,
        before: None,
        after: None,
        occurred_at: NOW,
    };
    let outbox = serde_json::json!({"Records": [
        record("eccbc87e4b5ce2fe28308fd9f2a7baf3", "INSERT", "111100000000000000003", None, image(outbox_item(&event).expect("serialises"))),
    ]});
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("JSON") + "\n";
    vec![
        ("revalidate-stream.json", pretty(&stream)),
        ("publish-events-stream.json", pretty(&outbox)),
    ]
}

/// Object members in key order, so a generated file is the same every time.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}
