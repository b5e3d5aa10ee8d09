//! Metrics in CloudWatch's embedded metric format: one JSON line per observation on standard
//! output, which Lambda hands to CloudWatch Logs and CloudWatch turns into metrics. No API call,
//! nothing at cold start; a line names destinations only by id and never carries an External ID.
//! template.yaml's alarms name the metrics and dimensions defined here.

#[cfg(any(test, feature = "test-util"))]
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::domain::check::CheckResult;
use crate::domain::delivery::Delivery;

/// The namespace of every metric this service emits.
pub const NAMESPACE: &str = "Destinations";
/// The dimension every metric carries, so an alarm can name it: always `destinations`.
pub const SERVICE: (&str, &str) = ("Service", "destinations");

pub const CHECKS: &str = "Checks";
pub const CHECK_DURATION: &str = "CheckDurationMs";
pub const REVALIDATION_LAG: &str = "RevalidationLagSeconds";
pub const DESTINATIONS_FAILED: &str = "DestinationsFailed";
pub const DELIVERIES: &str = "Deliveries";
pub const BYTES_DELIVERED: &str = "BytesDelivered";
pub const DELIVERY_DURATION: &str = "DeliveryDurationMs";
pub const OUTBOX_OLDEST_AGE: &str = "OutboxOldestAgeSeconds";

/// What ran a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    TestConnection,
    CheckNow,
    Revalidation,
}

impl CheckKind {
    fn as_str(self) -> &'static str {
        match self {
            CheckKind::TestConnection => "testConnection",
            CheckKind::CheckNow => "checkNow",
            CheckKind::Revalidation => "revalidation",
        }
    }
}

/// One check: counted by kind and outcome (`passed` or its category), with its duration, and for
/// re-validation how late it ran.
pub fn check(
    kind: CheckKind,
    destination_id: &str,
    result: &CheckResult,
    lag_seconds: Option<f64>,
) {
    let outcome = match result.category {
        Some(category) => serde_json::to_value(category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "failed".into()),
        None if result.passed => "passed".into(),
        None => "failed".into(),
    };
    let mut metrics = vec![
        (CHECKS, json!(1), "Count"),
        (CHECK_DURATION, json!(result.duration_ms), "Milliseconds"),
    ];
    if let Some(lag) = lag_seconds {
        metrics.push((REVALIDATION_LAG, json!(lag.max(0.0)), "Seconds"));
    }
    emit(
        &[("Kind", kind.as_str()), ("Outcome", &outcome)],
        &metrics,
        &[("destinationId", destination_id)],
    );
}

/// A saved destination turned failing (an alarm counts these).
pub fn destination_failed(destination_id: &str) {
    emit(
        &[],
        &[(DESTINATIONS_FAILED, json!(1), "Count")],
        &[("destinationId", destination_id)],
    );
}

/// A delivery attempt's outcome, and for a delivered file its size and duration.
pub fn delivery(delivery: &Delivery, outcome: &str) {
    let mut metrics = vec![(DELIVERIES, json!(1), "Count")];
    if let Some(written) = &delivery.written {
        metrics.push((BYTES_DELIVERED, json!(written.bytes), "Bytes"));
        metrics.push((
            DELIVERY_DURATION,
            json!(written.duration_ms),
            "Milliseconds",
        ));
    }
    emit(
        &[("Outcome", outcome)],
        &metrics,
        &[
            ("destinationId", delivery.destination.as_str()),
            ("deliveryId", delivery.id.as_str()),
        ],
    );
}

/// How long the oldest event has waited in the outbox (0 when it is empty), as the sweep saw it.
pub fn outbox_oldest(age_seconds: f64) {
    emit(
        &[],
        &[(OUTBOX_OLDEST_AGE, json!(age_seconds.max(0.0)), "Seconds")],
        &[],
    );
}

/// One EMF line: `Service` plus `dimensions`, the metrics with their units, and plain properties.
fn emit(dimensions: &[(&str, &str)], metrics: &[(&str, Value, &str)], properties: &[(&str, &str)]) {
    let mut line = Map::new();
    let mut names = vec![json!(SERVICE.0)];
    line.insert(SERVICE.0.into(), json!(SERVICE.1));
    for (name, value) in dimensions {
        names.push(json!(name));
        line.insert((*name).into(), json!(value));
    }
    for (name, value) in properties {
        line.insert((*name).into(), json!(value));
    }
    for (name, value, _) in metrics {
        line.insert((*name).into(), value.clone());
    }
    let timestamp = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp as i64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    write(Value::Object(line).to_string());
}

fn write(text: String) {
    #[cfg(any(test, feature = "test-util"))]
    if let Some(lines) = CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        lines.push(text);
        return;
    }
    println!("{text}");
}

/// Lines kept in memory instead of printed, while a test reads them.
#[cfg(any(test, feature = "test-util"))]
static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// From now on, metric lines are kept for [`captured`] instead of printed (tests).
#[cfg(any(test, feature = "test-util"))]
pub fn capture() {
    CAPTURED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Vec::new);
}

/// The lines emitted since [`capture`], parsed.
#[cfg(any(test, feature = "test-util"))]
pub fn captured() -> Vec<Value> {
    CAPTURED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flatten()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
