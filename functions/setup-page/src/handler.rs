//! Request → page or asset. Every answer carries the page's Content-Security-Policy, so nothing
//! inline and nothing third-party ever runs.

use shared::http::{ApiRequest, ApiResponse, Problem, finish};

use crate::assets::{ASSETS, Asset, INDEX};
use crate::page::Page;

/// The page's routes, beside the API's `shared::http::ROUTES`: served without an authorizer.
pub const PAGE_ROUTES: &[(&str, &str)] = &[("GET", "/"), ("GET", "/setup/{asset}")];

/// Whether a path is the page's rather than the API's.
pub fn serves(path: &str) -> bool {
    path == "/" || path.starts_with("/setup/")
}

pub fn handle(page: &Page, request: &ApiRequest) -> ApiResponse {
    let result = respond(page, request);
    let response = finish(request, result)
        .header(
            "content-security-policy",
            page.content_security_policy().to_owned(),
        )
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY");
    // The page is small and changes with each deploy: always revalidate.
    if response.header_value("cache-control").is_none() {
        response.header("cache-control", "no-cache")
    } else {
        response
    }
}

fn respond(page: &Page, request: &ApiRequest) -> Result<ApiResponse, Problem> {
    if request.method != "GET" {
        return Err(Problem::method_not_allowed(&["GET"]));
    }
    let path = request.path.as_str();
    if path == "/" {
        return Ok(text(&INDEX));
    }
    let name = path.strip_prefix("/setup/").unwrap_or_default();
    if name == "config.json" {
        return Ok(ApiResponse {
            status: 200,
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("cache-control".to_owned(), "no-store".to_owned()),
            ],
            body: page.config().to_owned(),
        });
    }
    ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .map(text)
        .ok_or_else(|| Problem::not_found(format!("No page at {path}.")))
}

fn text(asset: &Asset) -> ApiResponse {
    ApiResponse {
        status: 200,
        headers: vec![("content-type".to_owned(), asset.content_type.to_owned())],
        body: asset.body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::INDEX;
    use crate::page::SignIn;
    use crate::page::tests::oidc;

    fn get(path: &str) -> ApiRequest {
        ApiRequest {
            method: "GET".into(),
            path: path.into(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn the_page_and_its_assets_are_served_with_their_types_and_the_policy() {
        // GIVEN a page signing in with OIDC
        let page = Page::new(oidc());
        for (path, content_type) in [
            ("/", "text/html; charset=utf-8"),
            ("/setup/app.js", "text/javascript; charset=utf-8"),
            ("/setup/app.css", "text/css; charset=utf-8"),
            ("/setup/icon.svg", "image/svg+xml"),
            ("/setup/config.json", "application/json"),
        ] {
            // WHEN each is asked for
            let response = handle(&page, &get(path));
            // THEN it comes with its type, the CSP and nosniff
            assert_eq!(response.status, 200, "{path}");
            assert_eq!(
                response.header_value("content-type"),
                Some(content_type),
                "{path}"
            );
            assert_eq!(
                response.header_value("content-security-policy"),
                Some(page.content_security_policy())
            );
            assert_eq!(
                response.header_value("x-content-type-options"),
                Some("nosniff")
            );
        }
    }

    #[test]
    fn unknown_assets_and_other_methods_get_problems() {
        let page = Page::new(SignIn::TenantHeader);
        let missing = handle(&page, &get("/setup/../Cargo.toml"));
        assert_eq!(missing.status, 404);
        assert_eq!(
            missing.header_value("content-type"),
            Some("application/problem+json")
        );
        let post = handle(
            &page,
            &ApiRequest {
                method: "POST".into(),
                ..get("/")
            },
        );
        assert_eq!(post.status, 405);
        assert_eq!(post.header_value("allow"), Some("GET"));
    }

    #[test]
    fn config_json_says_how_to_sign_in() {
        let response = handle(&Page::new(oidc()), &get("/setup/config.json"));
        let config: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(config["signIn"]["kind"], "oidc");
        assert_eq!(config["signIn"]["clientId"], "client");
        assert_eq!(
            config["signIn"]["tokenEndpoint"],
            "https://login.example.com/oauth2/token"
        );
        let response = handle(&Page::new(SignIn::TenantHeader), &get("/setup/config.json"));
        assert_eq!(response.body, r#"{"signIn":{"kind":"tenantHeader"}}"#);
        assert_eq!(response.header_value("cache-control"), Some("no-store"));
    }

    #[test]
    fn the_markup_has_no_inline_script_style_or_handler() {
        let html = INDEX.body.to_ascii_lowercase();
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<script type="module" src="/setup/app.js"></script>"#));
        assert!(!html.contains("<style"));
        assert!(!html.contains(" style="));
        assert!(!html.contains(" onclick=") && !html.contains(" onload="));
    }
}
