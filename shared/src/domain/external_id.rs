//! The External ID that a customer's role trust policy must require of us.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// 24 random bytes: 192 bits of entropy, 32 characters of URL-safe base64, all inside STS's alphabet.
const RANDOM_BYTES: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExternalIdError {
    #[error("must be 2 to 1224 characters of letters, digits and +=,.@:/_-")]
    Invalid,
    #[error("the operating system's random source failed: {0}")]
    Entropy(String),
}

/// Generated only by [`ExternalId::generate`]; there is deliberately no way to build one from a
/// caller's input. [`ExternalId::parse`] exists for values this service stored itself.
///
/// `Debug` is redacted so that an External ID never reaches a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalId(String);

impl ExternalId {
    /// A fresh External ID from the OS CSPRNG.
    pub fn generate() -> Result<Self, ExternalIdError> {
        let mut bytes = [0u8; RANDOM_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| ExternalIdError::Entropy(e.to_string()))?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Re-reads a stored value, accepting only what STS accepts.
    pub fn parse(raw: &str) -> Result<Self, ExternalIdError> {
        let legal = (2..=1224).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
        if legal {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ExternalIdError::Invalid)
        }
    }

    /// The value itself, for trust policies, STS calls and the customer's own view only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExternalId(<redacted>)")
    }
}

impl TryFrom<String> for ExternalId {
    type Error = ExternalIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExternalId> for String {
    fn from(value: ExternalId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_ids_are_legal_long_and_distinct() {
        let ids: HashSet<String> = (0..1000)
            .map(|_| ExternalId::generate().unwrap().expose().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(ExternalId::parse(id).is_ok());
        }
    }

    #[test]
    fn parse_enforces_the_sts_alphabet_and_length() {
        assert!(ExternalId::parse("a").is_err());
        assert!(ExternalId::parse("has space").is_err());
        assert!(ExternalId::parse("quote\"").is_err());
        assert!(ExternalId::parse(&"a".repeat(1225)).is_err());
        assert!(ExternalId::parse("MYACCOUNT_SFCRole=2_a123456/s0aBCDEfGHIJklmNoPq=").is_ok());
    }

    #[test]
    fn debug_output_never_contains_the_value() {
        let id = ExternalId::generate().unwrap();
        assert!(!format!("{id:?}").contains(id.expose()));
        // (a log still shows there is one)
        assert_eq!(format!("{id:?}"), "ExternalId(<redacted>)");
    }

    #[test]
    fn an_external_id_serialises_as_its_value_for_the_customers_own_view() {
        let id = ExternalId::generate().unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), id.expose());
    }
}
