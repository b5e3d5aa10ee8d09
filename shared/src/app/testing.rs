//! Test Connection: one check of the configuration under edit, stored as its latest test and in
//! the history.

use time::OffsetDateTime;

use crate::domain::check::CheckResult;
use crate::domain::revalidation::RevalidationSettings;
use crate::domain::{Activity, DestinationId, PlatformIdentity, Status};
use crate::ports::{
    CheckHistory, CheckKind, CheckLock, CheckSlots, DestinationRepository, ObjectWriter,
    RateLimitedAction, RateLimiter, RetryAfter, StoreError,
};

use super::check::{CheckSettings, CheckTarget, run};
use super::modify::{Caller, Change, ModifyError, Precondition, modify_from};
use super::revalidation::record_active_check;

/// Longer than any test can run, so a crashed test never blocks the next one for long.
pub const LOCK_TTL: time::Duration = time::Duration::seconds(60);
/// When a tenant's check slots are all held: about one check's time.
pub const SLOT_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("no such destination")]
    NotFound,
    #[error("a connection test for this destination is already running")]
    InProgress,
    #[error("too many connection tests")]
    RateLimited(RetryAfter),
    #[error("the tenant already runs as many checks as it may at once")]
    TooManyRunning(RetryAfter),
    #[error("only a saved destination has an active configuration to check")]
    NotSaved,
    #[error(transparent)]
    Store(StoreError),
}

pub struct Tested {
    pub result: CheckResult,
    /// False when the configuration changed while the test ran: the result is in the history
    /// but is not the destination's latest test.
    pub current: bool,
}

/// What "Check now" found: the result, the status it led to, and whether it was applied.
pub struct CheckedNow {
    pub result: CheckResult,
    pub status: Status,
    /// False when the destination changed while the check ran: the result is in the history but
    /// did not change the status.
    pub current: bool,
}

/// Everything a Test Connection needs.
pub struct Tester<'a, S, P, L> {
    pub store: &'a S,
    pub writer: &'a P,
    pub limiter: &'a L,
    pub platform: &'a PlatformIdentity,
    pub settings: CheckSettings,
}

