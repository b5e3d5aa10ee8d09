//! Who the caller is, and what they may do: identity comes from the authorizer only (never a
//! header), and a token without the write permission reads everything and changes nothing, on
//! every route openapi.yaml lists.

use serde_json::{Value, json};
use shared::http::{Access, TokenClaims, WritePermission};
use shared::testing::memory::{InMemoryStore, ScriptedWriter};
use support::api::{RequestExt, request};
use support::memory::MemoryWorld;

fn world() -> MemoryWorld {
    MemoryWorld::new(InMemoryStore::new(), ScriptedWriter::permissive())
}

fn draft_body() -> Value {
    json!({"name": "Lake", "bucket": "acme-exports", "folder": "platform", "authMode": "iamRole"})
}

/// Every `(method, path template)` openapi.yaml documents for tenants (not `/internal`).
fn tenant_routes() -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in support::contract::openapi()["paths"].as_object().unwrap() {
        if path.starts_with("/internal/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                routes.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Whether the code's route table says the route changes anything (or acts for the tenant).
fn changes_state(method: &str, template: &str) -> bool {
    shared::http::ROUTES
        .iter()
        .find(|r| r.method == method && r.template == template)
        .unwrap_or_else(|| panic!("{method} {template} is in openapi.yaml, not in the code"))
        .changes_state
}

/// A body a writer could send on the route (what it contains does not matter to a reader).
fn body_for(method: &str, template: &str) -> Option<Value> {
    match (method, template) {
        ("POST", "/destinations") => Some(draft_body()),
        ("PATCH", _) => Some(json!({"name": "Renamed"})),
        ("POST", "/destinations/{id}/policies/preview") => Some(json!({"folder": "elsewhere"})),
        ("POST", "/destinations/{id}/bucket-policy/merge") => {
            Some(json!({"existingPolicy": {"Version": "2012-10-17", "Statement": []}}))
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_reader_is_refused_every_change_and_changes_nothing() {
    let world = world();
    let api = world.api();
    let routes = tenant_routes();
    let mutating: Vec<_> = routes.iter().filter(|(m, t)| changes_state(m, t)).collect();
    // openapi.yaml lists every mutating tenant route of the code's table.
    let in_code = shared::http::ROUTES
        .iter()
        .filter(|r| {
            r.changes_state && r.function.authorization() == shared::http::Authorization::Tenant
        })
        .count();
    assert_eq!(mutating.len(), in_code, "{mutating:?}");
    for (method, template) in mutating {
        // GIVEN a destination of the tenant
        let id = api.create_id(draft_body()).await;
        let path = template
            .replace("{id}", &id)
            .replace("{deliveryId}", "export-1");
        let before = api.get(&format!("/destinations/{id}")).await.expect(200);
        let calls_before = world.writer.assume_calls().len();
        let listed_before = api.get("/destinations").await.expect(200).json()["items"]
            .as_array()
            .unwrap()
            .len();
        let send = |reader: bool| {
            let mut r = request(method, &path);
            if let Some(body) = body_for(method, template) {
                r = r.json(body);
            }
            if reader { r.reader() } else { r }
        };
        // WHEN a reader of the same tenant sends the change
        let refused = api.send(send(true)).await;
        // THEN it is refused as read-only, and nothing was stored or tried
        assert_eq!(refused.status(), 403, "{method} {template}");
        assert_eq!(refused.problem(), "read-only", "{method} {template}");
        let after = api.get(&format!("/destinations/{id}")).await.expect(200);
        assert_eq!(
            after.header("etag"),
            before.header("etag"),
            "{method} {template}"
        );
        assert_eq!(
            api.get("/destinations").await.expect(200).json()["items"]
                .as_array()
                .unwrap()
                .len(),
            listed_before,
            "{method} {template}"
        );
        let activity = api
            .get(&format!("/destinations/{id}/activity"))
            .await
            .expect(200)
            .json();
        assert_eq!(
            activity["items"].as_array().unwrap().len(),
            1,
            "{method} {template}"
        );
        assert_eq!(
            world.writer.assume_calls().len(),
            calls_before,
            "{method} {template}"
        );
        // AND the same request with the write permission is not refused for it
        let allowed = api.send(send(false)).await;
        assert!(
            ![401, 403].contains(&allowed.status()),
            "{method} {template}: {}",
            allowed.response.body
        );
    }
}

#[tokio::test]
async fn a_reader_sees_everything_a_writer_sees() {
    let world = world();
    let api = world.api();
    let id = api.create_id(draft_body()).await;
    let reads: Vec<_> = tenant_routes()
        .into_iter()
        .filter(|(m, t)| !changes_state(m, t))
        .collect();
    assert!(reads.iter().any(|(m, _)| m == "POST"), "{reads:?}");
    for (method, template) in &reads {
        let path = template
            .replace("{id}", &id)
            .replace("{deliveryId}", "export-1");
        let send = |reader: bool| {
            let mut r = request(method, &path);
            if let Some(body) = body_for(method, template) {
                r = r.json(body);
            }
            if reader { r.reader() } else { r }
        };
        let as_reader = api.send(send(true)).await;
        let as_writer = api.send(send(false)).await;
        assert_eq!(as_reader.status(), as_writer.status(), "{template}");

        assert_ne!(as_reader.status(), 403, "{template}");
    }
}

#[tokio::test]
async fn get_me_says_what_the_token_may_do() {
    let world = world();
    let api = world.api();
    let writer = api.get("/me").await.expect(200);
    assert_eq!(
        writer.json(),
        json!({"tenantId": "tenant-a", "actor": "user:user-1", "canWrite": true})
    );
    assert_eq!(writer.header("cache-control"), Some("no-store"));
    let reader = api.send(request("GET", "/me").reader()).await.expect(200);
    assert_eq!(reader.json()["canWrite"], false);
}

/// The sample Save event with its claims replaced.
fn save_event_with(claims: Value) -> lambda_http::Request {
    let mut event: Value =
        serde_json::from_str(&dev_support::events::raw("destinations-save.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[test]
fn the_write_permission_comes_from_the_configured_claim_only() {
    use shared::http::lambda::from_lambda;
    let defaults = TokenClaims::default();
    // GIVEN the template's defaults: the group `destinations-writers` in `cognito:groups`, as
    // API Gateway flattens a list claim
    let member = save_event_with(
        json!({"sub": "u", "tenant_id": "tenant-a", "cognito:groups": "[admins destinations-writers]"}),
    );
    assert_eq!(from_lambda(member, &defaults).access, Access::Write);
    // A token without it, with it only as a scope (which a public client may ask for), in
    // another claim, or only in a header, is a reader.
    for claims in [
        json!({"sub": "u", "tenant_id": "tenant-a", "cognito:groups": "[analysts]"}),
        json!({"sub": "u", "tenant_id": "tenant-a", "scope": "openid destinations-writers"}),
        json!({"sub": "u", "tenant_id": "tenant-a", "roles": "destinations-writers"}),
        json!({"sub": "u", "tenant_id": "tenant-a"}),
    ] {
        let reader = save_event_with(claims.clone());
        assert_eq!(
            from_lambda(reader, &defaults).access,
            Access::Read,
            "{claims}"
        );
    }
    let mut event: Value =
        serde_json::from_str(&dev_support::events::raw("destinations-save.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"] =
        json!({"sub": "u", "tenant_id": "tenant-a"});
    event["headers"]["groups"] = json!("destinations-writers");
    event["headers"]["x-groups"] = json!("destinations-writers");
    let header_only = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(from_lambda(header_only, &defaults).access, Access::Read);
    // GIVEN a stack configured with a scope instead (for its own confidential clients)
    let scoped = TokenClaims {
        write: WritePermission {
            claim: "scope".into(),
            value: "destinations:write".into(),
        },
        ..TokenClaims::default()
    };
    let with_scope = save_event_with(
        json!({"sub": "u", "tenant_id": "tenant-a", "scope": "openid destinations:write"}),
    );
    assert_eq!(from_lambda(with_scope, &scoped).access, Access::Write);
    let group_only = save_event_with(
        json!({"sub": "u", "tenant_id": "tenant-a", "cognito:groups": "[destinations-writers]"}),
    );
    assert_eq!(from_lambda(group_only, &scoped).access, Access::Read);
}

#[test]
fn in_the_deployed_path_no_header_sets_the_tenant_the_actor_or_the_permission() {
    use shared::http::lambda::from_lambda;
    // GIVEN a reader's token of tenant-a, and headers that claim everything else
    let mut event: Value =
        serde_json::from_str(&dev_support::events::raw("destinations-save.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"] =
        json!({"sub": "user-42", "tenant_id": "tenant-a", "cognito:groups": "[analysts]"});
    for (name, value) in [
        ("x-tenant-id", "tenant-b"),
        ("x-actor", "admin"),
        ("x-groups", "[destinations-writers]"),
        ("groups", "[destinations-writers]"),
        (
            "x-platform-caller",
            "arn:aws:iam::111111111111:role/exporter",
        ),
        ("tenant_id", "tenant-b"),
    ] {
        event["headers"][name] = json!(value);
    }
    // WHEN API Gateway hands it to a function
    let request = from_lambda(
        lambda_http::request::from_str(&event.to_string()).unwrap(),
        &TokenClaims::default(),
    );
    // THEN only the authorizer's claims count
    assert_eq!(
        request.tenant.as_ref().map(|t| t.as_str()),
        Some("tenant-a")
    );
    assert_eq!(
        request.actor.as_ref().map(|a| a.as_str()),
        Some("user:user-42")
    );
    assert_eq!(request.access, Access::Read);
    assert_eq!(request.platform_caller, None);
    // AND without an authorizer, headers make nobody anybody
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let anonymous = from_lambda(
        lambda_http::request::from_str(&event.to_string()).unwrap(),
        &TokenClaims::default(),
    );
    assert_eq!(anonymous.tenant, None);
    assert_eq!(anonymous.actor, None);
    assert_eq!(anonymous.access, Access::Read);
}

#[tokio::test]
async fn a_response_reaches_api_gateway_as_the_handler_made_it() {
    use lambda_http::Body;
    use shared::http::ApiResponse;
    // As the runtime converts what the router answers.
    let for_gateway = |response: ApiResponse| {
        lambda_http::IntoResponse::into_response(axum::response::IntoResponse::into_response(
            response,
        ))
    };
    // GIVEN a created destination's answer, a problem and an empty one
    let created = ApiResponse::json(201, &json!({"id": "d-1"}))
        .header("etag", "\"1\"")
        .header("location", "/destinations/d-1");
    let problem = shared::http::Problem::destination_not_found().into_response();
    // WHEN the router hands them to the runtime, which converts them for API Gateway
    let converted = for_gateway(created).await;
    // THEN status, every header and the body are as made, the body as text
    assert_eq!(converted.status(), 201);
    let header = |name: &str| converted.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("etag"), "\"1\"");
    assert_eq!(header("location"), "/destinations/d-1");
    match converted.body() {
        Body::Text(text) => assert_eq!(text, r#"{"id":"d-1"}"#),
        other => panic!("{other:?}"),
    }
    let problem = for_gateway(problem).await;
    assert_eq!(problem.status(), 404);
    assert!(
        matches!(problem.body(), Body::Text(text) if text.contains("/problems/not-found")),
        "a problem+json body is text: {:?}",
        problem.body()
    );
    let empty = for_gateway(ApiResponse::no_content()).await;
    assert_eq!(empty.status(), 204);
    assert!(empty.body().is_empty(), "{:?}", empty.body());
}
