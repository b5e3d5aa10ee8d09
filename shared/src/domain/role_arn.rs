//! IAM role ARNs as customers paste them back after creating the role.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::partition::Partition;
use super::{AccountId, AccountIdError};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoleArnError {
    #[error("must look like arn:aws:iam::123456789012:role/RoleName")]
    Shape,
    #[error("partition must be aws, aws-cn or aws-us-gov (got {0:?})")]
    Partition(String),
    #[error("account {0}")]
    Account(AccountIdError),
    #[error(
        "role path must start and end with '/' and use printable ASCII, at most 512 characters"
    )]
    Path,
    #[error("role name must be 1 to 64 characters of letters, digits and +=,.@_-")]
    Name,
}

/// `arn:<partition>:iam::<account>:role/<path/><name>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleArn {
    raw: String,
    partition: Partition,
    account: AccountId,
    name_start: usize,
}

impl RoleArn {
    pub fn new(raw: &str) -> Result<Self, RoleArnError> {
        // Customers paste from the console: surrounding whitespace is a copy artefact, not intent.
        let raw = raw.trim();
        let mut fields = raw.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(RoleArnError::Shape);
        };
        let partition =
            Partition::parse(partition).ok_or_else(|| RoleArnError::Partition(partition.into()))?;
        let account = AccountId::new(account).map_err(RoleArnError::Account)?;
        let Some(path_and_name) = resource.strip_prefix("role") else {
            return Err(RoleArnError::Shape);
        };
        if !path_and_name.starts_with('/') {
            return Err(RoleArnError::Shape);
        }
        let last_slash = path_and_name.rfind('/').unwrap_or(0);
        let (path, name) = path_and_name.split_at(last_slash + 1);
        let path_ok = path.len() <= 512 && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !path_ok {
            return Err(RoleArnError::Path);
        }
        if !is_iam_name(name, 64) {
            return Err(RoleArnError::Name);
        }
        let name_start = raw.len() - name.len();
        Ok(Self {
            raw: raw.to_owned(),
            partition,
            account,
            name_start,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn partition(&self) -> Partition {
        self.partition
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn name(&self) -> &str {
        &self.raw[self.name_start..]
    }
}

/// IAM user/role names: `[\w+=,.@-]{1,max}`.
pub(crate) fn is_iam_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl TryFrom<String> for RoleArn {
    type Error = RoleArnError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<RoleArn> for String {
    fn from(value: RoleArn) -> Self {
        value.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_partition_account_path_and_name() {
        let arn = RoleArn::new("arn:aws-us-gov:iam::123456789012:role/team/data/Writer+1").unwrap();
        assert_eq!(arn.partition(), Partition::AwsUsGov);
        assert_eq!(arn.account().as_str(), "123456789012");
        assert_eq!(arn.name(), "Writer+1");

        let plain = RoleArn::new("  arn:aws:iam::000000000001:role/r \n").unwrap();
        assert_eq!(plain.name(), "r");
        assert_eq!(plain.as_str(), "arn:aws:iam::000000000001:role/r");
    }

    #[test]
    fn rejects_what_is_not_a_role_arn() {
        use RoleArnError::*;
        let cases: &[(&str, RoleArnError)] = &[
            ("role/x", Shape),
            ("arn:aws:iam::123456789012:user/x", Shape),
            ("arn:aws:s3:::bucket", Shape),
            ("arn:aws:iam:us-east-1:123456789012:role/x", Shape),
            ("arn:aws:iam::123456789012:roles/x", Shape),
            (
                "arn:azure:iam::123456789012:role/x",
                Partition("azure".into()),
            ),
            ("arn:aws:iam::123456789012:role/", Name),
            ("arn:aws:iam::123456789012:role/a b", Name),
            (
                &format!("arn:aws:iam::123456789012:role/{}", "n".repeat(65)),
                Name,
            ),
            ("arn:aws:iam::123456789012:role/pa th/x", Path),
        ];
        for (raw, expected) in cases {
            assert_eq!(RoleArn::new(raw).as_ref().err(), Some(expected), "{raw}");
        }
        assert!(matches!(
            RoleArn::new("arn:aws:iam::12345:role/x"),
            Err(RoleArnError::Account(_))
        ));
    }

    #[test]
    fn a_role_arn_prints_and_serialises_as_written() {
        let raw = "arn:aws:iam::123456789012:role/team/Writer";
        let role = RoleArn::new(raw).unwrap();
        assert_eq!(role.to_string(), raw);
        assert_eq!(serde_json::to_value(&role).unwrap(), raw);
    }

    #[test]
    fn a_session_is_one_principal_whether_named_through_its_roles_path_or_not() {
        // GIVEN a session derived from a role with a path, and the same session as configured
        let with_path = RoleArn::new("arn:aws:iam::123456789012:role/team/writer").unwrap();
        let session = RoleSessionName::new("destination-1").unwrap();
        let derived = PrincipalArn::session_of(&with_path, &session);
        let raw = "arn:aws:sts::123456789012:assumed-role/writer/destination-1";
        // THEN they are the same principal, printed as STS names it; another session is not
        assert_eq!(derived, PrincipalArn::new(raw).unwrap());
        assert_eq!(derived.to_string(), raw);
        let other = "arn:aws:sts::123456789012:assumed-role/writer/destination-2";
        assert_ne!(derived, PrincipalArn::new(other).unwrap());
    }
}

/// A principal of the platform, as configuration names it (never customer input): an IAM role, or an
/// assumed-role session of one (`arn:<p>:sts::<account>:assumed-role/<role>/<session>`), which AWS
/// lets trust and resource policies name to tie a grant to one session name.
#[derive(Debug, Clone)]
pub struct PrincipalArn {
    raw: String,
    /// The role itself, or the role whose session this is.
    role: RoleArn,
    session: Option<String>,
}

impl PrincipalArn {
    pub fn new(raw: &str) -> Result<Self, RoleArnError> {
        let raw = raw.trim();
        if let Some((head, tail)) = raw.split_once(":assumed-role/") {
            let (role_name, session) = tail.split_once('/').ok_or(RoleArnError::Shape)?;
            let as_role = format!("{}:role/{role_name}", head.replacen(":sts:", ":iam:", 1));
            let role = RoleArn::new(&as_role)?;
            if !head.contains(":sts:") || !RoleSessionName::is_valid(session) {
                return Err(RoleArnError::Shape);
            }
            return Ok(Self {
                raw: raw.to_owned(),
                role,
                session: Some(session.to_owned()),
            });
        }
        Ok(Self {
            raw: raw.to_owned(),
            role: RoleArn::new(raw)?,
            session: None,
        })
    }

    /// The session principal of `role` named `session`, as STS reports it (role paths are not part
    /// of it).
    pub fn session_of(role: &RoleArn, session: &RoleSessionName) -> Self {
        Self {
            raw: format!(
                "arn:{}:sts::{}:assumed-role/{}/{}",
                role.partition(),
                role.account(),
                role.name(),
                session
            ),
            role: role.clone(),
            session: Some(session.as_str().to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn partition(&self) -> Partition {
        self.role.partition()
    }
    pub fn account(&self) -> &AccountId {
        self.role.account()
    }
    pub fn role_name(&self) -> &str {
        self.role.name()
    }
    /// The session name when this names one session of a role.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
}

// A principal is its ARN: a session named through a role with a path is the same session.
impl PartialEq for PrincipalArn {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for PrincipalArn {}

impl fmt::Display for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a role session name is 2 to 64 characters of letters, digits and +=,.@_-")]
pub struct RoleSessionNameError;

/// What AssumeRole records as the session name: `[\w+=,.@-]{2,64}`. Resource policies can name a
/// session, so for us it is an identity, not a label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleSessionName(String);

impl RoleSessionName {
    pub fn new(raw: &str) -> Result<Self, RoleSessionNameError> {
        if Self::is_valid(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(RoleSessionNameError)
        }
    }

    fn is_valid(raw: &str) -> bool {
        raw.len() >= 2 && is_iam_name(raw, 64)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleSessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod principal_tests {
    use super::*;

    #[test]
    fn platform_principals_are_roles_or_role_sessions() {
        let role = PrincipalArn::new("arn:aws:iam::123456789012:role/connector").unwrap();
        assert_eq!(role.role_name(), "connector");
        assert_eq!(role.session(), None);
        let session =
            PrincipalArn::new("arn:aws-cn:sts::123456789012:assumed-role/connector/s-1").unwrap();
        assert_eq!(session.partition(), Partition::AwsCn);
        assert_eq!(session.role_name(), "connector");
        assert_eq!(session.session(), Some("s-1"));
        for bad in [
            "arn:aws:iam::123456789012:group/connector",
            "arn:aws:iam::123456789012:user/connector",
            "arn:aws:sts::123456789012:assumed-role/connector",
            "arn:aws:iam::123456789012:assumed-role/connector/s",
            "arn:aws:sts::123456789012:assumed-role/connector/x",
            "arn:aws:sts::123456789012:assumed-role/connector/a b",
        ] {
            assert!(PrincipalArn::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_session_principal_leaves_out_the_role_path() {
        let role = RoleArn::new("arn:aws:iam::123456789012:role/team/writer").unwrap();
        let session = RoleSessionName::new("destination-abc").unwrap();
        assert_eq!(
            PrincipalArn::session_of(&role, &session).as_str(),
            "arn:aws:sts::123456789012:assumed-role/writer/destination-abc"
        );
    }

    #[test]
    fn session_names_follow_sts_rules() {
        assert!(RoleSessionName::new("ab").is_ok());
        assert!(RoleSessionName::new(&"a".repeat(64)).is_ok());
        assert!(RoleSessionName::new("a").is_err());
        assert!(RoleSessionName::new(&"a".repeat(65)).is_err());
        assert!(RoleSessionName::new("a:b").is_err());
    }
}
