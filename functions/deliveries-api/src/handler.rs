//! Request → use case → response for the internal delivery routes. No SDK calls, no environment
//! reads.

use time::OffsetDateTime;

use shared::app::delivery;
use shared::domain::BucketName;
use shared::http::{
    ApiRequest, ApiResponse, DeliveryView, Problem, Route, dto, finish, platform_caller, resolve,
};
use shared::ports::{DeliveryQueue, DeliveryRecords, DestinationRepository};

pub struct App<S, Q> {
    pub store: S,
    pub queue: Q,
    /// The only bucket deliveries are read from.
    pub staging_bucket: BucketName,
}

pub async fn handle<S, Q>(app: &App<S, Q>, request: ApiRequest) -> ApiResponse
where
    S: DestinationRepository + DeliveryRecords,
    Q: DeliveryQueue,
{
    let result = route(app, &request).await;
    finish(&request, result)
}

async fn route<S, Q>(app: &App<S, Q>, request: &ApiRequest) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository + DeliveryRecords,
    Q: DeliveryQueue,
{
    match resolve(&request.method, &request.path)? {
        Route::RequestDelivery => request_delivery(app, request).await,
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}

/// `202` with the new delivery, queued; `200` with the stored one when the same delivery was
/// asked for before.
async fn request_delivery<S, Q>(
    app: &App<S, Q>,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository + DeliveryRecords,
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
