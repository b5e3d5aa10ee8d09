//! The one optimistic-concurrency loop: read the destination, change it through the aggregate,
//! write it back only if nobody changed it meanwhile, and retry on a lost race.

use time::OffsetDateTime;

use crate::domain::revalidation::ConnectionEvent;
use crate::domain::{Activity, ActivityEntry, Actor, Destination, DestinationId, TenantId};
use crate::ports::{DestinationRepository, SideEffects, StoreError};

/// Who is acting, for whom.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub tenant: &'a TenantId,
    pub actor: &'a Actor,
}

/// What the caller expects the stored version to be (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: a lost race is retried on the newer version.
    None,
    /// `If-Match: *`: any version of an existing destination; a lost race is retried.
    Exists,
    /// `If-Match: "<version>"`.
    Version(u64),
}

/// What a change decided: the activity to record (`None`: nothing changed, nothing is written),
/// and the events it raises.
pub struct Change {
    pub activity: Option<Activity>,
    pub events: Vec<ConnectionEvent>,
}

impl Change {
    pub fn recorded(activity: Activity) -> Self {
        Self {
            activity: Some(activity),
            events: Vec::new(),
        }
    }
    pub fn nothing() -> Self {
        Self {
            activity: None,
            events: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModifyError<E> {
    #[error("no such destination")]
    NotFound,
    #[error("the destination is not at the version the caller expected")]
    PreconditionFailed,
    /// The aggregate refused the change.
    #[error(transparent)]
    Rejected(E),
    /// Every attempt lost a race with another writer.
    #[error("the destination kept changing concurrently")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
}

/// How many times a change is re-applied after losing a race.
pub const ATTEMPTS: u32 = 12;

/// Applies `change` to the stored destination and stores it with its activity and events.
/// Returns the destination as stored (unchanged when `change` changed nothing).
pub async fn modify<S, E>(
    store: &S,
    caller: Caller<'_>,
    id: &DestinationId,
    precondition: Precondition,
    now: OffsetDateTime,
    change: impl FnMut(&mut Destination) -> Result<Change, E>,
) -> Result<Destination, ModifyError<E>>
where
    S: DestinationRepository,
{
    modify_from(store, caller, None, id, precondition, now, change).await
}

/// [`modify`], trying first on `read`, a copy of the destination read earlier in the same request,
/// instead of reading it again: the conditional write still refuses it if it changed since, and
/// the loop then goes on from a fresh read. A copy the change writes nothing for is read again,
/// so that "nothing to do" is never decided on an old copy.
pub async fn modify_from<S, E>(
    store: &S,
    caller: Caller<'_>,
    mut read: Option<Destination>,
    id: &DestinationId,
    precondition: Precondition,
    now: OffsetDateTime,
    mut change: impl FnMut(&mut Destination) -> Result<Change, E>,
) -> Result<Destination, ModifyError<E>>
where
    S: DestinationRepository,
{
    let pinned = matches!(precondition, Precondition::Version(_));
    let attempts = if pinned { 1 } else { ATTEMPTS };
    let mut attempt = 0;
    while attempt < attempts {
        let known = read.take();
        let from_copy = known.is_some();
        if attempt > 0 && !from_copy {
            tokio::time::sleep(retry_pause(attempt)).await;
        }
        let mut destination = match known {
            Some(destination) => destination,
            None => store
                .get(caller.tenant, id)
                .await
                .map_err(ModifyError::Store)?
                .ok_or(ModifyError::NotFound)?,
        };
        if let Precondition::Version(expected) = precondition
            && expected != destination.version()
        {
            if from_copy {
                continue;
            }
            return Err(ModifyError::PreconditionFailed);
        }
        let expected = destination.version();
        let Change { activity, events } =
            change(&mut destination).map_err(ModifyError::Rejected)?;
        let Some(activity) = activity else {
            if from_copy {
                continue;
            }
            return Ok(destination);
        };
        let entry = ActivityEntry {
            at: now,
            actor: caller.actor.clone(),
            activity,
            version: destination.version(),
        };
        let effects = SideEffects {
            activity: Some(&entry),
            events: &events,
        };
        match store.update(&destination, expected, effects).await {
            Ok(()) => return Ok(destination),
            // A copy older than the stored version is no lost race: read it and try again.
            Err(StoreError::VersionConflict { .. }) if from_copy => continue,
            Err(StoreError::VersionConflict { .. }) if pinned => {
                return Err(ModifyError::PreconditionFailed);
            }
            Err(StoreError::VersionConflict { .. }) => attempt += 1,
            Err(e) => return Err(ModifyError::Store(e)),
        }
    }
    Err(ModifyError::Conflict)
}

/// 5–20 ms times the attempt number, randomised so that racing writers spread out.
fn retry_pause(attempt: u32) -> std::time::Duration {
    let mut byte = [0u8; 1];
    let jitter = getrandom::fill(&mut byte)
        .map(|()| u64::from(byte[0] % 16))
        .unwrap_or(8);
    std::time::Duration::from_millis((5 + jitter) * u64::from(attempt))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::AuthModeKind;
    use crate::testing::DestinationBuilder;
    use crate::testing::memory::InMemoryStore;

    /// A stored destination every write of which another writer beats.
    fn always_beaten() -> (InMemoryStore, Destination) {
        let store = InMemoryStore::new();
        let destination = DestinationBuilder::new(AuthModeKind::IamRole).build();
        store.insert(destination.clone());
        store.lose_every_race(true);
        (store, destination)
    }

    async fn change(
        store: &InMemoryStore,
        destination: &Destination,
        precondition: Precondition,
    ) -> Result<Destination, ModifyError<std::convert::Infallible>> {
        let caller = Caller {
            tenant: destination.tenant(),
            actor: &Actor::service(),
        };
        modify(
            store,
            caller,
            destination.id(),
            precondition,
            OffsetDateTime::now_utc(),
            |_| Ok(Change::recorded(Activity::Saved)),
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_lost_every_time_is_retried_with_pauses_then_given_up() {
        // GIVEN a destination every write of which another writer beats
        let (store, destination) = always_beaten();
        // WHEN it is changed with no If-Match
        let started = tokio::time::Instant::now();
        let outcome = change(&store, &destination, Precondition::None).await;
        // THEN every attempt was a write, each after a pause of 5–20 ms times its number, and
        // then the change gave up
        assert!(matches!(outcome, Err(ModifyError::Conflict)));
        assert_eq!(store.updates_tried(), ATTEMPTS as usize);
        let tries = u64::from(ATTEMPTS - 1) * u64::from(ATTEMPTS) / 2;
        let paused = started.elapsed();
        assert!(
            paused >= Duration::from_millis(5 * tries)
                && paused <= Duration::from_millis(20 * tries),
            "{paused:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_earlier_copy_is_no_lost_race_and_costs_no_attempt() {
        // GIVEN a destination every write of which another writer beats, and a copy of it read
        // earlier in the request
        let (store, destination) = always_beaten();
        let caller = Caller {
            tenant: destination.tenant(),
            actor: &Actor::service(),
        };
        // WHEN it is changed from that copy
        let outcome: Result<_, ModifyError<std::convert::Infallible>> = modify_from(
            &store,
            caller,
            Some(destination.clone()),
            destination.id(),
            Precondition::None,
            OffsetDateTime::now_utc(),
            |_| Ok(Change::recorded(Activity::Saved)),
        )
        .await;
        // THEN the copy's refused write came on top of every attempt from a fresh read
        assert!(matches!(outcome, Err(ModifyError::Conflict)));
        assert_eq!(store.updates_tried(), ATTEMPTS as usize + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_lost_at_a_pinned_version_is_not_retried() {
        // GIVEN a destination every write of which another writer beats
        let (store, destination) = always_beaten();
        // WHEN it is changed If-Match its version
        let pinned = Precondition::Version(destination.version());
        let outcome = change(&store, &destination, pinned).await;
        // THEN one write was tried, and the caller told its version is gone
        assert!(matches!(outcome, Err(ModifyError::PreconditionFailed)));
        assert_eq!(store.updates_tried(), 1);
    }
}
