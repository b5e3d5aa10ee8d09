//! Handlers fed with the sample API Gateway events in tests/events, over the in-memory store.

use serde_json::{Value, json};
use time::OffsetDateTime;

use destinations_api::handler as destinations;
use policies_api::handler as policies;
use shared::adapters::memory::InMemoryStore;
use shared::config::PlatformPrincipals;
use shared::domain::connection_test::ConnectionTestResult;
use shared::domain::*;
use shared::http::{ApiRequest, ApiResponse, PROBLEM_JSON};
use shared::ports::DestinationStore;
use support::events::{EVENT_DESTINATION_ID, EVENT_TENANT, api_request};

const PRINCIPAL: &str = "arn:aws:iam::111111111111:role/destinations-platform-connector";

fn principals() -> PlatformPrincipals {
    PlatformPrincipals::parse(PRINCIPAL).unwrap()
}

struct Apps {
    destinations: destinations::App<std::sync::Arc<InMemoryStore>>,
    policies: policies::App<std::sync::Arc<InMemoryStore>>,
    store: std::sync::Arc<InMemoryStore>,
}

fn apps() -> Apps {
    let store = std::sync::Arc::new(InMemoryStore::new());
    Apps {
        destinations: destinations::App {
            store: store.clone(),
            principals: principals(),
        },
        policies: policies::App {
            store: store.clone(),
            principals: principals(),
        },
        store,
    }
}

impl Apps {
    async fn call(&self, request: ApiRequest) -> ApiResponse {
        match shared::http::resolve(&request.method, &request.path).map(|r| r.function()) {
            Ok(shared::http::Function::PoliciesApi) => {
                policies::handle(&self.policies, request).await
            }
            _ => destinations::handle(&self.destinations, request).await,
        }
    }

    /// Stores a destination under the id and tenant the sample events name.
    async fn seed(&self, auth: AuthModeKind) -> Destination {
        let destination = Destination::new_draft(
            DestinationId::new(EVENT_DESTINATION_ID).unwrap(),
            TenantId::new(EVENT_TENANT).unwrap(),
            NewDestination {
                name: DestinationName::new("Seeded").unwrap(),
                description: Description::default(),
                bucket: BucketName::new("acme-raw-events").unwrap(),
                region: None,
                folder: Folder::new("incoming").unwrap(),
                auth,
                kms_key: None,
                bucket_owner: None,
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        self.store.create(&destination, None).await.unwrap();
        destination
    }
}

fn body(response: &ApiResponse) -> Value {
    serde_json::from_str(&response.body).unwrap_or_else(|_| panic!("not JSON: {}", response.body))
}

fn assert_problem(response: &ApiResponse, status: u16, kind: &str) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.header_value("content-type"), Some(PROBLEM_JSON));
    let problem = body(response);
    assert_eq!(problem["type"], format!("/problems/{kind}"), "{problem}");
    assert_eq!(problem["status"], status);
    problem
}

fn with_body(mut request: ApiRequest, body: Value) -> ApiRequest {
    request.body = body.to_string().into_bytes();
    request
}

#[tokio::test]
async fn create_iam_role_event_returns_a_draft_with_a_generated_external_id() {
    // GIVEN the sample create event
    let apps = apps();
    // WHEN it is handled
    let response = apps
        .call(api_request("destinations-create-iam-role.json"))
        .await;
    // THEN a draft exists with our External ID, a Location and an ETag
    assert_eq!(response.status, 201, "{}", response.body);
    let created = body(&response);
    assert_eq!(created["status"], "draft");
    assert_eq!(created["authMode"], "iamRole");
    assert_eq!(created["folder"], "platform/exports/");
    assert_eq!(created["roleArn"], Value::Null);
    let external_id = created["externalId"].as_str().unwrap();
    assert!(ExternalId::parse(external_id).is_ok() && external_id.len() >= 22);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        response.header_value("location"),
        Some(format!("/destinations/{id}").as_str())
    );
    assert_eq!(response.header_value("etag"), Some("\"1\""));
    assert_eq!(
        response.header_value("x-request-id"),
        Some("Jx1AbCdEfGhIjK=")
    );
}

