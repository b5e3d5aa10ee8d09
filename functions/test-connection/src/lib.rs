//! The `test-connection` Lambda: runs the staged connection check for one destination. The
//! library holds the handler and its wiring, so that `main.rs`, the local run and the tests build
//! the same thing.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;

use shared::adapters::aws_writer::AwsWriter;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::app::check::CheckSettings;
use shared::config::Settings;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The handler's dependencies. `aws` carries the function's own credentials (and the probe
/// timeouts); the writer takes on the connector role from them.
pub async fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
    check: CheckSettings,
) -> Result<handler::App<DynamoDbStore, AwsWriter>, Error> {
    let platform = settings.platform()?;
    Ok(handler::App {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        writer: AwsWriter::as_connector(aws, &platform, settings.s3_options()).await?,
        platform,
        settings: check,
        revalidation: settings.revalidation()?,
    })
}
