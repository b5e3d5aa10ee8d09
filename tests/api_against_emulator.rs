//! Every API route against the emulator's DynamoDB, through the same handlers the Lambdas run.

use std::sync::Arc;

use serde_json::{Value, json};

use shared::domain::TenantId;
use shared::http::{ApiRequest, ApiResponse, Function, resolve};
use support::api::{at, body, with_json};
use support::events::api_request;
use support::world::World;

async fn call(world: &World, request: ApiRequest) -> ApiResponse {
    match resolve(&request.method, &request.path).map(|r| r.function()) {
        Ok(Function::PoliciesApi) => {
            policies_api::handler::handle(&world.policies_app(), request).await
        }
        _ => destinations_api::handler::handle(&world.destinations_app(), request).await,
    }
}

async fn create(world: &World, body: Value) -> Value {
    let mut request = with_json(api_request("destinations-create-iam-role.json"), body);
    request.headers.retain(|(k, _)| k != "idempotency-key");
    let response = call(world, request).await;
    assert_eq!(response.status, 201, "{}", response.body);
    self::body(&response)
}

#[tokio::test]
async fn lifecycle_of_a_destination_in_dynamodb() {
    let world = World::new().await;
    // Create with an Idempotency-Key (a transaction of two puts), then replay it
    let first = call(&world, api_request("destinations-create-iam-role.json")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let created = body(&first);
    let id = created["id"].as_str().unwrap().to_owned();
    let replay = call(&world, api_request("destinations-create-iam-role.json")).await;
    assert_eq!(body(&replay), created);
    assert_eq!(replay.header_value("idempotent-replayed"), Some("true"));
    let reused = with_json(
        api_request("destinations-create-iam-role.json"),
        json!({"name": "x", "bucket": "abc", "authMode": "bucketPolicy"}),
    );
    assert_eq!(call(&world, reused).await.status, 422);

    // Get returns what was stored, External ID included
    let got = call(&world, at("destinations-get.json", &id)).await;
    assert_eq!(got.status, 200);
    assert_eq!(body(&got), created);

    // Patch with If-Match; a stale ETag is 412
    let patched = call(&world, at("destinations-patch.json", &id)).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        body(&patched)["roleArn"],
        "arn:aws:iam::123456789012:role/AcmeDeliveryRole"
    );
    assert_eq!(
        call(&world, at("destinations-patch.json", &id))
            .await
            .status,
        412
    );

    // Policies are rendered from the stored destination
    let policies = body(&call(&world, at("policies-get.json", &id)).await);
    assert_eq!(policies["externalId"], created["externalId"]);
    assert_eq!(policies["platformPrincipal"], world.platform.principal_arn);

    // Platform facts name the connector role
    let platform = body(&call(&world, api_request("platform-get.json")).await);
    assert_eq!(
        platform["platformPrincipals"][0]["principalArn"],
        world.platform.principal_arn
    );

    // Merge is for bucket-policy destinations only
    assert_eq!(
        call(&world, at("bucket-policy-merge.json", &id))
            .await
            .status,
        409
    );
    let bucket_mode = create(
        &world,
        json!({"name": "bp", "bucket": "acme-raw-events", "authMode": "bucketPolicy"}),
    )
    .await;
    let merged = call(
        &world,
        at(
            "bucket-policy-merge.json",
            bucket_mode["id"].as_str().unwrap(),
        ),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(
        body(&merged)["policy"]["Statement"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Save without a test is refused; delete removes it
    assert_eq!(
        call(&world, at("destinations-save.json", &id)).await.status,
        409
    );
    assert_eq!(
        call(&world, at("destinations-delete.json", &id))
            .await
            .status,
        204
    );
    assert_eq!(
        call(&world, at("destinations-get.json", &id)).await.status,
        404
    );
}

#[tokio::test]
async fn listing_pages_newest_first_through_the_index() {
    let world = World::new().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let d = create(
            &world,
            json!({"name": format!("d{n}"), "bucket": "acme-bucket", "authMode": "bucketPolicy"}),
        )
        .await;
        ids.push(d["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = api_request("destinations-list.json");
        request.query = vec![("limit".into(), "2".into())];
        if let Some(c) = &cursor {
            request.query.push(("cursor".into(), c.clone()));
        }
        let page = body(&call(&world, request).await);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    // A cursor carries a position only; the tenant always comes from the caller, so tenant B
    // replaying A's cursor pages through B's own (empty) listing.
    let mut request = api_request("destinations-list.json");
    request.query = vec![("limit".into(), "2".into())];
    let page = body(&call(&world, request.clone()).await);
    request.query.push((
        "cursor".into(),
        page["nextCursor"].as_str().unwrap().to_owned(),
    ));
    request.tenant = Some(TenantId::new("tenant-b").unwrap());
    let other = call(&world, request).await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(body(&other)["items"], json!([]));
    let mut garbage = api_request("destinations-list.json");
    garbage.query = vec![("cursor".into(), "not-a-cursor".into())];
    assert_eq!(call(&world, garbage).await.status, 400);
}

#[tokio::test]
async fn tenant_b_gets_404_on_every_route_for_tenant_a_destination() {
    let world = World::new().await;
    let created = create(
        &world,
        json!({"name": "A's", "bucket": "acme-bucket", "authMode": "bucketPolicy"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for event in [
        "destinations-get.json",
        "destinations-patch.json",
        "destinations-delete.json",
        "destinations-save.json",
        "policies-get.json",
        "bucket-policy-merge.json",
    ] {
        let mut request = at(event, id);
        request.tenant = Some(TenantId::new("tenant-b").unwrap());
        let response = call(&world, request).await;
        assert_eq!(response.status, 404, "{event}: {}", response.body);
    }
    let still = body(&call(&world, at("destinations-get.json", id)).await);
    assert_eq!(still, created);
}

#[tokio::test]
async fn simultaneous_patches_lose_no_update() {
    let world = Arc::new(World::new().await);
    let created = create(
        &world,
        json!({"name": "shared", "bucket": "acme-bucket", "authMode": "iamRole"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    // GIVEN eight writers, each changing a different field, none sending If-Match
    let patches = [
        json!({"name": "renamed"}),
        json!({"description": "described"}),
        json!({"region": "eu-west-1"}),
        json!({"folder": "moved"}),
        json!({"bucket": "another-bucket"}),
        json!({"roleArn": "arn:aws:iam::123456789012:role/Writer"}),
        json!({"kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}),
        json!({"bucketOwnerAccountId": "123456789012"}),
    ];
    let tasks: Vec<_> = patches
        .into_iter()
        .map(|patch| {
            let world = world.clone();
            let mut request = with_json(at("destinations-patch.json", &id), patch);
            request.headers.retain(|(k, _)| k != "if-match");
            tokio::spawn(async move { call(&world, request).await.status })
        })
        .collect();
    // WHEN they all run at once THEN every one succeeds and every change is there
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let view = body(&call(&world, at("destinations-get.json", &id)).await);
    assert_eq!(view["version"], 9);
    assert_eq!(view["name"], "renamed");
    assert_eq!(view["description"], "described");
    assert_eq!(view["region"], "eu-west-1");
    assert_eq!(view["folder"], "moved/");
    assert_eq!(view["bucket"], "another-bucket");
    assert_eq!(view["roleArn"], "arn:aws:iam::123456789012:role/Writer");
    assert_eq!(view["bucketOwnerAccountId"], "123456789012");
    assert!(view["kmsKeyArn"].as_str().is_some());

    // AND with the same If-Match, exactly one of several writers wins
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            let world = world.clone();
            let mut request = with_json(
                at("destinations-patch.json", &id),
                json!({"name": format!("writer-{n}")}),
            );
            request.headers.retain(|(k, _)| k != "if-match");
            request.headers.push(("if-match".into(), "\"9\"".into()));
            tokio::spawn(async move { call(&world, request).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 412, 412, 412]);
}
