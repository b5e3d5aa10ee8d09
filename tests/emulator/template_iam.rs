//! The functions run with exactly the statements template.yaml grants them: take one away and
//! the behaviour that needs it fails.

use serde_json::{Value, json};
use support::api::{RequestExt, verdict};
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
    World::with(
        dev_support::emulator::emulator(),
        Options {
            template: Some(template),
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

#[tokio::test]
async fn without_its_queue_statement_the_scheduler_cannot_queue() {
    let world = world_from(without("RevalidateSchedulerFunction", "QueueChecks")).await;
    let (store, queue) = &world.services.scheduler;
    let outcome = Box::pin(revalidate_scheduler::handler::handle(
        store,
        queue,
        dev_support::dispatch::scheduled_event(),
    ))
    .await;
    // Nothing is due, so the scheduler sends nothing: an empty batch is not sent at all, and an
    // on-demand request for one saved destination needs the statement.
    assert!(outcome.is_ok());
    let saved =
        shared::testing::DestinationBuilder::new(shared::domain::AuthModeKind::BucketPolicy)
            .tenant(support::api::TENANT)
            .saved();
    let activity = shared::domain::ActivityEntry {
        at: shared::testing::NOW,
        actor: shared::domain::Actor::new("fixture").unwrap(),
        activity: shared::domain::Activity::Created,
        version: 1,
    };
    let record = shared::ports::NewRecord {
        destination: &saved,
        activity: &activity,
        idempotency: None,
        cap: 10,
    };
    shared::ports::DestinationRepository::create(world.store(), record)
        .await
        .unwrap();
    let outcome = Box::pin(revalidate_scheduler::handler::handle(
        store,
        queue,
        dev_support::dispatch::scheduled_event(),
    ))
    .await;
    assert!(outcome.is_err(), "queued without the statement");
}

#[tokio::test]
async fn without_writing_results_a_test_cannot_be_stored() {
    let world = world_from(without("TestConnectionFunction", "RecordTestResults")).await;
    let reply = role_test(&world).await;
    assert_eq!(reply.status(), 503, "{}", reply.response.body);
}

#[tokio::test]
async fn without_its_table_statement_the_destinations_function_cannot_create() {
    let world = world_from(without(
        "DestinationsApiFunction",
        "ReadAndWriteDestinations",
    ))
    .await;
    let reply = world
        .api()
        .send(
            support::api::request("POST", "/destinations")
                .json(json!({"name": "x", "bucket": "abc", "authMode": "iamRole"})),
        )
        .await;
    assert_eq!(reply.status(), 503, "{}", reply.response.body);
}
