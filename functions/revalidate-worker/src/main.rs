//! Cold start: DynamoDB, STS and S3 clients once (STS as the connector role), then serve SQS
//! batches.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::app::check::CheckSettings;
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(Some(shared::aws::probe_timeouts())).await?;
    let worker = revalidate_worker::wire(&settings, &aws, CheckSettings::default()).await?;
    let (checker, concurrency) = (&worker.checker(), worker.concurrency);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(
            revalidate_worker::handler::handle(checker, concurrency, event.payload).await,
        )
    }))
    .await
}
