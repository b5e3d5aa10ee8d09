//! Cold start: read configuration and build the DynamoDB, STS and S3 clients once, then serve.

use shared::adapters::aws_probe::AwsProber;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::config::{Env, PlatformPrincipals};
use shared::connection_test::TestSettings;
use test_connection::handler::{App, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let env = Env::from_process()?;
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let app = App {
        store: DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table_name),
        prober: AwsProber::from_config(&aws, env.s3_force_path_style),
        principals: PlatformPrincipals::parse(&env.platform_principal_arns)?,
        settings: TestSettings::default(),
    };
    shared::http::lambda::serve(&env.tenant_claim, |request| handle(&app, request)).await
}
