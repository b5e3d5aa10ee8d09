//! Cold start: DynamoDB and SQS clients once, then serve EventBridge events.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(None).await?;
    let (store, queue) = revalidate_scheduler::wire(&settings, &aws)?;
    let (store, queue) = (&store, &queue);
    run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            revalidate_scheduler::handler::handle(store, queue, event.payload).await
        },
    ))
    .await
}
