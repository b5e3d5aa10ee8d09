//! Cold start: configuration, the DynamoDB and SQS clients once, then serve.

use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(None).await?;
    let app = deliveries_api::wire(&settings, &aws)?;
    shared::http::lambda::serve(&settings.tenant_claim(), |request| {
        deliveries_api::handler::handle(&app, request)
    })
    .await
}
