//! The store ports' contract, one suite for every adapter: the in-memory store the fast tests use
//! (`tests/fast/ports.rs`) and the DynamoDB adapter against the emulator
//! (`tests/emulator/ports.rs`), so that the fake cannot drift from the real thing. Each contract
//! works in tenants of its own, so adapters may share a table.

use shared::domain::{
    Activity, ActivityEntry, Actor, AuthModeKind, Destination, DestinationId, TenantId,
};
use shared::ports::{
    ActivityLog, CheckHistory, CheckKind, CheckLock, CheckSlots, CreateOutcome,
    DestinationRepository, NewRecord, RateLimitedAction, RateLimiter, SideEffects, StoreError,
};
use shared::testing::{DestinationBuilder, NOW, passed};
use time::{Duration, OffsetDateTime};

/// Every store port, as one store implements them.
pub trait Store:
    DestinationRepository + CheckLock + CheckHistory + ActivityLog + RateLimiter + CheckSlots
{
}
impl<S> Store for S where
    S: DestinationRepository + CheckLock + CheckHistory + ActivityLog + RateLimiter + CheckSlots
{
}

/// The limits the adapter under test was configured with.
pub const CALLS_PER_MINUTE: u32 = 3;
pub const CHECK_SLOTS: u16 = 4;

/// Runs every contract against `store`.
pub async fn every_contract<S: Store>(store: &S) {
    destinations_are_stored_once_per_tenant_and_capped(store).await;
    a_stale_version_changes_nothing_and_a_delete_is_final(store).await;
    listing_pages_within_one_tenant(store).await;
    one_check_lock_per_destination(store).await;
    history_keeps_one_entry_per_result_newest_first(store).await;
    the_trail_starts_with_the_create(store).await;
    calls_are_counted_per_tenant_and_action(store).await;
    check_slots_are_capped_per_tenant_and_freed(store).await;
}

fn fresh_tenant() -> TenantId {
    TenantId::new(&format!(
        "contract-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
    .unwrap()
}

fn draft(tenant: &TenantId) -> Destination {
    DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .tenant(tenant.as_str())
        .build()
}

fn created() -> ActivityEntry {
    ActivityEntry {
        at: NOW,
        actor: Actor::new("contract").unwrap(),
        activity: Activity::Created,
        version: 1,
    }
}

async fn create<S: Store>(
    store: &S,
    destination: &Destination,
    cap: u32,
) -> Result<CreateOutcome, StoreError> {
    store
        .create(NewRecord {
            destination,
            activity: &created(),
            idempotency: None,
            cap,
        })
        .await
}

async fn destinations_are_stored_once_per_tenant_and_capped<S: Store>(store: &S) {
    let (tenant, other) = (fresh_tenant(), fresh_tenant());
    let first = draft(&tenant);
    assert!(matches!(
        create(store, &first, 2).await,
        Ok(CreateOutcome::Created)
    ));
    // Read back as written, by its own tenant only.
    assert_eq!(
        store.get(&tenant, first.id()).await.unwrap().as_ref(),
        Some(&first)
    );
    assert_eq!(store.get(&other, first.id()).await.unwrap(), None);
    // Never overwritten.
    assert!(matches!(
        create(store, &first, 2).await,
        Err(StoreError::AlreadyExists)
    ));
    // The cap counts the tenant's destinations only.
    assert!(matches!(
        create(store, &draft(&tenant), 2).await,
        Ok(CreateOutcome::Created)
    ));
    assert!(matches!(
        create(store, &draft(&tenant), 2).await,
        Err(StoreError::LimitReached { cap: 2 })
    ));
    assert!(matches!(
        create(store, &draft(&other), 2).await,
        Ok(CreateOutcome::Created)
    ));
}

async fn a_stale_version_changes_nothing_and_a_delete_is_final<S: Store>(store: &S) {
    let tenant = fresh_tenant();
    let destination = draft(&tenant);
    create(store, &destination, 10).await.unwrap();
    let stale = store
        .update(
            &destination,
            destination.version() + 1,
            SideEffects::default(),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { .. })),
        "{stale:?}"
    );
    assert_eq!(
        store
            .get(&tenant, destination.id())
            .await
            .unwrap()
            .map(|d| d.version()),
        Some(destination.version())
    );
    let deleted = created();
    assert!(
        store
            .delete(&tenant, destination.id(), &deleted)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete(&tenant, destination.id(), &deleted)
            .await
            .unwrap()
    );
    assert_eq!(store.get(&tenant, destination.id()).await.unwrap(), None);
}

async fn listing_pages_within_one_tenant<S: Store>(store: &S) {
    let (tenant, other) = (fresh_tenant(), fresh_tenant());
    for _ in 0..3 {
        create(store, &draft(&tenant), 10).await.unwrap();
    }
    create(store, &draft(&other), 10).await.unwrap();
    let mut seen: Vec<DestinationId> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list(&tenant, 2, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 2);
        assert!(page.items.iter().all(|d| d.tenant() == &tenant));
        seen.extend(page.items.iter().map(|d| d.id().clone()));
        match page.next_cursor {
            Some(next) => {
                // A cursor is good for its own tenant's listing only.
                assert!(matches!(
                    store.list(&other, 2, Some(&next)).await,
                    Err(StoreError::InvalidCursor)
                ));
                cursor = Some(next);
            }
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);
}

