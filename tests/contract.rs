//! template.yaml, the route table the functions dispatch on, and openapi.yaml describe one API.

use std::collections::BTreeSet;

use serde_json::Value;
use shared::http::ROUTES;
use support::contract::{openapi, repo_file};

fn template_routes() -> BTreeSet<(String, String)> {
    let template: Value =
        serde_norway::from_str::<serde_norway::Value>(&repo_file("template.yaml"))
            .map(|v| serde_json::to_value(strip_tags(v)).unwrap())
            .expect("template.yaml is YAML");
    let mut routes = BTreeSet::new();
    for resource in template["Resources"].as_object().unwrap().values() {
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
                ));
            }
        }
    }
    routes
}

/// CloudFormation's short-form tags (!Ref, !Sub, …) become plain values.
fn strip_tags(value: serde_norway::Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match value {
        Y::Tagged(tagged) => strip_tags(tagged.value),
        Y::Mapping(map) => Y::Mapping(
            map.into_iter()
                .map(|(k, v)| (strip_tags(k), strip_tags(v)))
                .collect(),
        ),
        Y::Sequence(items) => Y::Sequence(items.into_iter().map(strip_tags).collect()),
        other => other,
    }
}

fn code_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
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
fn template_declares_exactly_the_routes_the_code_serves() {
    assert_eq!(template_routes(), code_routes());
}

#[test]
fn every_route_the_template_declares_is_documented() {
    let documented = openapi_routes();
    let missing: Vec<_> = template_routes().difference(&documented).cloned().collect();
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    assert_eq!(
        documented,
        code_routes(),
        "openapi.yaml documents routes nobody serves"
    );
}

#[test]
fn the_document_is_openapi_3_1() {
    assert_eq!(openapi()["openapi"], "3.1.0");
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
}

/// Runs a linter from infra/.venv (infra/test.sh installs them); a missing tool fails the test.
fn run_linter(program: &str, args: &[&str]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(&root)
        .env("AWS_REGION", "us-east-1")
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}); run the tests with infra/test.sh, which installs it"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} reported:\n{report}"
    );
}

#[test]
fn cfn_lint_reports_nothing_on_the_template() {
    run_linter("cfn-lint", &["template.yaml"]);
}

#[test]
fn sam_validate_lint_accepts_the_template() {
    run_linter(
        "sam",
        &[
            "validate",
            "--lint",
            "--template",
            "template.yaml",
            "--region",
            "us-east-1",
        ],
    );
}
