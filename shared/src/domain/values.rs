//! Small validated values: account and tenant ids, names, descriptions, KMS key ARNs, destination ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::partition::{Partition, Region};

macro_rules! string_newtype {
    ($name:ident, $err:ty) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = $err;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be exactly 12 digits")]
pub struct AccountIdError;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    pub fn new(raw: &str) -> Result<Self, AccountIdError> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AccountIdError)
        }
    }
}
string_newtype!(AccountId, AccountIdError);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("tenant id must be 1 to 128 printable ASCII characters without spaces or '#'")]
pub struct TenantIdError;

/// The customer organisation that owns destinations; comes only from the authorizer's claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// `#` separates the parts of table keys, so it can never appear inside one.
    pub fn new(raw: &str) -> Result<Self, TenantIdError> {
        let ok = (1..=128).contains(&raw.len())
            && raw.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'#');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TenantIdError)
        }
    }
}
string_newtype!(TenantId, TenantIdError);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a destination id")]
pub struct DestinationIdError;

/// 122 random bits (UUID v4 from the OS CSPRNG): unguessable, and free of any tenant information.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DestinationId(String);

impl DestinationId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Accepts only the canonical lowercase hyphenated form, so one destination has one id string.
    pub fn new(raw: &str) -> Result<Self, DestinationIdError> {
        match uuid::Uuid::try_parse(raw) {
            Ok(id) if id.hyphenated().to_string() == raw => Ok(Self(raw.to_owned())),
            _ => Err(DestinationIdError),
        }
    }
}
string_newtype!(DestinationId, DestinationIdError);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DestinationNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 128 characters")]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// What the customer calls the destination; trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DestinationName(String);

impl DestinationName {
    pub fn new(raw: &str) -> Result<Self, DestinationNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(DestinationNameError::Empty);
        }
        if trimmed.chars().count() > 128 {
            return Err(DestinationNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(DestinationNameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }
}
string_newtype!(DestinationName, DestinationNameError);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DescriptionError {
    #[error("must be at most 1024 characters")]
    TooLong,
    #[error("must not contain control characters other than line breaks and tabs")]
    ControlCharacter,
}

/// Free text; line breaks allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Description(String);

impl Description {
    pub fn new(raw: &str) -> Result<Self, DescriptionError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > 1024 {
            return Err(DescriptionError::TooLong);
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(DescriptionError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }
}
string_newtype!(Description, DescriptionError);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")]
pub struct IdempotencyKeyError;

/// The client's name for one create request; a retry with the same key gets the first answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn new(raw: &str) -> Result<Self, IdempotencyKeyError> {
        let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| (0x21..=0x7e).contains(&b));
        ok.then(|| Self(raw.to_owned())).ok_or(IdempotencyKeyError)
    }
}
string_newtype!(IdempotencyKey, IdempotencyKeyError);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "must be a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/<key-id> (aliases cannot be granted in IAM policies)"
)]
pub struct KmsKeyArnError;

/// A KMS key ARN. Alias ARNs are refused: IAM grants on an alias do not cover the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KmsKeyArn {
    raw: String,
    partition: Partition,
    region: Region,
}

impl KmsKeyArn {
    pub fn new(raw: &str) -> Result<Self, KmsKeyArnError> {
        let raw = raw.trim();
        let fields: Vec<&str> = raw.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = fields[..] else {
            return Err(KmsKeyArnError);
        };
        let partition = Partition::parse(partition).ok_or(KmsKeyArnError)?;
        let region = Region::new(region).map_err(|_| KmsKeyArnError)?;
        let key_id = resource.strip_prefix("key/").ok_or(KmsKeyArnError)?;
        let key_ok = (1..=128).contains(&key_id.len())
            && key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if arn != "arn"
            || service != "kms"
            || AccountId::new(account).is_err()
            || !key_ok
            || region.partition() != partition
        {
            return Err(KmsKeyArnError);
        }
        Ok(Self {
            raw: raw.to_owned(),
            partition,
            region,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn partition(&self) -> Partition {
        self.partition
    }
    pub fn region(&self) -> &Region {
        &self.region
    }
    /// The account that owns the key.
    pub fn account(&self) -> AccountId {
        // Validated at construction: the fifth field is an account id.
        self.raw
            .split(':')
            .nth(4)
            .and_then(|a| AccountId::new(a).ok())
            .expect("a parsed key ARN names its account")
    }
}

impl fmt::Display for KmsKeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl TryFrom<String> for KmsKeyArn {
    type Error = KmsKeyArnError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<KmsKeyArn> for String {
    fn from(value: KmsKeyArn) -> Self {
        value.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kms_key_arn_prints_and_serialises_as_written() {
        let raw = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let key = KmsKeyArn::new(raw).unwrap();
        assert_eq!(key.to_string(), raw);
        assert_eq!(serde_json::to_value(&key).unwrap(), raw);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DestinationName::new("  Lake  ").unwrap().as_str(), "Lake");
        assert_eq!(
            DestinationName::new("   "),
            Err(DestinationNameError::Empty)
        );
        assert_eq!(
            DestinationName::new(&"é".repeat(129)),
            Err(DestinationNameError::TooLong)
        );
        assert!(DestinationName::new(&"é".repeat(128)).is_ok());
        assert_eq!(
            DestinationName::new("a\u{7}b"),
            Err(DestinationNameError::ControlCharacter)
        );
    }

    #[test]
    fn descriptions_allow_line_breaks_but_not_other_controls() {
        assert!(Description::new("line one\nline two\tend").is_ok());
        assert_eq!(
            Description::new("a\u{0}"),
            Err(DescriptionError::ControlCharacter)
        );
        assert_eq!(
            Description::new(&"x".repeat(1025)),
            Err(DescriptionError::TooLong)
        );
    }

    #[test]
    fn tenant_ids_cannot_contain_key_separators() {
        assert!(TenantId::new("org_123").is_ok());
        assert!(TenantId::new("a#b").is_err());
        assert!(TenantId::new("a b").is_err());
        assert!(TenantId::new("").is_err());
    }

    #[test]
    fn destination_ids_are_canonical_uuids() {
        let id = DestinationId::generate();
        assert_eq!(DestinationId::new(id.as_str()), Ok(id.clone()));
        assert!(DestinationId::new(&id.as_str().to_uppercase()).is_err());
        assert!(DestinationId::new("../../etc").is_err());
    }

    #[test]
    fn kms_key_arns_must_name_a_key_in_a_matching_partition() {
        let key = KmsKeyArn::new(
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        assert_eq!(key.region().as_str(), "eu-west-1");
        assert!(KmsKeyArn::new("arn:aws:kms:eu-west-1:123456789012:alias/mine").is_err());
        assert!(KmsKeyArn::new("arn:aws-cn:kms:eu-west-1:123456789012:key/abc").is_err());
        assert!(KmsKeyArn::new("arn:aws:kms:eu-west-1:123:key/abc").is_err());
        assert!(KmsKeyArn::new("arn:aws:kms:eu-west-1:123456789012:key/a*").is_err());
    }
}
