//! The functions run with exactly the statements template.yaml grants them: take any one away
//! and the call that needs it is refused with AccessDenied (and with it, the same call succeeds).
//! Every statement of every function is either exercised here or listed, with the reason, among
//! those only Lambda itself uses.

use futures::StreamExt;
use serde_json::{Value, json};
use support::api::verdict;
use support::world::World;

use dev_support::platform::Options;
use dev_support::services::quick_check_settings;

/// template.yaml without the statement `sid` of `function`'s policies.
fn without(function: &str, sid: &str) -> Value {
    let mut template = dev_support::template::template();
    let policies = template["Resources"][function]["Properties"]["Policies"]
        .as_array_mut()
        .unwrap();
    let mut removed = false;
    for policy in policies {
        let statements = policy["Statement"].as_array_mut().unwrap();
        let before = statements.len();
        statements.retain(|s| s["Sid"] != sid);
        removed |= statements.len() < before;
    }
    assert!(removed, "{function} has no statement {sid}");
    template
}

async fn world_from(template: Value) -> World {
    world_with(template, true).await
}

async fn world_with(template: Value, publish_kit: bool) -> World {
    World::with(
        dev_support::emulator::emulator(),
        Options {
            template: Some(template),
            publish_kit,
            ..Options::default()
        },
        quick_check_settings(),
    )
    .await
}

