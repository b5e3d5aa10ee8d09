//! Configuration values shared by the functions, parsed from plain strings (the functions read env).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::domain::{Partition, PrincipalArn, RoleArnError};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("PLATFORM_PRINCIPAL_ARNS must list at least one role ARN")]
    NoPrincipal,
    #[error("PLATFORM_PRINCIPAL_ARNS: {arn:?} is not an IAM role or user ARN: {reason}")]
    BadPrincipal { arn: String, reason: RoleArnError },
    #[error("PLATFORM_PRINCIPAL_ARNS: two principals for the {0} partition")]
    DuplicatePartition(Partition),
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The stable platform principal that customers trust, one per partition we serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPrincipals(BTreeMap<Partition, PrincipalArn>);

impl PlatformPrincipals {
    /// Parses a comma-separated list of role (or user) ARNs, at most one per partition.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let mut by_partition = BTreeMap::new();
        for arn in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let role = PrincipalArn::new(arn).map_err(|reason| ConfigError::BadPrincipal {
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

    pub fn for_partition(&self, partition: Partition) -> Option<&PrincipalArn> {
        self.0.get(&partition)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Partition, &PrincipalArn)> {
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

/// Parses `30s`, `15m`, `2h` (or plain seconds). `0` is allowed and means "off" where that applies.
pub fn parse_duration(raw: &str) -> Option<std::time::Duration> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(seconds))
}

/// Settings of the re-validation functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevalidationEnv {
    pub queue_url: Option<String>,
    pub event_bus_name: Option<String>,
    pub settings: crate::revalidation::RevalidationSettings,
    pub worker_concurrency: usize,
}

impl RevalidationEnv {
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = crate::revalidation::RevalidationSettings::default();
        let interval = match lookup("REVALIDATE_INTERVAL") {
            None => defaults.interval,
            Some(raw) => {
                let parsed = parse_duration(&raw).ok_or(ConfigError::Invalid {
                    name: "REVALIDATE_INTERVAL",
                    reason: format!("{raw:?} is not a duration like 30s, 15m or 1h"),
                })?;
                time::Duration::try_from(parsed).unwrap_or(defaults.interval)
            }
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("{raw:?} is not a whole number"),
                }),
            }
        };
        let threshold = number(
            "TRANSIENT_FAILURES_BEFORE_FAILING",
            u64::from(defaults.transient_failures_before_failing),
        )?;
        Ok(Self {
            queue_url: lookup("QUEUE_URL").filter(|v| !v.is_empty()),
            event_bus_name: lookup("EVENT_BUS_NAME").filter(|v| !v.is_empty()),
            settings: crate::revalidation::RevalidationSettings {
                interval,
                transient_failures_before_failing: u32::try_from(threshold.max(1))
                    .unwrap_or(u32::MAX),
            },
            worker_concurrency: number("WORKER_CONCURRENCY", 8)?.clamp(1, 64) as usize,
        })
    }

    pub fn queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url
            .as_deref()
            .ok_or(ConfigError::Missing { name: "QUEUE_URL" })
    }

    pub fn event_bus_name(&self) -> Result<&str, ConfigError> {
        self.event_bus_name.as_deref().ok_or(ConfigError::Missing {
            name: "EVENT_BUS_NAME",
        })
    }
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            parse_duration("30s"),
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            parse_duration("15m"),
            Some(std::time::Duration::from_secs(900))
        );
        assert_eq!(
            parse_duration("2h"),
            Some(std::time::Duration::from_secs(7200))
        );
        assert_eq!(parse_duration("0"), Some(std::time::Duration::ZERO));
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
