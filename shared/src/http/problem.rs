//! RFC 9457 problem details, the body of every error response. Every kind of problem the API
//! returns is a [`ProblemType`]; `openapi.yaml` lists the same slugs (a test keeps them equal).

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

/// Every kind of problem, with its status and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    Validation,
    MalformedJson,
    InvalidCursor,
    InvalidIfMatch,
    InvalidIdempotencyKey,
    Unauthenticated,
    ReadOnly,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    ConcurrentModification,
    TestInProgress,
    NotVerified,
    NothingToSave,
    NothingToDiscard,
    NotBucketPolicyMode,
    PartitionNotServed,
    NotSaved,
    NotRoleMode,
    RotationOpen,
    NoRotation,
    RotationNotProven,
    DeliveryConflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    PolicyTooLarge,
    DestinationLimitReached,
    RateLimited,
    Internal,
    Unavailable,
}

impl ProblemType {
    pub const ALL: [ProblemType; 32] = [
        ProblemType::Validation,
        ProblemType::MalformedJson,
        ProblemType::InvalidCursor,
        ProblemType::InvalidIfMatch,
        ProblemType::InvalidIdempotencyKey,
        ProblemType::Unauthenticated,
        ProblemType::ReadOnly,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::AlreadyExists,
        ProblemType::ConcurrentModification,
        ProblemType::TestInProgress,
        ProblemType::NotVerified,
        ProblemType::NothingToSave,
        ProblemType::NothingToDiscard,
        ProblemType::NotBucketPolicyMode,
        ProblemType::PartitionNotServed,
        ProblemType::NotSaved,
        ProblemType::NotRoleMode,
        ProblemType::RotationOpen,
        ProblemType::NoRotation,
        ProblemType::RotationNotProven,
        ProblemType::DeliveryConflict,
        ProblemType::PreconditionFailed,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::IdempotencyKeyReused,
        ProblemType::PolicyTooLarge,
        ProblemType::DestinationLimitReached,
        ProblemType::RateLimited,
        ProblemType::Internal,
        ProblemType::Unavailable,
    ];

    /// `(slug, status, title)`.
    pub fn describe(self) -> (&'static str, u16, &'static str) {
        use ProblemType::*;
        match self {
            Validation => ("validation", 400, "Invalid request"),
            MalformedJson => ("malformed-json", 400, "Bad request"),
            InvalidCursor => ("invalid-cursor", 400, "Bad request"),
            InvalidIfMatch => ("invalid-if-match", 400, "Bad request"),
            InvalidIdempotencyKey => ("invalid-idempotency-key", 400, "Bad request"),
            Unauthenticated => ("unauthenticated", 401, "Unauthenticated"),
            ReadOnly => ("read-only", 403, "Forbidden"),
            NotFound => ("not-found", 404, "Not found"),
            MethodNotAllowed => ("method-not-allowed", 405, "Method not allowed"),
            AlreadyExists => ("already-exists", 409, "Conflict"),
            ConcurrentModification => ("concurrent-modification", 409, "Conflict"),
            TestInProgress => ("test-in-progress", 409, "Conflict"),
            NotVerified => ("not-verified", 409, "Conflict"),
            NothingToSave => ("nothing-to-save", 409, "Conflict"),
            NothingToDiscard => ("nothing-to-discard", 409, "Conflict"),
            NotBucketPolicyMode => ("not-bucket-policy-mode", 409, "Conflict"),
            PartitionNotServed => ("partition-not-served", 409, "Conflict"),
            NotSaved => ("not-saved", 409, "Conflict"),
            NotRoleMode => ("not-role-mode", 409, "Conflict"),
            RotationOpen => ("rotation-open", 409, "Conflict"),
            NoRotation => ("no-rotation", 409, "Conflict"),
            RotationNotProven => ("rotation-not-proven", 409, "Conflict"),
            DeliveryConflict => ("delivery-conflict", 409, "Conflict"),
            PreconditionFailed => ("precondition-failed", 412, "Precondition failed"),
            PayloadTooLarge => ("payload-too-large", 413, "Payload too large"),
            UnsupportedMediaType => ("unsupported-media-type", 415, "Unsupported media type"),
            IdempotencyKeyReused => ("idempotency-key-reused", 422, "Unprocessable request"),
            PolicyTooLarge => ("policy-too-large", 422, "Unprocessable request"),
            DestinationLimitReached => ("destination-limit-reached", 429, "Too many destinations"),
            RateLimited => ("rate-limited", 429, "Too many requests"),
            Internal => ("internal", 500, "Internal error"),
            Unavailable => ("unavailable", 503, "Service unavailable"),
        }
    }