#[tokio::test]
async fn clients_can_never_choose_the_external_id() {
    let apps = apps();
    let mut body_json: Value =
        serde_json::from_slice(&api_request("destinations-create-iam-role.json").body).unwrap();
    body_json["externalId"] = json!("chosen-by-client");
    let response = apps
        .call(with_body(
            api_request("destinations-create-iam-role.json"),
            body_json,
        ))
        .await;
    let problem = assert_problem(&response, 400, "validation");
    assert_eq!(problem["errors"][0]["field"], "externalId");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("generated by the service")
    );
    assert!(
        apps.store
            .list(&TenantId::new(EVENT_TENANT).unwrap(), 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let apps = apps();
    let request = with_body(
        api_request("destinations-create-iam-role.json"),
        json!({"name": " ", "bucket": "Bad_Bucket", "folder": "a/../b", "region": "mars", "authMode": "password", "colour": "red"}),
    );
    let problem = assert_problem(&apps.call(request).await, 400, "validation");
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["authMode", "bucket", "colour", "folder", "name", "region"]
    );
}

#[tokio::test]
async fn malformed_bodies_get_the_status_they_deserve() {
    let apps = apps();
    // Malformed JSON
    let mut request = api_request("destinations-create-iam-role.json");
    request.body = b"{\"name\": ".to_vec();
    assert_problem(&apps.call(request).await, 400, "malformed-json");
    // Not an object
    let request = with_body(
        api_request("destinations-create-iam-role.json"),
        json!(["a"]),
    );
    assert_problem(&apps.call(request).await, 400, "malformed-json");
    // Wrong content type
    let mut request = api_request("destinations-create-iam-role.json");
    request.headers.retain(|(k, _)| k != "content-type");
    request
        .headers
        .push(("content-type".into(), "text/plain".into()));
    assert_problem(&apps.call(request).await, 415, "unsupported-media-type");
    // Too large
    let mut request = api_request("destinations-create-iam-role.json");
    request.body = vec![b' '; 64 * 1024 + 1];
    assert_problem(&apps.call(request).await, 413, "payload-too-large");
}

