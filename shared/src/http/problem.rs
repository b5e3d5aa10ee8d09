//! RFC 9457 problem details, the body of every error response.

use serde::Serialize;

use super::api::ApiResponse;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A relative URI naming the kind of problem; documented in `openapi.yaml`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Lets support find the log lines of this request; nothing internal is ever put here.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip)]
    pub allow: Option<String>,
}

impl Problem {
    pub fn new(status: u16, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            request_id: None,
            allow: None,
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            400,
            "validation",
            "Invalid request",
            "One or more fields are invalid; see errors.",
        );
        problem.errors = errors;
        problem
    }

    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(400, slug, "Bad request", detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "unauthenticated",
            "Unauthenticated",
            "The request carries no tenant identity.",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    pub fn destination_not_found() -> Self {
        Self::not_found("No destination with this id exists.")
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let mut problem = Self::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("This resource supports {}.", allowed.join(", ")),
        );
        problem.allow = Some(allowed.join(", "));
        problem
    }

    pub fn conflict(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(409, slug, "Conflict", detail)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            412,
            "precondition-failed",
            "Precondition failed",
            "The destination changed since the ETag in If-Match was issued; fetch it again.",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload-too-large",
            "Payload too large",
            format!("The request body must be at most {limit} bytes."),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            format!("Send the body as {expected}."),
        )
    }

    pub fn unprocessable(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(422, slug, "Unprocessable request", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            500,
            "internal",
            "Internal error",
            "Something went wrong on our side. Retry later; quote the requestId if it persists.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            503,
            "unavailable",
            "Service unavailable",
            "A dependency is temporarily unavailable. Retry shortly.",
        )
    }

    pub fn into_response(self) -> ApiResponse {
        let mut response = ApiResponse::json_with_type(self.status, &self, PROBLEM_JSON);
        if let Some(allow) = &self.allow {
            response = response.header("allow", allow);
        }
        response
    }
}
