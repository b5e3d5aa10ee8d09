//! Steps every API handler shares: turning results into responses, storage errors into problems.

use crate::domain::{Destination, DestinationId, TenantId};
use crate::ports::{DestinationStore, StoreError};

use super::api::{ApiRequest, ApiResponse};
use super::problem::Problem;

/// Stamps the request id on the response (and on the problem, if it is one).
pub fn finish(request: &ApiRequest, result: Result<ApiResponse, Problem>) -> ApiResponse {
    let mut response = match result {
        Ok(response) => response,
        Err(mut problem) => {
            problem.request_id = Some(request.request_id.clone()).filter(|id| !id.is_empty());
            problem.into_response()
        }
    };
    if !request.request_id.is_empty() {
        response = response.header("x-request-id", request.request_id.clone());
    }
    response
}

/// Logs the cause with the request id; the client learns only what it can act on.
pub fn storage_problem(error: StoreError, request: &ApiRequest) -> Problem {
    match error {
        StoreError::InvalidCursor => Problem::bad_request(
            "invalid-cursor",
            "The cursor is not valid for this listing; start again without it.",
        ),
        StoreError::VersionConflict { .. } => Problem::precondition_failed(),
        StoreError::AlreadyExists => Problem::conflict(
            "already-exists",
            "A destination with this id already exists.",
        ),
        StoreError::Unavailable(cause) => {
            tracing::error!(request_id = %request.request_id, error = %cause, "destination store failed");
            Problem::unavailable()
        }
    }
}

/// The caller's destination, or the 404 that a missing one and another tenant's one share.
pub async fn load_destination<S: DestinationStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    id: &DestinationId,
    request: &ApiRequest,
) -> Result<Destination, Problem> {
    store
        .get(tenant, id)
        .await
        .map_err(|e| storage_problem(e, request))?
        .ok_or_else(Problem::destination_not_found)
}
