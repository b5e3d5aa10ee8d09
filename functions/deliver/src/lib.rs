//! The `deliver` Lambda: delivery queue batch → one attempt per delivery through the writer Test
//! Connection proves; on a schedule, the sweep that queues due retries and lost attempts. The
//! library holds the handler and its wiring, so that `main.rs`, the local run and the tests build
//! the same thing.

pub mod handler;

use shared::adapters::aws_staging::StagingBucket;
use shared::adapters::aws_writer::AwsWriter;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::sqs::SqsQueue;
use shared::app::delivery::Deliverer;
use shared::app::writer::StreamSettings;
use shared::config::Settings;
use shared::domain::delivery::RetryPolicy;
use shared::domain::{BucketName, PlatformIdentity};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How much longer than an attempt's budget its lease lasts: past the function's timeout (the
/// template gives the function the budget plus a minute), so a live attempt is never taken over.
pub const LEASE_MARGIN: time::Duration = time::Duration::minutes(2);

/// What the function owns; [`Worker::deliverer`] lends it to the handler.
pub struct Worker {
    pub store: DynamoDbStore,
    pub writer: AwsWriter,
    pub staged: StagingBucket,
    /// The delivery queue, for the sweep.
    pub queue: SqsQueue,
    pub staging_bucket: BucketName,
    pub platform: PlatformIdentity,
    pub stream: StreamSettings,
    pub retry: RetryPolicy,
    pub budget: std::time::Duration,
}

impl Worker {
    pub fn deliverer(&self) -> Deliverer<'_, DynamoDbStore, AwsWriter, StagingBucket> {
        Deliverer {
            store: &self.store,
            writer: &self.writer,
            staged: &self.staged,
            platform: &self.platform,
            stream: self.stream,
            retry: self.retry,
            lease: lease(self.budget),
            budget: self.budget,
        }
    }
}

/// The lease an attempt of `budget` holds its delivery for.
pub fn lease(budget: std::time::Duration) -> time::Duration {
    time::Duration::try_from(budget).unwrap_or(time::Duration::minutes(14)) + LEASE_MARGIN
}

/// The function's dependencies. `aws` carries its own credentials: the staging bucket is read as
/// the function, the destination is written as the connector's session, as Test Connection does.
pub async fn wire<F: Fn(&str) -> Option<String>>(
    settings: &Settings<F>,
    aws: &aws_config::SdkConfig,
) -> Result<Worker, Error> {
    let platform = settings.platform()?;
    Ok(Worker {
        store: DynamoDbStore::from_config(aws, settings.table_name()?, settings.rate_limits()?),
        writer: AwsWriter::as_connector(aws, &platform, settings.s3_options()).await?,
        staged: StagingBucket::from_config(aws, settings.s3_force_path_style()),
        queue: SqsQueue::from_config(aws, settings.delivery_queue_url()?),
        staging_bucket: settings.staging_bucket()?,
        platform,
        stream: StreamSettings::default(),
        retry: RetryPolicy::default(),
        budget: settings.delivery_attempt_budget()?,
    })
}
