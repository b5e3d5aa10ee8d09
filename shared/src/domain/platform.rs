//! Who the platform is in AWS: the connector customers' roles trust, the writer role whose
//! per-destination sessions bucket policies name, and the accounts that are never a destination.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::{
    AccountId, DestinationId, Partition, PrincipalArn, RoleArn, RoleArnError, RoleSessionName,
};

/// The session name our functions take on the connector role. Fixed, so that a configuration may
/// name the session principal itself (the local emulator matches principals literally).
pub const CONNECTOR_SESSION_NAME: &str = "destinations-connector";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlatformIdentityError {
    #[error("PLATFORM_PRINCIPAL_ARNS must list at least one connector role ARN")]
    NoConnector,
    #[error("{variable}: {arn:?} is not a role (or role session) ARN: {reason}")]
    BadArn {
        variable: &'static str,
        arn: String,
        reason: RoleArnError,
    },
    #[error("{variable}: two ARNs for the {partition} partition")]
    DuplicatePartition {
        variable: &'static str,
        partition: Partition,
    },
    #[error("WRITER_ROLE_ARNS has no writer role for the {0} partition")]
    MissingWriter(Partition),
    #[error("the writer role for {0} is in another account than its connector")]
    WriterAccount(Partition),
    #[error("PLATFORM_ACCOUNT_IDS: {0:?} is not a 12-digit account id")]
    BadAccount(String),
}

/// The platform's identities in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionIdentity {
    /// What role-mode trust policies name. Deployed: the connector role. In the local emulator, the
    /// connector's session ARN, because the emulator matches a role ARN only literally.
    pub connector: PrincipalArn,
    /// The role bucket-policy destinations write as, one session per destination.
    pub writer_role: RoleArn,
}

impl PartitionIdentity {
    /// The role our functions assume to act as the connector, and the session name to use.
    pub fn connector_role(&self) -> (RoleArn, RoleSessionName) {
        let role = RoleArn::new(&format!(
            "arn:{}:iam::{}:role/{}",
            self.connector.partition(),
            self.connector.account(),
            self.connector.role_name()
        ))
        .expect("built from a parsed principal");
        let session = self
            .connector
            .session()
            .and_then(|s| RoleSessionName::new(s).ok())
            .unwrap_or_else(|| {
                RoleSessionName::new(CONNECTOR_SESSION_NAME).expect("a valid constant")
            });
        (role, session)
    }
}

/// Everything the service knows about its own place in AWS; configuration, never customer input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformIdentity {
    partitions: BTreeMap<Partition, PartitionIdentity>,
    accounts: BTreeSet<AccountId>,
    /// The deployment's own partition (its first connector's): where a destination that names no
    /// region, role or key lives.
    home: Partition,
}

impl PlatformIdentity {
    /// `connectors` and `writers` are comma-separated ARNs, one per partition served.
    /// `platform_accounts` lists the accounts that can never be a destination; when absent, the
    /// connectors' accounts.
    pub fn parse(
        connectors: &str,
        writers: &str,
        platform_accounts: Option<&str>,
    ) -> Result<Self, PlatformIdentityError> {
        let home = connectors
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .and_then(|first| PrincipalArn::new(first).ok())
            .map(|first| first.partition_of());
        let connectors = by_partition("PLATFORM_PRINCIPAL_ARNS", connectors, PrincipalArn::new)?;
        let writers = by_partition("WRITER_ROLE_ARNS", writers, RoleArn::new)?;
        if connectors.is_empty() {
            return Err(PlatformIdentityError::NoConnector);
        }
        let mut partitions = BTreeMap::new();
        for (partition, connector) in connectors {
            let writer_role = writers
                .get(&partition)
                .cloned()
                .ok_or(PlatformIdentityError::MissingWriter(partition))?;
            if writer_role.account() != connector.account() {
                return Err(PlatformIdentityError::WriterAccount(partition));
            }
            partitions.insert(
                partition,
                PartitionIdentity {
                    connector,
                    writer_role,
                },
            );
        }
        let accounts = match platform_accounts.filter(|raw| !raw.trim().is_empty()) {
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    AccountId::new(s).map_err(|_| PlatformIdentityError::BadAccount(s.to_owned()))
                })
                .collect::<Result<_, _>>()?,
            None => partitions
                .values()
                .map(|p| p.connector.account().clone())
                .collect(),
        };
        Ok(Self {
            partitions,
            accounts,
            home: home.ok_or(PlatformIdentityError::NoConnector)?,
        })
    }

    /// The deployment's own partition: where its new destinations live unless they name another.
    pub fn home(&self) -> Partition {
        self.home
    }

    pub fn for_partition(&self, partition: Partition) -> Option<&PartitionIdentity> {
        self.partitions.get(&partition)
    }

    pub fn partitions(&self) -> impl Iterator<Item = (Partition, &PartitionIdentity)> {
        self.partitions.iter().map(|(p, i)| (*p, i))
    }

    /// Our own accounts: a destination there would let an identity policy alone grant the write.
    pub fn is_platform_account(&self, account: &AccountId) -> bool {
        self.accounts.contains(account)
    }

    /// The one identity that writes for a bucket-policy destination: the writer role's session
    /// named after the destination. No other destination can take that session name.
    pub fn writer_session(
        &self,
        partition: Partition,
        destination: &DestinationId,
    ) -> Option<PrincipalArn> {
        let identity = self.for_partition(partition)?;
        Some(PrincipalArn::session_of(
            &identity.writer_role,
            &session_name(destination),
        ))
    }
}