async fn one_check_lock_per_destination<S: Store>(store: &S) {
    let tenant = fresh_tenant();
    let destination = draft(&tenant);
    create(store, &destination, 10).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let until = now + Duration::minutes(1);
    let locked = store
        .try_lock(&tenant, destination.id(), now, until)
        .await
        .unwrap();
    assert_eq!(
        locked.map(|d| (d.id().clone(), d.version())),
        Some((destination.id().clone(), destination.version())),
        "the lock returns the destination as stored"
    );
    assert!(
        store
            .try_lock(&tenant, destination.id(), now, until)
            .await
            .unwrap()
            .is_none()
    );
    store.unlock(&tenant, destination.id()).await.unwrap();
    assert!(
        store
            .try_lock(&tenant, destination.id(), now, until)
            .await
            .unwrap()
            .is_some()
    );
    // A lock whose time is up is free again; a destination that does not exist is never locked.
    let later = until + Duration::seconds(1);
    assert!(
        store
            .try_lock(
                &tenant,
                destination.id(),
                later,
                later + Duration::minutes(1)
            )
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .try_lock(&tenant, &DestinationId::generate(), now, until)
            .await
            .unwrap()
            .is_none()
    );
}

async fn history_keeps_one_entry_per_result_newest_first<S: Store>(store: &S) {
    let tenant = fresh_tenant();
    let destination = draft(&tenant);
    create(store, &destination, 10).await.unwrap();
    let older = passed(1);
    let mut newer = passed(1);
    newer.started_at = older.started_at + Duration::minutes(5);
    store
        .append(&tenant, destination.id(), &older)
        .await
        .unwrap();
    store
        .append(&tenant, destination.id(), &older)
        .await
        .unwrap();
    store
        .append(&tenant, destination.id(), &newer)
        .await
        .unwrap();
    let history = store.history(&tenant, destination.id(), 10).await.unwrap();
    assert_eq!(history, vec![newer, older]);
    assert!(
        store
            .history(&fresh_tenant(), destination.id(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_trail_starts_with_the_create<S: Store>(store: &S) {
    let tenant = fresh_tenant();
    let destination = draft(&tenant);
    create(store, &destination, 10).await.unwrap();
    let page = store
        .activity(&tenant, destination.id(), 10, None)
        .await
        .unwrap();
    assert_eq!(page.items, vec![created()]);
    assert!(
        store
            .activity(&fresh_tenant(), destination.id(), 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn calls_are_counted_per_tenant_and_action<S: Store>(store: &S) {
    let (tenant, other) = (fresh_tenant(), fresh_tenant());
    // Inside one window: not at its very end.
    let now = OffsetDateTime::now_utc().replace_second(5).unwrap();
    for _ in 0..CALLS_PER_MINUTE {
        assert!(
            store
                .acquire(&tenant, RateLimitedAction::TestConnection, now)
                .await
                .unwrap()
                .is_ok()
        );
    }
    let refused = store
        .acquire(&tenant, RateLimitedAction::TestConnection, now)
        .await
        .unwrap();
    let wait = refused.expect_err("over the limit").0.as_secs();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        store
            .acquire(&other, RateLimitedAction::TestConnection, now)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        store
            .acquire(&tenant, RateLimitedAction::MergeBucketPolicy, now)
            .await
            .unwrap()
            .is_ok()
    );
    // The next window starts afresh.
    let next = now + Duration::minutes(1);
    assert!(
        store
            .acquire(&tenant, RateLimitedAction::TestConnection, next)
            .await
            .unwrap()
            .is_ok()
    );
}

async fn check_slots_are_capped_per_tenant_and_freed<S: Store>(store: &S) {
    let (tenant, other) = (fresh_tenant(), fresh_tenant());
    let now = OffsetDateTime::now_utc();
    let until = now + Duration::minutes(1);
    let take = |who: &TenantId, kind: CheckKind, until: OffsetDateTime| {
        let who = who.clone();
        async move { store.take_slot(&who, kind, now, until).await.unwrap() }
    };
    // Re-validation leaves the last slot to Test Connection.
    let mut held = Vec::new();
    while let Some(slot) = take(&tenant, CheckKind::Revalidation, until).await {
        held.push(slot);
        assert!(held.len() <= usize::from(CHECK_SLOTS));
    }
    assert_eq!(held.len(), usize::from(CHECK_SLOTS) - 1);
    let last = take(&tenant, CheckKind::TestConnection, until)
        .await
        .expect("the kept slot");
    assert!(
        take(&tenant, CheckKind::TestConnection, until)
            .await
            .is_none()
    );
    assert!(
        take(&other, CheckKind::TestConnection, until)
            .await
            .is_some()
    );
    // Freed by its holder only.
    store.release_slot(&tenant, &last).await.unwrap();
    let again = take(&tenant, CheckKind::TestConnection, until)
        .await
        .expect("freed");
    store.release_slot(&tenant, &last).await.unwrap();
    assert!(
        take(&tenant, CheckKind::TestConnection, until)
            .await
            .is_none()
    );
    // A lease that ended frees the slot.
    store.release_slot(&tenant, &again).await.unwrap();
    let short = take(
        &tenant,
        CheckKind::TestConnection,
        now + Duration::milliseconds(1),
    )
    .await;
    assert!(short.is_some());
    let later = now + Duration::seconds(1);
    assert!(
        store
            .take_slot(
                &tenant,
                CheckKind::TestConnection,
                later,
                later + Duration::minutes(1)
            )
            .await
            .unwrap()
            .is_some()
    );
}
