//! Who writes for a destination, and how: the one write path that Test Connection's test object and
//! deliveries share, so that a passing test proves the very session and headers a delivery uses.
//!
//! [`plan`] decides the identity (the customer's role with the destination's External ID, or the
//! platform's writer as `destination-<id>`), the session policy, the pinned owner and the KMS key;
//! [`open_session`] takes that identity on; [`put`] writes one object with it, following S3 to the
//! bucket's region when none is configured. Nothing else in the crate builds a session or a write.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::domain::{
    AccountId, AuthMode, BucketName, Configuration, Destination, DestinationId, ExternalId,
    KmsKeyArn, Partition, PartitionIdentity, PlatformIdentity, RoleArn, RoleSessionName,
    session_name,
};
use crate::policy;
use bytes::{Bytes, BytesMut};

use crate::ports::{
    AssumeRoleRequest, FullObjectChecksum, ObjectBody, ObjectSource, ObjectTarget, ObjectWriter,
    ProbeError, ProbeFailure, SessionCredentials, SourceError, UploadedPart, WrittenObject,
};

/// Which configuration of a destination is written to, and the owner every write names.
#[derive(Debug, Clone)]
pub struct WriteTarget<'a> {
    pub id: &'a DestinationId,
    pub auth: &'a AuthMode,
    pub configuration: &'a Configuration,
    /// Sent as `ExpectedBucketOwner` on every write.
    pub expected_owner: Option<AccountId>,
    /// Role mode: the External ID presented to the role.
    pub external_id: Option<&'a ExternalId>,
}

impl<'a> WriteTarget<'a> {
    /// The configuration under edit (Test Connection), with the owner the customer gave or the
    /// role's account, presenting an open rotation's next External ID (what the test proves).
    pub fn under_edit(destination: &'a Destination) -> Self {
        Self {
            id: destination.id(),
            auth: destination.auth(),
            configuration: destination.configuration(),
            expected_owner: destination.configuration().expected_owner(),
            external_id: destination.external_id_under_test(),
        }
    }

    /// The active configuration (re-validation and deliveries) and the owner pinned when it was
    /// saved; `None` for a destination never saved.
    pub fn active(destination: &'a Destination) -> Option<Self> {
        let active = destination.active()?;
        Some(Self {
            id: destination.id(),
            auth: destination.auth(),
            configuration: &active.configuration,
            expected_owner: active
                .pinned_owner
                .clone()
                .or_else(|| active.configuration.expected_owner()),
            external_id: destination.external_id(),
        })
    }
}

/// Why a configuration cannot be written to at all, before any AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    PartitionNotServed(Partition),
    /// Bucket-policy mode writes only into a named owner's bucket.
    BucketOwnerRequired,
    RoleNotSet,
    RoleInOtherPartition {
        role: Partition,
        configuration: Partition,
    },
    /// The role or the bucket is in one of the platform's own accounts.
    PlatformAccount {
        what: &'static str,
        account: AccountId,
    },
    KeyInOtherPartition,
}

/// Everything a write for one destination is made with, decided once.
#[derive(Debug)]
pub struct WritePlan<'a> {
    pub target: &'a WriteTarget<'a>,
    pub identity: &'a PartitionIdentity,
    /// The role whose session writes: the customer's (with `external_id`) or our writer.
    pub role: &'a RoleArn,
    pub external_id: Option<&'a ExternalId>,
    pub session_name: RoleSessionName,
    /// The session may write only this destination's objects, into the expected owner's bucket,
    /// whatever its role allows.
    pub session_policy: String,
}

