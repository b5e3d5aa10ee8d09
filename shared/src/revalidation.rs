//! Re-validation of saved destinations: status transitions that do not flap, the events they raise,
//! and the queue message that carries one check.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::connection_test::{ConnectionTestResult, FailureCategory};
use crate::domain::{Destination, DestinationId, Status, TenantId};

/// EventBridge `source` of every event this service puts.
pub const EVENT_SOURCE: &str = "destinations";
pub const FAILED_DETAIL_TYPE: &str = "Destination Connection Failed";
pub const RESTORED_DETAIL_TYPE: &str = "Destination Connection Restored";
/// Detail-type of the on-demand request: `{"tenantId": "...", "destinationId": "..."?}`.
pub const REVALIDATE_DETAIL_TYPE: &str = "Revalidate Destinations";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevalidationSettings {
    pub interval: time::Duration,
    /// Transient failures in a row before a verified destination counts as failing.
    pub transient_failures_before_failing: u32,
}

impl Default for RevalidationSettings {
    fn default() -> Self {
        Self {
            interval: time::Duration::hours(1),
            transient_failures_before_failing: 3,
        }
    }
}

/// One check to run, as queued. `version` is the destination's version when it was queued: a
/// message whose version is no longer current was overtaken (duplicate delivery, newer change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevalidationRequest {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub version: u64,
}

impl RevalidationRequest {
    pub fn for_destination(destination: &Destination) -> Self {
        Self {
            tenant_id: destination.tenant.clone(),
            destination_id: destination.id.clone(),
            version: destination.version,
        }
    }
}

/// The `detail` of a `Destination Connection Failed` / `Restored` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEvent {
    #[serde(skip)]
    pub kind: ConnectionEventKind,
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub destination_name: String,
    /// The failure category (for a restore: the one it recovered from).
    pub category: Option<FailureCategory>,
    #[serde(with = "time::serde::rfc3339")]
    pub first_failure_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectionEventKind {
    #[default]
    Failed,
    Restored,
}

impl ConnectionEvent {
    pub fn detail_type(&self) -> &'static str {
        match self.kind {
            ConnectionEventKind::Failed => FAILED_DETAIL_TYPE,
            ConnectionEventKind::Restored => RESTORED_DETAIL_TYPE,
        }
    }
}

