//! The fast tier's world: every function over the in-memory store and a scripted writer, wired
//! with the same settings the template gives them.

use std::sync::Arc;

use dev_support::gateway::HttpFunctions;
use shared::app::check::CheckSettings;
use shared::app::destinations::Limits;
use shared::domain::PlatformIdentity;
use shared::domain::revalidation::RevalidationSettings;
use shared::testing::memory::{InMemoryStore, RecordingDeliveryQueue, ScriptedWriter};

use crate::api::Api;

pub struct MemoryWorld {
    pub store: InMemoryStore,
    pub writer: ScriptedWriter,
    pub destinations: Arc<destinations_api::handler::App<InMemoryStore>>,
    pub policies: Arc<policies_api::handler::App<InMemoryStore>>,
    pub test_connection: Arc<test_connection::handler::App<InMemoryStore, ScriptedWriter>>,
    pub deliveries:
        Arc<deliveries_api::handler::App<InMemoryStore, RecordingDeliveryQueue, ScriptedWriter>>,
    pub delivery_queue: RecordingDeliveryQueue,
}

/// The staging bucket of the fast tier's platform: the one the sample events name, so they are
/// requests that succeed.
pub const STAGING_BUCKET: &str = "destinations-stagingbucket-example";

pub fn check_settings() -> CheckSettings {
    CheckSettings {
        // Long enough for any in-memory check; short, since one test waits it out.
        deadline: std::time::Duration::from_secs(1),
        propagation_budget: std::time::Duration::from_millis(300),
        first_backoff: std::time::Duration::from_millis(50),
    }
}

impl MemoryWorld {
    /// `store` and `writer` behind every function; the platform of `shared::testing`.
    pub fn new(store: InMemoryStore, writer: ScriptedWriter) -> Self {
        Self::with_limits(store, writer, Limits::default())
    }

    pub fn with_limits(store: InMemoryStore, writer: ScriptedWriter, limits: Limits) -> Self {
        Self::deployed_as(store, writer, limits, shared::testing::platform())
    }

    /// The functions as a deployment with `platform`'s identities (another partition's, say).
    pub fn deployed_as(
        store: InMemoryStore,
        writer: ScriptedWriter,
        limits: Limits,
        platform: PlatformIdentity,
    ) -> Self {
        let delivery_queue = RecordingDeliveryQueue::default();
        MemoryWorld {
            destinations: Arc::new(destinations_api::handler::App {
                store: store.clone(),
                platform: platform.clone(),
                staging_bucket: staging_bucket(),
                limits,
                settings: RevalidationSettings::default(),
            }),
            policies: Arc::new(policies_api::handler::App {
                store: store.clone(),
                platform: platform.clone(),
                kit: policies_api::KitConfig {
                    templates_url: "https://kit.s3.us-east-1.amazonaws.com/setup-kit/v4/".into(),
                    tenant_header: false,
                },
            }),
            test_connection: Arc::new(test_connection::handler::App {
                store: store.clone(),
                writer: writer.clone(),
                platform: platform.clone(),
                settings: check_settings(),
                revalidation: shared::domain::revalidation::RevalidationSettings::default(),
            }),
            deliveries: Arc::new(deliveries_api::handler::App {
                store: store.clone(),
                queue: delivery_queue.clone(),
                writer: writer.clone(),
                platform,
                staging_bucket: staging_bucket(),
            }),
            delivery_queue,
            store,
            writer,
        }
    }

    pub fn api(&self) -> Api {
        Api::new(HttpFunctions {
            destinations: self.destinations.clone(),
            policies: self.policies.clone(),
            test_connection: self.test_connection.clone(),
            deliveries: self.deliveries.clone(),
        })
    }
}

fn staging_bucket() -> shared::domain::BucketName {
    shared::domain::BucketName::new(STAGING_BUCKET).expect("a valid bucket name")
}
