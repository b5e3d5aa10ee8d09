use std::time::Duration;

use super::*;
use crate::app::check::{CheckSettings, CheckTarget, run};
use crate::app::writer::{Streamed, Upload};
use crate::domain::{AuthModeKind, DestinationPatch, Folder};
use crate::ports::InMemorySource;
use crate::testing::memory::{AssumeCall, PutCall, ScriptedWriter};
use crate::testing::{DestinationBuilder, NOW, platform};

const ROLE: &str = "arn:aws:iam::222222222222:role/customer-writer";

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn body(text: &'static str) -> InMemorySource {
    InMemorySource(text.into())
}

async fn deliver(
    writer: &ScriptedWriter,
    destination: &Destination,
    key: &str,
    source: impl crate::ports::ObjectSource,
    settings: StreamSettings,
) -> Result<Streamed, DeliveryWriteError> {
    write_object(
        writer,
        destination,
        &platform(),
        DeliveryWrite {
            upload: Upload {
                key,
                source,
                content_type: "application/octet-stream",
            },
            leftover_upload: None,
            journal: &NoJournal,
        },
        settings,
        deadline(),
    )
    .await
}

fn saved(auth: AuthModeKind) -> Destination {
    let builder = DestinationBuilder::new(auth)
        .folder("exports")
        .kms_key("arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    match auth {
        AuthModeKind::IamRole => builder.role_arn(ROLE).saved(),
        AuthModeKind::BucketPolicy => builder.saved(),
    }
}

/// The AssumeRole that opened the session a write used (the guard's probes open none that write).
fn session_of<'a>(calls: &'a [AssumeCall], put: &PutCall) -> &'a AssumeCall {
    calls
        .iter()
        .filter(|c| c.session_policy.is_some())
        .find(|c| format!("{}|{}", c.role_arn, c.session_name) == put.session_access_key)
        .expect("every write uses a session opened with the destination's session policy")
}

/// A put with its key and size left out: what must not differ between a check and a delivery.
fn how(put: &PutCall) -> PutCall {
    PutCall {
        key: String::new(),
        bytes: 0,
        ..put.clone()
    }
}

#[tokio::test]
async fn a_delivery_opens_the_same_session_and_writes_the_same_way_as_the_check() {
    for auth in [AuthModeKind::IamRole, AuthModeKind::BucketPolicy] {
        // GIVEN a saved destination whose role trusts only its External ID, and writers that
        // record every call
        let destination = saved(auth);
        let strict = || {
            ScriptedWriter::strict_role(
                destination
                    .external_id()
                    .map(|id| id.expose().to_owned())
                    .unwrap_or_default(),
            )
        };
        let (checked, delivered) = (strict(), strict());
        // WHEN its active configuration is re-validated, and a file is delivered to it
        let result = run(
            &checked,
            &CheckTarget::active(&destination, time::OffsetDateTime::now_utc()).unwrap(),
            &platform(),
            CheckSettings::default(),
        )
        .await;
        assert!(result.passed, "{result:?}");
        let put = deliver(
            &delivered,
            &destination,
            "exports/2026/12/05/d-1-report.csv",
            body("a,b\n"),
            StreamSettings::default(),
        )
        .await
        .unwrap();
        // THEN both took on the very same identity: role, External ID, session name and policy
        let (check_put, delivery_put) = (&checked.put_calls()[0], &delivered.put_calls()[0]);
        assert_eq!(
            session_of(&checked.assume_calls(), check_put),
            session_of(&delivered.assume_calls(), delivery_put),
            "{auth:?}"
        );
        // AND wrote with the same session, bucket, region, owner and key
        assert_eq!(how(check_put), how(delivery_put), "{auth:?}");
        assert_eq!(delivery_put.key, "exports/2026/12/05/d-1-report.csv");
        assert_eq!(delivery_put.bytes, 4);
        assert_eq!(put.region, check_put.region);
        // AND the delivery opened exactly one session: no guard probes on the delivery path
        assert_eq!(delivered.assume_calls().len(), 1, "{auth:?}");
    }
}

#[tokio::test]
async fn a_delivery_writes_the_active_configuration_never_the_pending_change() {
    // GIVEN a saved destination with a pending change of folder and bucket
    let mut destination = saved(AuthModeKind::IamRole);
    destination
        .apply(
            DestinationPatch {
                bucket: Some(crate::domain::BucketName::new("other-bucket").unwrap()),
                folder: Some(Folder::new("elsewhere").unwrap()),
                ..DestinationPatch::default()
            },
            NOW,
        )
        .unwrap();
    assert!(destination.has_pending_changes());
    let writer = ScriptedWriter::permissive();
    // WHEN a file is delivered
    deliver(
        &writer,
        &destination,
        "exports/x",
        body("x"),
        StreamSettings::default(),
    )
    .await
    .unwrap();
    // THEN it went to the active bucket, with a session scoped to the active folder
    let puts = writer.put_calls();
    assert_eq!(puts[0].bucket, "customer-bucket");
    let policy = writer.assume_calls()[0].session_policy.clone().unwrap();
    assert!(policy.contains("customer-bucket/exports/*"), "{policy}");
    assert!(!policy.contains("other-bucket"), "{policy}");
}

