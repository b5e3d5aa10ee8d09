//! The `setup-page` Lambda: the setup page and its assets, behind no authorizer (the page signs
//! in by itself and calls the API with the token). The library holds the handler and its wiring,
//! so that `main.rs`, the local run and the tests serve the same page.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod assets;
pub mod handler;
pub mod page;

use page::{Oidc, Page, SignIn};
use shared::config::{ConfigError, Settings};

/// Sign-in from `SETUP_PAGE_CLIENT_ID`, `SETUP_PAGE_AUTHORIZATION_URL`, `SETUP_PAGE_TOKEN_URL`
/// and `SETUP_PAGE_SCOPE` (default `openid`). Without a client id the page says that sign-in is
/// not configured.
pub fn wire<F: Fn(&str) -> Option<String>>(settings: &Settings<F>) -> Result<Page, ConfigError> {
    let Some(client_id) = settings
        .optional("SETUP_PAGE_CLIENT_ID")
        .filter(|id| !id.trim().is_empty())
    else {
        return Ok(Page::new(SignIn::Unconfigured));
    };
    let endpoint = |name: &'static str| {
        let url = settings.required(name)?;
        page::origin_of(&url)
            .map(|_| url)
            .ok_or(ConfigError::Invalid {
                name,
                reason: "must be an https:// URL (http:// only for localhost)".to_owned(),
            })
    };
    Ok(Page::new(SignIn::Oidc(Oidc {
        client_id,
        authorization_endpoint: endpoint("SETUP_PAGE_AUTHORIZATION_URL")?,
        token_endpoint: endpoint("SETUP_PAGE_TOKEN_URL")?,
        scope: settings
            .optional("SETUP_PAGE_SCOPE")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "openid".to_owned()),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: std::collections::BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn without_a_client_id_the_page_says_sign_in_is_not_configured() {
        let page = wire(&settings(&[("SETUP_PAGE_CLIENT_ID", "")])).unwrap();
        assert_eq!(page.config(), r#"{"signIn":{"kind":"unconfigured"}}"#);
    }

    #[test]
    fn a_client_id_needs_https_endpoints() {
        let page = wire(&settings(&[
            ("SETUP_PAGE_CLIENT_ID", "abc"),
            (
                "SETUP_PAGE_AUTHORIZATION_URL",
                "https://id.example.com/oauth2/authorize",
            ),
            (
                "SETUP_PAGE_TOKEN_URL",
                "https://id.example.com/oauth2/token",
            ),
        ]))
        .unwrap();
        assert!(page.config().contains(r#""scope":"openid""#));
        let plain_http = wire(&settings(&[
            ("SETUP_PAGE_CLIENT_ID", "abc"),
            (
                "SETUP_PAGE_AUTHORIZATION_URL",
                "https://id.example.com/oauth2/authorize",
            ),
            ("SETUP_PAGE_TOKEN_URL", "http://id.example.com/oauth2/token"),
        ]));
        assert!(matches!(
            plain_http,
            Err(ConfigError::Invalid {
                name: "SETUP_PAGE_TOKEN_URL",
                ..
            })
        ));
        let missing = wire(&settings(&[("SETUP_PAGE_CLIENT_ID", "abc")]));
        assert!(matches!(missing, Err(ConfigError::Missing { .. })));
    }
}
