//! Small helpers for driving handlers with the sample events.

use serde_json::Value;
use shared::http::{ApiRequest, ApiResponse};

use crate::events::{EVENT_DESTINATION_ID, api_request};

/// The response body as JSON.
pub fn body(response: &ApiResponse) -> Value {
    serde_json::from_str(&response.body).unwrap_or_else(|_| panic!("not JSON: {}", response.body))
}

/// The sample event `event`, re-aimed at destination `id`.
pub fn at(event: &str, id: &str) -> ApiRequest {
    let mut request = api_request(event);
    request.path = request.path.replace(EVENT_DESTINATION_ID, id);
    request
}

/// `request` with another JSON body.
pub fn with_json(mut request: ApiRequest, body: Value) -> ApiRequest {
    request.body = body.to_string().into_bytes();
    request
}
