//! The store ports' contract (`support::ports`) against the in-memory store.

use shared::testing::memory::InMemoryStore;
use support::ports::{CALLS_PER_MINUTE, CHECK_SLOTS, every_contract};

#[tokio::test]
async fn the_in_memory_store_keeps_the_ports_contract() {
    let store = InMemoryStore::with_rate_limit(CALLS_PER_MINUTE).with_check_slots(CHECK_SLOTS);
    every_contract(&store).await;
}
