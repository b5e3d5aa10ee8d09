//! The API over the real DynamoDB adapter: conditional writes, transactions, tenant-bound
//! cursors, the rate limiter, the destination count and the audit trail, each against the
//! emulator's DynamoDB with the functions' own template permissions.

use serde_json::{Value, json};
use support::api::{RequestExt, request};
use support::world::World;

fn bucket_policy(name: &str) -> Value {
    json!({"name": name, "bucket": "acme-raw", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"})
}

#[tokio::test]
async fn the_whole_lifecycle_is_stored_and_audited() {
    let world = World::new().await;
    let api = world.api();
    // GIVEN a destination created with an idempotency key, replayed once
    let create = || {
        request("POST", "/destinations")
            .header("idempotency-key", "k-1")
            .json(bucket_policy("Raw"))
    };
    let first = api.send(create()).await.expect(201).json();
    let replay = api.send(create()).await.expect(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json(), first);
    let id = first["id"].as_str().unwrap().to_owned();
    // WHEN it is renamed (with If-Match), tested, saved, changed, discarded and deleted
    let renamed = api
        .send(
            request("PATCH", &format!("/destinations/{id}"))
                .header("if-match", "\"1\"")
                .json(json!({"name": "Renamed"})),
        )
        .await
        .expect(200);
    assert_eq!(renamed.header("etag"), Some("\"2\""));
    api.send(
        request("PATCH", &format!("/destinations/{id}"))
            .header("if-match", "\"1\"")
            .json(json!({"name": "X"})),
    )
    .await
    .expect_problem(412, "precondition-failed");
    api.test(&id).await.expect(200);
    let not_verified = api.save(&id).await.expect(409);
    assert_eq!(
        not_verified.problem(),
        "not-verified",
        "no bucket policy was applied"
    );
    api.patch(&id, json!({"folder": "other"})).await.expect(200);
    api.send(request("DELETE", &format!("/destinations/{id}")).actor("dave"))
        .await
        .expect(204);
    // THEN it is gone, and its activity tells the whole story, newest first, page by page
    api.get(&format!("/destinations/{id}"))
        .await
        .expect_problem(404, "not-found");
    let mut actions = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page = request("GET", &format!("/destinations/{id}/activity")).query("limit", "2");
        if let Some(c) = &cursor {
            page = page.query("cursor", c);
        }
        let body = api.send(page).await.expect(200).json();
        actions.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned()),
        );
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        actions,
        ["deleted", "updated", "tested", "updated", "created"]
    );
    // AND another tenant sees none of it
    api.send(request("GET", &format!("/destinations/{id}/activity")).tenant("tenant-b"))
        .await
        .expect_problem(404, "not-found");
}

#[tokio::test]
async fn lists_page_through_dynamodb_and_cursors_stay_with_their_tenant() {
    let world = World::new().await;
    let api = world.api();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(api.create_id(bucket_policy(&format!("D{n}"))).await);
    }
    api.send(
        request("POST", "/destinations")
            .tenant("tenant-b")
            .json(bucket_policy("B")),
    )
    .await
    .expect(201);
    let first = api
        .send(request("GET", "/destinations").query("limit", "2"))
        .await
        .expect(200)
        .json();
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let rest = api
        .send(
            request("GET", "/destinations")
                .query("limit", "10")
                .query("cursor", &cursor),
        )
        .await
        .expect(200)
        .json();
    seen.extend(
        rest["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned()),
    );
    assert_eq!(rest["nextCursor"], Value::Null);
    ids.reverse();
    assert_eq!(seen, ids, "all of tenant A's, newest first, none of B's");
    api.send(
        request("GET", "/destinations")
            .tenant("tenant-b")
            .query("cursor", &cursor),
    )
    .await
    .expect_problem(400, "invalid-cursor");
    api.send(request("GET", "/destinations").query("cursor", "bm90LWEtY3Vyc29y"))
        .await
        .expect_problem(400, "invalid-cursor");
}

