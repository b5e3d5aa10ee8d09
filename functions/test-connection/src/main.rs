//! Cold start: configuration and the DynamoDB, STS and S3 clients once (STS as the connector
//! role), then serve.

use std::sync::Arc;

use shared::app::check::CheckSettings;
use shared::config::Settings;
use shared::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let app = Arc::new(test_connection::wire(&settings, &aws, CheckSettings::default()).await?);
    let router = shared::http::router(
        &[Function::TestConnection],
        settings.token_claims(),
        move |route, request| test_connection::handler::handle(app.clone(), route, request),
    );
    shared::http::lambda::serve(router).await
}