    pub fn slug(self) -> &'static str {
        self.describe().0
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
    /// Seconds, for the `Retry-After` header of a 429 or 503.
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn of(kind: ProblemType, detail: impl Into<String>) -> Self {
        let (slug, status, title) = kind.describe();
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            request_id: None,
            allow: None,
            retry_after: None,
        }
    }

    pub fn is(&self, kind: ProblemType) -> bool {
        self.kind == format!("/problems/{}", kind.slug())
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::of(
            ProblemType::Validation,
            "One or more fields are invalid; see errors.",
        );
        problem.errors = errors;
        problem
    }

    /// One invalid field.
    pub fn field(field: &str, message: impl ToString) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized() -> Self {
        Self::of(
            ProblemType::Unauthenticated,
            "The request carries no tenant identity.",
        )
    }

    /// A token of the tenant without the write permission, on a route that changes something.
    pub fn read_only() -> Self {
        Self::of(
            ProblemType::ReadOnly,
            "Your sign-in lets you see this tenant's destinations but not change, test or save \
             them: ask your administrator for the write permission.",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::of(ProblemType::NotFound, detail)
    }

    pub fn destination_not_found() -> Self {
        Self::not_found("No destination with this id exists.")
    }

    pub fn delivery_not_found() -> Self {
        Self::not_found("No delivery with this id exists for this destination.")
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let mut problem = Self::of(
            ProblemType::MethodNotAllowed,
            format!("This resource supports {}.", allowed.join(", ")),
        );
        problem.allow = Some(allowed.join(", "));
        problem
    }

    pub fn precondition_failed() -> Self {
        Self::of(
            ProblemType::PreconditionFailed,
            "The destination changed since the ETag in If-Match was issued; fetch it again.",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::of(
            ProblemType::PayloadTooLarge,
            format!("The request body must be at most {limit} bytes."),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::of(
            ProblemType::UnsupportedMediaType,
            format!("Send the body as {expected}."),
        )
    }

    pub fn rate_limited(retry_after_seconds: u64, what: &str) -> Self {
        let mut problem = Self::of(
            ProblemType::RateLimited,
            format!("Too many {what} for this tenant; retry in {retry_after_seconds} s."),
        );
        problem.retry_after = Some(retry_after_seconds);
        problem
    }

    pub fn internal() -> Self {
        Self::of(
            ProblemType::Internal,
            "Something went wrong on our side. Retry later; quote the requestId if it persists.",
        )
    }

    pub fn unavailable() -> Self {
        let mut problem = Self::of(
            ProblemType::Unavailable,
            "A dependency is temporarily unavailable. Retry shortly.",
        );
        problem.retry_after = Some(1);
        problem
    }

    pub fn into_response(self) -> ApiResponse {
        let mut response = ApiResponse::json_with_type(self.status, &self, PROBLEM_JSON);
        if let Some(allow) = &self.allow {
            response = response.header("allow", allow);
        }
        if let Some(seconds) = self.retry_after {
            response = response.header("retry-after", seconds.to_string());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_type_has_a_distinct_slug_and_an_error_status() {
        let slugs: std::collections::HashSet<&str> =
            ProblemType::ALL.iter().map(|t| t.slug()).collect();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
        for kind in ProblemType::ALL {
            let (_, status, title) = kind.describe();
            assert!((400..600).contains(&status) && !title.is_empty());
        }
    }

    #[test]
    fn rate_limits_and_outages_say_when_to_retry() {
        let response = Problem::rate_limited(17, "tests").into_response();
        assert_eq!(response.status, 429);
        assert_eq!(response.header_value("retry-after"), Some("17"));
        assert_eq!(
            Problem::unavailable()
                .into_response()
                .header_value("retry-after"),
            Some("1")
        );
    }
}