impl WritePlan<'_> {
    pub fn bucket(&self) -> &BucketName {
        &self.target.configuration.bucket
    }

    pub fn partition(&self) -> Partition {
        self.target.configuration.partition()
    }

    pub fn kms_key(&self) -> Option<&KmsKeyArn> {
        self.target.configuration.kms_key.as_ref()
    }

    /// The region to write to first: the configured one, else the partition's default (S3 then
    /// answers with the bucket's own).
    pub fn first_region(&self) -> String {
        self.target.configuration.region.as_ref().map_or_else(
            || self.partition().default_region().to_owned(),
            |r| r.as_str().to_owned(),
        )
    }

    /// The same identity, scoped to whole-object puts with the owner ACL: the session handed to
    /// an exporter (see [`policy::single_put_session_policy`]).
    #[must_use]
    pub fn single_puts_only(mut self) -> Self {
        let document = policy::single_put_session_policy(
            self.target.configuration,
            self.target.expected_owner.as_ref(),
        );
        self.session_policy = serde_json::to_string(&document).unwrap_or_default();
        self
    }

    /// The AssumeRole that opens this plan's session.
    pub fn assume_request(&self) -> AssumeRoleRequest<'_> {
        AssumeRoleRequest {
            role_arn: self.role,
            external_id: self.external_id,
            session_name: &self.session_name,
            session_policy: Some(&self.session_policy),
        }
    }

    /// Where an object under `key` goes, written with `session` in `region`.
    pub fn object<'s>(
        &'s self,
        session: &'s SessionCredentials,
        region: &'s str,
        key: &'s str,
    ) -> ObjectTarget<'s> {
        ObjectTarget {
            session,
            bucket: self.bucket(),
            key,
            region,
            expected_bucket_owner: self.target.expected_owner.as_ref(),
            kms_key: self.kms_key(),
        }
    }
}

/// Decides who writes for `target` and how, or why nobody may.
pub fn plan<'a>(
    target: &'a WriteTarget<'a>,
    platform: &'a PlatformIdentity,
) -> Result<WritePlan<'a>, PlanError> {
    let config = target.configuration;
    let partition = config.partition();
    let identity = platform
        .for_partition(partition)
        .ok_or(PlanError::PartitionNotServed(partition))?;
    let (role, external_id) = match target.auth {
        AuthMode::BucketPolicy => {
            if target.expected_owner.is_none() {
                return Err(PlanError::BucketOwnerRequired);
            }
            (&identity.writer_role, None)
        }
        AuthMode::IamRole { .. } => {
            let role = config.role_arn.as_ref().ok_or(PlanError::RoleNotSet)?;
            if role.partition() != partition {
                return Err(PlanError::RoleInOtherPartition {
                    role: role.partition(),
                    configuration: partition,
                });
            }
            if platform.is_platform_account(role.account()) {
                return Err(PlanError::PlatformAccount {
                    what: "role",
                    account: role.account().clone(),
                });
            }
            (role, target.external_id)
        }
    };
    if let Some(owner) = &target.expected_owner
        && platform.is_platform_account(owner)
    {
        return Err(PlanError::PlatformAccount {
            what: "bucket",
            account: owner.clone(),
        });
    }
    if let Some(key) = &config.kms_key {
        if key.partition() != partition {
            return Err(PlanError::KeyInOtherPartition);
        }
        if platform.is_platform_account(&key.account()) {
            return Err(PlanError::PlatformAccount {
                what: "KMS key",
                account: key.account(),
            });
        }
    }
    let session_policy = policy::session_policy(config, target.expected_owner.as_ref());
    Ok(WritePlan {
        target,
        identity,
        role,
        external_id,
        session_name: session_name(target.id),
        session_policy: serde_json::to_string(&session_policy).unwrap_or_default(),
    })
}

/// A point in time after which no AWS call is started or awaited.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Runs one AWS call within what is left; a call still running then is a `Timeout`.
    pub async fn call<T>(
        self,
        call: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        tokio::time::timeout(self.remaining(), call)
            .await
            .unwrap_or_else(|_| Err(ProbeError::new(ProbeFailure::Timeout)))
    }
}

/// Takes on the plan's identity: one AssumeRole as the connector.
///
/// # Errors
/// What STS answered, classified; `Timeout` past the deadline.
pub async fn open_session<W: ObjectWriter>(
    writer: &W,
    plan: &WritePlan<'_>,
    deadline: Deadline,
) -> Result<SessionCredentials, ProbeError> {
    deadline
        .call(writer.assume_role(plan.assume_request()))
        .await
}

/// A written object and the region S3 took it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put<T = WrittenObject> {
    pub region: String,
    pub written: T,
    /// How long finding the bucket's region took (zero unless a first attempt was redirected).
    pub located_after: Duration,
    /// The attempt that wrote.
    pub write_took: Duration,
}