/// A role-mode destination with a role made from its rendered documents; returns the test result.
async fn role_test(world: &World) -> support::api::Reply {
    let bucket = world.role_account_bucket().await;
    let created = world
        .api()
        .create(json!({"name": "Lake", "bucket": bucket, "authMode": "iamRole"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let role = world.role_from_rendered(&id).await;
    world
        .api()
        .patch(&id, json!({"roleArn": role}))
        .await
        .expect(200);
    world.api().test(&id).await
}

#[tokio::test]
async fn with_every_statement_the_check_passes() {
    let world = world_from(dev_support::template::template()).await;
    let result = role_test(&world).await.expect(200).json();
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
}

#[tokio::test]
async fn a_function_the_connector_does_not_trust_cannot_check_anything() {
    let mut template = dev_support::template::template();
    let trusted = template["Resources"]["ConnectorRole"]["Properties"]["AssumeRolePolicyDocument"]
        ["Statement"][0]["Principal"]["AWS"]
        .as_array_mut()
        .unwrap();
    trusted.retain(|p| !p.to_string().contains("TestConnectionFunctionRole"));
    let world = world_from(template).await;
    let result = role_test(&world).await.expect(200).json();
    assert_ne!(verdict(&result).0, "passed", "{result}");
}

/// Statements our code never uses itself, and why: they cannot be proven by removing them here.
const USED_BY_LAMBDA_ONLY: &[(&str, &str, &str)] = &[
    (
        "RevalidateOnChangeFunction",
        "ReadTheTableStream",
        "Lambda's event source mapping reads the stream with the function's role",
    ),
    (
        "PublishEventsFunction",
        "ReadTheTableStream",
        "Lambda's event source mapping reads the stream with the function's role",
    ),
    (
        "RevalidateOnChangeFunction",
        "ParkFailedBatches",
        "Lambda sends a failed batch to its on-failure destination with the function's role",
    ),
    (
        "PublishEventsFunction",
        "ParkFailedBatches",
        "Lambda sends a failed batch to its on-failure destination with the function's role",
    ),
    (
        "PublishEventsFunction",
        "PublishDestinationEvents",
        "the emulator's EventBridge is not IAM-enforced (docs/emulator.md)",
    ),
];

/// Every `(function, statement id)` of the template's functions.
fn every_statement() -> Vec<(String, String)> {
    let template = dev_support::template::template();
    let mut all = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        for statement in dev_support::template::function_statements(&template, id) {
            all.push((id.clone(), statement["Sid"].as_str().unwrap().to_owned()));
        }
    }
    all
}

fn some_request() -> shared::domain::revalidation::RevalidationRequest {
    shared::domain::revalidation::RevalidationRequest {
        tenant_id: shared::domain::TenantId::new(support::api::TENANT).unwrap(),
        destination_id: shared::domain::DestinationId::generate(),
        version: 1,
    }
}

fn some_delivery() -> shared::domain::delivery::DeliveryRef {
    shared::domain::delivery::DeliveryRef {
        tenant_id: shared::domain::TenantId::new(support::api::TENANT).unwrap(),
        destination_id: shared::domain::DestinationId::generate(),
        delivery_id: shared::domain::delivery::DeliveryId::new("delivery-1").unwrap(),
    }
}

/// A staged file the deliver function reads (put there by the account's administrator).
const STAGED_KEY: &str = "tenant-a/iam/staged.bin";

/// A read of a destination (none there) through `store`, as a function's wiring makes it.
async fn reads(store: &shared::adapters::dynamodb::DynamoDbStore) -> Result<(), String> {
    use shared::ports::DestinationRepository;
    let tenant = shared::domain::TenantId::new(support::api::TENANT).unwrap();
    store
        .get(&tenant, &shared::domain::DestinationId::generate())
        .await
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

/// The one call of `function` that needs statement `sid`, made with the function's own wiring.
/// `Err` carries what AWS answered.
async fn exercise(world: &World, function: &str, sid: &str) -> Result<(), String> {
    use shared::ports::{DeliveryQueue, DueIndex, Outbox, RevalidationQueue, StagedFiles};
    let services = &world.services;
    let shown = |e: &dyn std::fmt::Debug| format!("{e:?}");
    match (function, sid) {
        ("DestinationsApiFunction", "ReadAndWriteDestinations") => {
            reads(&services.destinations.store).await
        }
        ("PoliciesApiFunction", "ReadDestinationsCountMerges") => {
            reads(&services.policies.store).await
        }
        ("TestConnectionFunction", "RecordTestResults") => {
            reads(&services.test_connection.store).await
        }
        ("DeliveriesApiFunction", "RecordDeliveryRequests") => {
            reads(&services.deliveries.store).await
        }
        ("DeliveriesApiFunction", "QueueDeliveries") => services
            .deliveries
            .queue
            .enqueue_deliveries(&[some_delivery()])
            .await
            .map_err(|e| shown(&e)),
        ("DeliverFunction", "RecordDeliveries") => reads(&services.deliver.store).await,
        ("DeliverFunction", "ReadStagedFiles") => {
            world.stage(STAGED_KEY, &b"staged"[..]).await;
            let source = shared::domain::delivery::StagedSource {
                bucket: shared::domain::BucketName::new(&world.platform.staging_bucket).unwrap(),
                key: STAGED_KEY.into(),
            };
            StagedFiles::open(&services.deliver.staged, &source)
                .await
                .map(drop)
                .map_err(|e| shown(&e))
        }
        ("DeliverFunction", "QueueDueDeliveries") => services
            .deliver
            .queue
            .enqueue_deliveries(&[some_delivery()])
            .await
            .map_err(|e| shown(&e)),
        ("RevalidateSchedulerFunction", "FindDueDestinations") => services
            .scheduler
            .0
            .due_for_check(0, time::OffsetDateTime::now_utc(), None)
            .await
            .map(drop)
            .map_err(|e| shown(&e)),
        ("RevalidateSchedulerFunction", "QueueChecks") => services
            .scheduler
            .1
            .enqueue(&[some_request()])
            .await
            .map_err(|e| shown(&e)),
        ("RevalidateWorkerFunction", "RecordCheckResults") => reads(&services.worker.store).await,
        ("RevalidateWorkerFunction", "PutOffChecks") => services
            .worker
            .queue
            .defer(&some_request(), std::time::Duration::ZERO)
            .await
            .map_err(|e| shown(&e)),
        ("RevalidateOnChangeFunction", "QueueChecks") => services
            .on_change
            .enqueue(&[some_request()])
            .await
            .map_err(|e| shown(&e)),
        ("PublishEventsFunction", "ReadAndClearTheOutbox") => services
            .publisher
            .0
            .backlog(time::OffsetDateTime::now_utc(), None)
            .await
            .map(drop)
            .map_err(|e| shown(&e)),
        ("PublishKitFunction", "PublishTheTemplates") => {
            let publisher = dev_support::accounts::s3_client(
                &world.platform.function("PublishKitFunction").config,
            );
            publish_kit::handler::publish(
                &publisher,
                &world.platform.kit_bucket,
                &world.platform.platform_identity(),
            )
            .await
        }
        other => panic!(
            "{other:?}: no call exercises this statement; add one (or list it among those only Lambda uses)"
        ),
    }
}

/// Whether AWS's answer was a refusal of access (the emulator's request-level check says
/// AccessDeniedException, its services AccessDenied).
fn is_access_denied(answer: &str) -> bool {
    answer.contains("AccessDenied")
}

#[tokio::test]
async fn every_statement_is_needed_by_the_call_that_uses_it() {
    let all = every_statement();
    let exercised: Vec<&(String, String)> = all
        .iter()
        .filter(|(f, s)| {
            !USED_BY_LAMBDA_ONLY
                .iter()
                .any(|(lf, ls, _)| lf == f && ls == s)
        })
        .collect();
    assert!(exercised.len() >= 15, "{all:?}");
    for (function, sid, _) in USED_BY_LAMBDA_ONLY {
        assert!(
            all.iter().any(|(f, s)| f == function && s == sid),
            "{function} {sid} is listed but not in the template"
        );
    }
    // GIVEN the template as it is: every call succeeds (so each call below needs nothing else)
    let whole = world_from(dev_support::template::template()).await;
    for (function, sid) in &exercised {
        let answer = exercise(&whole, function, sid).await;
        assert!(
            answer.is_ok(),
            "{function} {sid} with every statement: {answer:?}"
        );
    }
    // WHEN any one statement is taken away THEN its call is refused as access denied
    let refused = futures::stream::iter(exercised)
        .map(|(function, sid)| async move {
            // Without its statement the publisher cannot publish the kit while the stack is made.
            let publishes = function != "PublishKitFunction";
            let world = world_with(without(function, sid), publishes).await;
            let answer = exercise(&world, function, sid).await;
            (function, sid, answer)
        })
        .buffer_unordered(3)
        .collect::<Vec<_>>()
        .await;
    for (function, sid, answer) in refused {
        match answer {
            Err(e) if is_access_denied(&e) => {}
            other => panic!("{function} without {sid}: {other:?}"),
        }
    }
}
