//! Cold start: configuration and the DynamoDB, STS and S3 clients once (STS as the connector
//! role), then serve.

use shared::app::check::CheckSettings;
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let app = test_connection::wire(&settings, &aws, CheckSettings::default()).await?;
    shared::http::lambda::serve(&settings.token_claims(), |request| {
        test_connection::handler::handle(&app, request)
    })
    .await
}
