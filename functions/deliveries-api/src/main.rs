//! Cold start: configuration, the DynamoDB, SQS and STS (as the connector role) clients once,
//! then serve.

use std::sync::Arc;

use shared::config::Settings;
use shared::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    // Every call is small: the probe timeouts bound each, as in Test Connection.
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let app = Arc::new(deliveries_api::wire(&settings, &aws).await?);
    let router = shared::http::router(
        &[Function::DeliveriesApi],
        settings.token_claims(),
        move |route, request| deliveries_api::handler::handle(app.clone(), route, request),
    );
    shared::http::lambda::serve(router).await
}
