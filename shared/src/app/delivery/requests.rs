//! Asking for a delivery, and reading deliveries back: the one use case behind the queue and
//! `POST /internal/deliveries`, and the tenant's reads.

use thiserror::Error;
use time::OffsetDateTime;

use crate::domain::delivery::{
    Delivery, DeliveryConflict, DeliveryId, DeliveryRefused, DeliveryRequest,
};
use crate::domain::{Activity, ActivityEntry, BucketName, DestinationId, TenantId};
use crate::ports::{DeliveryPage, DeliveryRecords, DestinationRepository, Recorded, StoreError};

#[derive(Debug, Error)]
pub enum RequestError {
    /// No such destination for the named tenant (another tenant's is the same answer).
    #[error("destination not found")]
    NotFound,
    /// Deliveries are read only from the platform's staging bucket, never from a bucket the
    /// request names.
    #[error("the source must be an object of the staging bucket {staging}")]
    NotStaged { staging: BucketName },
    #[error(transparent)]
    Refused(#[from] DeliveryRefused),
    #[error(transparent)]
    Conflict(#[from] DeliveryConflict),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A delivery as asked for: the one stored now, or the one stored by an earlier identical ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub delivery: Delivery,
    pub new: bool,
}

/// Accepts `request` for the tenant's destination and stores it, queued, with an activity entry
/// naming who asked. The same delivery id asked for again with the same file changes nothing;
/// with another file it is a conflict.
///
/// # Errors
/// [`RequestError`].
pub async fn request<S: DestinationRepository + DeliveryRecords>(
    store: &S,
    staging: &BucketName,
    request: DeliveryRequest,
    now: OffsetDateTime,
) -> Result<Requested, RequestError> {
    if request.source.bucket != *staging {
        return Err(RequestError::NotStaged {
            staging: staging.clone(),
        });
    }
    let destination = store
        .get(&request.tenant, &request.destination)
        .await?
        .ok_or(RequestError::NotFound)?;
    if let Some(existing) = store
        .delivery(&request.tenant, &request.destination, &request.id)
        .await?
    {
        existing.same_request(&request)?;
        return Ok(Requested {
            delivery: existing,
            new: false,
        });
    }
    let delivery = Delivery::accept(request, &destination, now)?;
    let activity = ActivityEntry {
        at: now,
        actor: delivery.requested_by.clone(),
        activity: Activity::DeliveryRequested {
            delivery_id: delivery.id.clone(),
        },
        version: destination.version(),
    };
    match store.record(&delivery, &activity).await? {
        Recorded::New => Ok(Requested {
            delivery,
            new: true,
        }),
        // Asked for twice at once: the other ask stored it first.
        Recorded::Existing(existing) => {
            existing.same_request_as(&delivery)?;
            Ok(Requested {
                delivery: *existing,
                new: false,
            })
        }
    }
}

#[derive(Debug, Error)]
pub enum DeliveryReadError {
    /// No such destination for this tenant (another tenant's is the same answer).
    #[error("destination not found")]
    DestinationNotFound,
    /// No such delivery of this tenant's destination.
    #[error("delivery not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A destination's deliveries, newest first; the destination must be the tenant's.
///
/// # Errors
/// `NotFound` for a destination the tenant does not have; `Store`.
pub async fn list<S: DestinationRepository + DeliveryRecords>(
    store: &S,
    tenant: &TenantId,
    destination: &DestinationId,
    limit: u16,
    cursor: Option<&str>,
) -> Result<DeliveryPage, DeliveryReadError> {
    store
        .get(tenant, destination)
        .await?
        .ok_or(DeliveryReadError::DestinationNotFound)?;
    Ok(store.deliveries(tenant, destination, limit, cursor).await?)
}

/// One delivery of the tenant's destination.
///
/// # Errors
/// `NotFound`; `Store`.
pub async fn delivery<S: DeliveryRecords>(
    store: &S,
    tenant: &TenantId,
    destination: &DestinationId,
    id: &DeliveryId,
) -> Result<Delivery, DeliveryReadError> {
    store
        .delivery(tenant, destination, id)
        .await?
        .ok_or(DeliveryReadError::NotFound)
}
