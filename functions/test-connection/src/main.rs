//! Cold start: read configuration and build the DynamoDB, STS and S3 clients once, then serve.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use shared::adapters::aws_probe::AwsProber;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::config::{Env, PlatformPrincipals};
use shared::connection_test::TestSettings;
use test_connection::handler::{App, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let env = Env::from_process()?;
    // Every AWS call has its own bound, well inside the test's overall deadline.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .build();
    let aws = shared::aws::sdk_config(Some(timeouts)).await?;
    let s3_base = aws_sdk_s3::config::Builder::from(&aws)
        .force_path_style(env.s3_force_path_style)
        .build();
    let app = App {
        store: DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table_name),
        prober: AwsProber::new(aws_sdk_sts::Client::new(&aws), s3_base),
        principals: PlatformPrincipals::parse(&env.platform_principal_arns)?,
        settings: TestSettings::default(),
    };
    shared::http::lambda::serve(&env.tenant_claim, |request| handle(&app, request)).await
}