/// `destination-<id without hyphens>`: 44 characters, inside STS's 64. Customers see it in their
/// CloudTrail, and a bucket policy naming the writer's session of this name grants this
/// destination alone.
pub fn session_name(destination: &DestinationId) -> RoleSessionName {
    RoleSessionName::new(&format!(
        "destination-{}",
        destination.as_str().replace('-', "")
    ))
    .expect("a UUID without hyphens fits the session-name rules")
}

fn by_partition<T>(
    variable: &'static str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, RoleArnError>,
) -> Result<BTreeMap<Partition, T>, PlatformIdentityError>
where
    T: HasPartition,
{
    let mut map = BTreeMap::new();
    for arn in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = parse(arn).map_err(|reason| PlatformIdentityError::BadArn {
            variable,
            arn: arn.to_owned(),
            reason,
        })?;
        let partition = parsed.partition_of();
        if map.insert(partition, parsed).is_some() {
            return Err(PlatformIdentityError::DuplicatePartition {
                variable,
                partition,
            });
        }
    }
    Ok(map)
}

trait HasPartition {
    fn partition_of(&self) -> Partition;
}
impl HasPartition for PrincipalArn {
    fn partition_of(&self) -> Partition {
        self.partition()
    }
}
impl HasPartition for RoleArn {
    fn partition_of(&self) -> Partition {
        self.partition()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTOR: &str = "arn:aws:iam::111111111111:role/destinations-platform-connector";
    const WRITER: &str = "arn:aws:iam::111111111111:role/destinations-platform-writer";

    #[test]
    fn one_identity_per_partition_and_the_connectors_accounts_by_default() {
        let platform = PlatformIdentity::parse(CONNECTOR, WRITER, None).unwrap();
        let aws = platform.for_partition(Partition::Aws).unwrap();
        assert_eq!(aws.connector.as_str(), CONNECTOR);
        assert!(platform.for_partition(Partition::AwsCn).is_none());
        assert!(platform.is_platform_account(&AccountId::new("111111111111").unwrap()));
        assert!(!platform.is_platform_account(&AccountId::new("222222222222").unwrap()));
    }

    #[test]
    fn configured_platform_accounts_replace_the_default() {
        let platform =
            PlatformIdentity::parse(CONNECTOR, WRITER, Some("333333333333, 444444444444")).unwrap();
        assert!(!platform.is_platform_account(&AccountId::new("111111111111").unwrap()));
        assert!(platform.is_platform_account(&AccountId::new("444444444444").unwrap()));
        assert_eq!(
            PlatformIdentity::parse(CONNECTOR, WRITER, Some("12")),
            Err(PlatformIdentityError::BadAccount("12".into()))
        );
    }

    #[test]
    fn every_connector_needs_a_writer_in_its_account() {
        assert_eq!(
            PlatformIdentity::parse(CONNECTOR, "", None),
            Err(PlatformIdentityError::MissingWriter(Partition::Aws))
        );
        assert_eq!(
            PlatformIdentity::parse(CONNECTOR, "arn:aws:iam::222222222222:role/w", None),
            Err(PlatformIdentityError::WriterAccount(Partition::Aws))
        );
        assert_eq!(
            PlatformIdentity::parse(" , ", WRITER, None),
            Err(PlatformIdentityError::NoConnector)
        );
        assert!(matches!(
            PlatformIdentity::parse(&format!("{CONNECTOR},{CONNECTOR}"), WRITER, None),
            Err(PlatformIdentityError::DuplicatePartition { .. })
        ));
    }

    #[test]
    fn the_connector_role_is_assumed_under_a_fixed_or_configured_session_name() {
        let deployed = PlatformIdentity::parse(CONNECTOR, WRITER, None).unwrap();
        let (role, session) = deployed
            .for_partition(Partition::Aws)
            .unwrap()
            .connector_role();
        assert_eq!(role.as_str(), CONNECTOR);
        assert_eq!(session.as_str(), CONNECTOR_SESSION_NAME);
        let emulated = PlatformIdentity::parse(
            "arn:aws:sts::111111111111:assumed-role/destinations-platform-connector/local",
            WRITER,
            None,
        )
        .unwrap();
        let (role, session) = emulated
            .for_partition(Partition::Aws)
            .unwrap()
            .connector_role();
        assert_eq!(role.as_str(), CONNECTOR);
        assert_eq!(session.as_str(), "local");
    }

    #[test]
    fn each_destination_writes_as_its_own_writer_session() {
        let platform = PlatformIdentity::parse(CONNECTOR, WRITER, None).unwrap();
        let a = DestinationId::generate();
        let b = DestinationId::generate();
        let session_a = platform.writer_session(Partition::Aws, &a).unwrap();
        assert_eq!(
            session_a.as_str(),
            format!(
                "arn:aws:sts::111111111111:assumed-role/destinations-platform-writer/destination-{}",
                a.as_str().replace('-', "")
            )
        );
        assert_ne!(
            session_a,
            platform.writer_session(Partition::Aws, &b).unwrap()
        );
        assert!(platform.writer_session(Partition::AwsCn, &a).is_none());
    }
}
