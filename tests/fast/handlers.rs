//! The HTTP functions over the in-memory store: every route's answers, errors and limits. Each
//! response passes through the openapi.yaml check in `support::api`.

use serde_json::{Value, json};
use shared::app::destinations::Limits;
use shared::testing::memory::{InMemoryStore, ScriptedWriter};
use support::api::{RequestExt, request, verdict};
use support::memory::MemoryWorld;

fn world() -> MemoryWorld {
    MemoryWorld::new(InMemoryStore::new(), ScriptedWriter::permissive())
}

fn role_body() -> Value {
    json!({"name": "Lake", "bucket": "acme-exports", "folder": "platform", "authMode": "iamRole"})
}

fn bucket_policy_body() -> Value {
    json!({"name": "Raw", "bucket": "acme-raw", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"})
}

const ROLE: &str = "arn:aws:iam::222222222222:role/AcmeDelivery";

#[tokio::test]
async fn a_role_destination_is_created_as_a_draft_with_a_generated_external_id() {
    let world = world();
    let reply = world
        .api()
        .send(request("POST", "/destinations").json(role_body()))
        .await
        .expect(201);
    let created = reply.json();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["externalId"].as_str().map(str::len), Some(32));
    assert_eq!(created["roleArn"], Value::Null);
    assert_eq!(created["active"], Value::Null);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/destinations/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once_and_nothing_is_stored() {
    let world = world();
    let reply = world
        .api()
        .send(request("POST", "/destinations").json(json!({
            "name": " ", "bucket": "Bad_Bucket", "folder": "a/../b", "authMode": "ftp",
            "externalId": "chosen-by-me", "kmsKeyArn": "arn:aws:kms:eu-west-1:1:alias/x"
        })))
        .await
        .expect_problem(400, "validation");
    let fields: Vec<String> = reply.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for field in [
        "name",
        "bucket",
        "folder",
        "authMode",
        "externalId",
        "kmsKeyArn",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} missing from {fields:?}"
        );
    }
    let list = world.api().get("/destinations").await.expect(200).json();
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn malformed_json_wrong_media_type_and_oversized_bodies_get_their_problems() {
    let world = world();
    let api = world.api();
    api.send(request("POST", "/destinations").body_as("application/json", "{\"name\":"))
        .await
        .expect_problem(400, "malformed-json");
    api.send(request("POST", "/destinations").body_as("text/plain", "{}"))
        .await
        .expect_problem(415, "unsupported-media-type");
    let huge = "x".repeat(shared::http::MAX_BODY_BYTES + 1);
    api.send(request("POST", "/destinations").body_as("application/json", &huge))
        .await
        .expect_problem(413, "payload-too-large");
}

#[tokio::test]
async fn a_bucket_policy_destination_needs_the_bucket_owners_account() {
    let world = world();
    let mut body = bucket_policy_body();
    body.as_object_mut().unwrap().remove("bucketOwnerAccountId");
    let reply = world
        .api()
        .send(request("POST", "/destinations").json(body))
        .await
        .expect(400);
    assert_eq!(reply.json()["errors"][0]["field"], "bucketOwnerAccountId");
}

#[tokio::test]
async fn the_platforms_own_account_is_refused_for_buckets_roles_and_keys() {
    let world = world();
    let api = world.api();
    let mut body = bucket_policy_body();
    body["bucketOwnerAccountId"] = json!(shared::testing::PLATFORM_ACCOUNT);
    let reply = api
        .send(request("POST", "/destinations").json(body))
        .await
        .expect(400);
    assert_eq!(reply.json()["errors"][0]["field"], "bucketOwnerAccountId");
    let created = api.create(role_body()).await;
    let id = created["id"].as_str().unwrap();
    let role = format!(
        "arn:aws:iam::{}:role/Inside",
        shared::testing::PLATFORM_ACCOUNT
    );
    let reply = api.patch(id, json!({"roleArn": role})).await.expect(400);
    assert_eq!(reply.json()["errors"][0]["field"], "roleArn");
    // A KMS key of the platform's account, at create and by PATCH.
    let key = format!(
        "arn:aws:kms:eu-west-1:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        shared::testing::PLATFORM_ACCOUNT
    );
    let mut body = role_body();
    body["kmsKeyArn"] = json!(key);
    let reply = api
        .send(request("POST", "/destinations").json(body))
        .await
        .expect(400);
    assert_eq!(reply.json()["errors"][0]["field"], "kmsKeyArn");
    let reply = api.patch(id, json!({"kmsKeyArn": key})).await.expect(400);
    assert_eq!(reply.json()["errors"][0]["field"], "kmsKeyArn");
    // A key of the customer's own account is fine.
    api.patch(
        id,
        json!({"kmsKeyArn": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let world = world();
    let api = world.api();
    let create = |body: Value| {
        request("POST", "/destinations")
            .header("idempotency-key", "order-1")
            .json(body)
    };
    let first = api.send(create(role_body())).await.expect(201);
    let again = api.send(create(role_body())).await.expect(201);
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("etag"), first.header("etag"));
    let list = api.get("/destinations").await.json();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "one destination, not two"
    );
    let mut other = role_body();
    other["name"] = json!("Other");
    api.send(create(other))
        .await
        .expect_problem(422, "idempotency-key-reused");
    api.send(
        request("POST", "/destinations")
            .header("idempotency-key", "has space")
            .json(role_body()),
    )
    .await
    .expect_problem(400, "invalid-idempotency-key");
}

#[tokio::test]
async fn another_tenants_destination_does_not_exist_on_any_route() {
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    for (method, suffix) in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/save"),
        ("POST", "/discard"),
        ("GET", "/activity"),
        ("GET", "/policies"),
        ("POST", "/bucket-policy/merge"),
        ("POST", "/test"),
        ("GET", "/tests"),
    ] {
        let mut attempt =
            request(method, &format!("/destinations/{id}{suffix}")).tenant("tenant-b");
        if method == "PATCH" {
            attempt = attempt.json(json!({"name": "stolen"}));
        }
        if suffix == "/bucket-policy/merge" {
            attempt =
                attempt.json(json!({"existingPolicy": {"Version": "2012-10-17", "Statement": []}}));
        }
        let reply = api.send(attempt).await;
        assert_eq!(
            reply.status(),
            404,
            "{method} {suffix}: {}",
            reply.response.body
        );
    }
    assert_eq!(
        world.writer.assume_calls().len(),
        0,
        "tenant B made us call AWS"
    );
}

#[tokio::test]
async fn every_route_but_the_platform_needs_its_caller() {
    let world = world();
    let api = world.api();
    let id = "0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e";
    for (method, path, function) in shared::http::ROUTES.iter().map(|r| {
        (
            r.method,
            r.template
                .replace("{id}", id)
                .replace("{deliveryId}", "export-1"),
            &r.function,
        )
    }) {
        let reply = api.send(request(method, &path).anonymous()).await;
        if path == "/platform" {
            assert_eq!(reply.status(), 200);
        } else {
            assert_eq!(reply.status(), 401, "{method} {path}");
            assert_eq!(reply.problem(), "unauthenticated");
        }
        if function.authorization() == shared::http::Authorization::Platform {
            // A tenant's token is no platform identity.
            let with_token = api.send(request(method, &path)).await;
            assert_eq!(
                with_token.status(),
                401,
                "{method} {path} with a tenant token"
            );
        }
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let world = world();
    let api = world.api();
    api.get("/nope").await.expect_problem(404, "not-found");
    let put = api
        .send(request(
            "PUT",
            "/destinations/0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e",
        ))
        .await
        .expect(405);
    assert_eq!(put.header("allow"), Some("GET, PATCH, DELETE"));
}

#[tokio::test]
async fn lists_page_newest_first_and_refuse_foreign_cursors() {
    let world = world();
    let api = world.api();
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut body = bucket_policy_body();
        body["name"] = json!(format!("D{n}"));
        ids.push(api.create_id(body).await);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page = request("GET", "/destinations").query("limit", "2");
        if let Some(c) = &cursor {
            page = page.query("cursor", c);
        }
        let body = api.send(page).await.expect(200).json();
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    api.send(
        request("GET", "/destinations")
            .query("cursor", &ids[0])
            .tenant("tenant-b"),
    )
    .await
    .expect_problem(400, "invalid-cursor");
    api.send(request("GET", "/destinations").query("limit", "0"))
        .await
        .expect_problem(400, "validation");
    let unknown = api
        .send(request("GET", "/destinations").query("color", "red"))
        .await
        .expect(400);
    assert_eq!(unknown.json()["errors"][0]["field"], "color");
}

#[tokio::test]
async fn patch_clears_with_null_accepts_merge_patch_and_refuses_read_only_fields() {
    let world = world();
    let api = world.api();
    let mut body = role_body();
    body["region"] = json!("eu-west-1");
    body["description"] = json!("exports");
    let id = api.create_id(body).await;
    let path = format!("/destinations/{id}");
    let cleared = api
        .send(request("PATCH", &path).body_as(
            "application/merge-patch+json",
            r#"{"region": null, "description": null}"#,
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(cleared["region"], Value::Null);
    assert_eq!(cleared["description"], "");
    // AND the trail names the fields the PATCH changed, by their API names
    let trail = api
        .send(request("GET", &format!("{path}/activity")))
        .await
        .expect(200)
        .json();
    let updated = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "updated")
        .unwrap_or_else(|| panic!("{trail}"));
    assert_eq!(updated["fields"], json!(["description", "region"]));
    let refused = api
        .patch(
            &id,
            json!({"externalId": "mine", "authMode": "bucketPolicy", "name": null}),
        )
        .await
        .expect(400);
    let fields: Vec<String> = refused.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for field in ["externalId", "authMode", "name"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing from {fields:?}"
        );
    }
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let world = world();
    let api = world.api();
    let id = api.create_id(role_body()).await;
    let path = format!("/destinations/{id}");
    let renamed = api
        .send(
            request("PATCH", &path)
                .header("if-match", "\"1\"")
                .json(json!({"name": "A"})),
        )
        .await
        .expect(200);
    assert_eq!(renamed.header("etag"), Some("\"2\""));
    api.send(
        request("PATCH", &path)
            .header("if-match", "\"1\"")
            .json(json!({"name": "B"})),
    )
    .await
    .expect_problem(412, "precondition-failed");
    let any = api
        .send(
            request("PATCH", &path)
                .header("if-match", "*")
                .json(json!({"name": "C"})),
        )
        .await
        .expect(200);
    assert_eq!(any.json()["name"], "C");
    api.send(
        request("PATCH", &path)
            .header("if-match", "yesterday")
            .json(json!({"name": "D"})),
    )
    .await
    .expect_problem(400, "invalid-if-match");
    api.send(
        request(
            "PATCH",
            "/destinations/0b6f3c1e-8a4d-4a4f-9d0e-6d5c2b1a0f9e",
        )
        .header("if-match", "*")
        .json(json!({"name": "E"})),
    )
    .await
    .expect_problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_without_if_match_all_apply() {
    // GIVEN one destination
    let world = world();
    let id = world.api().create(role_body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN 8 clients change different fields at the same time (each read-modify-write yields
    // between its read and its write, so they interleave)
    let changes = [
        json!({"name": "Renamed"}),
        json!({"description": "d"}),
        json!({"folder": "f"}),
        json!({"region": "eu-west-1"}),
        json!({"roleArn": ROLE}),
        json!({"kmsKeyArn": "arn:aws:kms:eu-west-1:222222222222:key/k1"}),
        json!({"bucketOwnerAccountId": "222222222222"}),
        json!({"bucket": "acme-other"}),
    ];
    let api = world.api();
    let replies =
        futures::future::join_all(changes.iter().map(|c| api.patch(&id, c.clone()))).await;
    // THEN every one succeeded and none was lost
    for reply in &replies {
        assert_eq!(reply.status(), 200, "{}", reply.response.body);
    }
    let stored = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["name"], "Renamed");
    assert_eq!(stored["description"], "d");
    assert_eq!(stored["folder"], "f/");
    assert_eq!(stored["region"], "eu-west-1");
    assert_eq!(stored["roleArn"], ROLE);
    assert_eq!(stored["bucket"], "acme-other");
    assert_eq!(stored["version"], 9);
}

#[tokio::test]
async fn a_destination_that_keeps_changing_gets_concurrent_modification() {
    // GIVEN a store where every write loses its race (another writer always got there first)
    let world = world();
    let id = world.api().create(role_body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.store.lose_every_race(true);
    world
        .api()
        .patch(&id, json!({"name": "X"}))
        .await
        .expect_problem(409, "concurrent-modification");
}

#[tokio::test]
async fn storage_outages_are_503_with_retry_after_and_corrupt_data_500() {
    let world = world();
    let id = world.api().create(role_body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.store.set_unavailable(true);
    let outage = world
        .api()
        .get(&format!("/destinations/{id}"))
        .await
        .expect_problem(503, "unavailable");
    assert_eq!(outage.header("retry-after"), Some("1"));
    assert!(outage.json()["requestId"].is_string());
    world.store.set_unavailable(false);
    world.store.corrupt_reads(true);
    let corrupt = world
        .api()
        .get(&format!("/destinations/{id}"))
        .await
        .expect_problem(500, "internal");
    assert!(
        !corrupt.response.body.contains("corrupt"),
        "no internals in the answer"
    );
}

#[tokio::test]
async fn save_needs_a_passing_test_of_the_current_configuration() {
    let world = MemoryWorld::new(InMemoryStore::new(), ScriptedWriter::permissive());
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    api.save(&id).await.expect_problem(409, "not-verified");
    let tested = api.test(&id).await.expect(200).json();
    assert_eq!(verdict(&tested), ("passed".into(), String::new()));
    let draft = api
        .get(&format!("/destinations/{id}"))
        .await
        .expect(200)
        .json();
    assert_eq!(draft["latestTestCurrent"], true, "{draft}");
    assert_eq!(draft["savedAt"], Value::Null, "{draft}");
    let saved = api.save(&id).await.expect(200).json();
    assert_eq!(saved["status"], "verified");
    assert!(saved["savedAt"].is_string(), "{saved}");
    assert_eq!(saved["active"]["bucket"], "acme-raw");
    assert_eq!(
        saved["active"]["pinnedBucketOwnerAccountId"],
        "222222222222"
    );
    api.save(&id).await.expect_problem(409, "nothing-to-save");
    api.send(request("POST", &format!("/destinations/{id}/save")).json(json!({"force": true})))
        .await
        .expect_problem(400, "validation");
}

#[tokio::test]
async fn a_change_to_a_saved_destination_is_pending_until_tested_and_saved() {
    // GIVEN a saved destination
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    api.test(&id).await.expect(200);
    api.save(&id).await.expect(200);
    // WHEN its bucket is changed
    let patched = api
        .patch(&id, json!({"bucket": "acme-new"}))
        .await
        .expect(200)
        .json();
    // THEN deliveries stay on the active configuration, still verified, with the change pending
    assert_eq!(patched["status"], "verified");
    assert_eq!(patched["hasPendingChanges"], true);
    assert_eq!(patched["bucket"], "acme-new");
    assert_eq!(patched["active"]["bucket"], "acme-raw");
    // AND Save refuses until the new configuration passed a test
    api.save(&id).await.expect_problem(409, "not-verified");
    api.test(&id).await.expect(200);
    let saved = api.save(&id).await.expect(200).json();
    assert_eq!(saved["active"]["bucket"], "acme-new");
    assert_eq!(saved["hasPendingChanges"], false);
}

#[tokio::test]
async fn discard_returns_to_the_active_configuration() {
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    api.send(request("POST", &format!("/destinations/{id}/discard")))
        .await
        .expect_problem(409, "nothing-to-discard");
    api.test(&id).await.expect(200);
    api.save(&id).await.expect(200);
    api.patch(&id, json!({"folder": "elsewhere"}))
        .await
        .expect(200);
    let restored = api
        .send(request("POST", &format!("/destinations/{id}/discard")))
        .await
        .expect(200)
        .json();
    assert_eq!(restored["folder"], "");
    assert_eq!(restored["hasPendingChanges"], false);
    assert_eq!(restored["status"], "verified");
}

#[tokio::test]
async fn activity_lists_every_change_newest_first_with_its_actor() {
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    api.send(
        request("PATCH", &format!("/destinations/{id}"))
            .actor("alice")
            .json(json!({"name": "N"})),
    )
    .await
    .expect(200);
    api.send(request("POST", &format!("/destinations/{id}/test")).actor("bob"))
        .await
        .expect(200);
    api.send(request("POST", &format!("/destinations/{id}/save")).actor("carol"))
        .await
        .expect(200);
    api.send(request("DELETE", &format!("/destinations/{id}")).actor("dave"))
        .await
        .expect(204);
    let activity = api
        .get(&format!("/destinations/{id}/activity"))
        .await
        .expect(200)
        .json();
    let entries: Vec<(String, String)> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("deleted", "user:dave"),
            ("saved", "user:carol"),
            ("tested", "user:bob"),
            ("updated", "user:alice"),
            ("created", "user:user-1"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // AND each entry holds the version its change made: the delete one past the save
    let version = |i: usize| activity["items"][i]["version"].as_u64().unwrap();
    assert_eq!(version(0), version(1) + 1, "{activity}");
    let page = api
        .send(request("GET", &format!("/destinations/{id}/activity")).query("limit", "2"))
        .await
        .expect(200)
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["nextCursor"].is_string());
    api.send(request("GET", &format!("/destinations/{id}/activity")).tenant("tenant-b"))
        .await
        .expect_problem(404, "not-found");
}

#[tokio::test]
async fn creating_past_the_tenants_cap_is_refused_until_one_is_deleted() {
    let world = MemoryWorld::with_limits(
        InMemoryStore::new(),
        ScriptedWriter::permissive(),
        Limits {
            destinations_per_tenant: 2,
        },
    );
    let api = world.api();
    let first = api.create_id(bucket_policy_body()).await;
    api.create(bucket_policy_body()).await;
    api.send(request("POST", "/destinations").json(bucket_policy_body()))
        .await
        .expect_problem(429, "destination-limit-reached");
    api.send(request("DELETE", &format!("/destinations/{first}")))
        .await
        .expect(204);
    api.create(bucket_policy_body()).await;
}

#[tokio::test]
async fn a_second_test_while_one_holds_the_lock_is_409_until_the_lock_expires() {
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    world
        .store
        .hold_check_lock(&id, time::Duration::seconds(60));
    api.test(&id).await.expect_problem(409, "test-in-progress");
    world
        .store
        .hold_check_lock(&id, time::Duration::seconds(-1));
    api.test(&id).await.expect(200);
}

#[tokio::test]
async fn a_check_that_outlives_its_deadline_reports_timed_out() {
    let mut writer = ScriptedWriter::permissive();
    writer.latency = std::time::Duration::from_secs(10);
    let world = MemoryWorld::new(InMemoryStore::new(), writer);
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    let result = api.test(&id).await.expect(200).json();
    assert_eq!(result["category"], "timedOut");
}

#[tokio::test]
async fn test_history_lists_results_newest_first() {
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(api.test(&id).await.expect(200).json()["startedAt"].clone());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let history = api
        .get(&format!("/destinations/{id}/tests"))
        .await
        .expect(200)
        .json();
    let order: Vec<Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["startedAt"].clone())
        .collect();
    started.reverse();
    assert_eq!(order, started);
}

#[tokio::test]
async fn the_bucket_policy_merge_keeps_the_customers_statements() {
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    let existing = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Theirs", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-raw/public/*"}
    ]});
    let merged = api
        .send(
            request("POST", &format!("/destinations/{id}/bucket-policy/merge"))
                .json(json!({"existingPolicy": existing})),
        )
        .await
        .expect(200)
        .json();
    let statements = merged["policy"]["Statement"].as_array().unwrap();
    assert_eq!(statements[0]["Sid"], "Theirs");
    assert_eq!(
        statements[1]["Principal"]["AWS"],
        shared::testing::writer_session(&shared::domain::DestinationId::new(&id).unwrap())
    );
    let role = api.create_id(role_body()).await;
    api.send(
        request("POST", &format!("/destinations/{role}/bucket-policy/merge"))
            .json(json!({"existingPolicy": existing})),
    )
    .await
    .expect_problem(409, "not-bucket-policy-mode");
}

#[tokio::test]
async fn a_token_without_a_subject_is_named_as_such_and_never_as_a_user() {
    // GIVEN a tenant's token that names no subject
    let world = world();
    let mut create = request("POST", "/destinations").json(bucket_policy_body());
    create.actor = None;
    // WHEN it creates a destination
    let id = world.api().send(create).await.expect(201).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // THEN the trail names a token without a subject, in its own namespace
    let activity = world
        .api()
        .get(&format!("/destinations/{id}/activity"))
        .await
        .expect(200)
        .json();
    assert_eq!(activity["items"][0]["actor"], "token:without-subject");
}

#[tokio::test]
async fn the_deployed_kit_script_reaches_the_api_over_https_whatever_the_request_said() {
    // GIVEN a bucket-policy destination
    let world = world();
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    // WHEN its kit is asked for with a plain-http forwarded scheme
    let kit = api
        .send(
            request("GET", &format!("/destinations/{id}/setup-kit"))
                .header("host", "api.example.com")
                .header("x-forwarded-proto", "http"),
        )
        .await
        .expect(200)
        .json();
    // THEN the script sends the customer's token to the API over https only
    let script = kit["awsCli"].as_str().unwrap();
    let merge_url = script
        .lines()
        .find_map(|line| line.strip_prefix("MERGE_URL="))
        .unwrap();
    assert_eq!(
        merge_url,
        format!("'https://api.example.com/destinations/{id}/bucket-policy/merge?output=policy'")
    );
}

/// The actions limited per tenant and minute.
#[derive(Clone, Copy, Debug)]
enum Limited {
    Create,
    Merge,
    Test,
}

#[tokio::test]
async fn creates_merges_and_tests_are_rate_limited_per_tenant() {
    for limited in [Limited::Create, Limited::Merge, Limited::Test] {
        // GIVEN a limit of 3 per tenant per minute, and a bucket-policy destination of each tenant
        let world = MemoryWorld::new(
            InMemoryStore::with_rate_limit(3),
            ScriptedWriter::permissive(),
        );
        let api = world.api();
        let id = api.create_id(bucket_policy_body()).await;
        let other = api.create_as("tenant-b", bucket_policy_body()).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let send = |tenant: &str, id: &str| {
            let attempt = match limited {
                Limited::Create => request("POST", "/destinations").json(bucket_policy_body()),
                Limited::Merge => {
                    request("POST", &format!("/destinations/{id}/bucket-policy/merge"))
                        .json(json!({"existingPolicy": {"Version": "2012-10-17", "Statement": []}}))
                }
                Limited::Test => request("POST", &format!("/destinations/{id}/test")),
            };
            api.send(attempt.tenant(tenant))
        };
        // WHEN tenant A sends a burst (the create above already used one of its creates)
        let allowed = if let Limited::Create = limited { 2 } else { 3 };
        let mut statuses = Vec::new();
        for _ in 0..allowed + 2 {
            let reply = send("tenant-a", &id).await;
            if reply.status() == 429 {
                assert_eq!(reply.problem(), "rate-limited", "{limited:?}");
                let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=60).contains(&wait), "{limited:?}");
            }
            statuses.push(reply.status());
        }
        // THEN the first ones are served and the rest refused with 429
        let ok = if let Limited::Create = limited {
            201
        } else {
            200
        };
        let mut expected = vec![ok; allowed];
        expected.extend([429, 429]);
        assert_eq!(statuses, expected, "{limited:?}");
        // AND a refused create stored nothing, and tenant B is unaffected
        let listed = api.get("/destinations").await.expect(200).json();
        let mine = if let Limited::Create = limited { 3 } else { 1 };
        assert_eq!(
            listed["items"].as_array().unwrap().len(),
            mine,
            "{limited:?}"
        );
        assert_eq!(send("tenant-b", &other).await.status(), ok, "{limited:?}");
    }
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_tenant() {
    // GIVEN tenant A created a destination with an idempotency key
    let world = world();
    let api = world.api();
    let first = api
        .send(
            request("POST", "/destinations")
                .header("idempotency-key", "shared-key-1")
                .json(bucket_policy_body()),
        )
        .await
        .expect(201)
        .json();
    // WHEN tenant B sends the same key, with the same body and with another one
    let same = api
        .send(
            request("POST", "/destinations")
                .tenant("tenant-b")
                .header("idempotency-key", "shared-key-1")
                .json(bucket_policy_body()),
        )
        .await;
    let mut other_body = bucket_policy_body();
    other_body["name"] = json!("Other");
    let other = api
        .send(
            request("POST", "/destinations")
                .tenant("tenant-b")
                .header("idempotency-key", "shared-key-2")
                .json(other_body.clone()),
        )
        .await
        .expect(201);
    let reused_by_b = api
        .send(
            request("POST", "/destinations")
                .tenant("tenant-b")
                .header("idempotency-key", "shared-key-1")
                .json(other_body),
        )
        .await;
    // THEN B got a destination of its own, never A's answer, and B's own reuse rule applies
    let same = same.expect(201);
    assert_eq!(same.header("idempotent-replayed"), None);
    assert_ne!(same.json()["id"], first["id"]);
    assert_ne!(other.json()["id"], first["id"]);
    assert_eq!(reused_by_b.status(), 422, "{}", reused_by_b.response.body);
    // AND A's key still replays A's destination to A
    let replay = api
        .send(
            request("POST", "/destinations")
                .header("idempotency-key", "shared-key-1")
                .json(bucket_policy_body()),
        )
        .await
        .expect(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["id"], first["id"]);
}

