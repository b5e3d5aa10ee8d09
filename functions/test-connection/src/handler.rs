//! Request → Test Connection → response. No SDK calls, no environment reads.

use std::sync::Arc;

use serde::Serialize;

use shared::app::check::CheckSettings;
use shared::app::testing::{self, Tester};
use shared::domain::check::CheckResult;
use shared::domain::revalidation::RevalidationSettings;
use shared::domain::{PlatformIdentity, Status};
use shared::http::{
    ApiRequest, ApiResponse, Problem, Resolved, Route, admitted_caller, finish, no_body, page_query,
};
use shared::ports::{
    CheckHistory, CheckLock, CheckSlots, DestinationRepository, ObjectWriter, RateLimiter,
};

pub struct App<S, P> {
    pub store: S,
    pub writer: P,
    pub platform: PlatformIdentity,
    pub settings: CheckSettings,
    /// How "Check now" records its result: as re-validation does.
    pub revalidation: RevalidationSettings,
}

pub async fn handle<S, P>(
    app: Arc<App<S, P>>,
    resolved: Resolved,
    request: ApiRequest,
) -> ApiResponse
where
    S: DestinationRepository + CheckLock + CheckHistory + CheckSlots + RateLimiter,
    P: ObjectWriter,
{
    let result = route(&app, resolved, &request).await;
    finish(&request, result)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestBody<'a> {
    destination_id: &'a str,
    /// False when the destination's configuration changed while the test ran: the result is kept in
    /// the history but is not the destination's latest.
    current: bool,
    #[serde(flatten)]
    result: &'a CheckResult,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckNowBody<'a> {
    destination_id: &'a str,
    /// The destination's status after the check.
    status: Status,
    /// False when the destination changed while the check ran: the result is kept in the history
    /// but did not change the status.
    current: bool,
    #[serde(flatten)]
    result: &'a CheckResult,
}

fn tester<S, P>(app: &App<S, P>) -> Tester<'_, S, P, S> {
    Tester {
        store: &app.store,
        writer: &app.writer,
        limiter: &app.store,
        platform: &app.platform,
        settings: app.settings,
    }
}

#[derive(Serialize)]
struct HistoryBody {
    items: Vec<CheckResult>,
}

async fn route<S, P>(
    app: &App<S, P>,
    resolved: Resolved,
    request: &ApiRequest,
) -> Result<ApiResponse, Problem>
where
    S: DestinationRepository + CheckLock + CheckHistory + CheckSlots + RateLimiter,
    P: ObjectWriter,
{
    let caller = admitted_caller(&app.store, request, &resolved).await?;
    match resolved.route {
        Route::TestConnection(id) => {
            no_body(request, "Test Connection")?;
            let tested = tester(app).test(caller, &id).await?;
            Ok(ApiResponse::json(
                200,
                &TestBody {
                    destination_id: id.as_str(),
                    current: tested.current,
                    result: &tested.result,
                },
            ))
        }
        Route::CheckNow(id) => {
            no_body(request, "Check now")?;
            let checked = tester(app)
                .check_now(caller, &id, &app.revalidation)
                .await?;
            Ok(ApiResponse::json(
                200,
                &CheckNowBody {
                    destination_id: id.as_str(),
                    status: checked.status,
                    current: checked.current,
                    result: &checked.result,
                },
            ))
        }
        Route::ListConnectionTests(id) => {
            let limit = page_query(request, &["limit"], 10, 50)?;
            let items = testing::history(&app.store, caller, &id, limit).await?;
            Ok(ApiResponse::json(200, &HistoryBody { items }))
        }
        _ => Err(Problem::not_found(format!(
            "No resource at {}.",
            request.path
        ))),
    }
}
