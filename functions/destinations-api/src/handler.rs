//! Request → use case → response for the destination routes. No SDK calls, no environment reads.

use std::sync::Arc;

use time::OffsetDateTime;

use shared::app::Caller;
use shared::app::destinations::{self, Limits};
use shared::domain::revalidation::RevalidationSettings;
use shared::domain::{BucketName, Destination, DestinationId, PlatformIdentity};
use shared::http::{
    Access, ApiRequest, ApiResponse, CallerView, DestinationView, PageView, Problem, Resolved,
    Route, admitted_caller, dto, etag, finish, no_body, page_query,
};
use shared::ports::{ActivityLog, DeliveryRecords, DestinationRepository, RateLimiter};

pub struct App<S> {
    pub store: S,
    pub platform: PlatformIdentity,
    /// Where exporters stage the files they ask us to deliver (`GET /platform` names it).
    pub staging_bucket: BucketName,
    pub limits: Limits,
    pub settings: RevalidationSettings,
}

pub async fn handle<S>(app: Arc<App<S>>, resolved: Resolved, request: ApiRequest) -> ApiResponse
where
    S: DestinationRepository + RateLimiter + ActivityLog + DeliveryRecords,
{
    let result = route(&app, resolved, &request).await;
    finish(&request, result)
}

async fn route<S>(
    app: &App<S>,
    resolved: Resolved,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository + RateLimiter + ActivityLog + DeliveryRecords,
{
    if resolved.route == Route::GetPlatform {
        return Ok(crate::platform::facts(&app.platform, &app.staging_bucket));
    }
    let caller = admitted_caller(&app.store, request, &resolved).await?;
    let now = OffsetDateTime::now_utc();
    match resolved.route {
        Route::GetCaller => Ok(ApiResponse::json(
            200,
            &CallerView {
                tenant_id: caller.tenant.as_str(),
                actor: caller.actor.as_str(),
                can_write: request.access == Access::Write,
            },
        )
        .header("cache-control", "no-store")),
        Route::CreateDestination => create(app, request, caller, now).await,
        Route::ListDestinations => list(app, request, caller.tenant).await,
        Route::GetDestination(id) => {
            let destination = destinations::get(&app.store, caller.tenant, &id).await?;
            Ok(destination_response(200, &destination))
        }
        Route::UpdateDestination(id) => {
            let precondition = dto::precondition(request)?;
            let patch = dto::patch(request)?;
            let updated = destinations::update(
                &app.store,
                &app.platform,
                caller,
                &id,
                patch,
                precondition,
                now,
            )
            .await?;
            Ok(destination_response(200, &updated))
        }
        Route::DeleteDestination(id) => {
            destinations::delete(&app.store, caller, &id, now).await?;
            Ok(ApiResponse::no_content())
        }
        Route::SaveDestination(id) => {
            no_body(request, "Save")?;
            let saved = destinations::save(&app.store, &app.settings, caller, &id, now).await?;
            tracing::info!(destination_id = %id, "destination saved");
            Ok(destination_response(200, &saved))
        }
        Route::DiscardChanges(id) => {
            no_body(request, "Discard")?;
            let restored = destinations::discard(&app.store, caller, &id, now).await?;
            Ok(destination_response(200, &restored))
        }
        route @ (Route::StartRotation(_)
        | Route::CompleteRotation(_)
        | Route::CancelRotation(_)) => {
            crate::rotation::route(app, request, caller, route, now).await
        }
        Route::ListActivity(id) => activity(app, request, caller.tenant, &id).await,
        Route::ListDeliveries(id) => {
            crate::deliveries::list(&app.store, request, caller.tenant, &id).await
        }
        Route::GetDelivery(id, delivery_id) => {
            crate::deliveries::get(&app.store, caller.tenant, &id, &delivery_id).await
        }
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}

async fn create<S>(
    app: &App<S>,
    request: &ApiRequest,
    caller: Caller<'_>,
    now: OffsetDateTime,
) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository + RateLimiter + ActivityLog + DeliveryRecords,
{
    let idempotency = dto::idempotency(request)?;
    let input = dto::new_destination(request)?;
    let created = destinations::create(
        &app.store,
        &app.store,
        &app.platform,
        app.limits,
        caller,
        input,
        idempotency,
        now,
    )
    .await?;
    let id = created.destination.id();
    tracing::info!(destination_id = %id, replayed = created.replayed, "destination created");
    let response = destination_response(201, &created.destination)
        .header("location", format!("/destinations/{id}"));
    Ok(if created.replayed {
        response.header("idempotent-replayed", "true")
    } else {
        response
    })
}

async fn list<S>(
    app: &App<S>,
    request: &ApiRequest,
    tenant: &shared::domain::TenantId,
) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository,
{
    let limit = page_query(request, &["limit", "cursor"], 20, 100)?;
    let page = destinations::list(&app.store, tenant, limit, request.query_param("cursor")).await?;
    Ok(ApiResponse::json(
        200,
        &PageView {
            items: page.items.iter().map(DestinationView::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

pub fn destination_response(status: u16, destination: &Destination) -> ApiResponse {
    ApiResponse::json(status, &DestinationView::from(destination)).header("etag", etag(destination))
}

async fn activity<S>(
    app: &App<S>,
    request: &ApiRequest,
    tenant: &shared::domain::TenantId,
    id: &DestinationId,
) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository + ActivityLog,
{
    let limit = page_query(request, &["limit", "cursor"], 20, 100)?;
    let page = destinations::activity(
        &app.store,
        &app.store,
        tenant,
        id,
        limit,
        request.query_param("cursor"),
    )
    .await?;
    Ok(ApiResponse::json(
        200,
        &PageView {
            items: page.items,
            next_cursor: page.next_cursor,
        },
    ))
}
