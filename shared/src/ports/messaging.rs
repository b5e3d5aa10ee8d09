//! Queue and event bus.

use std::future::Future;

use thiserror::Error;

use crate::domain::delivery::DeliveryRef;
use crate::domain::revalidation::{ConnectionEvent, RevalidationRequest};

#[derive(Debug, Error)]
#[error("the queue is unavailable")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where checks wait for a worker.
pub trait RevalidationQueue: Send + Sync {
    /// # Errors
    /// `QueueError` when any request could not be queued (the caller retries all of them; a
    /// duplicate check is skipped by the worker).
    fn enqueue(
        &self,
        requests: &[RevalidationRequest],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Queues `request` again, to be received no sooner than `delay` from now (at most 15
    /// minutes): a check put off, not failed, so it never counts towards the dead-letter queue.
    /// # Errors
    /// `QueueError`: the caller leaves the message to be retried instead.
    fn defer(
        &self,
        request: &RevalidationRequest,
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Where deliveries wait for an attempt.
pub trait DeliveryQueue: Send + Sync {
    /// # Errors
    /// `QueueError` when any could not be queued (a delivery left out stays due, and the sweep
    /// queues it again; a duplicate attempt finds it no longer due).
    fn enqueue_deliveries(
        &self,
        deliveries: &[DeliveryRef],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, Error)]
#[error("the event bus is unavailable")]
pub struct PublishError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where the platform hears that a destination broke or recovered.
pub trait EventPublisher: Send + Sync {
    /// # Errors
    /// `PublishError` when the bus did not take the event.
    fn publish(
        &self,
        event: &ConnectionEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}
