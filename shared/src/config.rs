//! Configuration values shared by the functions, parsed from plain strings (the functions read env).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::domain::{Partition, RoleArn, RoleArnError};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("PLATFORM_PRINCIPAL_ARNS must list at least one role ARN")]
    NoPrincipal,
    #[error("PLATFORM_PRINCIPAL_ARNS: {arn:?} is not a role ARN: {reason}")]
    BadPrincipal { arn: String, reason: RoleArnError },
    #[error("PLATFORM_PRINCIPAL_ARNS: two principals for the {0} partition")]
    DuplicatePartition(Partition),
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The stable platform role that customers trust, one per partition we serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPrincipals(BTreeMap<Partition, RoleArn>);

impl PlatformPrincipals {
    /// Parses a comma-separated list of role ARNs, at most one per partition.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let mut by_partition = BTreeMap::new();
        for arn in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let role = RoleArn::new(arn).map_err(|reason| ConfigError::BadPrincipal {
                arn: arn.to_owned(),
                reason,
            })?;
            let partition = role.partition();
            if by_partition.insert(partition, role).is_some() {
                return Err(ConfigError::DuplicatePartition(partition));
            }
        }
        if by_partition.is_empty() {
            return Err(ConfigError::NoPrincipal);
        }
        Ok(Self(by_partition))
    }

    pub fn for_partition(&self, partition: Partition) -> Option<&RoleArn> {
        self.0.get(&partition)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Partition, &RoleArn)> {
        self.0.iter().map(|(p, r)| (*p, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_principal_per_partition() {
        let principals = PlatformPrincipals::parse(
            "arn:aws:iam::111111111111:role/connector, arn:aws-cn:iam::222222222222:role/connector",
        )
        .unwrap();
        assert_eq!(
            principals
                .for_partition(Partition::AwsCn)
                .unwrap()
                .account()
                .as_str(),
            "222222222222"
        );
        assert!(principals.for_partition(Partition::AwsUsGov).is_none());
        assert_eq!(
            PlatformPrincipals::parse(
                "arn:aws:iam::111111111111:role/a,arn:aws:iam::111111111111:role/b"
            ),
            Err(ConfigError::DuplicatePartition(Partition::Aws))
        );
        assert_eq!(
            PlatformPrincipals::parse(" , "),
            Err(ConfigError::NoPrincipal)
        );
    }
}

/// Settings every function reads at cold start. Only `main.rs` calls [`Env::from_process`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub table_name: String,
    pub platform_principal_arns: String,
    /// The JWT claim that carries the tenant id.
    pub tenant_claim: String,
    /// Path-style S3 addressing for every bucket (local emulators need it; AWS does not).
    pub s3_force_path_style: bool,
}

impl Env {
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing { name })
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            platform_principal_arns: required("PLATFORM_PRINCIPAL_ARNS")?,
            tenant_claim: lookup("TENANT_CLAIM")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "tenant_id".to_owned()),
            s3_force_path_style: lookup("S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true"),
        })
    }
}
