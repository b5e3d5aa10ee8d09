//! Attempts, stored: the delivery worker takes a due delivery (one conditional write, so two
//! workers never attempt it at once), writes it, and stores the outcome with its `Delivery Failed`
//! event when the attempt parked it. The sweep queues deliveries whose retry is due or whose
//! attempt was lost.

use thiserror::Error;
use time::OffsetDateTime;

use super::{AttemptSettings, Attempted, finish_attempt};
use crate::app::writer::{Deadline, JournalError, StreamSettings, UploadJournal};
use crate::domain::check::FailureCategory;
use crate::domain::delivery::{Delivery, DeliveryRef, RetryPolicy};
use crate::domain::revalidation::{ConnectionEvent, ConnectionEventKind};
use crate::domain::{Destination, PlatformIdentity};
use crate::ports::{
    DeliveryQueue, DeliveryRecords, DestinationRepository, DueDeliveries, ObjectWriter, QueueError,
    StagedFiles, StoreError,
};

/// Why a queued delivery was not attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// No such delivery (a message for one never stored).
    Gone,
    /// Delivered, parked, backing off, or held by a live attempt.
    NotDue,
    /// Another worker started it first.
    TakenByAnother,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverOutcome {
    Skipped(Skipped),
    Attempted(Attempted),
}

/// Everything the worker delivers with.
pub struct Deliverer<'a, S, W, F> {
    pub store: &'a S,
    pub writer: &'a W,
    pub staged: &'a F,
    pub platform: &'a PlatformIdentity,
    pub stream: StreamSettings,
    pub retry: RetryPolicy,
    /// How long an attempt holds its delivery: longer than the function may run.
    pub lease: time::Duration,
    /// How long one attempt may take.
    pub budget: std::time::Duration,
}

impl<S, W, F> Deliverer<'_, S, W, F>
where
    S: DestinationRepository + DeliveryRecords,
    W: ObjectWriter,
    F: StagedFiles,
{
    /// One attempt at the referenced delivery if it is due.
    ///
    /// # Errors
    /// `StoreError` when the delivery could not be read or its outcome not stored (the message is
    /// retried; the lease keeps a second attempt from starting before this one's ends).
    pub async fn deliver(
        &self,
        reference: &DeliveryRef,
        now: OffsetDateTime,
    ) -> Result<DeliverOutcome, StoreError> {
        let Some(mut delivery) = self
            .store
            .delivery(
                &reference.tenant_id,
                &reference.destination_id,
                &reference.delivery_id,
            )
            .await?
        else {
            return Ok(DeliverOutcome::Skipped(Skipped::Gone));
        };
        let expected = delivery.version;
        if delivery.start_attempt(now, self.lease).is_err() {
            return Ok(DeliverOutcome::Skipped(Skipped::NotDue));
        }
        match self.store.save_delivery(&delivery, expected, None).await {
            Err(StoreError::VersionConflict { .. }) => {
                return Ok(DeliverOutcome::Skipped(Skipped::TakenByAnother));
            }
            other => other?,
        }
        let started = delivery.version;
        let destination = self
            .store
            .get(&reference.tenant_id, &reference.destination_id)
            .await?;
        let attempted = match &destination {
            // Deleted since it was asked for: nothing will ever receive it.
            None => {
                delivery.park(FailureCategory::InvalidConfiguration, now);
                Attempted::Parked(FailureCategory::InvalidConfiguration)
            }
            Some(destination) => self.attempt(&mut delivery, destination, now).await,
        };
        let event = match attempted {
            Attempted::Parked(category) => {
                Some(parked_event(&delivery, destination.as_ref(), category, now))
            }
            _ => None,
        };
        match self
            .store
            .save_delivery(&delivery, started, event.as_ref())
            .await
        {
            Err(StoreError::VersionConflict { .. }) => {
                // This attempt outlived its lease and another took over: its outcome is not ours to
                // store.
                tracing::warn!(delivery_id = %delivery.id, "attempt overtaken after its lease");
                Ok(DeliverOutcome::Skipped(Skipped::TakenByAnother))
            }
            other => other.map(|()| {
                let outcome = match attempted {
                    Attempted::Delivered => "delivered",
                    Attempted::WillRetry(_) => "willRetry",
                    Attempted::Parked(_) => "parked",
                };
                crate::metrics::delivery(&delivery, outcome);
                DeliverOutcome::Attempted(attempted)
            }),
        }
    }

    async fn attempt(
        &self,
        delivery: &mut Delivery,
        destination: &Destination,
        now: OffsetDateTime,
    ) -> Attempted {
        let source = self.staged.open(&delivery.source).await;
        let journal = StoredJournal {
            store: self.store,
            reference: delivery.reference(),
            version: delivery.version,
        };
        let settings = AttemptSettings {
            platform: self.platform,
            stream: self.stream,
            retry: &self.retry,
            deadline: Deadline::after(self.budget),
            lease: self.lease,
        };
        finish_attempt(
            self.writer,
            delivery,
            destination,
            source,
            &journal,
            &settings,
            now,
        )
        .await
    }
}

/// Records a started upload on the stored delivery, so the next attempt can abort it.
struct StoredJournal<'a, S> {
    store: &'a S,
    reference: DeliveryRef,
    version: u64,
}

impl<S: DeliveryRecords> UploadJournal for StoredJournal<'_, S> {
    async fn started(&self, upload_id: &str) -> Result<(), JournalError> {
        self.store
            .note_upload(&self.reference, self.version, upload_id)
            .await
            .map_err(|e| Box::new(e) as JournalError)
    }
}

/// `Delivery Failed`: one per delivery, so a redelivered event is recognised.
fn parked_event(
    delivery: &Delivery,
    destination: Option<&Destination>,
    category: FailureCategory,
    now: OffsetDateTime,
) -> ConnectionEvent {
    ConnectionEvent {
        event_id: format!("{}/delivery/{}", delivery.destination, delivery.id),
        kind: ConnectionEventKind::DeliveryFailed,
        tenant_id: delivery.tenant.clone(),
        destination_id: delivery.destination.clone(),
        destination_name: destination
            .map(|d| d.name().as_str().to_owned())
            .unwrap_or_default(),
        category: Some(category),
        delivery_id: Some(delivery.id.clone()),
        first_failure_at: Some(delivery.requested_at),
        changed_by: None,
        before: None,
        after: None,
        occurred_at: now,
    }
}

#[derive(Debug, Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Queues every delivery whose next attempt was due before `before`: retries past their backoff,
/// attempts whose worker died, and requests whose first message was lost. Returns how many.
///
/// # Errors
/// [`SweepError`]: what was queued before it stays queued; the next sweep queues the rest.
pub async fn sweep<S: DueDeliveries, Q: DeliveryQueue>(
    store: &S,
    queue: &Q,
    before: OffsetDateTime,
) -> Result<usize, SweepError> {
    let mut cursor = None;
    let mut queued = 0;
    loop {
        let page = store.due_deliveries(before, cursor.as_deref()).await?;
        queue.enqueue_deliveries(&page.items).await?;
        queued += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(queued),
        }
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
