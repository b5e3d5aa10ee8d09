//! Cold start: configuration, the DynamoDB, SQS and STS (as the connector role) clients once,
//! then serve.

use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    // Every call is small: the probe timeouts bound each, as in Test Connection.
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let app = deliveries_api::wire(&settings, &aws).await?;
    shared::http::lambda::serve(&settings.token_claims(), |request| {
        deliveries_api::handler::handle(&app, request)
    })
    .await
}
