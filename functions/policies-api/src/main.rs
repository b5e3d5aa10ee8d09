//! Cold start: read configuration and build the DynamoDB client once, then serve API Gateway events.

use policies_api::handler::{App, handle};
use shared::adapters::dynamodb::DynamoDbStore;
use shared::config::{Env, PlatformPrincipals};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let env = Env::from_process()?;
    let aws = shared::aws::sdk_config(None).await?;
    let app = App {
        store: DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table_name),
        principals: PlatformPrincipals::parse(&env.platform_principal_arns)?,
    };
    shared::http::lambda::serve(&env.tenant_claim, |request| handle(&app, request)).await
}
