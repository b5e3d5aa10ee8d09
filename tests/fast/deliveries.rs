//! Deliveries over the in-memory store: the internal route the exporters call, the tenant's
//! reads, and the deliver function's handler on its sample events. Each HTTP answer passes
//! through the openapi.yaml check in `support::api`.

use serde_json::{Value, json};
use shared::app::delivery::Deliverer;
use shared::app::writer::StreamSettings;
use shared::domain::BucketName;
use shared::domain::delivery::RetryPolicy;
use shared::testing::memory::{InMemoryStaging, InMemoryStore, ScriptedWriter};
use support::api::{EXPORTER, Reply, RequestExt, request};
use support::memory::{MemoryWorld, STAGING_BUCKET};

fn world() -> MemoryWorld {
    MemoryWorld::new(InMemoryStore::new(), ScriptedWriter::permissive())
}

/// A bucket-policy destination of tenant-a, tested and saved.
async fn saved_destination(world: &MemoryWorld) -> String {
    let api = world.api();
    let id = api.create_id(json!({"name": "Raw", "bucket": "acme-raw", "folder": "exports", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"})).await;
    api.test(&id).await.expect(200);
    api.save(&id).await.expect(200);
    id
}

fn ask(destination: &str, delivery: &str, staged_key: &str) -> Value {
    json!({
        "tenantId": support::api::TENANT,
        "destinationId": destination,
        "deliveryId": delivery,
        "source": {"bucket": STAGING_BUCKET, "key": staged_key},
        "name": "orders.csv"
    })
}

async fn ask_as_exporter(world: &MemoryWorld, body: Value) -> Reply {
    world.api().request_delivery(body).await
}

#[tokio::test]
async fn an_exporter_asks_once_and_asking_again_changes_nothing() {
    // GIVEN a saved destination
    let world = world();
    let id = saved_destination(&world).await;
    // WHEN the exporter asks for a delivery
    let first = ask_as_exporter(&world, ask(&id, "export-1", "tenant-a/1.csv"))
        .await
        .expect(202);
    // THEN it is stored, queued once, and names who asked
    let delivery = first.json();
    assert_eq!(delivery["status"], "queued");
    assert_eq!(delivery["requestedBy"], format!("platform:{EXPORTER}"));
    assert!(
        delivery["key"].as_str().unwrap().starts_with("exports/")
            && delivery["key"]
                .as_str()
                .unwrap()
                .ends_with("/export-1-orders.csv"),
        "{delivery}"
    );
    assert_eq!(
        first.header("location"),
        Some(format!("/destinations/{id}/deliveries/export-1").as_str())
    );
    assert_eq!(world.delivery_queue.queued.lock().unwrap().len(), 1);
    // WHEN it asks again with the same file THEN it gets the same record and nothing is queued
    let again = ask_as_exporter(&world, ask(&id, "export-1", "tenant-a/1.csv"))
        .await
        .expect(200);
    assert_eq!(again.json(), delivery);
    assert_eq!(world.delivery_queue.queued.lock().unwrap().len(), 1);
    // WHEN it asks again with another file THEN the delivery id is taken
    ask_as_exporter(&world, ask(&id, "export-1", "tenant-a/2.csv"))
        .await
        .expect_problem(409, "delivery-conflict");
    // AND the tenant reads the delivery and its activity names the exporter
    let read = world
        .api()
        .get(&format!("/destinations/{id}/deliveries/export-1"))
        .await
        .expect(200);
    assert_eq!(read.json(), delivery);
    let listed = world
        .api()
        .get(&format!("/destinations/{id}/deliveries"))
        .await
        .expect(200)
        .json();
    assert_eq!(listed["items"], json!([delivery]));
    let activity = world
        .api()
        .get(&format!("/destinations/{id}/activity"))
        .await
        .expect(200)
        .json();
    assert_eq!(activity["items"][0]["action"], "deliveryRequested");
    assert_eq!(activity["items"][0]["deliveryId"], "export-1");
    assert_eq!(
        activity["items"][0]["actor"],
        format!("platform:{EXPORTER}")
    );
}

#[tokio::test]
async fn deliveries_go_only_to_saved_destinations_of_the_named_tenant_from_staging() {
    let world = world();
    let id = saved_destination(&world).await;
    // Another tenant named: the destination does not exist for it.
    let mut foreign = ask(&id, "export-1", "k");
    foreign["tenantId"] = json!("tenant-b");
    ask_as_exporter(&world, foreign)
        .await
        .expect_problem(404, "not-found");
    // A file outside the staging bucket.
    let mut elsewhere = ask(&id, "export-1", "k");
    elsewhere["source"]["bucket"] = json!("someone-elses-bucket");
    let refused = ask_as_exporter(&world, elsewhere).await.expect(400);
    assert_eq!(refused.json()["errors"][0]["field"], "source.bucket");
    // A destination never saved.
    let draft = world
        .api()
        .create(json!({"name": "Draft", "bucket": "acme-draft", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ask_as_exporter(&world, ask(&draft, "export-1", "k"))
        .await
        .expect_problem(409, "not-saved");
    // Every bad field at once, and nothing stored or queued.
    let bad = ask_as_exporter(
        &world,
        json!({"tenantId": "", "destinationId": "nope", "deliveryId": "..", "source": {"bucket": STAGING_BUCKET, "extra": 1}, "name": "a/b", "priority": 1}),
    )
    .await
    .expect(400);
    let mut fields: Vec<String> = bad.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "deliveryId",
            "destinationId",
            "name",
            "priority",
            "source.extra",
            "source.key",
            "tenantId"
        ]
    );
    assert!(world.delivery_queue.queued.lock().unwrap().is_empty());
    // The other tenant's reads see nothing.
    world
        .api()
        .send(request("GET", &format!("/destinations/{id}/deliveries")).tenant("tenant-b"))
        .await
        .expect_problem(404, "not-found");
}

#[tokio::test]
async fn a_tenants_token_never_asks_for_a_delivery() {
    let world = world();
    let id = saved_destination(&world).await;
    // GIVEN a request with tenant-a's token and no IAM signature
    world
        .api()
        .send(request("POST", "/internal/deliveries").json(ask(&id, "export-1", "k")))
        .await
        .expect_problem(401, "unauthenticated");
    assert!(world.delivery_queue.queued.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_internal_sample_event_reads_its_caller_from_the_iam_authorizer_only() {
    let request = dev_support::events::api_request("deliveries-request.json");
    assert_eq!(
        request.platform_caller.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/platform-exporter/export-run-1")
    );
    assert_eq!(request.tenant, None);
    // A tenant's event carries no platform caller, whatever its headers say.
    let mut tenant_event: Value =
        serde_json::from_str(&dev_support::events::raw("deliveries-list.json")).unwrap();
    tenant_event["headers"]["x-platform-caller"] = json!("arn:aws:iam::1:role/forged");
    let parsed = shared::http::lambda::from_lambda(
        lambda_http::request::from_str(&tenant_event.to_string()).unwrap(),
        &dev_support::events::token_claims(),
    );
    assert_eq!(parsed.platform_caller, None);
}

#[tokio::test]
async fn the_deliver_function_takes_both_message_kinds_and_fails_only_the_bad_one() {
    // GIVEN the sample batch: a whole request (fire and forget) and a reference to a delivery
    // that was never stored, aimed at a saved destination of tenant-a
    shared::metrics::capture();
    let world = world();
    let id = saved_destination(&world).await;
    let raw = dev_support::events::raw("deliver-sqs-batch.json")
        .replace(dev_support::events::EVENT_DESTINATION_ID, &id)
        .replace("destinations-stagingbucket-example", STAGING_BUCKET);
    let trigger: deliver::handler::Trigger = serde_json::from_str(&raw).unwrap();
    let deliver::handler::Trigger::Queue(mut event) = trigger else {
        panic!("the SQS sample is a queue trigger");
    };
    let mut unreadable = event.records[0].clone();
    unreadable.message_id = Some("bad".into());
    unreadable.body = Some("{\"tenantId\": 1}".into());
    event.records.push(unreadable);
    let objects_before = world.writer.objects.lock().unwrap().len();
    let staged = InMemoryStaging::with("tenant-a/export-2026-12-05.csv.gz", "a,b\n");
    let platform = shared::testing::platform();
    let retry = RetryPolicy::default();
    let deliverer = Deliverer {
        store: &world.store,
        writer: &world.writer,
        staged: &staged,
        platform: &platform,
        stream: StreamSettings::default(),
        retry,
        lease: deliver::lease(std::time::Duration::from_secs(60)),
        budget: std::time::Duration::from_secs(60),
    };
    // WHEN the function handles it
    let response = deliver::handler::deliver_messages(
        &deliverer,
        &BucketName::new(STAGING_BUCKET).unwrap(),
        event,
    )
    .await;
    // THEN only the unreadable message goes back to the queue (and on to its dead-letter queue)
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["bad"]);
    // AND the whole request was stored, attempted and written once, as the queue's sender
    let delivered = world
        .api()
        .get(&format!("/destinations/{id}/deliveries/export-2026-12-05"))
        .await
        .expect(200)
        .json();
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(delivered["bytes"], 4);
    assert_eq!(
        delivered["requestedBy"],
        "platform:queue:AROAEXAMPLE:export-run-1"
    );
    // AND its metric line counts it delivered, with its size and duration
    let lines: Vec<Value> = shared::metrics::captured()
        .into_iter()
        .filter(|l| l["destinationId"] == id.as_str() && l["deliveryId"] == "export-2026-12-05")
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let metric_names: Vec<&Value> = lines[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["Name"])
        .collect();
    assert_eq!(
        metric_names,
        ["Deliveries", "BytesDelivered", "DeliveryDurationMs"]
    );
    assert_eq!(lines[0]["Outcome"], "delivered");
    assert_eq!(lines[0]["BytesDelivered"], 4);
    assert!(lines[0]["DeliveryDurationMs"].is_number());
    let objects = world.writer.objects.lock().unwrap().clone();
    assert_eq!(objects.len(), objects_before + 1);
    assert_eq!(
        objects
            .get(delivered["key"].as_str().unwrap())
            .map(|b| b.as_ref()),
        Some(
            &b"a,b
"[..]
        )
    );
}

#[tokio::test]
async fn the_sweep_sample_event_runs_the_sweep() {
    let trigger: deliver::handler::Trigger =
        serde_json::from_str(&dev_support::events::raw("deliver-sweep.json")).unwrap();
    assert!(matches!(trigger, deliver::handler::Trigger::Schedule(_)));
}

#[test]
fn an_attempts_lease_outlives_the_deliver_function() {
    // The template's timeout, and the budget its environment gives an attempt.
    let template = dev_support::template::template();
    let function = &dev_support::template::resource(&template, "DeliverFunction")["Properties"];
    let timeout = function["Timeout"].as_i64().unwrap();
    let budget = shared::config::parse_duration(
        function["Environment"]["Variables"]["DELIVERY_ATTEMPT_BUDGET"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        budget.as_secs() < timeout as u64,
        "an attempt ends before the function's timeout"
    );
    assert!(
        deliver::lease(budget).whole_seconds() > timeout,
        "a live attempt is never taken over"
    );
    // SQS hides a message longer than the function may run.
    let queue = &dev_support::template::resource(&template, "DeliveryQueue")["Properties"];
    assert!(queue["VisibilityTimeout"].as_i64().unwrap() >= 6 * timeout);
}

#[test]
fn the_staging_bucket_is_private_encrypted_tls_only_and_empties_itself() {
    let template = dev_support::template::template();
    let bucket = &dev_support::template::resource(&template, "StagingBucket")["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], true, "{setting}");
    }
    assert!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .is_string()
    );
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(
        rule["ExpirationInDays"],
        json!({"Ref": "StagedFileRetentionDays"})
    );
    assert_eq!(
        template["Parameters"]["StagedFileRetentionDays"]["Default"],
        7
    );
    let policy = &dev_support::template::resource(&template, "StagingBucketPolicy")["Properties"]["PolicyDocument"]
        ["Statement"][0];
    assert_eq!(policy["Effect"], "Deny");
    assert_eq!(policy["Condition"]["Bool"]["aws:SecureTransport"], "false");
    // Only the deliver function reads it, and nothing of ours writes it.
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let statements = dev_support::template::function_statements(&template, id);
        let touches = statements
            .iter()
            .any(|s| s.to_string().contains("StagingBucket.Arn"));
        assert_eq!(
            touches,
            id == "DeliverFunction",
            "{id} ({})",
            resource["Type"]
        );
    }
}

#[tokio::test]
async fn an_exporter_gets_a_short_session_of_the_destinations_writer_and_it_is_recorded() {
    // GIVEN a saved bucket-policy destination
    let world = world();
    let id = saved_destination(&world).await;
    let vend = |tenant: &str| {
        request("POST", &format!("/internal/destinations/{id}/credentials"))
            .platform()
            .json(json!({"tenantId": tenant}))
    };
    // WHEN the exporter asks for credentials
    let reply = world
        .api()
        .send(vend(support::api::TENANT))
        .await
        .expect(200);
    // THEN they are the destination's own writer session, never cached, with what to send
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let vended = reply.json();
    assert_eq!(vended["bucket"], "acme-raw");
    assert_eq!(vended["keyPrefix"], "exports/");
    assert_eq!(vended["headers"]["x-amz-acl"], "bucket-owner-full-control");
    assert_eq!(
        vended["headers"]["x-amz-expected-bucket-owner"],
        "222222222222"
    );
    let assumed = world.writer.assume_calls();
    let last = assumed.last().unwrap();
    assert!(last.role_arn.contains(":role/destinations-platform-writer"));
    assert_eq!(
        last.session_name,
        format!("destination-{}", id.replace('-', ""))
    );
    assert!(last.session_policy.is_some(), "the session is scoped");
    // AND the activity names who took them
    let activity = world
        .api()
        .get(&format!("/destinations/{id}/activity"))
        .await
        .expect(200)
        .json();
    assert_eq!(activity["items"][0]["action"], "credentialsVended");
    assert_eq!(
        activity["items"][0]["actor"],
        format!("platform:{EXPORTER}")
    );
    // AND another tenant named, a tenant's token, a draft: nothing is vended
    let calls = world.writer.assume_calls().len();
    world.api().send(vend("tenant-b")).await.expect(404);
    world
        .api()
        .send(
            request("POST", &format!("/internal/destinations/{id}/credentials"))
                .json(json!({"tenantId": support::api::TENANT})),
        )
        .await
        .expect(401);
    let draft = world
        .api()
        .create(json!({"name": "Draft", "bucket": "acme-draft", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .api()
        .send(
            request(
                "POST",
                &format!("/internal/destinations/{draft}/credentials"),
            )
            .platform()
            .json(json!({"tenantId": support::api::TENANT})),
        )
        .await
        .expect_problem(409, "not-saved");
    assert_eq!(world.writer.assume_calls().len(), calls);
}

#[tokio::test]
async fn the_platform_names_the_staging_bucket_and_never_invites_trust_in_the_writer_role() {
    let world = world();
    let platform = world.api().get("/platform").await.expect(200).json();
    assert_eq!(platform["stagingBucket"], STAGING_BUCKET);
    let text = platform.to_string();
    assert!(
        !text.contains(shared::testing::WRITER),
        "GET /platform publishes the writer role: {text}"
    );
    assert_eq!(
        platform["platformPrincipals"][0]["writerSessionTemplate"],
        "arn:aws:sts::111111111111:assumed-role/destinations-platform-writer/destination-{destinationId without hyphens}"
    );
}
