//! Cold start: DynamoDB and EventBridge clients once, then serve stream batches and sweeps.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use publish_events::handler::{Trigger, handle};
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let settings = Settings::from_process();
    let aws = shared::aws::sdk_config(None).await?;
    let (store, publisher) = publish_events::wire(&settings, &aws)?;
    let (store, publisher) = (&store, &publisher);
    run(service_fn(move |event: LambdaEvent<Trigger>| async move {
        handle(store, publisher, event.payload).await
    }))
    .await
}
