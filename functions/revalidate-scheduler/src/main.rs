//! Cold start: DynamoDB and SQS clients once, then serve EventBridge events.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::sqs::SqsQueue;
use shared::config::{Env, RevalidationEnv};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = Env::from_process()?;
    let revalidation = RevalidationEnv::from_process()?;
    let aws = shared::aws::sdk_config(None).await?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table_name);
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), revalidation.queue_url()?);
    let (store, queue) = (&store, &queue);
    run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            revalidate_scheduler::handler::handle(store, queue, event.payload).await
        },
    ))
    .await
}
