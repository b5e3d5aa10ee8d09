//! The page's configuration: how it signs in, and the Content-Security-Policy that follows
//! from it (scripts, styles and connections from this origin only, plus the token endpoint).

use serde::Serialize;

/// How the page identifies its user to the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SignIn {
    /// The local run: a tenant typed on the page, sent as `X-Tenant-Id`.
    TenantHeader,
    /// Deployed: authorization code with PKCE at the stack's issuer; the token goes to the API
    /// as a bearer token.
    Oidc(Oidc),
    /// Deployed without a client id for the page.
    Unconfigured,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Oidc {
    pub client_id: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub scope: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageConfig<'a> {
    sign_in: &'a SignIn,
}

/// The page as configured: its `config.json` and its security policy, computed once.
#[derive(Debug, Clone)]
pub struct Page {
    config: String,
    content_security_policy: String,
}

impl Page {
    pub fn new(sign_in: SignIn) -> Page {
        let token_origin = match &sign_in {
            SignIn::Oidc(oidc) => origin_of(&oidc.token_endpoint),
            _ => None,
        };
        let connect = match token_origin {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_owned(),
        };
        Page {
            config: serde_json::to_string(&PageConfig { sign_in: &sign_in })
                .expect("a config of strings serializes"),
            content_security_policy: format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                 connect-src {connect}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        }
    }

    pub fn content_security_policy(&self) -> &str {
        &self.content_security_policy
    }

    /// `config.json`: what the page's script reads at start.
    pub fn config(&self) -> &str {
        &self.config
    }
}

/// `scheme://host[:port]` of an https URL, or of an http one on a loopback host.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let valid_authority = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    (valid_authority && (scheme == "https" || (scheme == "http" && loopback)))
        .then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A page signing in with an OIDC issuer (the handler's tests use it too).
    pub(crate) fn oidc() -> SignIn {
        SignIn::Oidc(Oidc {
            client_id: "client".into(),
            authorization_endpoint: "https://login.example.com/oauth2/authorize".into(),
            token_endpoint: "https://login.example.com/oauth2/token".into(),
            scope: "openid".into(),
        })
    }

    #[test]
    fn the_policy_allows_no_inline_code_and_no_origin_but_the_token_endpoint() {
        let csp = Page::new(oidc()).content_security_policy().to_owned();
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' https://login.example.com;"),
            "{csp}"
        );
        let local = Page::new(SignIn::TenantHeader);
        assert!(
            local
                .content_security_policy()
                .contains("connect-src 'self';")
        );
    }

    #[test]
    fn only_https_or_loopback_http_endpoints_are_origins() {
        assert_eq!(
            origin_of("https://a.example.com:8443/x").as_deref(),
            Some("https://a.example.com:8443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9000/token").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin_of("http://evil.example.com/token"), None);
        assert_eq!(origin_of("https://user@evil.example.com/"), None);
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("https:///path"), None);
    }
}
