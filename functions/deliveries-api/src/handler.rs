//! Request → use case → response for the internal delivery routes. No SDK calls, no environment
//! reads.

use std::sync::Arc;

use time::OffsetDateTime;

use shared::app::delivery;
use shared::domain::{BucketName, DestinationId, PlatformIdentity};
use shared::http::{
    ApiRequest, ApiResponse, CredentialsView, DeliveryView, Problem, Resolved, Route, dto, finish,
    platform_caller,
};
use shared::ports::{
    ActivityRecorder, DeliveryQueue, DeliveryRecords, DestinationRepository, ObjectWriter,
};

pub struct App<S, Q, W> {
    pub store: S,
    pub queue: Q,
    /// Takes on a destination's identity for vended sessions.
    pub writer: W,
    pub platform: PlatformIdentity,
    /// The only bucket deliveries are read from.
    pub staging_bucket: BucketName,
}

/// What the routes need of the store.
pub trait Store: DestinationRepository + DeliveryRecords + ActivityRecorder {}
impl<T: DestinationRepository + DeliveryRecords + ActivityRecorder> Store for T {}

pub async fn handle<S, Q, W>(
    app: Arc<App<S, Q, W>>,
    resolved: Resolved,
    request: ApiRequest,
) -> ApiResponse
where
    S: Store,
    Q: DeliveryQueue,
    W: ObjectWriter,
{
    let result = route(&app, resolved, &request).await;
    finish(&request, result)
}

async fn route<S, Q, W>(
    app: &App<S, Q, W>,
    resolved: Resolved,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem>
where
    S: Store,
    Q: DeliveryQueue,
    W: ObjectWriter,
{
    match resolved.route {
        Route::RequestDelivery => request_delivery(app, request).await,
        Route::VendCredentials(id) => vend_credentials(app, request, &id).await,
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}

/// `202` with the new delivery, queued; `200` with the stored one when the same delivery was
/// asked for before.
async fn request_delivery<S, Q, W>(
    app: &App<S, Q, W>,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem>
where
    S: Store,
    Q: DeliveryQueue,
{
    let requested_by = platform_caller(request)?;
    let input = dto::delivery_request_body(request, requested_by)?;
    let requested = delivery::request(
        &app.store,
        &app.staging_bucket,
        input,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let stored = &requested.delivery;
    if requested.new {
        tracing::info!(destination_id = %stored.destination, delivery_id = %stored.id, "delivery requested");
        if let Err(e) = app.queue.enqueue_deliveries(&[stored.reference()]).await {
            // Stored as due: the delivery sweep queues it on its next run.
            tracing::warn!(delivery_id = %stored.id, error = %e, "delivery stored but not queued; the sweep will queue it");
        }
    }
    let status = if requested.new { 202 } else { 200 };
    Ok(
        ApiResponse::json(status, &DeliveryView::from(stored)).header(
            "location",
            format!(
                "/destinations/{}/deliveries/{}",
                stored.destination, stored.id
            ),
        ),
    )
}

/// A short session (at most STS's role-chaining hour) of the identity deliveries write as, for
/// exporters that write themselves; recorded in the destination's activity.
async fn vend_credentials<S, Q, W>(
    app: &App<S, Q, W>,
    request: &ApiRequest,
    id: &DestinationId,
) -> Result<ApiResponse, Problem>
where
    S: Store,
    W: ObjectWriter,
{
    let requested_by = platform_caller(request)?;
    let tenant = dto::vend_request(request)?;
    let vended = delivery::vend(
        &app.store,
        &app.writer,
        &app.platform,
        &tenant,
        id,
        &requested_by,
        OffsetDateTime::now_utc(),
    )
    .await?;
    tracing::info!(destination_id = %id, "credentials vended");
    Ok(ApiResponse::json(200, &CredentialsView::from(&vended)).header("cache-control", "no-store"))
}