#[tokio::test]
async fn a_destination_never_saved_receives_nothing() {
    // GIVEN a draft that even passed a test
    let destination = DestinationBuilder::new(AuthModeKind::IamRole)
        .role_arn(ROLE)
        .build();
    let writer = ScriptedWriter::permissive();
    // WHEN a file is delivered
    let outcome = deliver(
        &writer,
        &destination,
        "x",
        body("x"),
        StreamSettings::default(),
    )
    .await;
    // THEN it is refused before any AWS call
    assert!(matches!(outcome, Err(DeliveryWriteError::NotSaved)));
    assert!(writer.assume_calls().is_empty() && writer.put_calls().is_empty());
}

/// Settings that send anything over 1 KiB as 5 MiB parts, two in flight.
fn small_parts() -> StreamSettings {
    StreamSettings {
        single_put_limit: 1024,
        part_size: writer::MIN_PART_SIZE,
        concurrency: 2,
    }
}

fn pattern(len: usize) -> bytes::Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
}

#[tokio::test]
async fn a_large_file_goes_in_parts_with_bounded_memory_and_arrives_whole() {
    // GIVEN a saved destination and a 12 MiB + 1 byte file
    let destination = saved(AuthModeKind::BucketPolicy);
    let mut writer = ScriptedWriter::permissive();
    writer.latency = Duration::from_millis(5);
    let file = pattern(12 * 1024 * 1024 + 1);
    // WHEN it is delivered
    let streamed = deliver(
        &writer,
        &destination,
        "exports/big.bin",
        InMemorySource(file.clone()),
        small_parts(),
    )
    .await
    .unwrap();
    // THEN it went in three parts, the object is byte-identical, and its checksum is the file's
    assert_eq!(streamed.parts, 3);
    assert_eq!(streamed.bytes, file.len() as u64);
    assert_eq!(writer::crc64nvme(&[&file]), streamed.checksum);
    assert_eq!(writer.objects.lock().unwrap()["exports/big.bin"], file);
    // AND never more than two parts were in flight at once
    let peak = writer.peak_part_bytes.lock().unwrap().1;
    assert!(peak <= 2 * writer::MIN_PART_SIZE as usize, "{peak}");
    assert!(
        peak > writer::MIN_PART_SIZE as usize,
        "parts overlapped: {peak}"
    );
    // AND nothing is left half-uploaded
    assert!(writer.uploads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_part_aborts_the_upload_and_leaves_nothing() {
    // GIVEN a bucket that fails the second part
    let destination = saved(AuthModeKind::IamRole);
    let mut writer =
        ScriptedWriter::strict_role(destination.external_id().unwrap().expose().to_owned());
    writer.failing_part = Some((2, ProbeError::new(crate::ports::ProbeFailure::AccessDenied)));
    // WHEN a three-part file is delivered
    let outcome = deliver(
        &writer,
        &destination,
        "exports/big.bin",
        InMemorySource(pattern(11 * 1024 * 1024)),
        small_parts(),
    )
    .await;
    // THEN the delivery fails with S3's answer, the upload was aborted, and no object exists
    match outcome {
        Err(DeliveryWriteError::Write(StreamFailure::Write {
            failure,
            left_parts,
        })) => {
            assert_eq!(
                failure.error.failure,
                crate::ports::ProbeFailure::AccessDenied
            );
            assert!(!left_parts);
        }
        other => panic!("{other:?}"),
    }
    assert!(writer.uploads.lock().unwrap().is_empty());
    assert!(writer.objects.lock().unwrap().is_empty());
}

/// A source that announces `announced` bytes, whatever it has.
struct Misannounced {
    source: InMemorySource,
    announced: u64,
}

impl crate::ports::ObjectSource for Misannounced {
    fn size(&self) -> u64 {
        self.announced
    }
    async fn next_chunk(&mut self, max: usize) -> Result<bytes::Bytes, crate::ports::SourceError> {
        self.source.next_chunk(max).await
    }
}

#[tokio::test]
async fn a_source_longer_or_shorter_than_announced_is_refused_and_aborted() {
    for announced_less_actual in [1_i64, -1] {
        // GIVEN a 6 MiB source that announces one byte more, or one fewer, than it has
        let file = pattern(6 * 1024 * 1024);
        let source = Misannounced {
            announced: (file.len() as u64).saturating_add_signed(announced_less_actual),
            source: InMemorySource(file),
        };
        let destination = saved(AuthModeKind::BucketPolicy);
        let writer = ScriptedWriter::permissive();
        // WHEN it is delivered in parts
        let outcome = deliver(&writer, &destination, "exports/x", source, small_parts()).await;
        // THEN the delivery fails as a changed source, and nothing is left in the bucket
        assert!(
            matches!(
                outcome,
                Err(DeliveryWriteError::Write(StreamFailure::Source(
                    crate::ports::SourceError::Changed
                )))
            ),
            "{announced_less_actual}: {outcome:?}"
        );
        assert!(writer.uploads.lock().unwrap().is_empty());
        assert!(writer.objects.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_source_read_in_chunks_that_straddle_parts_arrives_whole() {
    /// Hands out at most 1 MiB + 3 bytes a read, as a network body does, whatever is asked.
    struct Chunked(InMemorySource);
    impl crate::ports::ObjectSource for Chunked {
        fn size(&self) -> u64 {
            self.0.size()
        }
        async fn next_chunk(
            &mut self,
            max: usize,
        ) -> Result<bytes::Bytes, crate::ports::SourceError> {
            self.0.next_chunk(max.min(1024 * 1024 + 3)).await
        }
    }
    // GIVEN an 11 MiB file read in chunks that do not line up with the 5 MiB parts
    let destination = saved(AuthModeKind::BucketPolicy);
    let writer = ScriptedWriter::permissive();
    let file = pattern(11 * 1024 * 1024);
    // WHEN it is delivered
    let source = Chunked(InMemorySource(file.clone()));
    let streamed = deliver(&writer, &destination, "exports/x", source, small_parts())
        .await
        .unwrap();
    // THEN it went in three parts and arrived byte for byte
    assert_eq!(streamed.parts, 3);
    assert_eq!(writer.objects.lock().unwrap()["exports/x"], file);
}

#[test]
fn the_part_size_grows_so_that_ten_thousand_parts_hold_any_object() {
    let settings = StreamSettings::default();
    assert_eq!(settings.part_size_for(1), 8 * 1024 * 1024);
    let five_tib = 5u64 << 40;
    let part = settings.part_size_for(five_tib);
    assert!(five_tib.div_ceil(part) <= writer::MAX_PARTS);
    assert_eq!(part % (1024 * 1024), 0);
}

mod attempts {
    use super::*;
    use crate::domain::delivery::{
        DeliveryId, DeliveryRequest, DeliveryStatus, ObjectName, StagedSource,
    };
    use crate::domain::{BucketName, PlatformIdentity, check::FailureCategory};
    use crate::testing::NOW;

    fn accepted(destination: &Destination) -> Delivery {
        Delivery::accept(
            DeliveryRequest {
                tenant: destination.tenant().clone(),
                destination: destination.id().clone(),
                id: DeliveryId::new("d-7").unwrap(),
                source: StagedSource::new(BucketName::new("platform-staging").unwrap(), "t/7")
                    .unwrap(),
                name: ObjectName::new("report.csv").unwrap(),
                requested_by: crate::domain::Actor::new("exporter").unwrap(),
            },
            destination,
            NOW,
        )
        .unwrap()
    }

    fn settings<'a>(platform: &'a PlatformIdentity, retry: &'a RetryPolicy) -> AttemptSettings<'a> {
        AttemptSettings {
            platform,
            stream: StreamSettings::default(),
            retry,
            deadline: deadline(),
            lease: time::Duration::minutes(20),
        }
    }

    #[tokio::test]
    async fn a_delivery_is_written_under_its_key_and_records_what_s3_took() {
        // GIVEN a verified destination and an accepted delivery
        let destination = saved(AuthModeKind::BucketPolicy);
        let mut delivery = accepted(&destination);
        let writer = ScriptedWriter::permissive();
        let retry = RetryPolicy::default();
        let platform = platform();
        // WHEN it is attempted
        let attempted = attempt(
            &writer,
            &mut delivery,
            &destination,
            InMemorySource("a,b\n".into()),
            &settings(&platform, &retry),
            NOW,
        )
        .await
        .unwrap();
        // THEN the file is under the key decided when it was asked for, and the record says so
        assert_eq!(attempted, Attempted::Delivered);
        let key = "exports/2026/11/27/d-7-report.csv";
        assert_eq!(delivery.key, key);
        assert_eq!(writer.objects.lock().unwrap()[key], "a,b\n");
        let written = delivery.written.as_ref().unwrap();
        assert_eq!(written.bytes, 4);
        assert_eq!(written.checksum, writer::crc64nvme(&[b"a,b\n"]).to_base64());
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
    }

    #[tokio::test]
    async fn a_bucket_that_denies_us_is_retried_then_parked_naming_the_category() {
        // GIVEN a bucket that denies every write, and two attempts allowed
        let destination = saved(AuthModeKind::BucketPolicy);
        let mut delivery = accepted(&destination);
        let writer = ScriptedWriter::new(
            |_| Ok(()),
            |_| Err(ProbeError::new(ProbeFailure::AccessDenied)),
        );
        let retry = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let platform = platform();
        // WHEN attempted twice
        let mut outcomes = Vec::new();
        for now in [NOW, NOW + time::Duration::hours(1)] {
            let source = InMemorySource("x".into());
            outcomes.push(
                attempt(
                    &writer,
                    &mut delivery,
                    &destination,
                    source,
                    &settings(&platform, &retry),
                    now,
                )
                .await
                .unwrap(),
            );
        }
        // THEN the first will be retried and the second parks it, both naming the denial
        assert_eq!(
            outcomes,
            [
                Attempted::WillRetry(FailureCategory::PutAccessDenied),
                Attempted::Parked(FailureCategory::PutAccessDenied)
            ]
        );
        assert!(writer.objects.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failing_destination_is_not_written_and_its_category_counts_toward_parking() {
        // GIVEN a destination whose last re-validation failed
        let mut destination = saved(AuthModeKind::BucketPolicy);
        let version = destination.active().unwrap().config_version;
        destination
            .record_check(
                crate::testing::failed(version, FailureCategory::BucketNotFound),
                &crate::domain::revalidation::RevalidationSettings::default(),
                NOW,
            )
            .unwrap();
        let mut delivery = accepted(&destination);
        let writer = ScriptedWriter::permissive();
        let retry = RetryPolicy::default();
        let platform = platform();
        // WHEN a delivery to it is attempted
        let attempted = attempt(
            &writer,
            &mut delivery,
            &destination,
            InMemorySource("x".into()),
            &settings(&platform, &retry),
            NOW,
        )
        .await
        .unwrap();
        // THEN nothing is written and the attempt fails with the destination's own category
        assert_eq!(
            attempted,
            Attempted::WillRetry(FailureCategory::BucketNotFound)
        );
        assert!(writer.assume_calls().is_empty() && writer.put_calls().is_empty());
        assert_eq!(delivery.attempts, 1);
    }
}

/// A refused write of a delivery, as the writer reports it.
fn refused_write(failure: ProbeFailure) -> DeliveryWriteError {
    DeliveryWriteError::Write(StreamFailure::Write {
        failure: crate::app::writer::PutFailure {
            error: ProbeError::new(failure),
            region: "us-east-1".into(),
            configured_region_wrong: false,
            located_after: Duration::ZERO,
            attempt_took: Duration::ZERO,
        },
        left_parts: false,
    })
}

#[test]
fn every_failed_delivery_reports_the_checks_category_for_its_cause() {
    use crate::ports::KmsRefusal;
    let session = |failure| DeliveryWriteError::Session(ProbeError::new(failure));
    let cases = [
        (
            DeliveryWriteError::NotSaved,
            FailureCategory::InvalidConfiguration,
        ),
        // The session the check proved: a denial now is the role's, a slow answer AWS's.
        (
            session(ProbeFailure::AccessDenied),
            FailureCategory::RoleNotAssumable,
        ),
        (
            session(ProbeFailure::Other),
            FailureCategory::RoleNotAssumable,
        ),
        (session(ProbeFailure::Throttled), FailureCategory::Transient),
        (
            session(ProbeFailure::Unreachable),
            FailureCategory::Transient,
        ),
        (session(ProbeFailure::Timeout), FailureCategory::TimedOut),
        // The write itself.
        (
            refused_write(ProbeFailure::AccessDenied),
            FailureCategory::PutAccessDenied,
        ),
        (
            refused_write(ProbeFailure::Other),
            FailureCategory::PutAccessDenied,
        ),
        (
            refused_write(ProbeFailure::OwnerMismatch),
            FailureCategory::UnexpectedBucketOwner,
        ),
        (
            refused_write(ProbeFailure::NoSuchBucket),
            FailureCategory::BucketNotFound,
        ),
        (
            refused_write(ProbeFailure::WrongRegion {
                actual: "eu-west-1".into(),
            }),
            FailureCategory::WrongRegion,
        ),
        (
            refused_write(ProbeFailure::KmsDenied(KmsRefusal::KeyPolicy)),
            FailureCategory::KmsKeyNotUsable,
        ),
        (
            refused_write(ProbeFailure::AclRejected),
            FailureCategory::AclRejected,
        ),
        (
            refused_write(ProbeFailure::Throttled),
            FailureCategory::Transient,
        ),
        (
            refused_write(ProbeFailure::Timeout),
            FailureCategory::TimedOut,
        ),
    ];
    for (error, category) in cases {
        // WHEN a delivery fails with `error` THEN it reports `category`
        assert_eq!(category_of(&error), category, "{error:?}");
    }
}
