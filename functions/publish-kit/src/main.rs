//! Cold start: the S3 client once, then serve CloudFormation's custom-resource events.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use publish_kit::handler::{CustomResourceEvent, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let aws = shared::aws::sdk_config(None).await?;
    let s3 = publish_kit::wire(&shared::config::Settings::from_process(), &aws);
    let s3 = &s3;
    run(service_fn(move |event: LambdaEvent<CustomResourceEvent>| async move {
        handle(s3, event.payload).await
    }))
    .await
}
