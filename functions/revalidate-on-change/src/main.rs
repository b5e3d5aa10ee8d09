//! Cold start: the SQS client once, then serve DynamoDB stream batches.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(None).await?;
    let queue = revalidate_on_change::wire(&settings, &aws)?;
    let queue = &queue;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        revalidate_on_change::handler::handle(queue, event.payload).await
    }))
    .await
}