#[tokio::test]
async fn a_burst_of_tests_over_the_limit_gets_429_and_leaves_other_tenants_alone() {
    // GIVEN the template's limit of Test Connection calls per tenant per minute
    let world = World::new().await;
    let api = world.api();
    let limit: usize =
        world.platform.function("TestConnectionFunction").env["TEST_CONNECTIONS_PER_MINUTE"]
            .parse()
            .unwrap();
    let a = api.create_id(bucket_policy("A")).await;
    let b = api.create_as("tenant-b", bucket_policy("B")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN tenant A runs more tests than that at once (inside one rate window: not in the last
    // seconds of a minute)
    support::api::within_one_rate_window().await;
    let burst = futures::future::join_all(
        (0..limit + 5).map(|_| api.send(request("POST", &format!("/destinations/{a}/test")))),
    )
    .await;
    // THEN each test either ran (or met the one running) or was refused with 429 and Retry-After,
    // and at most the limit got through
    let limited: Vec<_> = burst.iter().filter(|r| r.status() == 429).collect();
    assert!(
        limited.len() >= 5,
        "{} of {} limited",
        limited.len(),
        burst.len()
    );
    for reply in &limited {
        assert_eq!(reply.problem(), "rate-limited");
        assert!(reply.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    }
    assert!(burst.iter().all(|r| [200, 409, 429].contains(&r.status())));
    // AND tenant B's test runs as usual
    let other = api
        .send(request("POST", &format!("/destinations/{b}/test")).tenant("tenant-b"))
        .await;
    assert_eq!(other.status(), 200, "{}", other.response.body);
}

#[tokio::test]
async fn the_destination_count_is_enforced_in_the_same_write_as_the_create() {
    // GIVEN a platform whose tenants may have 3 destinations
    let mut world = World::new().await;
    world.platform.set_env("MAX_DESTINATIONS_PER_TENANT", "3");
    world.services = Box::pin(dev_support::services::Services::wire(
        &world.platform,
        dev_support::services::quick_check_settings(),
    ))
    .await;
    let api = world.api();
    // WHEN 5 are created at once
    let replies =
        futures::future::join_all((0..5).map(|n| {
            api.send(request("POST", "/destinations").json(bucket_policy(&format!("D{n}"))))
        }))
        .await;
    // THEN exactly 3 exist, and the others were refused
    let created = replies.iter().filter(|r| r.status() == 201).count();
    assert_eq!(created, 3);
    for refused in replies.iter().filter(|r| r.status() != 201) {
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.problem(), "destination-limit-reached");
    }
    let list = api.get("/destinations").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    // AND a delete makes room again
    let first = list["items"][0]["id"].as_str().unwrap().to_owned();
    api.send(request("DELETE", &format!("/destinations/{first}")))
        .await
        .expect(204);
    api.create(bucket_policy("again")).await;
}

#[tokio::test]
async fn concurrent_patches_through_dynamodb_all_apply() {
    let world = World::new().await;
    let api = world.api();
    let id = api
        .create_id(json!({"name": "Lake", "bucket": "acme-exports", "authMode": "iamRole"}))
        .await;
    let changes = [
        json!({"name": "N"}),
        json!({"description": "d"}),
        json!({"folder": "f"}),
        json!({"region": "eu-west-1"}),
    ];
    let replies =
        futures::future::join_all(changes.iter().map(|c| api.patch(&id, c.clone()))).await;
    assert!(
        replies.iter().all(|r| r.status() == 200),
        "{:?}",
        replies.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    let stored = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(
        (
            stored["name"].clone(),
            stored["description"].clone(),
            stored["folder"].clone(),
            stored["region"].clone()
        ),
        (json!("N"), json!("d"), json!("f/"), json!("eu-west-1"))
    );
    assert_eq!(stored["version"], 5);
}

#[tokio::test]
async fn the_test_lock_is_held_while_a_test_runs_and_expires_after_a_crash() {
    use shared::ports::CheckLock;
    let world = World::new().await;
    let api = world.api();
    let id = api.create_id(bucket_policy("Raw")).await;
    let tenant = shared::domain::TenantId::new(support::api::TENANT).unwrap();
    let destination = shared::domain::DestinationId::new(&id).unwrap();
    // GIVEN a test that crashed while holding the lock (taken a minute ago, never released)
    let minute_ago = time::OffsetDateTime::now_utc() - time::Duration::seconds(30);
    assert!(
        world
            .store()
            .try_lock(
                &tenant,
                &destination,
                minute_ago,
                minute_ago + time::Duration::seconds(60)
            )
            .await
            .unwrap()
            .is_some()
    );
    // WHEN another test starts while the lock is live THEN 409
    api.test(&id).await.expect_problem(409, "test-in-progress");
    // AND once it has expired, the handler takes it again
    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(120);
    world.store().unlock(&tenant, &destination).await.unwrap();
    assert!(
        world
            .store()
            .try_lock(
                &tenant,
                &destination,
                past,
                past + time::Duration::seconds(60)
            )
            .await
            .unwrap()
            .is_some()
    );
    api.test(&id).await.expect(200);
}

#[tokio::test]
async fn in_dynamodb_another_tenants_destination_does_not_exist_on_any_route() {
    // GIVEN tenant A's saved-or-not destination in the real table, with its key and idempotency
    let world = World::new().await;
    let api = world.api();
    let created = api
        .send(
            request("POST", "/destinations")
                .header("idempotency-key", "isolation-1")
                .json(bucket_policy("Private")),
        )
        .await
        .expect(201)
        .json();
    let id = created["id"].as_str().unwrap().to_owned();
    // WHEN tenant B tries every tenant route of the table on A's destination
    let mut tried = 0;
    for spec in shared::http::ROUTES {
        let (method, template, function) = (&spec.method, &spec.template, &spec.function);
        if function.authorization() != shared::http::Authorization::Tenant
            || !template.contains("{id}")
        {
            continue;
        }
        let path = template
            .replace("{id}", &id)
            .replace("{deliveryId}", "export-1");
        let mut attempt = request(method, &path).tenant("tenant-b");
        if *method == "PATCH" || template.ends_with("/policies/preview") {
            attempt = attempt.json(json!({"name": "stolen", "bucket": "tenant-b-bucket"}));
        }
        if template.ends_with("/merge") {
            attempt =
                attempt.json(json!({"existingPolicy": {"Version": "2012-10-17", "Statement": []}}));
        }
        // THEN each answer is 404, as for a destination that does not exist
        let reply = api.send(attempt).await;
        assert_eq!(
            reply.status(),
            404,
            "{method} {template}: {}",
            reply.response.body
        );
        assert_eq!(reply.problem(), "not-found", "{method} {template}");
        tried += 1;
    }
    assert!(tried >= 12, "only {tried} routes");
    // AND A's destination is as it was, with only its own history
    let after = api
        .get(&format!("/destinations/{id}"))
        .await
        .expect(200)
        .json();
    assert_eq!(after, created);
    let activity = api
        .get(&format!("/destinations/{id}/activity"))
        .await
        .expect(200)
        .json();
    assert_eq!(activity["items"].as_array().unwrap().len(), 1);
    // AND B's list is empty, and B's use of A's idempotency key creates B's own destination
    let listed = api
        .send(request("GET", "/destinations").tenant("tenant-b"))
        .await
        .expect(200)
        .json();
    assert_eq!(listed["items"], json!([]));
    let own = api
        .send(
            request("POST", "/destinations")
                .tenant("tenant-b")
                .header("idempotency-key", "isolation-1")
                .json(bucket_policy("Private")),
        )
        .await
        .expect(201);
    assert_eq!(own.header("idempotent-replayed"), None);
    assert_ne!(own.json()["id"], created["id"]);
}