impl<S, P, L> Tester<'_, S, P, L>
where
    S: DestinationRepository + CheckLock + CheckHistory + CheckSlots,
    P: ObjectWriter,
    L: RateLimiter,
{
    pub async fn test(&self, caller: Caller<'_>, id: &DestinationId) -> Result<Tested, TestError> {
        let now = OffsetDateTime::now_utc();
        self.count_call(caller, now).await?;
        let slot = self.take_slot(caller, now).await?;
        // The lock's write returns the destination: no separate read.
        let tested = match self.lock(caller, id, now).await {
            Ok(destination) => {
                let target = CheckTarget::under_edit(&destination, now);
                let result = run(self.writer, &target, self.platform, self.settings).await;
                Ok((destination, result))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = self.store.release_slot(caller.tenant, &slot).await {
            // The lease frees it shortly; the test's result matters more.
            tracing::warn!(error = %e, "check slot not released");
        }
        let (destination, result) = tested?;
        // The ID this test presented: an open rotation's next one is proven by a pass.
        let presented = destination.external_id_under_test().cloned();
        crate::metrics::check(
            crate::metrics::CheckKind::TestConnection,
            id.as_str(),
            &result,
            None,
        );
        tracing::info!(
            destination_id = %id,
            passed = result.passed,
            category = ?result.category,
            duration_ms = result.duration_ms,
            "connection test finished"
        );
        let (stored, history) = tokio::join!(
            self.record(caller, destination, &result, presented.as_ref()),
            self.store.append(caller.tenant, id, &result)
        );
        if let Err(e) = history {
            // The result is the destination's now; a lost history entry must not fail the test.
            tracing::warn!(destination_id = %id, error = %e, "test history entry not written");
        }
        match stored {
            Ok(current) => Ok(Tested { result, current }),
            Err(e) => {
                if let Err(unlock) = self.store.unlock(caller.tenant, id).await {
                    tracing::warn!(destination_id = %id, error = %unlock, "test lock not released");
                }
                Err(e)
            }
        }
    }

    /// "Check now": re-tests a saved destination's *active* configuration on demand, exactly as
    /// re-validation does, and makes the result its status (with the caller's activity entry and
    /// the event when the status changes). Counted and capped like Test Connection.
    pub async fn check_now(
        &self,
        caller: Caller<'_>,
        id: &DestinationId,
        revalidation: &RevalidationSettings,
    ) -> Result<CheckedNow, TestError> {
        let now = OffsetDateTime::now_utc();
        let mut destination = self.admit(caller, id, now).await?;
        let target = CheckTarget::active(&destination, now).ok_or(TestError::NotSaved)?;
        let slot = self.take_slot(caller, now).await?;
        let result = run(self.writer, &target, self.platform, self.settings).await;
        crate::metrics::check(
            crate::metrics::CheckKind::CheckNow,
            id.as_str(),
            &result,
            None,
        );
        if let Err(e) = self.store.release_slot(caller.tenant, &slot).await {
            tracing::warn!(error = %e, "check slot not released");
        }
        let applied = record_active_check(
            self.store,
            &mut destination,
            &result,
            revalidation,
            caller.actor,
            now,
        )
        .await
        .map_err(TestError::Store)?;
        let status = match applied {
            Some(_) => destination.status(),
            None => self
                .store
                .get(caller.tenant, id)
                .await
                .map_err(TestError::Store)?
                .ok_or(TestError::NotFound)?
                .status(),
        };
        tracing::info!(destination_id = %id, passed = result.passed, ?status, "destination checked on demand");
        Ok(CheckedNow {
            result,
            status,
            current: applied.is_some(),
        })
    }

    /// Counts the call against the tenant's limit.
    async fn count_call(&self, caller: Caller<'_>, now: OffsetDateTime) -> Result<(), TestError> {
        self.limiter
            .acquire(caller.tenant, RateLimitedAction::TestConnection, now)
            .await
            .map_err(TestError::Store)?
            .map_err(TestError::RateLimited)
    }

    /// Counts the call against the tenant's limit and reads the destination.
    async fn admit(
        &self,
        caller: Caller<'_>,
        id: &DestinationId,
        now: OffsetDateTime,
    ) -> Result<crate::domain::Destination, TestError> {
        self.count_call(caller, now).await?;
        self.store
            .get(caller.tenant, id)
            .await
            .map_err(TestError::Store)?
            .ok_or(TestError::NotFound)
    }

    /// One of the tenant's check slots, for as long as a test may run.
    async fn take_slot(
        &self,
        caller: Caller<'_>,
        now: OffsetDateTime,
    ) -> Result<crate::ports::CheckSlot, TestError> {
        self.store
            .take_slot(
                caller.tenant,
                CheckKind::TestConnection,
                now,
                now + LOCK_TTL,
            )
            .await
            .map_err(TestError::Store)?
            .ok_or(TestError::TooManyRunning(RetryAfter(SLOT_RETRY_AFTER)))
    }

    /// Takes the destination's test lock (one Test Connection at a time per destination) and
    /// returns the destination as the lock found it.
    async fn lock(
        &self,
        caller: Caller<'_>,
        id: &DestinationId,
        now: OffsetDateTime,
    ) -> Result<crate::domain::Destination, TestError> {
        if let Some(destination) = self
            .store
            .try_lock(caller.tenant, id, now, now + LOCK_TTL)
            .await
            .map_err(TestError::Store)?
        {
            return Ok(destination);
        }
        // Refused: another test holds it, or this tenant has no such destination; a read tells.
        match self.store.get(caller.tenant, id).await {
            Ok(None) => Err(TestError::NotFound),
            Ok(Some(_)) => Err(TestError::InProgress),
            Err(e) => Err(TestError::Store(e)),
        }
    }

    /// Makes `result` the latest test if the configuration it tested is still the one under edit.
    /// Written first over `tested`, the destination as the test read it (most often still the
    /// stored one), else over a fresh read.
    async fn record(
        &self,
        caller: Caller<'_>,
        tested: crate::domain::Destination,
        result: &CheckResult,
        presented: Option<&crate::domain::ExternalId>,
    ) -> Result<bool, TestError> {
        let now = OffsetDateTime::now_utc();
        let id = &tested.id().clone();
        let mut current = false;
        let stored = modify_from(
            self.store,
            caller,
            Some(tested),
            id,
            Precondition::None,
            now,
            |destination| {
                current = destination.record_test(result.clone(), presented, now);
                Ok::<_, std::convert::Infallible>(if current {
                    Change::recorded(Activity::Tested {
                        passed: result.passed,
                        category: result.category,
                    })
                } else {
                    Change::nothing()
                })
            },
        )
        .await;
        match stored {
            Ok(_) if current => Ok(true),
            Ok(_) => {
                self.store
                    .unlock(caller.tenant, id)
                    .await
                    .map_err(TestError::Store)?;
                Ok(false)
            }
            Err(ModifyError::NotFound) => Err(TestError::NotFound),
            Err(ModifyError::Store(e)) => Err(TestError::Store(e)),
            Err(ModifyError::Conflict | ModifyError::PreconditionFailed) => {
                Err(TestError::Store(StoreError::VersionConflict {
                    expected: 0,
                }))
            }
            Err(ModifyError::Rejected(never)) => match never {},
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no such destination")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

/// The destination's recent tests, newest first.
pub async fn history<S: DestinationRepository + CheckHistory>(
    store: &S,
    caller: Caller<'_>,
    id: &DestinationId,
    limit: u16,
) -> Result<Vec<CheckResult>, HistoryError> {
    store
        .get(caller.tenant, id)
        .await
        .map_err(HistoryError::Store)?
        .ok_or(HistoryError::NotFound)?;
    store
        .history(caller.tenant, id, limit)
        .await
        .map_err(HistoryError::Store)
}
