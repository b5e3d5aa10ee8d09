//! AWS disappearing in the middle of a test: the result is a transient failure within the time
//! bound, and the stored destination stays intact.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use time::OffsetDateTime;

use shared::adapters::aws_probe::AwsProber;
use shared::adapters::dynamodb::{DynamoDbStore, create_table};
use shared::connection_test::TestSettings;
use shared::domain::connection_test::{FailureCategory, Stage, StageStatus};
use shared::domain::*;
use shared::ports::{
    AssumeRoleRequest, AwsFailure, ConnectionProber, DestinationStore, PutTestObjectRequest,
    SessionCredentials,
};
use support::accounts::{Account, Platform, unique};
use support::emulator::Emulator;
use support::fixtures;

/// Kills the customer-side emulator just before the second AWS call, as an outage would.
struct OutageAfterFirstCall {
    inner: AwsProber,
    emulator: Arc<Emulator>,
    calls: AtomicUsize,
}

impl OutageAfterFirstCall {
    fn maybe_fail(&self) {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 1 {
            self.emulator.kill();
        }
    }
}

#[async_trait]
impl ConnectionProber for OutageAfterFirstCall {
    async fn assume_role(
        &self,
        request: AssumeRoleRequest<'_>,
    ) -> Result<SessionCredentials, AwsFailure> {
        self.maybe_fail();
        self.inner.assume_role(request).await
    }
    async fn put_test_object(&self, request: PutTestObjectRequest<'_>) -> Result<(), AwsFailure> {
        self.maybe_fail();
        self.inner.put_test_object(request).await
    }
}

#[tokio::test]
async fn emulator_stopped_mid_test_gives_a_transient_result_and_keeps_the_destination() {
    // GIVEN the customer's side (STS, IAM, S3) in its own emulator, and our table in the shared one
    let customer_side = Arc::new(Emulator::start_private());
    let platform = Platform::create_in(&customer_side).await;
    let bucket = unique("fault-bucket");
    platform
        .customer_role_account()
        .create_bucket(&bucket)
        .await;
    let table_account = Account::create().await;
    let table = unique("destinations");
    create_table(&table_account.dynamodb(), &table)
        .await
        .unwrap();
    let store = DynamoDbStore::new(table_account.dynamodb(), table);

    let mut destination = fixtures::destination(AuthModeKind::IamRole, &bucket, "").draft();
    let role = platform.create_customer_role(&destination).await;
    destination
        .apply(
            DestinationPatch {
                role_arn: Some(Some(RoleArn::new(&role).unwrap())),
                ..Default::default()
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    store.create(&destination, None).await.unwrap();

    let prober = OutageAfterFirstCall {
        inner: AwsProber::from_config(&platform.connector, true),
        emulator: customer_side.clone(),
        calls: AtomicUsize::new(0),
    };
    let app = test_connection::handler::App {
        store,
        prober,
        principals: platform.principals(),
        settings: TestSettings {
            deadline: Duration::from_secs(20),
            propagation_budget: Duration::from_secs(2),
            first_backoff: Duration::from_millis(200),
        },
    };
    let mut request = support::events::api_request("connection-test.json");
    request.path = format!("/destinations/{}/test", destination.id);

    // WHEN the emulator dies after the confused-deputy guard
    let started = Instant::now();
    let response = test_connection::handler::handle(&app, request).await;
    let elapsed = started.elapsed();

    // THEN the answer is a transient failure at AssumeRole, within the time bound
    assert_eq!(response.status, 200, "{}", response.body);
    let result: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert!(elapsed < Duration::from_secs(25), "took {elapsed:?}");
    let assume = result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == json!(Stage::AssumeRole))
        .unwrap();
    assert_eq!(assume["status"], json!(StageStatus::Failed));
    let category: FailureCategory =
        serde_json::from_value(assume["failure"]["category"].clone()).unwrap();
    assert!(category.is_transient(), "{category:?}");
    // AND the stored destination keeps its configuration, with the failed test as its latest
    let stored = app
        .store
        .get(&destination.tenant, &destination.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.role_arn(), destination.role_arn());
    assert_eq!(stored.config_version, destination.config_version);
    assert_eq!(stored.status, Status::Draft);
    assert_eq!(stored.latest_test.map(|t| t.passed), Some(false));
}
