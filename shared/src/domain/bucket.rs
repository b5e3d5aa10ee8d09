//! S3 general-purpose bucket names, validated against every naming rule AWS enforces.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a string is not a valid general-purpose bucket name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BucketNameError {
    #[error("must be 3 to 63 characters long (got {0})")]
    Length(usize),
    #[error("may contain only lowercase letters, digits, '.' and '-' (found {0:?})")]
    Character(char),
    #[error("must begin and end with a lowercase letter or digit")]
    Edge,
    #[error("must not contain two adjacent periods")]
    AdjacentPeriods,
    #[error("must not be formatted as an IP address")]
    IpAddress,
    #[error("must not start with the reserved prefix {0:?}")]
    ReservedPrefix(&'static str),
    #[error("must not end with the reserved suffix {0:?}")]
    ReservedSuffix(&'static str),
}

const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: [&str; 4] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3"];

/// A general-purpose S3 bucket name (not a directory bucket, access point or alias).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BucketName(String);

impl BucketName {
    pub fn new(raw: &str) -> Result<Self, BucketNameError> {
        let len = raw.chars().count();
        if !(3..=63).contains(&len) {
            return Err(BucketNameError::Length(len));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
        {
            return Err(BucketNameError::Character(bad));
        }
        let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let bytes = raw.as_bytes();
        if !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
            return Err(BucketNameError::Edge);
        }
        if raw.contains("..") {
            return Err(BucketNameError::AdjacentPeriods);
        }
        if looks_like_ipv4(raw) {
            return Err(BucketNameError::IpAddress);
        }
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| raw.starts_with(*p)) {
            return Err(BucketNameError::ReservedPrefix(prefix));
        }
        if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| raw.ends_with(*s)) {
            return Err(BucketNameError::ReservedSuffix(suffix));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Dotted names break virtual-hosted TLS (wildcard certificates cover one label only),
    /// so clients must address them path-style.
    pub fn needs_path_style(&self) -> bool {
        self.0.contains('.')
    }
}

/// Four dot-separated groups of 1–3 digits: S3 rejects these whatever the values, so we do too.
fn looks_like_ipv4(raw: &str) -> bool {
    let parts: Vec<&str> = raw.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BucketName {
    type Error = BucketNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<BucketName> for String {
    fn from(value: BucketName) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "abc",
            "my-bucket",
            "logs.example.com",
            "a1b2c3",
            &"a".repeat(63),
        ] {
            assert!(BucketName::new(name).is_ok(), "{name} should be valid");
        }
    }

    #[test]
    fn rejects_each_rule_with_its_own_error() {
        use BucketNameError::*;
        let cases: &[(&str, BucketNameError)] = &[
            ("ab", Length(2)),
            (&"a".repeat(64), Length(64)),
            ("My-bucket", Character('M')),
            ("my_bucket", Character('_')),
            ("my bucket", Character(' ')),
            ("-bucket", Edge),
            ("bucket-", Edge),
            (".bucket", Edge),
            ("my..bucket", AdjacentPeriods),
            ("192.168.5.4", IpAddress),
            ("xn--bucket", ReservedPrefix("xn--")),
            ("sthree-bucket", ReservedPrefix("sthree-")),
            ("sthree-configurator", ReservedPrefix("sthree-")),
            ("amzn-s3-demo-bucket", ReservedPrefix("amzn-s3-demo-")),
            ("bucket-s3alias", ReservedSuffix("-s3alias")),
            ("bucket--ol-s3", ReservedSuffix("--ol-s3")),
            ("bucket.mrap", ReservedSuffix(".mrap")),
            ("bucket--x-s3", ReservedSuffix("--x-s3")),
        ];
        for (name, expected) in cases {
            assert_eq!(
                BucketName::new(name).as_ref().err(),
                Some(expected),
                "{name}"
            );
        }
    }

    #[test]
    fn digits_with_dots_that_are_not_four_groups_are_allowed() {
        assert!(BucketName::new("1.2.3").is_ok());
        assert!(BucketName::new("1.2.3.4.5").is_ok());
        assert!(BucketName::new("1234.2.3.4").is_ok());
    }

    #[test]
    fn dotted_names_need_path_style() {
        assert!(BucketName::new("a.b.c").unwrap().needs_path_style());
        assert!(!BucketName::new("abc").unwrap().needs_path_style());
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<BucketName>("\"UPPER\"").is_err());
        assert_eq!(
            serde_json::from_str::<BucketName>("\"ok-bucket\"")
                .unwrap()
                .as_str(),
            "ok-bucket"
        );
    }
}
