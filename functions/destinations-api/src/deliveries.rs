//! A tenant's deliveries into one of its destinations: listed newest first, and one by id.

use shared::app::delivery;
use shared::domain::delivery::DeliveryId;
use shared::domain::{DestinationId, TenantId};
use shared::http::{ApiRequest, ApiResponse, DeliveryView, PageView, Problem, page_query};
use shared::ports::{DeliveryRecords, DestinationRepository};

pub async fn list<S: DestinationRepository + DeliveryRecords>(
    store: &S,
    request: &ApiRequest,
    tenant: &TenantId,
    id: &DestinationId,
) -> Result<ApiResponse, Problem> {
    let limit = page_query(request, &["limit", "cursor"], 20, 100)?;
    let page = delivery::list(store, tenant, id, limit, request.query_param("cursor")).await?;
    Ok(ApiResponse::json(
        200,
        &PageView {
            items: page.items.iter().map(DeliveryView::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

pub async fn get<S: DeliveryRecords>(
    store: &S,
    tenant: &TenantId,
    id: &DestinationId,
    delivery_id: &DeliveryId,
) -> Result<ApiResponse, Problem> {
    let found = delivery::delivery(store, tenant, id, delivery_id).await?;
    Ok(ApiResponse::json(200, &DeliveryView::from(&found)))
}
