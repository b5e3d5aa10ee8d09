//! Routes every request by an axum `Router` holding the same routes (read from the table, so both
//! binaries link it and the difference is axum's own), and answers with the route it matched: the
//! "after" of the axum measurement.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::RawPathParams;
use axum::routing::{MethodFilter, MethodRouter};
use lambda_http::{Error, run};
use shared::http::ROUTES;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for spec in ROUTES {
        let filter = match spec.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("no method filter for {other}"),
        };
        let template = spec.template;
        let answer = move |params: RawPathParams| async move {
            let values: Vec<&str> = params.iter().map(|(_, value)| value).collect();
            format!("{template} {values:?}")
        };
        let methods = by_path
            .remove(template)
            .unwrap_or_default()
            .on(filter, answer);
        by_path.insert(template, methods);
    }
    let router = by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        });
    run(router).await
}