/// A write that failed, and where it got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutFailure {
    pub error: ProbeError,
    /// The region of the last attempt, or the bucket's own when the configured one is wrong.
    pub region: String,
    /// The bucket is in `region`, but the configuration names another one.
    pub configured_region_wrong: bool,
    /// How long finding the bucket's region took before the failed attempt.
    pub located_after: Duration,
    pub attempt_took: Duration,
}

/// Runs `attempt` in the plan's first region; without a configured region, a redirect to the
/// bucket's own region is followed once; with one, the redirect is the failure. The one place
/// that decides which region a write goes to.
async fn in_bucket_region<T, F, Fut>(
    plan: &WritePlan<'_>,
    mut attempt: F,
) -> Result<(T, Put<()>), PutFailure>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, ProbeError>>,
{
    let configured = plan.target.configuration.region.is_some();
    let mut region = plan.first_region();
    let locating = Instant::now();
    let mut started = Instant::now();
    let mut result = attempt(region.clone()).await;
    if let Err(error) = &result
        && let ProbeFailure::WrongRegion { actual } = &error.failure
    {
        if configured {
            return Err(PutFailure {
                region: actual.clone(),
                configured_region_wrong: true,
                located_after: locating.elapsed(),
                attempt_took: Duration::ZERO,
                error: error.clone(),
            });
        }
        region = actual.clone();
        started = Instant::now();
        result = attempt(region.clone()).await;
    }
    let located_after = started.duration_since(locating);
    match result {
        Ok(value) => Ok((
            value,
            Put {
                region,
                written: (),
                located_after,
                write_took: started.elapsed(),
            },
        )),
        Err(error) => Err(PutFailure {
            error,
            region,
            configured_region_wrong: false,
            located_after,
            attempt_took: started.elapsed(),
        }),
    }
}

/// Writes `body` under `key` with `session`, in the bucket's region.
///
/// # Errors
/// The failed attempt, classified, with the region it was made in.
pub async fn put<W: ObjectWriter>(
    writer: &W,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    key: &str,
    body: ObjectBody,
    deadline: Deadline,
) -> Result<Put, PutFailure> {
    let (written, put) = in_bucket_region(plan, |region| {
        let body = body.clone();
        async move {
            deadline
                .call(writer.put_object(plan.object(session, &region, key), body))
                .await
        }
    })
    .await?;
    Ok(Put {
        region: put.region,
        written,
        located_after: put.located_after,
        write_took: put.write_took,
    })
}

/// How a streamed object is cut into requests: measured in BENCHMARKS.md.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Objects up to this size go in one PutObject (read whole into memory first).
    pub single_put_limit: u64,
    /// Multipart part size (S3: 5 MiB to 5 GiB; raised when 10,000 parts would not hold it).
    pub part_size: u64,
    /// Parts in flight at once. Memory stays below `(concurrency + 1) × part_size`.
    pub concurrency: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            single_put_limit: 16 * MIB,
            part_size: 8 * MIB,
            concurrency: 4,
        }
    }
}

const MIB: u64 = 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;

impl StreamSettings {
    /// The part size for an object of `size` bytes: the configured one, within S3's bounds, and
    /// large enough that the object fits in 10,000 parts (rounded up to whole MiB).
    pub fn part_size_for(&self, size: u64) -> u64 {
        let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        self.part_size.max(MIN_PART_SIZE).max(needed)
    }
}

/// An object to stream: where it goes, its bytes, and its content type.
pub struct Upload<'a, S> {
    pub key: &'a str,
    pub source: S,
    pub content_type: &'static str,
}

/// A streamed object, written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed {
    pub region: String,
    pub written: WrittenObject,
    pub bytes: u64,
    pub checksum: FullObjectChecksum,
    /// 0 for a single PutObject.
    pub parts: u16,
}

/// The journal could not record a started upload.
pub type JournalError = Box<dyn std::error::Error + Send + Sync>;

/// Told of a multipart upload as soon as it starts, before any part is sent, so that an attempt
/// that dies mid-way leaves behind the id its successor aborts.
pub trait UploadJournal: Sync {
    /// # Errors
    /// When the id could not be recorded: the upload is aborted rather than risk forgetting it.
    fn started(&self, upload_id: &str) -> impl Future<Output = Result<(), JournalError>> + Send;
}

/// No journal: for writes that are never retried by another worker.
pub struct NoJournal;

impl UploadJournal for NoJournal {
    async fn started(&self, _upload_id: &str) -> Result<(), JournalError> {
        Ok(())
    }
}

