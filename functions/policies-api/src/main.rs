//! Cold start: configuration and the DynamoDB client once, then serve.

use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(None).await?;
    let app = policies_api::wire(&settings, &aws)?;
    shared::http::lambda::serve(&settings.token_claims(), |request| {
        policies_api::handler::handle(&app, request)
    })
    .await
}
