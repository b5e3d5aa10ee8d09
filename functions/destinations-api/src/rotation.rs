//! External ID rotation: request → start, complete or cancel → the destination as it is now.

use time::OffsetDateTime;

use shared::app::Caller;
use shared::app::rotation::{RotationStep, rotate};
use shared::http::{ApiRequest, ApiResponse, Problem, Route, dto, no_body};
use shared::ports::DestinationRepository;

use crate::handler::{App, destination_response};

pub async fn route<S: DestinationRepository>(
    app: &App<S>,
    request: &ApiRequest,
    caller: Caller<'_>,
    route: Route,
    now: OffsetDateTime,
) -> Result<ApiResponse, Problem> {
    no_body(request, "An External ID rotation request")?;
    let precondition = dto::precondition(request)?;
    let grace = app.settings.external_id_grace;
    let (step, id) = match &route {
        Route::StartRotation(id) => (RotationStep::Start, id),
        Route::CompleteRotation(id) => (RotationStep::Complete { grace }, id),
        Route::CancelRotation(id) => (RotationStep::Cancel { grace }, id),
        _ => {
            return Err(Problem::not_found(format!(
                "No resource at {}.",
                request.path
            )));
        }
    };
    let destination = rotate(&app.store, step, caller, id, precondition, now).await?;
    tracing::info!(destination_id = %destination.id(), ?route, "external id rotation changed");
    Ok(destination_response(200, &destination))
}