/// Why a streamed write failed.
#[derive(Debug)]
pub enum StreamFailure {
    /// The source could not be read (nothing was completed; a started upload was aborted).
    Source(SourceError),
    /// A started upload could not be recorded (it was aborted).
    Journal(JournalError),
    /// AWS refused or failed a request.
    Write {
        failure: PutFailure,
        /// A multipart upload was started and could not be aborted: its parts remain until the
        /// bucket's lifecycle rule removes them.
        left_parts: bool,
    },
}

/// Writes the whole of `source` under `key` with `session`, in bounded memory: one PutObject up
/// to `single_put_limit`, a multipart upload above it, with a full-object CRC-64/NVME checksum S3
/// verifies either way. A failed multipart upload is aborted, so no parts are left behind.
///
/// # Errors
/// [`StreamFailure`].
pub async fn stream<W: ObjectWriter, S: ObjectSource, J: UploadJournal>(
    writer: &W,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    upload: Upload<'_, S>,
    settings: StreamSettings,
    deadline: Deadline,
    journal: &J,
) -> Result<Streamed, StreamFailure> {
    let Upload {
        key,
        mut source,
        content_type,
    } = upload;
    let size = source.size();
    if size <= settings.single_put_limit {
        return put_whole(writer, plan, session, key, source, content_type, deadline).await;
    }
    let (region, upload_id) = start_upload(writer, plan, session, key, content_type, deadline)
        .await
        .map_err(|failure| StreamFailure::Write {
            failure,
            left_parts: false,
        })?;
    let target = plan.object(session, &region, key);
    let completed = async {
        journal
            .started(&upload_id)
            .await
            .map_err(UploadError::Journal)?;
        let (parts, checksum) =
            upload_parts(writer, target, &upload_id, &mut source, settings, deadline).await?;
        let written = deadline
            .call(writer.complete_upload(target, &upload_id, &parts, checksum))
            .await
            .map_err(UploadError::Write)?;
        Ok((written, checksum, parts.len()))
    }
    .await;
    match completed {
        Ok((written, checksum, parts)) => Ok(Streamed {
            region: region.clone(),
            written,
            bytes: size,
            checksum,
            parts: u16::try_from(parts).unwrap_or(u16::MAX),
        }),
        Err(error) => Err(abort(writer, target, &upload_id, error).await),
    }
}

/// A small object in one PutObject (read whole, at most `single_put_limit` bytes).
async fn put_whole<W: ObjectWriter, S: ObjectSource>(
    writer: &W,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    key: &str,
    mut source: S,
    content_type: &'static str,
    deadline: Deadline,
) -> Result<Streamed, StreamFailure> {
    let size = source.size();
    let bytes = read_exactly(&mut source, size)
        .await
        .map_err(StreamFailure::Source)?;
    ensure_ended(&mut source)
        .await
        .map_err(StreamFailure::Source)?;
    let body = body(bytes, content_type);
    let checksum = body.checksum.unwrap_or(FullObjectChecksum(0));
    let put = put(writer, plan, session, key, body, deadline)
        .await
        .map_err(|failure| StreamFailure::Write {
            failure,
            left_parts: false,
        })?;
    Ok(Streamed {
        region: put.region,
        written: put.written,
        bytes: size,
        checksum,
        parts: 0,
    })
}

/// Aborts a failed upload so its parts do not stay behind, and says why it failed.
async fn abort<W: ObjectWriter>(
    writer: &W,
    target: ObjectTarget<'_>,
    upload_id: &str,
    error: UploadError,
) -> StreamFailure {
    // Aborting gets its own short budget: the deadline may be what failed the upload.
    let aborted = Deadline::after(ABORT_BUDGET)
        .call(writer.abort_upload(target, upload_id))
        .await
        .is_ok();
    match error {
        UploadError::Source(e) => StreamFailure::Source(e),
        UploadError::Journal(e) => StreamFailure::Journal(e),
        UploadError::Write(error) => StreamFailure::Write {
            failure: PutFailure {
                error,
                region: target.region.to_owned(),
                configured_region_wrong: false,
                located_after: Duration::ZERO,
                attempt_took: Duration::ZERO,
            },
            left_parts: !aborted,
        },
    }
}

