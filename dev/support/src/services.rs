//! Every function of the emulated platform, wired by its own crate's `wire` (the same code its
//! `main.rs` runs) from its template environment and its template identity.

use std::sync::Arc;

use shared::adapters::aws_writer::AwsWriter;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::sqs::SqsQueue;
use shared::app::check::CheckSettings;

use crate::gateway::HttpFunctions;
use crate::platform::EmulatedPlatform;

pub const DESTINATIONS_API: &str = "DestinationsApiFunction";
pub const POLICIES_API: &str = "PoliciesApiFunction";
pub const TEST_CONNECTION: &str = "TestConnectionFunction";
pub const SCHEDULER: &str = "RevalidateSchedulerFunction";
pub const WORKER: &str = "RevalidateWorkerFunction";
pub const ON_CHANGE: &str = "RevalidateOnChangeFunction";
pub const PUBLISH_EVENTS: &str = "PublishEventsFunction";
pub const DELIVERIES_API: &str = "DeliveriesApiFunction";
pub const DELIVER: &str = "DeliverFunction";

/// Checks that fail fast: the emulator has no IAM propagation to wait for.
pub fn quick_check_settings() -> CheckSettings {
    CheckSettings {
        deadline: std::time::Duration::from_secs(20),
        propagation_budget: std::time::Duration::from_millis(300),
        first_backoff: std::time::Duration::from_millis(100),
    }
}

/// The handlers' dependencies, one set per function.
pub struct Services {
    pub destinations: Arc<destinations_api::handler::App<DynamoDbStore>>,
    pub policies: Arc<policies_api::handler::App<DynamoDbStore>>,
    pub test_connection: Arc<test_connection::handler::App<DynamoDbStore, AwsWriter>>,
    pub deliveries: Arc<deliveries_api::handler::App<DynamoDbStore, SqsQueue, AwsWriter>>,
    pub deliver: deliver::Worker,
    pub worker: revalidate_worker::Worker,
    pub scheduler: (DynamoDbStore, SqsQueue),
    pub on_change: SqsQueue,
    pub publisher: (DynamoDbStore, EventBridgePublisher),
    /// The setup page; the local run signs in with a tenant typed on the page.
    pub page: setup_page::page::Page,
    /// Bearer tokens the local server accepts: a stand-in for the deployed JWT authorizer, for the
    /// page's sign-in tests (their issuer adds each token it hands out). Empty: only
    /// `X-Tenant-Id` identifies.
    pub bearer_tokens: BearerTokens,
}

/// Each accepted bearer token's tenant and what it may do.
pub type BearerTokens = std::sync::Arc<
    std::sync::Mutex<
        std::collections::BTreeMap<String, (shared::domain::TenantId, shared::http::Access)>,
    >,
>;

impl Services {
    /// The HTTP functions, as API Gateway routes to them.
    pub fn http(&self) -> HttpFunctions<DynamoDbStore, AwsWriter, SqsQueue> {
        HttpFunctions {
            destinations: self.destinations.clone(),
            policies: self.policies.clone(),
            test_connection: self.test_connection.clone(),
            deliveries: self.deliveries.clone(),
        }
    }

    pub async fn wire(platform: &EmulatedPlatform, check: CheckSettings) -> Services {
        let f = |id| platform.function(id);
        let destinations =
            destinations_api::wire(&f(DESTINATIONS_API).settings(), &f(DESTINATIONS_API).config)
                .expect("destinations-api configuration");
        let policies = policies_api::wire(&f(POLICIES_API).settings(), &f(POLICIES_API).config)
            .expect("policies-api configuration");
        let test_connection = test_connection::wire(
            &f(TEST_CONNECTION).settings(),
            &f(TEST_CONNECTION).config,
            check,
        )
        .await
        .expect("test-connection configuration");
        let deliveries =
            deliveries_api::wire(&f(DELIVERIES_API).settings(), &f(DELIVERIES_API).config)
                .await
                .expect("deliveries-api configuration");
        let deliver = deliver::wire(&f(DELIVER).settings(), &f(DELIVER).config)
            .await
            .expect("deliver configuration");
        let worker = revalidate_worker::wire(&f(WORKER).settings(), &f(WORKER).config, check)
            .await
            .expect("revalidate-worker configuration");
        let scheduler = revalidate_scheduler::wire(&f(SCHEDULER).settings(), &f(SCHEDULER).config)
            .expect("revalidate-scheduler configuration");
        let on_change = revalidate_on_change::wire(&f(ON_CHANGE).settings(), &f(ON_CHANGE).config)
            .expect("revalidate-on-change configuration");
        let publisher =
            publish_events::wire(&f(PUBLISH_EVENTS).settings(), &f(PUBLISH_EVENTS).config)
                .expect("publish-events configuration");
        Services {
            destinations: Arc::new(destinations),
            policies: Arc::new(policies),
            test_connection: Arc::new(test_connection),
            deliveries: Arc::new(deliveries),
            deliver,
            worker,
            scheduler,
            on_change,
            publisher,
            page: setup_page::page::Page::new(setup_page::page::SignIn::TenantHeader),
            bearer_tokens: Default::default(),
        }
    }
}
