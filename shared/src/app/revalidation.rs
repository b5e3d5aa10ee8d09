//! Re-validation: queue the saved destinations that are due (or asked for), check each one's
//! active configuration, and record the transition with the events it raises.

use futures::StreamExt;
use time::OffsetDateTime;

use crate::domain::revalidation::{
    DUE_SHARDS, OnDemandRequest, RevalidationRequest, RevalidationSettings,
};
use crate::domain::{Activity, ActivityEntry, Actor, Destination, PlatformIdentity};
use crate::ports::{
    CheckHistory, DestinationRepository, DueIndex, ObjectWriter, QueueError, RevalidationQueue,
    SideEffects, StoreError,
};

use super::check::{CheckSettings, CheckTarget, run};

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
        /// Whether the check changed the status (and so raised an event).
        transition: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RevalidationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What a worker needs to check one destination.
pub struct Checker<'a, S, P> {
    pub store: &'a S,
    pub writer: &'a P,
    pub platform: &'a PlatformIdentity,
    pub check_settings: CheckSettings,
    pub settings: RevalidationSettings,
}

impl<S, P> Checker<'_, S, P>
where
    S: DestinationRepository + CheckHistory,
    P: ObjectWriter,
{
    /// Runs one queued check of the active configuration. The result is written only if the
    /// destination is still at the version the message names, so a duplicate delivery or a
    /// concurrent change never applies a result twice or over newer data. The transition's event
    /// is written in the same conditional write, and published from there.
    pub async fn check(&self, request: &RevalidationRequest) -> Result<Outcome, RevalidationError> {
        let Some(mut destination) = self
            .store
            .get(&request.tenant_id, &request.destination_id)
            .await?
        else {
            return Ok(Outcome::Skipped(Skipped::Deleted));
        };
        if destination.version() != request.version {
            return Ok(Outcome::Skipped(Skipped::Superseded));
        }
        let Some(target) = CheckTarget::active(&destination) else {
            return Ok(Outcome::Skipped(Skipped::NeverSaved));
        };
        let result = run(self.writer, &target, self.platform, self.check_settings).await;
        let passed = result.passed;
        let before = destination.status();
        let expected = destination.version();
        let now = OffsetDateTime::now_utc();
        let Ok(event) = destination.record_check(result.clone(), &self.settings, now) else {
            return Ok(Outcome::Skipped(Skipped::Superseded));
        };
        let activity = (before != destination.status()).then(|| ActivityEntry {
            at: now,
            actor: Actor::service(),
            activity: Activity::StatusChanged {
                from: before,
                to: destination.status(),
                category: result.category,
            },
            version: destination.version(),
        });
        let events: Vec<_> = event.into_iter().collect();
        let effects = SideEffects {
            activity: activity.as_ref(),
            events: &events,
        };
        let (stored, history) = tokio::join!(
            self.store.update(&destination, expected, effects),
            self.store
                .append(&request.tenant_id, &request.destination_id, &result)
        );
        if let Err(e) = history {
            tracing::warn!(destination_id = %request.destination_id, error = %e, "check history entry not written");
        }
        match stored {
            Ok(()) => {}
            Err(StoreError::VersionConflict { .. }) => {
                return Ok(Outcome::Skipped(Skipped::Superseded));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            destination_id = %request.destination_id,
            passed,
            category = ?result.category,
            status = ?destination.status(),
            "destination re-validated"
        );
        Ok(Outcome::Checked {
            passed,
            transition: !events.is_empty(),
        })
    }
}

/// Queues every saved destination whose check is due, reading the due index's shards in
/// parallel. Returns how many were queued. Nothing holds more than one page in memory.
pub async fn enqueue_due<S, Q>(
    store: &S,
    queue: &Q,
    now: OffsetDateTime,
) -> Result<usize, RevalidationError>
where
    S: DueIndex,
    Q: RevalidationQueue,
{
    let per_shard = futures::stream::iter(0..DUE_SHARDS)
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

fn request_for(destination: &Destination) -> RevalidationRequest {
    RevalidationRequest {
        tenant_id: destination.tenant().clone(),
        destination_id: destination.id().clone(),
        version: destination.version(),
    }
}

/// Queues one destination, or every saved destination of a tenant.
pub async fn enqueue_on_demand<S, Q>(
    store: &S,
    queue: &Q,
    request: &OnDemandRequest,
) -> Result<usize, RevalidationError>
where
    S: DestinationRepository,
    Q: RevalidationQueue,
{
    if let Some(id) = &request.destination_id {
        return match store.get(&request.tenant_id, id).await? {
            Some(d) if d.is_saved() => {
                queue.enqueue(&[request_for(&d)]).await?;
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
            .map(request_for)
            .collect();
        queue.enqueue(&due).await?;
        queued += due.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(queued),
        }
    }
}

/// A stored change that needs a new check: a Save that changed the active configuration.
pub fn check_after_change(
    old: Option<&Destination>,
    new: Option<&Destination>,
) -> Option<RevalidationRequest> {
    let (old, new) = (old?, new?);
    let active_version = |d: &Destination| d.active().map(|a| a.config_version);
    (new.is_saved() && active_version(old) != active_version(new)).then(|| request_for(new))
}
