//! Request → staged test → stored result → response. No SDK calls, no environment reads.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use shared::config::PlatformPrincipals;
use shared::connection_test::{TestSettings, run};
use shared::domain::connection_test::ConnectionTestResult;
use shared::domain::{DestinationId, TenantId};
use shared::http::{
    ApiRequest, ApiResponse, FieldError, Problem, Route, finish, load_destination, resolve,
    storage_problem,
};
use shared::ports::{ConnectionProber, DestinationStore, StoreError};

/// Longer than any test can run, so a crashed test never blocks the next one for long.
const LOCK_TTL: Duration = Duration::seconds(60);
const STORE_ATTEMPTS: usize = 5;

pub struct App<S, P> {
    pub store: S,
    pub prober: P,
    pub principals: PlatformPrincipals,
    pub settings: TestSettings,
}

pub async fn handle<S: DestinationStore, P: ConnectionProber>(
    app: &App<S, P>,
    request: ApiRequest,
) -> ApiResponse {
    let result = route(app, &request).await;
    finish(&request, result)
}

async fn route<S: DestinationStore, P: ConnectionProber>(
    app: &App<S, P>,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    let route = resolve(&request.method, &request.path)?;
    let tenant = request.tenant.as_ref().ok_or_else(Problem::unauthorized)?;
    match route {
        Route::TestConnection(id) => test(app, tenant, &id, request).await,
        Route::ListConnectionTests(id) => history(app, tenant, &id, request).await,
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestBody<'a> {
    destination_id: &'a str,
    /// False when the destination's configuration changed while the test ran: the result is kept in
    /// the history but is not the destination's latest.
    current: bool,
    #[serde(flatten)]
    result: &'a ConnectionTestResult,
}

async fn test<S: DestinationStore, P: ConnectionProber>(
    app: &App<S, P>,
    tenant: &TenantId,
    id: &DestinationId,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    if !request.body.is_empty() && request.body.iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(Problem::validation(vec![FieldError::new(
            "body",
            "Test Connection takes no body",
        )]));
    }
    let destination = load_destination(&app.store, tenant, id, request).await?;
    let now = OffsetDateTime::now_utc();
    if !app
        .store
        .try_lock_test(tenant, id, now, now + LOCK_TTL)
        .await
        .map_err(|e| storage_problem(e, request))?
    {
        // Deleted since we read it? Then it is a 404 like any missing destination.
        load_destination(&app.store, tenant, id, request).await?;
        return Err(Problem::conflict(
            "test-in-progress",
            "A connection test for this destination is already running; wait for its result.",
        ));
    }
    let result = run(&app.prober, &destination, &app.principals, app.settings).await;
    tracing::info!(
        request_id = %request.request_id,
        destination_id = %destination.id,
        passed = result.passed,
        category = ?result.category,
        duration_ms = result.duration_ms,
        "connection test finished"
    );
    let current = store_result(app, &destination, &result, request).await?;
    let body = TestBody {
        destination_id: destination.id.as_str(),
        current,
        result: &result,
    };
    Ok(ApiResponse::json(200, &body))
}

/// Makes `result` the destination's latest test if the configuration it tested is still current.
/// Returns whether it is.
async fn store_result<S: DestinationStore, P>(
    app: &App<S, P>,
    tested: &shared::domain::Destination,
    result: &ConnectionTestResult,
    request: &ApiRequest,
) -> Result<bool, Problem> {
    let mut destination = tested.clone();
    for _ in 0..STORE_ATTEMPTS {
        if destination.config_version != result.config_version {
            break;
        }
        let expected = destination.version;
        let mut updated = destination.clone();
        updated.latest_test = Some(result.clone());
        updated.version = expected + 1;
        match app
            .store
            .record_test_result(&updated, expected, result)
            .await
        {
            Ok(()) => return Ok(true),
            Err(StoreError::VersionConflict { .. }) => {
                // Someone renamed or re-described it meanwhile: re-read and try again.
                match app.store.get(&tested.tenant, &tested.id).await {
                    Ok(Some(fresh)) => destination = fresh,
                    Ok(None) => return Err(Problem::destination_not_found()),
                    Err(e) => {
                        let _ = app.store.unlock_test(&tested.tenant, &tested.id).await;
                        return Err(storage_problem(e, request));
                    }
                }
            }
            Err(e) => {
                let _ = app.store.unlock_test(&tested.tenant, &tested.id).await;
                return Err(storage_problem(e, request));
            }
        }
    }
    app.store
        .append_test_history(tested, result)
        .await
        .map_err(|e| storage_problem(e, request))?;
    app.store
        .unlock_test(&tested.tenant, &tested.id)
        .await
        .map_err(|e| storage_problem(e, request))?;
    Ok(false)
}

async fn history<S: DestinationStore, P>(
    app: &App<S, P>,
    tenant: &TenantId,
    id: &DestinationId,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    if let Some((unknown, _)) = request.query.iter().find(|(k, _)| k != "limit") {
        return Err(Problem::validation(vec![FieldError::new(
            unknown.clone(),
            "unknown query parameter",
        )]));
    }
    let limit = match request.query_param("limit") {
        None => 10,
        Some(raw) => match raw.parse::<u16>() {
            Ok(n) if (1..=50).contains(&n) => n,
            _ => {
                return Err(Problem::validation(vec![FieldError::new(
                    "limit",
                    "must be an integer from 1 to 50",
                )]));
            }
        },
    };
    load_destination(&app.store, tenant, id, request).await?;
    let items = app
        .store
        .test_history(tenant, id, limit)
        .await
        .map_err(|e| storage_problem(e, request))?;
    Ok(ApiResponse::json(
        200,
        &serde_json::json!({ "items": items }),
    ))
}
