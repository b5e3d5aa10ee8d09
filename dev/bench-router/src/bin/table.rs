//! Routes every request by matching `shared::http::ROUTES`' templates segment by segment, as the
//! API functions did before they adopted axum, and answers with the route it found: the "before"
//! of the axum measurement.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use shared::http::{Problem, ROUTES};

/// The route table's own matcher (what axum's router replaced). `Problem` is the error of every
/// HTTP step, as in `shared::http`.
#[allow(clippy::result_large_err)]
fn route(method: &str, path: &str) -> Result<String, Problem> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut matched = ROUTES.iter().filter(|spec| {
        let parts: Vec<&str> = spec.template.split('/').skip(1).collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part.starts_with('{') || part == segment)
    });
    let spec = matched
        .find(|spec| spec.method == method)
        .ok_or_else(|| Problem::not_found(format!("No resource at {path}.")))?;
    let params: Vec<(&str, &str)> = spec
        .template
        .split('/')
        .skip(1)
        .zip(&segments)
        .filter_map(|(part, value)| Some((part.strip_prefix('{')?.strip_suffix('}')?, *value)))
        .collect();
    Ok(format!("{:?}", spec.resolve(&params)?.route))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|request: Request| async move {
        let (status, body) = match route(request.method().as_str(), request.uri().path()) {
            Ok(route) => (200, route),
            Err(problem) => (problem.status, problem.title),
        };
        Ok::<_, Error>(Response::builder().status(status).body(Body::from(body))?)
    }))
    .await
}