/// Records a re-validation result on a saved destination and returns the event its status change
/// raises, if any. Definitive failures turn a verified destination failing at once; transient ones
/// only after `transient_failures_before_failing` in a row.
pub fn apply_result(
    destination: &mut Destination,
    result: ConnectionTestResult,
    settings: &RevalidationSettings,
    now: OffsetDateTime,
) -> Option<ConnectionEvent> {
    let before = destination.status;
    let previous_category = destination.latest_test.as_ref().and_then(|t| t.category);
    let state = &mut destination.revalidation;
    let event_kind;
    if result.passed {
        state.consecutive_transient_failures = 0;
        let first_failure_at = state.first_failure_at.take();
        destination.status = Status::Verified;
        event_kind = (before == Status::Failing).then_some((
            ConnectionEventKind::Restored,
            first_failure_at,
            previous_category,
        ));
    } else {
        let category = result.category;
        let transient = category.is_some_and(FailureCategory::is_transient);
        if state.first_failure_at.is_none() {
            state.first_failure_at = Some(result.started_at);
        }
        state.consecutive_transient_failures = if transient {
            state.consecutive_transient_failures + 1
        } else {
            0
        };
        let gives_up = !transient
            || state.consecutive_transient_failures >= settings.transient_failures_before_failing;
        // A transient blip leaves the status alone until the threshold is reached.
        if gives_up || before != Status::Verified {
            destination.status = Status::Failing;
        }
        let first_failure_at = state.first_failure_at;
        event_kind = (before == Status::Verified && destination.status == Status::Failing)
            .then_some((ConnectionEventKind::Failed, first_failure_at, category));
    }
    destination.revalidation.next_check_at = Some(now + settings.interval);
    destination.latest_test = Some(result);
    destination.updated_at = now;
    event_kind.map(|(kind, first_failure_at, category)| ConnectionEvent {
        kind,
        tenant_id: destination.tenant.clone(),
        destination_id: destination.id.clone(),
        destination_name: destination.name.as_str().to_owned(),
        category,
        first_failure_at: first_failure_at.unwrap_or(now),
        occurred_at: now,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::connection_test::{Stage, StageFailure, StageResult, StageStatus};
    use crate::domain::*;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    fn saved() -> Destination {
        let mut d = Destination::new_draft(
            DestinationId::generate(),
            TenantId::new("t").unwrap(),
            NewDestination {
                name: DestinationName::new("Lake").unwrap(),
                description: Description::default(),
                bucket: BucketName::new("bucket").unwrap(),
                region: None,
                folder: Folder::root(),
                auth: AuthModeKind::BucketPolicy,
                kms_key: None,
                bucket_owner: None,
            },
            NOW,
        )
        .unwrap();
        d.latest_test = Some(result(None));
        d.save(NOW).unwrap();
        d
    }

    fn result(category: Option<FailureCategory>) -> ConnectionTestResult {
        ConnectionTestResult {
            passed: category.is_none(),
            config_version: 1,
            started_at: NOW,
            duration_ms: 1,
            category,
            test_object_key: None,
            bucket_region: None,
            stages: vec![StageResult {
                stage: Stage::Write,
                status: if category.is_some() {
                    StageStatus::Failed
                } else {
                    StageStatus::Passed
                },
                duration_ms: 1,
                failure: category.map(|category| StageFailure {
                    category,
                    aws_error_code: None,
                    aws_request_id: None,
                    explanation: String::new(),
                    possible_causes: Vec::new(),
                    fix: String::new(),
                    fix_document: None,
                    bucket_region: None,
                }),
            }],
        }
    }

    #[test]
    fn a_definitive_failure_fails_at_once_and_raises_one_event() {
        let mut d = saved();
        let settings = RevalidationSettings::default();
        let event = apply_result(
            &mut d,
            result(Some(FailureCategory::PutAccessDenied)),
            &settings,
            NOW,
        )
        .unwrap();
        assert_eq!(event.kind, ConnectionEventKind::Failed);
        assert_eq!(event.category, Some(FailureCategory::PutAccessDenied));
        assert_eq!(d.status, Status::Failing);
        // Failing again changes nothing and raises nothing
        assert!(
            apply_result(
                &mut d,
                result(Some(FailureCategory::BucketNotFound)),
                &settings,
                NOW
            )
            .is_none()
        );
        assert_eq!(d.status, Status::Failing);
    }

    #[test]
    fn transient_failures_flip_the_status_only_at_the_threshold() {
        let mut d = saved();
        let settings = RevalidationSettings {
            transient_failures_before_failing: 3,
            ..Default::default()
        };
        assert!(
            apply_result(
                &mut d,
                result(Some(FailureCategory::Transient)),
                &settings,
                NOW
            )
            .is_none()
        );
        assert!(
            apply_result(
                &mut d,
                result(Some(FailureCategory::TimedOut)),
                &settings,
                NOW
            )
            .is_none()
        );
        assert_eq!(d.status, Status::Verified);
        let event = apply_result(
            &mut d,
            result(Some(FailureCategory::Transient)),
            &settings,
            NOW,
        )
        .unwrap();
        assert_eq!(event.kind, ConnectionEventKind::Failed);
        assert_eq!(d.status, Status::Failing);
    }

    #[test]
    fn a_pass_between_transient_failures_resets_the_count() {
        let mut d = saved();
        let settings = RevalidationSettings {
            transient_failures_before_failing: 2,
            ..Default::default()
        };
        for _ in 0..5 {
            assert!(
                apply_result(
                    &mut d,
                    result(Some(FailureCategory::Transient)),
                    &settings,
                    NOW
                )
                .is_none()
            );
            assert!(apply_result(&mut d, result(None), &settings, NOW).is_none());
        }
        assert_eq!(d.status, Status::Verified);
    }

    #[test]
    fn recovery_raises_a_restored_event_with_the_first_failure_time() {
        let mut d = saved();
        let settings = RevalidationSettings::default();
        let later = NOW + time::Duration::hours(2);
        apply_result(
            &mut d,
            result(Some(FailureCategory::RoleNotAssumable)),
            &settings,
            NOW,
        )
        .unwrap();
        let event = apply_result(&mut d, result(None), &settings, later).unwrap();
        assert_eq!(event.kind, ConnectionEventKind::Restored);
        assert_eq!(event.first_failure_at, NOW);
        assert_eq!(event.category, Some(FailureCategory::RoleNotAssumable));
        assert_eq!(d.status, Status::Verified);
        assert_eq!(
            d.revalidation.next_check_at,
            Some(later + settings.interval)
        );
    }
}

/// Why a queued check did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    Deleted,
    NeverSaved,
    /// The destination changed after the check was queued (or a duplicate delivery already ran it).
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Skipped(Skipped),
    Checked {
        passed: bool,
        event: Option<ConnectionEvent>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RevalidationError {
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    #[error(transparent)]
    Queue(#[from] crate::ports::QueueError),
    #[error(transparent)]
    Publish(#[from] crate::ports::PublishError),
}

/// What a worker needs to check one destination.
pub struct Checker<'a, S, P, E> {
    pub store: &'a S,
    pub prober: &'a P,
    pub publisher: &'a E,
    pub principals: &'a crate::config::PlatformPrincipals,
    pub test_settings: crate::connection_test::TestSettings,
    pub settings: RevalidationSettings,
}

impl<S, P, E> Checker<'_, S, P, E>
where
    S: crate::ports::DestinationStore,
    P: crate::ports::ConnectionProber,
    E: crate::ports::EventPublisher,
{
    /// Runs one queued check. Writing the result is conditional on the version the check saw, so a
    /// duplicate delivery or a concurrent change can never apply a result twice or over newer data.
    pub async fn check(&self, request: &RevalidationRequest) -> Result<Outcome, RevalidationError> {
        let Some(destination) = self
            .store
            .get(&request.tenant_id, &request.destination_id)
            .await?
        else {
            return Ok(Outcome::Skipped(Skipped::Deleted));
        };
        if !destination.is_saved() {
            return Ok(Outcome::Skipped(Skipped::NeverSaved));
        }
        if destination.version != request.version {
            return Ok(Outcome::Skipped(Skipped::Superseded));
        }
        let result = crate::connection_test::run(
            self.prober,
            &destination,
            self.principals,
            self.test_settings,
        )
        .await;
        let passed = result.passed;
        let mut updated = destination.clone();
        let event = apply_result(
            &mut updated,
            result.clone(),
            &self.settings,
            OffsetDateTime::now_utc(),
        );
        updated.version = destination.version + 1;
        match self
            .store
            .record_test_result(&updated, destination.version, &result)
            .await
        {
            Ok(()) => {}
            Err(crate::ports::StoreError::VersionConflict { .. }) => {
                return Ok(Outcome::Skipped(Skipped::Superseded));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            destination_id = %destination.id,
            passed,
            category = ?updated.latest_test.as_ref().and_then(|t| t.category),
            status = ?updated.status,
            "destination re-validated"
        );
        if let Some(event) = &event {
            // The result is stored; the event is published after it (at least once per transition
            // unless the bus stays down through the SDK's retries, which is logged).
            if let Err(e) = self.publisher.publish(event).await {
                tracing::error!(destination_id = %destination.id, error = %e, detail_type = event.detail_type(), "could not publish destination event");
                return Err(e.into());
            }
        }
        Ok(Outcome::Checked { passed, event })
    }
}

/// Queues every saved destination whose check is due, reading the due index's shards in parallel.
/// Returns how many were queued. Nothing holds more than one page in memory.
pub async fn enqueue_due<S, Q>(
    store: &S,
    queue: &Q,
    now: OffsetDateTime,
) -> Result<usize, RevalidationError>
where
    S: crate::ports::DestinationStore,
    Q: crate::ports::RevalidationQueue,
{
    use futures::StreamExt;
    let per_shard = futures::stream::iter(0..crate::ports::DUE_SHARDS)
        .map(|shard| async move {
            let mut queued = 0;
            let mut cursor: Option<String> = None;
            loop {
                let page = store.due_for_check(shard, now, cursor.as_deref()).await?;
                queue.enqueue(&page.items).await?;
                queued += page.items.len();
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok::<usize, RevalidationError>(queued),
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    per_shard.into_iter().sum()
}

/// The on-demand request: one destination, or every saved destination of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnDemandRequest {
    pub tenant_id: TenantId,
    #[serde(default)]
    pub destination_id: Option<DestinationId>,
}

pub async fn enqueue_on_demand<S, Q>(
    store: &S,
    queue: &Q,
    request: &OnDemandRequest,
) -> Result<usize, RevalidationError>
where
    S: crate::ports::DestinationStore,
    Q: crate::ports::RevalidationQueue,
{
    if let Some(id) = &request.destination_id {
        return match store.get(&request.tenant_id, id).await? {
            Some(d) if d.is_saved() => {
                queue
                    .enqueue(&[RevalidationRequest::for_destination(&d)])
                    .await?;
                Ok(1)
            }
            _ => Ok(0),
        };
    }
    let mut queued = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list(&request.tenant_id, 100, cursor.as_deref())
            .await?;
        let due: Vec<RevalidationRequest> = page
            .items
            .iter()
            .filter(|d| d.is_saved())
            .map(RevalidationRequest::for_destination)
            .collect();
        queue.enqueue(&due).await?;
        queued += due.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(queued),
        }
    }
}

/// A stored change that needs a new check: a saved destination whose tested configuration changed.
pub fn check_after_change(
    old: Option<&Destination>,
    new: Option<&Destination>,
) -> Option<RevalidationRequest> {
    let (old, new) = (old?, new?);
    (new.is_saved() && old.config_version != new.config_version)
        .then(|| RevalidationRequest::for_destination(new))
}
