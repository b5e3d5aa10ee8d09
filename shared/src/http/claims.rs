//! Which of a token's claims say who the caller is and what they may do within their tenant.

use super::api::Access;

/// The claim names the stack is configured with (`TENANT_CLAIM`, `WRITE_CLAIM`,
/// `WRITE_CLAIM_VALUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The claim that carries the tenant id.
    pub tenant: String,
    pub write: WritePermission,
}

/// The write permission: `value` among the values of `claim` (a scope, or a group or role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePermission {
    pub claim: String,
    pub value: String,
}

impl Default for TokenClaims {
    fn default() -> Self {
        Self {
            tenant: "tenant_id".to_owned(),
            write: WritePermission::default(),
        }
    }
}

impl Default for WritePermission {
    /// A group the identity provider's administrator puts users in, carried by the ID tokens the
    /// setup page sends (Cognito's `cognito:groups`). Not a scope: the page is a public client,
    /// and a scope is what a client asks for, not what a user was given.
    fn default() -> Self {
        Self {
            claim: "cognito:groups".to_owned(),
            value: "destinations-writers".to_owned(),
        }
    }
}

impl WritePermission {
    /// The access a claim's raw value grants. API Gateway hands claims over as strings: a scope
    /// list is space-separated (`"openid destinations:write"`), a list claim such as
    /// `cognito:groups` arrives flattened (`"[admins destinations-writers]"`), and some issuers
    /// send a JSON array. Only an exact value grants: `destinations:write-all` is not
    /// `destinations:write`.
    pub fn access(&self, raw: Option<&str>) -> Access {
        let Some(raw) = raw else {
            return Access::Read;
        };
        let granted = raw
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(|c: char| c.is_whitespace() || c == ',')
            .map(|value| value.trim_matches('"'))
            .any(|value| value == self.value);
        if granted { Access::Write } else { Access::Read }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(raw: &str) -> Access {
        WritePermission {
            claim: "scope".into(),
            value: "destinations:write".into(),
        }
        .access(Some(raw))
    }

    #[test]
    fn a_scope_list_grants_write_only_with_the_exact_scope() {
        assert_eq!(access("openid destinations:write"), Access::Write);
        assert_eq!(access("destinations:write"), Access::Write);
        assert_eq!(access("openid destinations:read"), Access::Read);
        assert_eq!(access("openid destinations:write-all"), Access::Read);
        assert_eq!(access("xdestinations:write"), Access::Read);
        assert_eq!(access(""), Access::Read);
        assert_eq!(WritePermission::default().access(None), Access::Read);
        assert_eq!(WritePermission::default().access(Some("")), Access::Read);
    }

    #[test]
    fn list_claims_grant_write_however_the_issuer_flattens_them() {
        let groups = WritePermission {
            claim: "cognito:groups".into(),
            value: "destinations-writers".into(),
        };
        for raw in [
            "[admins destinations-writers]",
            "[destinations-writers]",
            r#"["admins","destinations-writers"]"#,
            "admins, destinations-writers",
        ] {
            assert_eq!(groups.access(Some(raw)), Access::Write, "{raw}");
        }
        for raw in ["[admins]", "[destinations-writers-old]", "[]"] {
            assert_eq!(groups.access(Some(raw)), Access::Read, "{raw}");
        }
    }
}
