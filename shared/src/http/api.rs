//! Framework-neutral request and response types: handlers see these, never Lambda or hyper types.

use serde::Serialize;

use crate::domain::{Actor, TenantId};

#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// From the authorizer's claims only; `None` means unauthenticated.
    pub tenant: Option<TenantId>,
    /// Who is calling (the JWT's subject; locally a header), for the audit trail.
    pub actor: Option<Actor>,
    /// The platform's own AWS identity that signed the request (the `AWS_IAM` authorizer's caller
    /// ARN; locally a header). Only internal routes read it, and they read no tenant claim.
    pub platform_caller: Option<String>,
    /// What the token lets its holder do within the tenant; without the write permission,
    /// nothing (the fail-closed default).
    pub access: Access,
    pub request_id: String,
}

/// What a tenant's token lets its holder do: readers see everything and change nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    Read,
    Write,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ApiResponse {
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        Self::json_with_type(status, body, "application/json")
    }

    pub fn json_with_type<T: Serialize>(status: u16, body: &T, content_type: &str) -> Self {
        // Our response types are plain structs and maps with string keys: serialisation cannot fail.
        let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
        Self {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
