//! The `deliveries-api` Lambda: the platform's exporters ask for a delivery and get its record
//! back, or take a short session to write a destination's folder themselves. Its routes are authorized by IAM (the platform's own identities), never by a tenant's
//! token. The library holds the handler and its wiring, so that `main.rs`, the local run and the
//! tests build the same thing.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;

use shared::adapters::aws_writer::AwsWriter;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::sqs::SqsQueue;
use shared::config::Settings;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The handler's dependencies, from configuration and the function's SDK configuration. Vended
/// sessions are taken on as the connector, as every write for a destination is.
pub async fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<handler::App<DynamoDbStore, SqsQueue, AwsWriter>, Error> {
    let platform = settings.platform()?;
    Ok(handler::App {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        queue: SqsQueue::from_config(aws, settings.delivery_queue_url()?),
        writer: AwsWriter::as_connector(aws, &platform, settings.s3_options()).await?,
        platform,
        staging_bucket: settings.staging_bucket()?,
    })
}
