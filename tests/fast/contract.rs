//! template.yaml, the code and openapi.yaml describe one API and one table, and the sample events
//! are what the functions really receive.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::http::{Authorization, ProblemType, ROUTES};
use support::contract::{documented_problem_slugs, openapi};

fn template() -> Value {
    dev_support::template::template()
}

/// The template's HTTP routes: `(method, path, authorizer)`; the API's default authorizer (the
/// tenant's JWT) when the route names none.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let mut routes = BTreeSet::new();
    for resource in template()["Resources"].as_object().unwrap().values() {
        let Some(events) = resource
            .pointer("/Properties/Events")
            .and_then(Value::as_object)
        else {
            continue;
        };
        for event in events.values() {
            if event["Type"] == "HttpApi" && event["Properties"]["Path"] != "$default" {
                routes.insert((
                    event["Properties"]["Method"].as_str().unwrap().to_owned(),
                    event["Properties"]["Path"].as_str().unwrap().to_owned(),
                    event["Properties"]["Auth"]["Authorizer"]
                        .as_str()
                        .unwrap_or("Jwt")
                        .to_owned(),
                ));
            }
        }
    }
    routes
}

fn code_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .collect()
}

fn openapi_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in openapi()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn template_code_and_openapi_declare_the_same_routes() {
    let api_routes = code_routes();
    let page_routes: BTreeSet<_> = setup_page::handler::PAGE_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    // Tenant routes keep the JWT authorizer, the platform's internal routes are IAM-signed, and
    // only the page's own routes are public.
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| {
            let (m, p) = (&r.method, &r.template);
            let authorizer = match r.function.authorization() {
                Authorization::Tenant => "Jwt",
                Authorization::Platform => "AWS_IAM",
            };
            ((*m).to_owned(), (*p).to_owned(), authorizer.to_owned())
        })
        .chain(
            page_routes
                .iter()
                .map(|(m, p)| (m.clone(), p.clone(), "NONE".to_owned())),
        )
        .collect();
    assert_eq!(template_routes(), expected);
    assert_eq!(openapi_routes(), api_routes);
}

#[test]
fn openapi_documents_exactly_the_problem_types_the_code_returns() {
    let code: BTreeSet<String> = ProblemType::ALL
        .iter()
        .map(|t| t.slug().to_owned())
        .collect();
    let documented: BTreeSet<String> = documented_problem_slugs().into_iter().collect();
    assert_eq!(code, documented);
}

#[test]
fn the_document_is_openapi_3_1() {
    assert_eq!(openapi()["openapi"], "3.1.0");
}

