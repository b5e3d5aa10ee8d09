//! Cold start: DynamoDB, SQS, staging S3 and the writer's STS/S3 clients once (STS as the
//! connector role), then serve queue batches and the sweep's schedule.

use deliver::handler::{Trigger, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    // No probe timeouts: a part of a large file may take longer than a check's whole request.
    let aws = shared::aws::sdk_config(None).await?;
    let worker = deliver::wire(&settings, &aws).await?;
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<Trigger>| async move {
        // Boxed: an attempt's state machine is large, and the runtime polls it on the main
        // thread's stack.
        Box::pin(handle(worker, event.payload)).await
    }))
    .await
}