#[tokio::test]
async fn a_test_overtaken_by_a_change_is_kept_in_the_history_only() {
    // GIVEN a bucket-policy draft whose AWS calls take 150 ms each
    let mut writer = ScriptedWriter::permissive();
    writer.latency = std::time::Duration::from_millis(150);
    let world = MemoryWorld::new(InMemoryStore::new(), writer);
    let api = world.api();
    let id = api.create_id(bucket_policy_body()).await;
    // WHEN its bucket is changed while Test Connection runs
    let (tested, patched) = tokio::join!(api.test(&id), async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        api.patch(&id, json!({"bucket": "acme-raw-new"})).await
    });
    patched.expect(200);
    // THEN the test passed but says it is not current
    let result = tested.expect(200).json();
    assert_eq!(result["passed"], true, "{result}");
    assert_eq!(result["current"], false, "{result}");
    // AND it is not the destination's latest test, so Save refuses, but the history has it
    let destination = api
        .get(&format!("/destinations/{id}"))
        .await
        .expect(200)
        .json();
    assert_eq!(destination["bucket"], "acme-raw-new");
    assert_eq!(destination["latestTest"], Value::Null, "{destination}");
    api.save(&id).await.expect_problem(409, "not-verified");
    let history = api
        .get(&format!("/destinations/{id}/tests"))
        .await
        .expect(200)
        .json();
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
}
