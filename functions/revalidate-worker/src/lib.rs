//! The `revalidate-worker` Lambda: SQS batch of checks → staged checks → status, events. The
//! library holds the handler and its wiring, so that `main.rs`, the local run and the tests build
//! the same thing.

pub mod handler;

use shared::adapters::aws_writer::AwsWriter;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::sqs::SqsQueue;
use shared::app::check::CheckSettings;
use shared::app::revalidation::{Checker, Clock};
use shared::config::Settings;
use shared::domain::PlatformIdentity;
use shared::domain::revalidation::RevalidationSettings;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the worker owns; [`Worker::checker`] lends it to the handler.
pub struct Worker {
    pub store: DynamoDbStore,
    pub writer: AwsWriter,
    /// The re-validation queue itself: checks put off for their tenant's slots go back to it.
    pub queue: SqsQueue,
    pub platform: PlatformIdentity,
    pub check_settings: CheckSettings,
    pub settings: RevalidationSettings,
    pub concurrency: usize,
}

impl Worker {
    pub fn checker(&self) -> Checker<'_, DynamoDbStore, AwsWriter, SqsQueue> {
        Checker {
            store: &self.store,
            writer: &self.writer,
            queue: &self.queue,
            platform: &self.platform,
            check_settings: self.check_settings,
            settings: self.settings,
            clock: Clock::system(),
        }
    }
}

/// The worker's dependencies. `aws` carries the function's own credentials (and the probe
/// timeouts); the writer takes on the connector role from them.
pub async fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
    check_settings: CheckSettings,
) -> Result<Worker, Error> {
    let platform = settings.platform()?;
    Ok(Worker {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        writer: AwsWriter::as_connector(aws, &platform, settings.s3_options()).await?,
        queue: SqsQueue::from_config(aws, settings.queue_url()?),
        platform,
        check_settings,
        settings: settings.revalidation()?,
        concurrency: settings.worker_concurrency()?,
    })
}
