//! External ID rotation: request → start, complete or cancel → the destination as it is now.

use time::OffsetDateTime;

use shared::app::Caller;
use shared::app::rotation;
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
    let destination = match &route {
        Route::StartRotation(id) => {
            rotation::start(&app.store, caller, id, precondition, now).await?
        }
        Route::CompleteRotation(id) => {
            let grace = app.settings.external_id_grace;
            rotation::complete(&app.store, grace, caller, id, precondition, now).await?
        }
        Route::CancelRotation(id) => {
            let grace = app.settings.external_id_grace;
            rotation::cancel(&app.store, grace, caller, id, precondition, now).await?
        }
        _ => {
            return Err(Problem::not_found(format!(
                "No resource at {}.",
                request.path
            )));
        }
    };
    tracing::info!(destination_id = %destination.id(), ?route, "external id rotation changed");
    Ok(destination_response(200, &destination))
}