/// Aborts the multipart upload a lost attempt left under `key`, in the bucket's region, so its
/// parts do not stay behind. Whether it was confirmed gone does not stop the next write: an upload
/// that could not be aborted here is left to the bucket's lifecycle rule.
pub async fn abort_leftover<W: ObjectWriter>(
    writer: &W,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    key: &str,
    upload_id: &str,
) -> bool {
    let budget = Deadline::after(ABORT_BUDGET);
    in_bucket_region(plan, |region| async move {
        budget
            .call(writer.abort_upload(plan.object(session, &region, key), upload_id))
            .await
    })
    .await
    .is_ok()
}

/// How long aborting a failed upload may take, whatever was left of the deadline.
const ABORT_BUDGET: Duration = Duration::from_secs(10);

enum UploadError {
    Source(SourceError),
    Journal(JournalError),
    Write(ProbeError),
}

/// Starts the upload in the bucket's region; returns the region and the upload id.
async fn start_upload<W: ObjectWriter>(
    writer: &W,
    plan: &WritePlan<'_>,
    session: &SessionCredentials,
    key: &str,
    content_type: &'static str,
    deadline: Deadline,
) -> Result<(String, String), PutFailure> {
    let (upload_id, started) = in_bucket_region(plan, |region| async move {
        deadline
            .call(writer.start_upload(plan.object(session, &region, key), content_type))
            .await
    })
    .await?;
    Ok((started.region, upload_id))
}

/// Reads `source` part by part and uploads up to `concurrency` parts at once; the checksum is
/// computed over the bytes in order as they are read.
async fn upload_parts<W: ObjectWriter, S: ObjectSource>(
    writer: &W,
    target: ObjectTarget<'_>,
    upload_id: &str,
    source: &mut S,
    settings: StreamSettings,
    deadline: Deadline,
) -> Result<(Vec<UploadedPart>, FullObjectChecksum), UploadError> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let size = source.size();
    let part_size = settings.part_size_for(size);
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut in_flight = FuturesUnordered::new();
    let mut parts = Vec::new();
    let mut read = 0u64;
    let mut number = 0u16;
    while read < size {
        let want = part_size.min(size - read);
        let bytes = read_exactly(source, want)
            .await
            .map_err(UploadError::Source)?;
        digest.update(&bytes);
        read += want;
        number += 1;
        in_flight.push(deadline.call(writer.upload_part(target, upload_id, number, bytes)));
        while in_flight.len() >= settings.concurrency.max(1) {
            if let Some(done) = in_flight.next().await {
                parts.push(done.map_err(UploadError::Write)?);
            }
        }
    }
    ensure_ended(source).await.map_err(UploadError::Source)?;
    while let Some(done) = in_flight.next().await {
        parts.push(done.map_err(UploadError::Write)?);
    }
    parts.sort_by_key(|p| p.number);
    Ok((parts, FullObjectChecksum(digest.finalize())))
}

/// Exactly `size` bytes of `source`, gathered into one buffer; a source that ends early is
/// `Changed`.
async fn read_exactly<S: ObjectSource>(source: &mut S, size: u64) -> Result<Bytes, SourceError> {
    let size = usize::try_from(size).map_err(|_| SourceError::Changed)?;
    let mut buffer = BytesMut::with_capacity(size);
    while buffer.len() < size {
        let chunk = source.next_chunk(size - buffer.len()).await?;
        if chunk.is_empty() {
            return Err(SourceError::Changed);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// A source that has more bytes than it announced changed while it was read.
async fn ensure_ended<S: ObjectSource>(source: &mut S) -> Result<(), SourceError> {
    if source.next_chunk(1).await?.is_empty() {
        Ok(())
    } else {
        Err(SourceError::Changed)
    }
}

/// A body with its checksum, as every single-request write sends it.
pub fn body(bytes: Bytes, content_type: &'static str) -> ObjectBody {
    let checksum = crc64nvme(&[&bytes]);
    ObjectBody {
        bytes,
        content_type,
        checksum: Some(checksum),
        only_if_absent: false,
    }
}

/// The CRC-64/NVME of `pieces` in order.
pub fn crc64nvme(pieces: &[&[u8]]) -> FullObjectChecksum {
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    for piece in pieces {
        digest.update(piece);
    }
    FullObjectChecksum(digest.finalize())
}
