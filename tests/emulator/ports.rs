//! The store ports' contract (`support::ports`) against the DynamoDB adapter in the emulator: the
//! same suite the in-memory store keeps.

use shared::adapters::dynamodb::{DynamoDbStore, RateLimits};
use support::ports::{CALLS_PER_MINUTE, CHECK_SLOTS, every_contract};
use support::world::World;

#[tokio::test]
async fn the_dynamodb_adapter_keeps_the_ports_contract() {
    let world = World::new().await;
    let limits = RateLimits {
        test_connection: CALLS_PER_MINUTE,
        create_destination: CALLS_PER_MINUTE,
        merge_bucket_policy: CALLS_PER_MINUTE,
        api_request: CALLS_PER_MINUTE,
        concurrent_checks: CHECK_SLOTS,
    };
    let store =
        DynamoDbStore::from_config(&world.platform.account.admin, &world.platform.table, limits);
    every_contract(&store).await;
}
