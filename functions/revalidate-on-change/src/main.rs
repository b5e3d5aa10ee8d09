//! Cold start: the SQS client once, then serve DynamoDB stream batches.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::sqs::SqsQueue;
use shared::config::RevalidationEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let revalidation = RevalidationEnv::from_process()?;
    let aws = shared::aws::sdk_config(None).await?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), revalidation.queue_url()?);
    let queue = &queue;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        revalidate_on_change::handler::handle(queue, event.payload)
            .await
            .map(|queued| serde_json::json!({ "queued": queued }))
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
    }))
    .await
}
