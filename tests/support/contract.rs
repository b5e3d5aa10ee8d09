//! The OpenAPI document (openapi.yaml) as a test oracle: responses are validated against its schemas.

use std::sync::OnceLock;

use serde_json::Value;
use shared::http::{ApiResponse, ROUTES, RouteSpec};

pub use dev_support::template::repo_file;

/// openapi.yaml as JSON.
pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_norway::from_str(&repo_file("openapi.yaml")).expect("openapi.yaml is valid YAML")
    })
}

/// The table's row for a request, for reading openapi.yaml by template (the router's own tests
/// prove every row reachable through it).
pub fn route_spec(method: &str, path: &str) -> Option<&'static RouteSpec> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    ROUTES.iter().find(|spec| {
        let parts: Vec<&str> = spec.template.split('/').skip(1).collect();
        spec.method == method
            && parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part.starts_with('{') || part == segment)
    })
}

fn route_template(method: &str, path: &str) -> Option<&'static str> {
    route_spec(method, path).map(|spec| spec.template)
}

fn pointer_escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointer of the schema documenting `status` for this request, following `$ref`s to
/// shared responses.
fn response_schema_pointer(method: &str, path: &str, status: u16, content_type: &str) -> String {
    let doc = openapi();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let (mut pointer, mut response) = match route_template(method, path) {
        Some(template) => {
            let base = format!(
                "/paths/{}/{}/responses",
                pointer_escape(template),
                method.to_ascii_lowercase()
            );
            let responses = doc
                .pointer(&base)
                .unwrap_or_else(|| panic!("openapi.yaml has no {method} {template}"));
            let key = if responses.get(status.to_string()).is_some() {
                status.to_string()
            } else {
                "default".to_owned()
            };
            let response = responses.get(&key).unwrap_or_else(|| {
                panic!("openapi.yaml documents no {status} for {method} {template}")
            });
            (format!("{base}/{key}"), response)
        }
        // No route: the $default fallback answers 404/405 problems.
        None => {
            let key = if status == 405 {
                "MethodNotAllowed"
            } else {
                "NotFound"
            };
            let pointer = format!("/components/responses/{key}");
            (
                pointer.clone(),
                doc.pointer(&pointer)
                    .unwrap_or_else(|| panic!("openapi.yaml has no {pointer}")),
            )
        }
    };
    while let Some(reference) = response.get("$ref").and_then(Value::as_str) {
        pointer = reference.trim_start_matches('#').to_owned();
        response = doc
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    assert!(
        response
            .pointer(&format!("/content/{}", pointer_escape(media)))
            .is_some(),
        "openapi.yaml documents no {media} body at {pointer}"
    );
    format!("{pointer}/content/{}/schema", pointer_escape(media))
}

/// One compiled validator per documented schema, shared by every test of the binary.
fn validator(pointer: &str) -> std::sync::Arc<jsonschema::Validator> {
    static CACHE: OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
    > = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().expect("cache").get(pointer) {
        return found.clone();
    }
    let mut root = openapi().clone();
    // A URI fragment cannot hold `{` or `}` (from path templates) unescaped.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = Value::String(format!("#{fragment}"));
    let compiled = std::sync::Arc::new(
        jsonschema::draft202012::new(&root).expect("openapi.yaml schemas compile"),
    );
    cache
        .lock()
        .expect("cache")
        .insert(pointer.to_owned(), compiled.clone());
    compiled
}

/// Panics unless `response` matches what openapi.yaml documents for this request: the status is
/// documented, the content type is the documented one, and the body validates against its schema.
pub fn assert_documented(method: &str, path: &str, response: &ApiResponse) {
    if response.body.is_empty() {
        assert_documented_empty(method, path, response.status);
        return;
    }
    let content_type = response
        .header_value("content-type")
        .unwrap_or_else(|| panic!("{method} {path} answered a body without a content type"));
    let pointer = response_schema_pointer(method, path, response.status, content_type);
    let validator = validator(&pointer);
    let body: Value = serde_json::from_str(&response.body).expect("JSON body");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} → {} does not match openapi.yaml:\n{}\n{}",
        response.status,
        errors.join("\n"),
        response.body
    );
}

/// A response without a body must be documented without content.
fn assert_documented_empty(method: &str, path: &str, status: u16) {
    let template = route_template(method, path)
        .unwrap_or_else(|| panic!("{method} {path} answered {status} without a body"));
    let pointer = format!(
        "/paths/{}/{}/responses/{status}",
        pointer_escape(template),
        method.to_ascii_lowercase()
    );
    let response = openapi()
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("openapi.yaml documents no {status} for {method} {template}"));
    assert!(
        response.get("content").is_none(),
        "{method} {template} answered {status} without the body openapi.yaml documents"
    );
}

/// The problem type slugs openapi.yaml documents.
pub fn documented_problem_slugs() -> Vec<String> {
    openapi()["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .expect("Problem.type is an enum of /problems/<slug>")
        .iter()
        .map(|v| {
            v.as_str()
                .expect("a string")
                .trim_start_matches("/problems/")
                .to_owned()
        })
        .collect()
}
