//! Cold start: DynamoDB, STS, S3 and EventBridge clients once, then serve SQS batches.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::aws_probe::AwsProber;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::config::{Env, PlatformPrincipals, RevalidationEnv};
use shared::connection_test::TestSettings;
use shared::revalidation::Checker;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = Env::from_process()?;
    let revalidation = RevalidationEnv::from_process()?;
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table_name);
    let prober = AwsProber::from_config(&aws, env.s3_force_path_style);
    let publisher = EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(&aws),
        revalidation.event_bus_name()?,
    );
    let principals = PlatformPrincipals::parse(&env.platform_principal_arns)?;
    let checker = Checker {
        store: &store,
        prober: &prober,
        publisher: &publisher,
        principals: &principals,
        test_settings: TestSettings::default(),
        settings: revalidation.settings,
    };
    let (checker, concurrency) = (&checker, revalidation.worker_concurrency);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(
            revalidate_worker::handler::handle(checker, concurrency, event.payload).await,
        )
    }))
    .await
}
