//! The metric lines a check, a status change and the outbox sweep emit, read back as CloudWatch
//! reads them (embedded metric format), and the template's alarms on them and on every
//! dead-letter queue.

use serde_json::{Value, json};
use shared::metrics;
use shared::testing::memory::{InMemoryStore, RecordingPublisher, ScriptedWriter};
use support::memory::MemoryWorld;

/// The captured lines about `destination_id`.
fn lines_about(destination_id: &str) -> Vec<Value> {
    metrics::captured()
        .into_iter()
        .filter(|line| line["destinationId"] == destination_id)
        .collect()
}

/// The metric names a line declares, and that each has its value in the line.
fn declared(line: &Value) -> Vec<String> {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], metrics::NAMESPACE);
    assert!(line["_aws"]["Timestamp"].as_i64().unwrap() > 0);
    for dimension in directive["Dimensions"][0].as_array().unwrap() {
        assert!(
            line[dimension.as_str().unwrap()].is_string(),
            "{dimension} has no value: {line}"
        );
    }
    directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap().to_owned();
            assert!(line[&name].is_number(), "{name} has no value: {line}");
            name
        })
        .collect()
}

#[tokio::test]
async fn a_test_connection_emits_its_outcome_and_duration_and_no_secret() {
    metrics::capture();
    // GIVEN a role destination whose role accepts nothing, and a bucket-policy one that passes
    let world = MemoryWorld::new(
        InMemoryStore::new(),
        ScriptedWriter::new(
            |call| {
                if call.role_arn.contains(":role/destinations-platform-writer") {
                    Ok(())
                } else {
                    Err(shared::ports::ProbeError::new(
                        shared::ports::ProbeFailure::AccessDenied,
                    ))
                }
            },
            |_| Ok(()),
        ),
    );
    let api = world.api();
    let role = api
        .create_id(json!({"name": "Lake", "bucket": "acme-exports", "authMode": "iamRole"}))
        .await;
    let external_id = api
        .patch(
            &role,
            json!({"roleArn": "arn:aws:iam::222222222222:role/R"}),
        )
        .await
        .expect(200)
        .json()["externalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let bucket = api
        .create_id(json!({"name": "Raw", "bucket": "acme-raw", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"}))
        .await;
    // WHEN both are tested
    api.test(&role).await.expect(200);
    api.test(&bucket).await.expect(200);
    // THEN each test emitted one line: counted by kind and outcome, with its duration
    for (id, outcome) in [(&role, "roleNotAssumable"), (&bucket, "passed")] {
        let lines = lines_about(id);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(declared(line), [metrics::CHECKS, metrics::CHECK_DURATION]);
        assert_eq!(line["Kind"], "testConnection");
        assert_eq!(line["Outcome"], outcome);
        assert_eq!(line["Service"], "destinations");
        assert_eq!(line[metrics::CHECKS], 1);
        assert!(!line.to_string().contains(&external_id));
    }
}

#[tokio::test]
async fn the_outbox_sweep_emits_the_age_of_the_oldest_event_it_found() {
    metrics::capture();
    // GIVEN an event that has waited an hour in the outbox
    let store = InMemoryStore::new();
    let waited_since = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    store.insert_outbox(shared::domain::revalidation::ConnectionEvent {
        event_id: format!("metrics-{}", uuid::Uuid::new_v4()),
        kind: shared::domain::revalidation::ConnectionEventKind::Failed,
        tenant_id: shared::domain::TenantId::new("tenant-a").unwrap(),
        destination_id: shared::domain::DestinationId::generate(),
        destination_name: "Lake".into(),
        category: None,
        delivery_id: None,
        first_failure_at: Some(waited_since),
        changed_by: None,
        before: None,
        after: None,
        occurred_at: waited_since,
    });
    // WHEN the sweep runs
    let before = metrics::captured().len();
    shared::app::events::sweep(
        &store,
        &RecordingPublisher::default(),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    // THEN it emitted the oldest event's age, which the outbox alarm watches
    let ages: Vec<f64> = metrics::captured()[before..]
        .iter()
        .filter(|line| declared(line) == [metrics::OUTBOX_OLDEST_AGE])
        .map(|line| line[metrics::OUTBOX_OLDEST_AGE].as_f64().unwrap())
        .collect();
    assert!(
        ages.iter().any(|age| (3590.0..3700.0).contains(age)),
        "{ages:?}"
    );
}

#[test]
fn every_dead_letter_queue_and_both_service_metrics_have_an_alarm() {
    let template = dev_support::template::template();
    let resources = template["Resources"].as_object().unwrap();
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    // Every queue that holds what failed for good (by the template's own naming) is watched.
    let dead_letter_queues: Vec<&String> = resources
        .iter()
        .filter(|(name, r)| {
            r["Type"] == "AWS::SQS::Queue"
                && (name.contains("DeadLetter") || name.contains("Failed"))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(dead_letter_queues.len(), 3, "{dead_letter_queues:?}");
    for queue in dead_letter_queues {
        let watched = alarms.iter().any(|a| {
            let p = &a["Properties"];
            p["Namespace"] == "AWS/SQS"
                && p["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && p["Dimensions"][0]["Value"] == json!({"Fn::GetAtt": [queue, "QueueName"]})
                && p["Threshold"] == 0
        });
        assert!(watched, "no alarm on {queue}");
    }
    // The service's own metrics, as the code names them.
    for metric in [metrics::OUTBOX_OLDEST_AGE, metrics::DESTINATIONS_FAILED] {
        let watched = alarms.iter().any(|a| {
            let p = &a["Properties"];
            p["Namespace"] == metrics::NAMESPACE
                && p["MetricName"] == metric
                && p["Dimensions"]
                    == json!([{"Name": metrics::SERVICE.0, "Value": metrics::SERVICE.1}])
        });
        assert!(watched, "no alarm on {metric}");
    }
}

#[tokio::test]
async fn a_re_validation_emits_how_late_it_ran_and_a_destination_turning_failing() {
    use shared::app::revalidation::{Checker, Clock};
    use shared::domain::revalidation::{RevalidationRequest, RevalidationSettings};
    metrics::capture();
    // GIVEN a saved destination whose bucket now refuses our writes, checked 90 s after it was due
    let store = InMemoryStore::new();
    let destination =
        shared::testing::DestinationBuilder::new(shared::domain::AuthModeKind::BucketPolicy)
            .saved();
    let id = destination.id().as_str().to_owned();
    store.insert(destination.clone());
    let refusing = ScriptedWriter::new(
        |_| Ok(()),
        |_| {
            Err(shared::ports::ProbeError::new(
                shared::ports::ProbeFailure::AccessDenied,
            ))
        },
    );
    let due = destination.revalidation().next_check_at.unwrap();
    let platform = shared::testing::platform();
    let queue = shared::testing::memory::RecordingQueue::default();
    let checker = Checker {
        store: &store,
        writer: &refusing,
        queue: &queue,
        platform: &platform,
        check_settings: support::memory::check_settings(),
        settings: RevalidationSettings::default(),
        clock: Clock::ahead_by(due + time::Duration::seconds(90) - time::OffsetDateTime::now_utc()),
    };
    // WHEN the worker checks it
    checker
        .check(&RevalidationRequest::of(&destination))
        .await
        .unwrap();
    // THEN the check's line says re-validation, its outcome and its lag, and a second line counts
    // the destination that turned failing
    let lines = lines_about(&id);
    let check = lines
        .iter()
        .find(|l| l["Kind"] == "revalidation")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(
        declared(check),
        [
            metrics::CHECKS,
            metrics::CHECK_DURATION,
            metrics::REVALIDATION_LAG
        ]
    );
    assert_eq!(check["Outcome"], "putAccessDenied");
    let lag = check[metrics::REVALIDATION_LAG].as_f64().unwrap();
    assert!((89.0..120.0).contains(&lag), "{lag}");
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get(metrics::DESTINATIONS_FAILED).is_some())
        .collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert_eq!(declared(failed[0]), [metrics::DESTINATIONS_FAILED]);
}
