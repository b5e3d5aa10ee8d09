//! The sample events in `tests/events/`, the same files `sam local invoke -e` uses.

use std::path::PathBuf;

use shared::http::ApiRequest;
use shared::http::lambda::from_lambda;

/// The JWT claim the sample events carry the tenant in (the template's default).
pub const TENANT_CLAIM: &str = "tenant_id";
/// The destination id the sample events' paths name.
pub const EVENT_DESTINATION_ID: &str = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";
/// The tenant the sample events' claims name.
pub const EVENT_TENANT: &str = "tenant-a";

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name)
}

pub fn raw(name: &str) -> String {
    std::fs::read_to_string(path(name))
        .unwrap_or_else(|e| panic!("reading tests/events/{name}: {e}"))
}

/// Parses an API Gateway event exactly as the Lambda runtime would.
pub fn lambda_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&raw(name))
        .unwrap_or_else(|e| panic!("tests/events/{name} is not an API Gateway event: {e}"))
}

/// The neutral request a handler sees for this event.
pub fn api_request(name: &str) -> ApiRequest {
    from_lambda(lambda_request(name), TENANT_CLAIM)
}

/// An SQS batch as the worker receives it, one message per request (ids `m0`, `m1`, …).
pub fn sqs_batch(
    requests: &[shared::revalidation::RevalidationRequest],
) -> aws_lambda_events::sqs::SqsEvent {
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
