//! Destination events, published from the outbox their transition was written with: a crash or
//! an event-bus outage delays an event, never loses it, and a redelivery never repeats it.

use time::OffsetDateTime;

use crate::domain::TenantId;
use crate::ports::{EventPublisher, Outbox, PublishError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Published,
    /// Already published (a redelivered record, or the sweeper got there first).
    AlreadyPublished,
}

/// Publishes one outbox event, if it is still waiting, then marks it published.
pub async fn publish<O: Outbox, E: EventPublisher>(
    outbox: &O,
    publisher: &E,
    tenant: &TenantId,
    event_id: &str,
) -> Result<Delivery, EventsError> {
    let Some(event) = outbox.pending(tenant, event_id).await? else {
        return Ok(Delivery::AlreadyPublished);
    };
    publisher.publish(&event).await?;
    outbox.published(tenant, event_id).await?;
    tracing::info!(
        event_id,
        detail_type = event.detail_type(),
        "destination event published"
    );
    Ok(Delivery::Published)
}

/// Publishes every event still waiting since before `before` (those whose stream-triggered
/// publication failed for good). Returns how many it published.
pub async fn sweep<O: Outbox, E: EventPublisher>(
    outbox: &O,
    publisher: &E,
    before: OffsetDateTime,
) -> Result<usize, EventsError> {
    let mut oldest: Option<OffsetDateTime> = None;
    let swept = publish_backlog(outbox, publisher, before, &mut oldest).await;
    // What an alarm watches, whether or not publishing worked: how long the oldest unpublished
    // event had waited.
    let age = oldest.map_or(0.0, |at| (OffsetDateTime::now_utc() - at).as_seconds_f64());
    crate::metrics::outbox_oldest(age);
    swept
}

async fn publish_backlog<O: Outbox, E: EventPublisher>(
    outbox: &O,
    publisher: &E,
    before: OffsetDateTime,
    oldest: &mut Option<OffsetDateTime>,
) -> Result<usize, EventsError> {
    let mut published = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = outbox.backlog(before, cursor.as_deref()).await?;
        for event in &page.items {
            *oldest = Some(oldest.map_or(event.occurred_at, |o| o.min(event.occurred_at)));
            if publish(outbox, publisher, &event.tenant_id, &event.event_id).await?
                == Delivery::Published
            {
                published += 1;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(published),
        }
    }
}
