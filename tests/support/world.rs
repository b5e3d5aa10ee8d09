//! A whole platform inside the emulator: accounts, the connector role, the table and the handlers'
//! dependencies wired exactly as the functions' `main.rs` wires them.

use std::sync::Arc;
use std::time::Duration;

use shared::adapters::aws_probe::AwsProber;
use shared::adapters::dynamodb::{DynamoDbStore, create_table};
use shared::connection_test::TestSettings;

use crate::accounts::{Platform, unique};

pub struct World {
    pub platform: Platform,
    pub table: String,
    pub store: Arc<DynamoDbStore>,
}

impl World {
    pub async fn new() -> World {
        let platform = Platform::create().await;
        let table = unique("destinations");
        let dynamodb = platform.account.dynamodb();
        create_table(&dynamodb, &table).await.expect("CreateTable");
        let store = Arc::new(DynamoDbStore::new(dynamodb, table.clone()));
        World {
            platform,
            table,
            store,
        }
    }

    /// The prober as test-connection builds it, running with the connector role's credentials.
    pub fn prober(&self) -> AwsProber {
        AwsProber::from_config(&self.platform.connector, true)
    }

    pub fn destinations_app(&self) -> destinations_api::handler::App<Arc<DynamoDbStore>> {
        destinations_api::handler::App {
            store: self.store.clone(),
            principals: self.platform.principals(),
        }
    }

    pub fn policies_app(&self) -> policies_api::handler::App<Arc<DynamoDbStore>> {
        policies_api::handler::App {
            store: self.store.clone(),
            principals: self.platform.principals(),
        }
    }

    pub fn test_connection_app(
        &self,
        settings: TestSettings,
    ) -> test_connection::handler::App<Arc<DynamoDbStore>, AwsProber> {
        test_connection::handler::App {
            store: self.store.clone(),
            prober: self.prober(),
            principals: self.platform.principals(),
            settings,
        }
    }
}

/// Tests do not wait out IAM propagation: the emulator has none, and a wrong role must fail fast.
pub fn quick_settings() -> TestSettings {
    TestSettings {
        deadline: Duration::from_secs(20),
        propagation_budget: Duration::from_millis(300),
        first_backoff: Duration::from_millis(100),
    }
}
