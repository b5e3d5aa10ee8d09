//! Re-validation: queue the saved destinations that are due (or asked for), check each one's
//! active configuration, and record the transition with the events it raises.

use futures::StreamExt;
use time::OffsetDateTime;

use crate::domain::check::CheckResult;
use crate::domain::revalidation::{
    DUE_SHARDS, OnDemandRequest, RevalidationRequest, RevalidationSettings,
};
use crate::domain::{Activity, ActivityEntry, Actor, Destination, PlatformIdentity};
use crate::ports::{
    CheckHistory, CheckKind, CheckSlots, DestinationRepository, DueIndex, ObjectWriter, QueueError,
    RevalidationQueue, SideEffects, StoreError,
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
    /// The tenant already runs as many checks as re-validation may take: queue it again later.
    Deferred,
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
pub struct Checker<'a, S, P, Q> {
    pub store: &'a S,
    pub writer: &'a P,
    /// Where a check put off for its tenant's slots goes back to.
    pub queue: &'a Q,
    pub platform: &'a PlatformIdentity,
    pub check_settings: CheckSettings,
    pub settings: RevalidationSettings,
    pub clock: Clock,
}

/// Where a check's "now" comes from: the system clock, or, in a test of what happens days later
/// (a rotation's grace window), a clock moved forward instead of waited for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    ahead: time::Duration,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn ahead_by(ahead: time::Duration) -> Self {
        Self { ahead }
    }

    pub fn now(self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.ahead
    }
}

/// How long a check holds its tenant's slot at most (its deadline, with room to spare).
const SLOT_LEASE: time::Duration = time::Duration::seconds(60);

/// A put-off check comes back after 10 to 40 s, spread so that a tenant's put-off checks do
/// not all return at once.
pub fn deferral_delay() -> std::time::Duration {
    let spread = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 31;
    std::time::Duration::from_secs(10 + spread)
}

impl<S, P, Q> Checker<'_, S, P, Q>
where
    S: DestinationRepository + CheckHistory + CheckSlots,
    P: ObjectWriter,
    Q: RevalidationQueue,
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
        let now = self.clock.now();
        let Some(target) = CheckTarget::active(&destination, now) else {
            return Ok(Outcome::Skipped(Skipped::NeverSaved));
        };
        let Some(result) = self.run_in_slot(request, &target).await? else {
            return Ok(Outcome::Deferred);
        };
        // How late the check ran against when it was due.
        let lag = destination
            .revalidation()
            .next_check_at
            .map(|due| (now - due).as_seconds_f64());
        crate::metrics::check(
            crate::metrics::CheckKind::Revalidation,
            request.destination_id.as_str(),
            &result,
            lag,
        );
        let passed = result.passed;
        let transition = match record_active_check(
            self.store,
            &mut destination,
            &result,
            &self.settings,
            &Actor::service(),
            now,
        )
        .await?
        {
            Some(transition) => transition,
            None => return Ok(Outcome::Skipped(Skipped::Superseded)),
        };
        tracing::info!(
            destination_id = %request.destination_id,
            passed,
            category = ?result.category,
            status = ?destination.status(),
            "destination re-validated"
        );
        Ok(Outcome::Checked { passed, transition })
    }
}

impl<S, P, Q> Checker<'_, S, P, Q>
where
    S: CheckSlots,
    P: ObjectWriter,
    Q: RevalidationQueue,
{
    /// Runs the check in one of its tenant's check slots; with none free, queues it again for
    /// later and returns `None`.
    async fn run_in_slot(
        &self,
        request: &RevalidationRequest,
        target: &CheckTarget<'_>,
    ) -> Result<Option<CheckResult>, RevalidationError> {
        let now = OffsetDateTime::now_utc();
        let Some(slot) = self
            .store
            .take_slot(
                &request.tenant_id,
                CheckKind::Revalidation,
                now,
                now + SLOT_LEASE,
            )
            .await?
        else {
            self.queue.defer(request, deferral_delay()).await?;
            return Ok(None);
        };
        let result = run(self.writer, target, self.platform, self.check_settings).await;
        if let Err(e) = self.store.release_slot(&request.tenant_id, &slot).await {
            tracing::warn!(destination_id = %request.destination_id, error = %e, "check slot not released");
        }
        Ok(Some(result))
    }
}

