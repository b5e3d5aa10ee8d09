//! Cold start: configuration and the DynamoDB client once, then serve.

use std::sync::Arc;

use shared::config::Settings;
use shared::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(None).await?;
    let app = Arc::new(destinations_api::wire(&settings, &aws)?);
    let router = shared::http::router(
        &[Function::DestinationsApi],
        settings.token_claims(),
        move |route, request| destinations_api::handler::handle(app.clone(), route, request),
    );
    shared::http::lambda::serve(router).await
}