#[tokio::test]
async fn requests_without_a_tenant_claim_are_401() {
    let apps = apps();
    let mut request = api_request("destinations-list.json");
    request.tenant = None;
    assert_problem(&apps.call(request).await, 401, "unauthenticated");
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let apps = apps();
    // GIVEN a create that carried an Idempotency-Key
    let first = apps
        .call(api_request("destinations-create-iam-role.json"))
        .await;
    assert_eq!(first.status, 201);
    // WHEN it is retried with the same key and body
    let retry = apps
        .call(api_request("destinations-create-iam-role.json"))
        .await;
    // THEN the same answer comes back and nothing new is created
    assert_eq!(retry.status, 201);
    assert_eq!(body(&retry), body(&first));
    assert_eq!(retry.header_value("idempotent-replayed"), Some("true"));
    let tenant = TenantId::new(EVENT_TENANT).unwrap();
    assert_eq!(
        apps.store
            .list(&tenant, 10, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // AND the same key with another body is a 422
    let other = with_body(
        api_request("destinations-create-iam-role.json"),
        json!({"name": "Other", "bucket": "other-bucket", "authMode": "bucketPolicy"}),
    );
    assert_problem(&apps.call(other).await, 422, "idempotency-key-reused");
    assert_eq!(
        apps.store
            .list(&tenant, 10, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn get_patch_save_and_delete_events_walk_the_lifecycle() {
    let apps = apps();
    let seeded = apps.seed(AuthModeKind::IamRole).await;

    let got = apps.call(api_request("destinations-get.json")).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        body(&got)["externalId"],
        seeded.external_id().unwrap().expose()
    );

    // Save before any test: 409 with the reason
    let problem = assert_problem(
        &apps.call(api_request("destinations-save.json")).await,
        409,
        "not-verified",
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("never been tested")
    );

    // PATCH (If-Match "1") sets the role ARN and bumps the configuration
    let patched = apps.call(api_request("destinations-patch.json")).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let view = body(&patched);
    assert_eq!(
        view["roleArn"],
        "arn:aws:iam::123456789012:role/AcmeDeliveryRole"
    );
    assert_eq!(view["configVersion"], 2);
    assert_eq!(patched.header_value("etag"), Some("\"2\""));
    // Replaying the same If-Match is now stale
    assert_problem(
        &apps.call(api_request("destinations-patch.json")).await,
        412,
        "precondition-failed",
    );

    // A passing test on the current configuration lets Save verify it
    record_test(&apps, true, 2).await;
    let saved = apps.call(api_request("destinations-save.json")).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(body(&saved)["status"], "verified");

    // Changing the folder makes it a draft again, and Save refuses the old test
    let mut change = with_body(
        api_request("destinations-patch.json"),
        json!({"folder": "elsewhere"}),
    );
    change.headers.retain(|(k, _)| k != "if-match");
    let changed = apps.call(change).await;
    assert_eq!(body(&changed)["status"], "draft");
    let problem = assert_problem(
        &apps.call(api_request("destinations-save.json")).await,
        409,
        "not-verified",
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("changed after the latest connection test")
    );

    // DELETE, then it is gone
    assert_eq!(
        apps.call(api_request("destinations-delete.json"))
            .await
            .status,
        204
    );
    assert_problem(
        &apps.call(api_request("destinations-get.json")).await,
        404,
        "not-found",
    );
    assert_problem(
        &apps.call(api_request("destinations-delete.json")).await,
        404,
        "not-found",
    );
}

async fn record_test(apps: &Apps, passed: bool, config_version: u64) {
    let tenant = TenantId::new(EVENT_TENANT).unwrap();
    let id = DestinationId::new(EVENT_DESTINATION_ID).unwrap();
    let mut destination = apps.store.get(&tenant, &id).await.unwrap().unwrap();
    let version = destination.version;
    destination.latest_test = Some(ConnectionTestResult {
        passed,
        config_version,
        started_at: OffsetDateTime::now_utc(),
        duration_ms: 5,
        category: None,
        test_object_key: None,
        bucket_region: None,
        stages: Vec::new(),
    });
    destination.version += 1;
    apps.store.update(&destination, version).await.unwrap();
}

#[tokio::test]
async fn save_refuses_a_failed_latest_test() {
    let apps = apps();
    apps.seed(AuthModeKind::BucketPolicy).await;
    record_test(&apps, false, 1).await;
    let problem = assert_problem(
        &apps.call(api_request("destinations-save.json")).await,
        409,
        "not-verified",
    );
    assert!(problem["detail"].as_str().unwrap().contains("failed"));
}

#[tokio::test]
async fn external_id_and_auth_mode_cannot_be_patched() {
    let apps = apps();
    apps.seed(AuthModeKind::IamRole).await;
    let request = with_body(
        api_request("destinations-patch.json"),
        json!({"externalId": "x", "authMode": "bucketPolicy"}),
    );
    let problem = assert_problem(&apps.call(request).await, 400, "validation");
    let messages = problem["errors"].to_string();
    assert!(messages.contains("externalId") && messages.contains("authMode"));
    assert!(messages.contains("cannot be changed"));
}

#[tokio::test]
async fn list_is_newest_first_and_paginates_with_a_bounded_limit() {
    let apps = apps();
    for name in ["one", "two", "three"] {
        let request = with_body(
            api_request("destinations-create-bucket-policy.json"),
            json!({"name": name, "bucket": "acme-bucket", "authMode": "bucketPolicy"}),
        );
        assert_eq!(apps.call(request).await.status, 201);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut request = api_request("destinations-list.json");
    request.query = vec![("limit".into(), "2".into())];
    let first = body(&apps.call(request.clone()).await);
    let names: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["three", "two"]);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    request.query.push(("cursor".into(), cursor));
    let second = body(&apps.call(request).await);
    assert_eq!(second["items"][0]["name"], "one");
    assert_eq!(second["nextCursor"], Value::Null);

    let mut too_many = api_request("destinations-list.json");
    too_many.query = vec![("limit".into(), "101".into())];
    assert_problem(&apps.call(too_many).await, 400, "validation");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let apps = apps();
    let mut request = api_request("destinations-list.json");
    request.path = "/nowhere".into();
    assert_problem(&apps.call(request).await, 404, "not-found");
    let mut request = api_request("destinations-get.json");
    request.method = "PUT".into();
    let response = apps.call(request).await;
    assert_problem(&response, 405, "method-not-allowed");
    assert_eq!(response.header_value("allow"), Some("GET, PATCH, DELETE"));
}

#[tokio::test]
async fn platform_event_lists_the_principal_per_partition() {
    let apps = apps();
    let response = apps.call(api_request("platform-get.json")).await;
    assert_eq!(
        body(&response),
        json!({"platformPrincipals": [{"partition": "aws", "principalArn": PRINCIPAL}]})
    );
}

#[tokio::test]
async fn policies_event_renders_every_document_for_the_auth_mode() {
    let apps = apps();
    let seeded = apps.seed(AuthModeKind::IamRole).await;
    let response = apps.call(api_request("policies-get.json")).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let rendered = body(&response);
    assert_eq!(rendered["platformPrincipal"], PRINCIPAL);
    assert_eq!(
        rendered["externalId"],
        seeded.external_id().unwrap().expose()
    );
    let kinds: Vec<&str> = rendered["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["permissionsPolicy", "trustPolicy"]);
    for document in rendered["documents"].as_array().unwrap() {
        assert!(!document["purpose"].as_str().unwrap().is_empty());
        let text: Value = serde_json::from_str(document["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, document["document"]);
    }
}

#[tokio::test]
async fn merge_event_adds_our_statement_and_warns_about_the_deny() {
    let apps = apps();
    apps.seed(AuthModeKind::BucketPolicy).await;
    let response = apps.call(api_request("bucket-policy-merge.json")).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let merged = body(&response);
    let statements = merged["policy"]["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    assert_eq!(statements[0]["Sid"], "DenyInsecureTransport");
    assert_eq!(statements[1]["Principal"]["AWS"], PRINCIPAL);
    assert_eq!(merged["warnings"][0]["sid"], "DenyInsecureTransport");

    // Not a policy: a field error saying what is wrong
    let bad = with_body(
        api_request("bucket-policy-merge.json"),
        json!({"existingPolicy": "{\"Statement\": 3}"}),
    );
    let problem = assert_problem(&apps.call(bad).await, 400, "validation");
    assert_eq!(problem["errors"][0]["field"], "existingPolicy");
}

#[tokio::test]
async fn merge_is_refused_for_iam_role_destinations() {
    let apps = apps();
    apps.seed(AuthModeKind::IamRole).await;
    assert_problem(
        &apps.call(api_request("bucket-policy-merge.json")).await,
        409,
        "not-bucket-policy-mode",
    );
}

#[tokio::test]
async fn another_tenant_sees_nothing_on_any_route() {
    // GIVEN tenant A's destination
    let apps = apps();
    apps.seed(AuthModeKind::BucketPolicy).await;
    // WHEN tenant B calls every route that names it
    for event in [
        "destinations-get.json",
        "destinations-patch.json",
        "destinations-delete.json",
        "destinations-save.json",
        "policies-get.json",
        "bucket-policy-merge.json",
    ] {
        let mut request = api_request(event);
        request.tenant = Some(TenantId::new("tenant-b").unwrap());
        // THEN it is a 404, exactly like a destination that does not exist
        assert_problem(&apps.call(request).await, 404, "not-found");
    }
    let mut list = api_request("destinations-list.json");
    list.tenant = Some(TenantId::new("tenant-b").unwrap());
    assert_eq!(body(&apps.call(list).await)["items"], json!([]));
    // AND A's destination is untouched
    let got = apps.call(api_request("destinations-get.json")).await;
    assert_eq!(body(&got)["version"], 1);
}

#[tokio::test]
async fn concurrent_patches_without_if_match_lose_nothing() {
    let apps = std::sync::Arc::new(apps());
    apps.seed(AuthModeKind::BucketPolicy).await;
    // Each writer changes its own field; every change must survive.
    let patches = [
        json!({"name": "renamed"}),
        json!({"description": "described"}),
        json!({"region": "eu-west-1"}),
        json!({"folder": "moved"}),
    ];
    let mut tasks = Vec::new();
    for patch in patches {
        let apps = apps.clone();
        tasks.push(tokio::spawn(async move {
            let mut request = with_body(api_request("destinations-patch.json"), patch);
            request.headers.retain(|(k, _)| k != "if-match");
            apps.call(request).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let view = body(&apps.call(api_request("destinations-get.json")).await);
    assert_eq!(
        (
            view["name"].clone(),
            view["description"].clone(),
            view["region"].clone(),
            view["folder"].clone(),
            view["version"].clone()
        ),
        (
            json!("renamed"),
            json!("described"),
            json!("eu-west-1"),
            json!("moved/"),
            json!(5)
        )
    );
}

#[tokio::test]
async fn deployed_functions_ignore_the_local_x_tenant_id_header() {
    // GIVEN an API Gateway event without a tenant claim but with the local run's header
    let mut event: Value =
        serde_json::from_str(&support::events::raw("destinations-list.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"]
        .as_object_mut()
        .unwrap()
        .remove("tenant_id");
    event["headers"]["x-tenant-id"] = json!("tenant-a");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    // WHEN the Lambda edge converts it THEN there is no tenant, and the answer is 401
    let converted = shared::http::lambda::from_lambda(request, support::events::TENANT_CLAIM);
    assert!(converted.tenant.is_none());
    assert_problem(&apps().call(converted).await, 401, "unauthenticated");
}