/// Makes `result` (a check of `destination`'s active configuration) its latest check: the status
/// it leads to, the transition's event and `actor`'s activity entry in one conditional write, and
/// the history entry beside it. Returns whether the status changed, or `None` when the
/// destination changed since it was read (nothing is applied over newer data).
pub async fn record_active_check<S: DestinationRepository + CheckHistory>(
    store: &S,
    destination: &mut Destination,
    result: &CheckResult,
    settings: &RevalidationSettings,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Option<bool>, StoreError> {
    let before = destination.status();
    let expected = destination.version();
    let Ok(event) = destination.record_check(result.clone(), settings, now) else {
        return Ok(None);
    };
    let overdue = destination.settle_retired(result, now);
    let activity = (before != destination.status()).then(|| ActivityEntry {
        at: now,
        actor: actor.clone(),
        activity: Activity::StatusChanged {
            from: before,
            to: destination.status(),
            category: result.category,
        },
        version: destination.version(),
    });
    let failed = event
        .as_ref()
        .is_some_and(|e| e.kind == crate::domain::revalidation::ConnectionEventKind::Failed);
    let events: Vec<_> = event.into_iter().chain(overdue).collect();
    let effects = SideEffects {
        activity: activity.as_ref(),
        events: &events,
    };
    let (stored, history) = tokio::join!(
        store.update(destination, expected, effects),
        store.append(destination.tenant(), destination.id(), result)
    );
    if let Err(e) = history {
        tracing::warn!(destination_id = %destination.id(), error = %e, "check history entry not written");
    }
    match stored {
        Ok(()) => {
            if failed {
                crate::metrics::destination_failed(destination.id().as_str());
            }
            Ok(Some(!events.is_empty()))
        }
        Err(StoreError::VersionConflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The most due checks one run queues; the rest stay due, and the next run queues them. Bounds
/// what a run holds: a due check is three short keys.
pub const MAX_QUEUED_PER_RUN: usize = 50_000;

/// Queues every saved destination whose check is due, tenants taking turns (see
/// [`interleave_tenants`]). Reads the due index's shards in parallel. Returns how many were
/// queued.
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
            let mut due = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = store.due_for_check(shard, now, cursor.as_deref()).await?;
                due.extend(page.items);
                match page.next_cursor {
                    Some(next) if due.len() < MAX_QUEUED_PER_RUN / usize::from(DUE_SHARDS) => {
                        cursor = Some(next);
                    }
                    _ => return Ok::<_, RevalidationError>(due),
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let mut due = Vec::new();
    for shard in per_shard {
        due.extend(shard?);
    }
    let ordered = interleave_tenants(due);
    for chunk in ordered.chunks(100) {
        queue.enqueue(chunk).await?;
    }
    Ok(ordered.len())
}

/// Tenants take turns: every tenant's first due check, then every tenant's second, and so on,
/// each tenant's own checks in the order the due index gave them. A tenant with 10,000 due checks then delays one
/// with a single check by at most one turn (one check per tenant), not by its 10,000.
pub fn interleave_tenants(due: Vec<RevalidationRequest>) -> Vec<RevalidationRequest> {
    let mut by_tenant: Vec<std::collections::VecDeque<RevalidationRequest>> = Vec::new();
    let mut position = std::collections::HashMap::new();
    for request in due {
        let slot = *position
            .entry(request.tenant_id.clone())
            .or_insert_with(|| {
                by_tenant.push(std::collections::VecDeque::new());
                by_tenant.len() - 1
            });
        by_tenant[slot].push_back(request);
    }
    let total = by_tenant.iter().map(std::collections::VecDeque::len).sum();
    let mut ordered = Vec::with_capacity(total);
    while ordered.len() < total {
        for queue in &mut by_tenant {
            ordered.extend(queue.pop_front());
        }
    }
    ordered
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
                queue.enqueue(&[RevalidationRequest::of(&d)]).await?;
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
            .map(RevalidationRequest::of)
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
    (new.is_saved() && active_version(old) != active_version(new))
        .then(|| RevalidationRequest::of(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthModeKind;
    use crate::domain::{DestinationId, TenantId};
    use crate::ports::DuePage;
    use crate::testing::DestinationBuilder;
    use crate::testing::memory::{InMemoryStore, RecordingQueue};

    /// A share of the cap is a whole number of pages, so reading one page too many shows.
    const PAGE: usize = 625;
    /// More pages per shard than a run may read (16 shards of 5,000 due checks: 80,000).
    const PAGES_PER_SHARD: usize = 8;

    /// A due index in which every shard has more due checks than its share of one run.
    struct CrowdedDueIndex;

    impl DueIndex for CrowdedDueIndex {
        async fn due_for_check(
            &self,
            shard: u16,
            _now: OffsetDateTime,
            cursor: Option<&str>,
        ) -> Result<DuePage, StoreError> {
            let page: usize = cursor.map_or(0, |c| c.parse().unwrap());
            let tenant = TenantId::new(&format!("tenant-{shard}")).unwrap();
            let items = (0..PAGE)
                .map(|_| RevalidationRequest {
                    tenant_id: tenant.clone(),
                    destination_id: DestinationId::generate(),
                    version: 1,
                })
                .collect();
            let next_cursor = (page + 1 < PAGES_PER_SHARD).then(|| (page + 1).to_string());
            Ok(DuePage { items, next_cursor })
        }
    }

    #[tokio::test]
    async fn a_run_queues_each_shards_share_of_the_cap_and_leaves_the_rest_due() {
        // GIVEN every shard holds more due checks than its share of one run
        let queue = RecordingQueue::default();
        let share = MAX_QUEUED_PER_RUN / usize::from(DUE_SHARDS);
        assert!(share + PAGE < PAGES_PER_SHARD * PAGE);
        // WHEN one run queues what is due
        let queued = enqueue_due(&CrowdedDueIndex, &queue, OffsetDateTime::now_utc())
            .await
            .unwrap();
        // THEN each shard is read page by page until it holds its share, and no further
        let per_shard = share.div_ceil(PAGE) * PAGE;
        assert_eq!(queued, per_shard * usize::from(DUE_SHARDS));
        assert_eq!(queue.queued.lock().unwrap().len(), queued);
    }

    fn saved(tenant: &str) -> Destination {
        DestinationBuilder::new(AuthModeKind::BucketPolicy)
            .tenant(tenant)
            .saved()
    }

    fn on_demand(tenant: &str, destination: Option<&Destination>) -> OnDemandRequest {
        OnDemandRequest {
            tenant_id: TenantId::new(tenant).unwrap(),
            destination_id: destination.map(|d| d.id().clone()),
        }
    }

    #[tokio::test]
    async fn on_demand_a_tenants_saved_destinations_are_queued_over_every_page() {
        // GIVEN tenant A with more saved destinations than one page, and a draft; tenant B with one
        let store = InMemoryStore::new();
        let mine: Vec<Destination> = (0..150).map(|_| saved("tenant-a")).collect();
        for d in &mine {
            store.insert(d.clone());
        }
        store.insert(
            DestinationBuilder::new(AuthModeKind::BucketPolicy)
                .tenant("tenant-a")
                .build(),
        );
        store.insert(saved("tenant-b"));
        let queue = RecordingQueue::default();
        // WHEN A asks for every destination to be checked now
        let queued = enqueue_on_demand(&store, &queue, &on_demand("tenant-a", None))
            .await
            .unwrap();
        // THEN each of A's saved destinations is queued once, and counted; nothing else
        assert_eq!(queued, mine.len());
        let mut ids: Vec<_> = queue
            .queued
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.destination_id.clone())
            .collect();
        ids.sort();
        let mut expected: Vec<_> = mine.iter().map(|d| d.id().clone()).collect();
        expected.sort();
        assert_eq!(ids, expected);
    }

    #[tokio::test]
    async fn on_demand_a_named_draft_has_nothing_to_check() {
        // GIVEN a saved destination and a draft
        let store = InMemoryStore::new();
        let draft = DestinationBuilder::new(AuthModeKind::BucketPolicy)
            .tenant("tenant-a")
            .build();
        let saved = saved("tenant-a");
        store.insert(draft.clone());
        store.insert(saved.clone());
        let queue = RecordingQueue::default();
        // WHEN each is named for a check now
        let (draft, saved_one) = (Some(&draft), Some(&saved));
        let for_draft = enqueue_on_demand(&store, &queue, &on_demand("tenant-a", draft)).await;
        let for_saved = enqueue_on_demand(&store, &queue, &on_demand("tenant-a", saved_one)).await;
        // THEN only the saved one is queued
        assert_eq!(for_draft.unwrap(), 0);
        assert_eq!(for_saved.unwrap(), 1);
        assert_eq!(
            *queue.queued.lock().unwrap(),
            [RevalidationRequest::of(&saved)]
        );
    }

    #[test]
    fn a_change_is_checked_at_once_only_when_it_moves_deliveries() {
        // GIVEN a draft, a saved destination, and that one renamed
        let draft = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
        let saved = DestinationBuilder::new(AuthModeKind::BucketPolicy).saved();
        let mut renamed = saved.clone();
        renamed
            .apply(
                crate::domain::DestinationPatch {
                    name: Some(crate::domain::DestinationName::new("Renamed").unwrap()),
                    ..Default::default()
                },
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        // THEN a Save that makes a configuration active is checked; a rename, a deletion or a
        // draft's edit is not
        assert_eq!(
            check_after_change(Some(&draft), Some(&saved)),
            Some(RevalidationRequest::of(&saved))
        );
        assert_eq!(check_after_change(Some(&saved), Some(&renamed)), None);
        assert_eq!(check_after_change(Some(&saved), None), None);
        assert_eq!(check_after_change(Some(&draft), Some(&draft)), None);
    }

    #[test]
    fn a_put_off_check_comes_back_after_ten_to_forty_seconds_spread_out() {
        // WHEN many checks are put off
        let delays: std::collections::BTreeSet<u64> =
            (0..500).map(|_| deferral_delay().as_secs()).collect();
        // THEN each returns within the window, and they do not all return together
        assert!(delays.iter().all(|s| (10..=40).contains(s)), "{delays:?}");
        assert!(delays.len() > 20, "{delays:?}");
    }
}