#[test]
fn the_table_the_tests_create_is_the_table_the_template_declares() {
    use shared::adapters::dynamodb::schema::TABLE;
    let template = template();
    let table = &dev_support::template::resource(&template, "DestinationsTable")["Properties"];
    let key: Vec<(String, String)> = table["KeySchema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().into(),
                k["KeyType"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(key, TABLE.key.map(|(a, b)| (a.to_owned(), b.to_owned())));
    let indexes: Vec<Value> = table["GlobalSecondaryIndexes"].as_array().unwrap().clone();
    assert_eq!(indexes.len(), TABLE.indexes.len());
    for (index, (name, hash, range, projection, non_key)) in indexes.iter().zip(TABLE.indexes) {
        assert_eq!(index["IndexName"], name);
        assert_eq!(index["KeySchema"][0]["AttributeName"], hash);
        assert_eq!(index["KeySchema"][1]["AttributeName"], range);
        assert_eq!(index["Projection"]["ProjectionType"], projection);
        let declared: Vec<&str> = index["Projection"]["NonKeyAttributes"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(declared, non_key);
    }
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        TABLE.ttl_attribute
    );
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"],
        TABLE.stream_view
    );
}

#[test]
fn the_stream_filters_name_the_key_prefixes_of_the_items_they_want() {
    use shared::adapters::dynamodb::keys::{DESTINATION_PREFIX, OUTBOX_PREFIX};
    let template = template();
    let pattern = |function: &str| -> Value {
        let events =
            dev_support::template::resource(&template, function)["Properties"]["Events"].clone();
        let stream = events
            .as_object()
            .unwrap()
            .values()
            .find(|e| e["Type"] == "DynamoDB")
            .unwrap()
            .clone();
        serde_json::from_str(
            stream["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        pattern("RevalidateOnChangeFunction")["dynamodb"]["Keys"]["SK"]["S"][0]["prefix"],
        DESTINATION_PREFIX
    );
    assert_eq!(
        pattern("PublishEventsFunction")["dynamodb"]["Keys"]["SK"]["S"][0]["prefix"],
        OUTBOX_PREFIX
    );
}

#[test]
fn the_sample_stream_events_are_the_storage_format_of_today() {
    for (name, generated) in dev_support::events::generated() {
        assert_eq!(
            dev_support::events::raw(name),
            generated,
            "tests/events/{name} is stale: run `cargo run -p dev-support --bin sample-events`"
        );
    }
}

#[test]
fn the_oracle_rejects_a_response_that_breaks_the_contract() {
    // GIVEN a destination body missing its id and carrying an unknown member
    let response =
        shared::http::ApiResponse::json(200, &serde_json::json!({"name": "x", "surprise": true}));
    // WHEN it is checked THEN the check fails
    let outcome = std::panic::catch_unwind(|| {
        support::contract::assert_documented(
            "GET",
            "/destinations/0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e",
            &response,
        )
    });
    assert!(outcome.is_err());
    // AND an undocumented status fails too
    let teapot = shared::http::ApiResponse::json(418, &serde_json::json!({}));
    let outcome = std::panic::catch_unwind(|| {
        support::contract::assert_documented("GET", "/platform", &teapot)
    });
    assert!(outcome.is_err());
}

/// What the sample events' destination is before an event arrives.
#[derive(Clone, Copy, Debug)]
enum Seed {
    /// A bucket-policy draft (version 1), the id and tenant the events name.
    Draft,
    /// The same as an IAM-role draft.
    RoleDraft,
    /// Saved, then changed (bucket) and tested: a pending change that passed.
    PendingPassed,
    /// Saved, with the sample delivery request already made.
    SavedWithDelivery,
    /// A saved IAM-role destination with an External ID rotation open.
    RotationOpen,
    /// The same, after a passing Test Connection with the next ID.
    RotationProven,
}

/// The status each HTTP sample event gets from the state it is meant for: every one is a
/// request that succeeds, except the two whose refusal is the documented point of a draft.
const SAMPLE_EVENTS: &[(&str, Seed, u16)] = &[
    ("bucket-policy-merge.json", Seed::Draft, 200),
    ("check-now.json", Seed::SavedWithDelivery, 200),
    ("connection-test.json", Seed::Draft, 200),
    ("connection-tests-list.json", Seed::Draft, 200),
    ("deliveries-credentials.json", Seed::SavedWithDelivery, 200),
    ("deliveries-list.json", Seed::SavedWithDelivery, 200),
    ("deliveries-request.json", Seed::PendingPassed, 202),
    ("delivery-get.json", Seed::SavedWithDelivery, 200),
    ("destinations-activity.json", Seed::Draft, 200),
    ("destinations-create-bucket-policy.json", Seed::Draft, 201),
    ("destinations-create-iam-role.json", Seed::Draft, 201),
    ("destinations-delete.json", Seed::Draft, 204),
    ("destinations-discard.json", Seed::PendingPassed, 200),
    ("destinations-get.json", Seed::Draft, 200),
    ("destinations-list.json", Seed::Draft, 200),
    ("destinations-patch.json", Seed::RoleDraft, 200),
    ("destinations-save.json", Seed::PendingPassed, 200),
    ("external-id-rotation-cancel.json", Seed::RotationOpen, 200),
    (
        "external-id-rotation-complete.json",
        Seed::RotationProven,
        200,
    ),
    ("external-id-rotation-start.json", Seed::RoleDraft, 200),
    ("me-get.json", Seed::Draft, 200),
    ("platform-get.json", Seed::Draft, 200),
    ("policies-get.json", Seed::Draft, 200),
    ("policies-preview.json", Seed::Draft, 200),
];

/// A passing result as a real check of `d`'s configuration under edit leaves it: every stage, and
/// the object it wrote.
fn as_checked(d: &shared::domain::Destination) -> shared::domain::check::CheckResult {
    use shared::domain::check::{Stage, StageResult, StageStatus};
    let mut result = shared::testing::passed(d.config_version());
    result.bucket_owner = d.configuration().expected_owner();
    result.test_object_key = Some(format!(".connection-test-{}", d.id()));
    result.stages = Stage::ALL
        .iter()
        .map(|stage| StageResult {
            stage: *stage,
            status: StageStatus::Passed,
            duration_ms: 1,
            failure: None,
        })
        .collect();
    result
}

async fn seeded(seed: Seed) -> support::memory::MemoryWorld {
    use shared::domain::{AuthModeKind, BucketName, DestinationPatch};
    use shared::testing::memory::{InMemoryStore, ScriptedWriter};
    use shared::testing::{DestinationBuilder, NOW};
    let store = InMemoryStore::new();
    let mode = match seed {
        Seed::RoleDraft | Seed::RotationOpen | Seed::RotationProven => AuthModeKind::IamRole,
        _ => AuthModeKind::BucketPolicy,
    };
    let builder = DestinationBuilder::new(mode)
        .id(dev_support::events::EVENT_DESTINATION_ID)
        .tenant(dev_support::events::EVENT_TENANT)
        .owner("222222222222");
    let destination = match seed {
        Seed::Draft | Seed::RoleDraft => builder.build(),
        Seed::PendingPassed => {
            let mut d = builder.saved();
            d.apply(
                DestinationPatch {
                    bucket: Some(BucketName::new("acme-raw-events-eu").unwrap()),
                    ..DestinationPatch::default()
                },
                NOW,
            )
            .unwrap();
            d.record_test(as_checked(&d), None, NOW);
            d
        }
        Seed::SavedWithDelivery => builder.saved(),
        Seed::RotationOpen | Seed::RotationProven => {
            let mut d = builder
                .role_arn("arn:aws:iam::222222222222:role/AcmeDelivery")
                .saved();
            let actor = shared::domain::Actor::user("user-42").unwrap();
            d.record_test(as_checked(&d), None, NOW);
            d.start_rotation(&actor, NOW).unwrap();
            if let Seed::RotationProven = seed {
                let next = d.external_id_under_test().cloned();
                assert!(d.record_test(as_checked(&d), next.as_ref(), NOW));
            }
            d
        }
    };
    store.insert(destination);
    let world = support::memory::MemoryWorld::new(store, ScriptedWriter::permissive());
    if let Seed::SavedWithDelivery = seed {
        let request = dev_support::events::api_request("deliveries-request.json");
        let reply = world.api().send(request).await;
        assert_eq!(reply.status(), 202, "{}", reply.response.body);
    }
    world
}

#[tokio::test]
async fn every_http_sample_event_succeeds_from_the_state_it_is_meant_for() {
    let dir = dev_support::template::repo_root().join("tests/events");
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let raw = dev_support::events::raw(&name);
        if raw.contains("\"routeKey\"") && !name.starts_with("setup-page") {
            on_disk.insert(name);
        }
    }
    // Every HTTP sample event is in the table, and the table names no other file.
    let listed: BTreeSet<String> = SAMPLE_EVENTS
        .iter()
        .map(|(n, _, _)| (*n).to_owned())
        .collect();
    assert_eq!(listed, on_disk);
    for (name, seed, expected) in SAMPLE_EVENTS {
        // GIVEN the state the event is meant for
        let world = seeded(*seed).await;
        // WHEN it arrives, parsed as the runtime parses it
        let request = dev_support::events::api_request(name);
        let function = support::contract::route_spec(&request.method, &request.path)
            .map(|spec| spec.function)
            .unwrap_or(shared::http::Function::DestinationsApi);
        match function.authorization() {
            shared::http::Authorization::Tenant => {
                assert!(request.tenant.is_some(), "{name} carries the tenant claim");
            }
            shared::http::Authorization::Platform => {
                assert!(
                    request.tenant.is_none(),
                    "{name}: an internal route reads no tenant token"
                );
                assert!(
                    request.platform_caller.is_some(),
                    "{name} carries the IAM caller"
                );
            }
        }
        // THEN routed as deployed, it gets the status it is meant to, in a shape openapi.yaml
        // documents
        let reply = world
            .api()
            .send_event(dev_support::events::lambda_request(name))
            .await;
        assert_eq!(reply.status(), *expected, "{name}: {}", reply.response.body);
    }
}

#[test]
fn the_page_sample_event_gets_the_page() {
    let request = dev_support::events::api_request("setup-page-get.json");
    assert!(setup_page::handler::serves(&request.path));
    // The page is public (no claim) and not part of the API's contract.
    let page = setup_page::page::Page::new(setup_page::page::SignIn::Unconfigured);
    let response = setup_page::handler::handle(&page, &request);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header_value("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn what_customers_trust_keeps_its_name_and_outlives_the_stack() {
    // Customers' trust and bucket policies name the connector and the writer by ARN, which IAM
    // stores as the role's unique id: a renamed or recreated role silently breaks all of them.
    let template = template();
    for (role, parameter) in [
        ("ConnectorRole", "ConnectorRoleName"),
        ("WriterRole", "WriterRoleName"),
    ] {
        let resource = dev_support::template::resource(&template, role);
        assert_eq!(
            resource["Properties"]["RoleName"],
            serde_json::json!({ "Ref": parameter }),
            "{role}"
        );
        assert!(
            template["Parameters"][parameter]["Default"].is_string(),
            "{parameter} has a stable default"
        );
    }
    // Those roles, the kit's templates (links already handed out) and the table survive a stack
    // deletion or a replacement.
    for retained in [
        "ConnectorRole",
        "WriterRole",
        "SetupKitBucket",
        "DestinationsTable",
    ] {
        let resource = dev_support::template::resource(&template, retained);
        assert_eq!(resource["DeletionPolicy"], "Retain", "{retained}");
        assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{retained}");
    }
    // The kit bucket keeps every version of a template.
    assert_eq!(
        dev_support::template::resource(&template, "SetupKitBucket")["Properties"]["VersioningConfiguration"]
            ["Status"],
        "Enabled"
    );
}

/// The connector's and writer's policies resolved as one stack would, with `organization` set
/// (or not) and one additional platform account.
fn fenced_policies(organization: &str) -> Vec<(&'static str, Vec<Value>)> {
    let template = template();
    let mut stack =
        dev_support::platform::base_stack(&template, "111111111111", "us-east-1", "fence");
    stack
        .set(
            "AdditionalPlatformAccountIds",
            serde_json::json!(["222222222222"]),
        )
        .set("PlatformOrganizationId", organization)
        .evaluate_conditions(&template);
    ["ConnectorRole", "WriterRole"]
        .into_iter()
        .map(|role| {
            let statements = dev_support::template::role_policies(&template, role)
                .into_iter()
                .flat_map(|(_, document)| {
                    stack.resolve(&document)["Statement"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            (role, statements)
        })
        .collect()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a Deny statement of `statements` covers `action` under `key` = every one of `values`.
fn denied(statements: &[Value], action: &str, key: &str, values: &[&str]) -> bool {
    statements.iter().any(|s| {
        let condition = &s["Condition"]["StringEquals"][key];
        let named: Vec<&str> = match condition {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        s["Effect"] == "Deny"
            && actions(s).iter().any(|a| a == action)
            && values.iter().all(|v| named.contains(v))
    })
}

#[test]
fn the_platforms_identities_are_fenced_out_of_its_accounts_and_organization() {
    // GIVEN the stack deployed with an organization id and one more platform account
    for (role, statements) in fenced_policies("o-abcdefghij") {
        // THEN every action either role is allowed, and the KMS actions a key needs, are denied
        // in the platform's accounts and in every account of its organization
        let mut allowed: BTreeSet<String> = statements
            .iter()
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(actions)
            .collect();
        allowed.extend(["kms:GenerateDataKey".to_owned(), "kms:Decrypt".to_owned()]);
        assert!(allowed.len() >= 3, "{role}: {allowed:?}");
        for action in &allowed {
            assert!(
                denied(
                    &statements,
                    action,
                    "aws:ResourceAccount",
                    &["111111111111", "222222222222"]
                ),
                "{role} may {action} in the platform's own accounts"
            );
            assert!(
                denied(&statements, action, "aws:ResourceOrgID", &["o-abcdefghij"]),
                "{role} may {action} in the platform's organization"
            );
        }
    }
    // AND without an organization id no statement names one (an empty value would match nothing
    // on AWS, but a policy should not carry a dead condition)
    for (role, statements) in fenced_policies("") {
        assert!(
            !serde_json::to_string(&statements)
                .unwrap()
                .contains("aws:ResourceOrgID"),
            "{role}"
        );
    }
}

#[test]
fn the_template_publishes_and_links_the_kit_version_the_code_renders() {
    // A kit version the code renders but the stack neither publishes nor links would hand out
    // links to templates that do not exist.
    let template = template();
    let version = shared::kit::KIT_VERSION;
    assert_eq!(
        dev_support::template::resource(&template, "SetupKit")["Properties"]["Version"],
        version
    );
    let mut stack =
        dev_support::platform::base_stack(&template, "111111111111", "us-east-1", "kit");
    stack.set("SetupKitBucket", "kit-bucket");
    let url = stack.resolve(
        &dev_support::template::resource(&template, "PoliciesApiFunction")["Properties"]
            ["Environment"]["Variables"]["SETUP_KIT_TEMPLATES_URL"],
    );
    assert!(
        url.as_str()
            .unwrap()
            .ends_with(&format!("/setup-kit/{version}/")),
        "{url}"
    );
    let output = stack.resolve(&template["Outputs"]["SetupKitTemplatesUrl"]["Value"]);
    assert_eq!(output, url);
}
