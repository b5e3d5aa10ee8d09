//! Request body and header parsing with the error each mistake deserves.

use std::fmt::Display;

use serde_json::{Map, Value};

use super::api::ApiRequest;
use super::problem::{FieldError, Problem, ProblemType};

/// API Gateway allows more, but no request of ours needs over 64 KB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Checks size and media type, then parses a JSON object. An empty body is `{}` only if `allow_empty`.
pub fn json_object(
    request: &ApiRequest,
    media_types: &[&str],
    allow_empty: bool,
) -> Result<Map<String, Value>, Problem> {
    if request.body.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(MAX_BODY_BYTES));
    }
    if request.body.is_empty() && allow_empty {
        return Ok(Map::new());
    }
    let media_type = request.header("content-type").map(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if !media_type
        .as_deref()
        .is_some_and(|m| media_types.contains(&m))
    {
        return Err(Problem::unsupported_media_type(&media_types.join(" or ")));
    }
    let value: Value = serde_json::from_slice(&request.body).map_err(|e| {
        Problem::of(
            ProblemType::MalformedJson,
            format!(
                "The body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ),
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::of(
            ProblemType::MalformedJson,
            "The body must be a JSON object.",
        )),
    }
}

/// Reads fields out of a JSON object, collecting every problem instead of stopping at the first.
pub struct Fields {
    map: Map<String, Value>,
    pub errors: Vec<FieldError>,
}

impl Fields {
    /// `known` fields are accepted; `read_only` ones get a specific message; anything else is unknown.
    pub fn new(map: Map<String, Value>, known: &[&str], read_only: &[(&str, &str)]) -> Self {
        let mut errors = Vec::new();
        for key in map.keys() {
            if let Some((_, why)) = read_only.iter().find(|(name, _)| name == key) {
                errors.push(FieldError::new(key.clone(), why));
            } else if !known.contains(&key.as_str()) {
                errors.push(FieldError::new(key.clone(), "unknown field"));
            }
        }
        Self { map, errors }
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn required_string(&mut self, name: &str) -> Option<String> {
        match self.map.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(_) => {
                self.errors.push(FieldError::new(name, "must be a string"));
                None
            }
        }
    }

    /// Absent or null → `None`.
    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.map.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(FieldError::new(name, "must be a string"));
                None
            }
        }
    }

    /// For patches: absent → `None` (leave alone), null → `Some(None)` (clear), string → `Some(Some)`.
    pub fn nullable_string(&mut self, name: &str) -> Option<Option<String>> {
        match self.map.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be a string or null"));
                None
            }
        }
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// Records a validation failure under `name` and passes a success through.
    pub fn check<T, E: Display>(&mut self, name: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| self.errors.push(FieldError::new(name, e)))
            .ok()
    }

    /// `Ok(())` when nothing was wrong, else the 400 problem listing every field.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}

/// Query parameters: only `allowed` names, and `limit` an integer in `1..=max` (else `default`).
pub fn page_query(
    request: &ApiRequest,
    allowed: &[&str],
    default: u16,
    max: u16,
) -> Result<u16, Problem> {
    let mut errors: Vec<FieldError> = request
        .query
        .iter()
        .filter(|(k, _)| !allowed.contains(&k.as_str()))
        .map(|(k, _)| FieldError::new(k.clone(), "unknown query parameter"))
        .collect();
    let limit = match request.query_param("limit") {
        None => default,
        Some(raw) => match raw.parse::<u16>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {max}"),
                ));
                default
            }
        },
    };
    if errors.is_empty() {
        Ok(limit)
    } else {
        Err(Problem::validation(errors))
    }
}

/// A request that takes no body: whitespace at most.
pub fn no_body(request: &ApiRequest, what: &str) -> Result<(), Problem> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        Err(Problem::field("body", format!("{what} takes no body")))
    }
}

/// `application/x-www-form-urlencoded` query parameters, decoded as API Gateway decodes them.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_decode_like_forms() {
        assert_eq!(
            parse_query("limit=5&cursor=a%2Bb%3D&x=a+b&bad=%zz&y"),
            [
                ("limit", "5"),
                ("cursor", "a+b="),
                ("x", "a b"),
                ("bad", "%zz"),
                ("y", "")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}
