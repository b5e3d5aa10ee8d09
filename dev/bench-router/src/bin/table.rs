//! Routes every request by `shared::http::ROUTES`, as the API functions do, and answers with the
//! route it found: the "before" of the axum measurement.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|request: Request| async move {
        let (status, body) =
            match shared::http::resolve(request.method().as_str(), request.uri().path()) {
                Ok(resolved) => (200, format!("{:?}", resolved.route)),
                Err(problem) => (problem.status, problem.title),
            };
        Ok::<_, Error>(Response::builder().status(status).body(Body::from(body))?)
    }))
    .await
}
