//! Configuration the functions read at cold start, parsed from plain strings. Only `main.rs` (and
//! the local run) reads the process environment; everything here takes a lookup function.

use thiserror::Error;

use crate::app::destinations::Limits;
use crate::domain::revalidation::RevalidationSettings;
use crate::domain::{PlatformIdentity, PlatformIdentityError};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Platform(#[from] PlatformIdentityError),
}

/// Reads settings through `lookup` (the environment, or a map in tests).
pub struct Settings<F>(pub F);

impl Settings<fn(&str) -> Option<String>> {
    /// The process environment.
    pub fn from_process() -> Self {
        Settings(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
    }

    pub fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                name,
                reason: format!("{raw:?} is not a whole number"),
            }),
        }
    }

    pub fn table_name(&self) -> Result<String, ConfigError> {
        self.required("TABLE_NAME")
    }

    /// The JWT claims that carry the tenant id (`TENANT_CLAIM`) and the write permission
    /// (`WRITE_CLAIM_VALUE` among the values of `WRITE_CLAIM`).
    pub fn token_claims(&self) -> crate::http::TokenClaims {
        let defaults = crate::http::TokenClaims::default();
        crate::http::TokenClaims {
            tenant: self.get("TENANT_CLAIM").unwrap_or(defaults.tenant),
            write: crate::http::WritePermission {
                claim: self.get("WRITE_CLAIM").unwrap_or(defaults.write.claim),
                value: self
                    .get("WRITE_CLAIM_VALUE")
                    .unwrap_or(defaults.write.value),
            },
        }
    }

    /// Path-style S3 addressing for every bucket (local emulators need it; AWS does not).
    pub fn s3_force_path_style(&self) -> bool {
        self.get("S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true")
    }

    /// Session policies that grant `s3:PutObject` also name the multipart requests' own action
    /// names, for emulators that authorise them so (AWS authorises them as `s3:PutObject`).
    pub fn s3_multipart_action_names(&self) -> bool {
        self.get("S3_MULTIPART_ACTION_NAMES")
            .is_some_and(|v| v == "true")
    }

    /// How the writer addresses S3 (emulators need path-style and their multipart action names).
    #[cfg(feature = "aws-writer")]
    pub fn s3_options(&self) -> crate::adapters::aws_writer::S3Options {
        crate::adapters::aws_writer::S3Options {
            force_path_style: self.s3_force_path_style(),
            multipart_action_names: self.s3_multipart_action_names(),
        }
    }

    /// `PLATFORM_PRINCIPAL_ARNS` (the connector role per partition), `WRITER_ROLE_ARNS` and
    /// `PLATFORM_ACCOUNT_IDS` (default: the connectors' accounts).
    pub fn platform(&self) -> Result<PlatformIdentity, ConfigError> {
        Ok(PlatformIdentity::parse(
            &self.required("PLATFORM_PRINCIPAL_ARNS")?,
            &self.get("WRITER_ROLE_ARNS").unwrap_or_default(),
            self.get("PLATFORM_ACCOUNT_IDS").as_deref(),
        )?)
    }

    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let cap = self.number(
            "MAX_DESTINATIONS_PER_TENANT",
            u64::from(Limits::default().destinations_per_tenant),
        )?;
        Ok(Limits {
            destinations_per_tenant: u32::try_from(cap).map_err(|_| ConfigError::Invalid {
                name: "MAX_DESTINATIONS_PER_TENANT",
                reason: "too large".into(),
            })?,
        })
    }

    #[cfg(feature = "dynamodb")]
    pub fn rate_limits(&self) -> Result<crate::adapters::dynamodb::RateLimits, ConfigError> {
        let defaults = crate::adapters::dynamodb::RateLimits::default();
        let per_minute = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            u32::try_from(self.number(name, u64::from(default))?).map_err(|_| {
                ConfigError::Invalid {
                    name,
                    reason: "too large".into(),
                }
            })
        };
        Ok(crate::adapters::dynamodb::RateLimits {
            test_connection: per_minute("TEST_CONNECTIONS_PER_MINUTE", defaults.test_connection)?,
            create_destination: per_minute("CREATES_PER_MINUTE", defaults.create_destination)?,
            merge_bucket_policy: per_minute("MERGES_PER_MINUTE", defaults.merge_bucket_policy)?,
            api_request: per_minute("REQUESTS_PER_MINUTE", defaults.api_request)?,
            concurrent_checks: u16::try_from(per_minute(
                "CONCURRENT_CHECKS_PER_TENANT",
                u32::from(defaults.concurrent_checks),
            )?)
            .ok()
            .filter(|slots| *slots >= 1)
            .ok_or(ConfigError::Invalid {
                name: "CONCURRENT_CHECKS_PER_TENANT",
                reason: "must be between 1 and 65535".into(),
            })?,
        })
    }

    pub fn queue_url(&self) -> Result<String, ConfigError> {
        self.required("QUEUE_URL")
    }

    pub fn event_bus_name(&self) -> Result<String, ConfigError> {
        self.required("EVENT_BUS_NAME")
    }

    pub fn revalidation(&self) -> Result<RevalidationSettings, ConfigError> {
        let defaults = RevalidationSettings::default();
        let interval = match self.get("REVALIDATE_INTERVAL") {
            None => defaults.interval,
            Some(raw) => {
                let parsed = parse_duration(&raw).ok_or(ConfigError::Invalid {
                    name: "REVALIDATE_INTERVAL",
                    reason: format!("{raw:?} is not a duration like 30s, 15m or 1h"),
                })?;
                time::Duration::try_from(parsed).unwrap_or(defaults.interval)
            }
        };
        let threshold = self.number(
            "TRANSIENT_FAILURES_BEFORE_FAILING",
            u64::from(defaults.transient_failures_before_failing),
        )?;
        let external_id_grace = match self.get("EXTERNAL_ID_GRACE_PERIOD") {
            None => defaults.external_id_grace,
            Some(raw) => parse_duration(&raw)
                .and_then(|d| time::Duration::try_from(d).ok())
                .ok_or(ConfigError::Invalid {
                    name: "EXTERNAL_ID_GRACE_PERIOD",
                    reason: format!("{raw:?} is not a duration like 7d or 12h"),
                })?,
        };
        Ok(RevalidationSettings {
            interval,
            transient_failures_before_failing: u32::try_from(threshold.max(1)).unwrap_or(u32::MAX),
            external_id_grace,
        })
    }

    /// The platform's staging bucket: the only bucket deliveries are read from.
    pub fn staging_bucket(&self) -> Result<crate::domain::BucketName, ConfigError> {
        let raw = self.required("STAGING_BUCKET")?;
        crate::domain::BucketName::new(&raw).map_err(|e| ConfigError::Invalid {
            name: "STAGING_BUCKET",
            reason: e.to_string(),
        })
    }

    pub fn delivery_queue_url(&self) -> Result<String, ConfigError> {
        self.required("DELIVERY_QUEUE_URL")
    }

    /// How long one delivery attempt may take (`DELIVERY_ATTEMPT_BUDGET`, default 840 s): less
    /// than the function's timeout, and less than the 900 s the writer's session lasts.
    pub fn delivery_attempt_budget(&self) -> Result<std::time::Duration, ConfigError> {
        let invalid = |raw: &str, reason: &str| ConfigError::Invalid {
            name: "DELIVERY_ATTEMPT_BUDGET",
            reason: format!("{raw:?} {reason}"),
        };
        match self.get("DELIVERY_ATTEMPT_BUDGET") {
            None => Ok(std::time::Duration::from_secs(840)),
            Some(raw) => match parse_duration(&raw) {
                None => Err(invalid(&raw, "is not a duration like 30s, 14m")),
                Some(d) if d.is_zero() || d > std::time::Duration::from_secs(840) => {
                    Err(invalid(&raw, "must be more than 0 and at most 840s"))
                }
                Some(d) => Ok(d),
            },
        }
    }

    pub fn worker_concurrency(&self) -> Result<usize, ConfigError> {
        Ok(self.number("WORKER_CONCURRENCY", 8)?.clamp(1, 64) as usize)
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
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn durations_parse_with_units() {
        let secs = std::time::Duration::from_secs;
        assert_eq!(parse_duration("30s"), Some(secs(30)));
        assert_eq!(parse_duration("15m"), Some(secs(900)));
        assert_eq!(parse_duration("2h"), Some(secs(7200)));
        assert_eq!(parse_duration("0"), Some(secs(0)));
        assert_eq!(parse_duration("7d"), Some(secs(7 * 86_400)));
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn missing_and_malformed_settings_name_the_variable() {
        let empty = settings(&[]);
        assert_eq!(
            empty.table_name(),
            Err(ConfigError::Missing { name: "TABLE_NAME" })
        );
        assert_eq!(empty.token_claims(), crate::http::TokenClaims::default());
        let bad = settings(&[
            ("WORKER_CONCURRENCY", "many"),
            ("REVALIDATE_INTERVAL", "1w"),
        ]);
        assert!(matches!(
            bad.worker_concurrency(),
            Err(ConfigError::Invalid {
                name: "WORKER_CONCURRENCY",
                ..
            })
        ));
        assert!(matches!(
            bad.revalidation(),
            Err(ConfigError::Invalid {
                name: "REVALIDATE_INTERVAL",
                ..
            })
        ));
    }

    #[test]
    fn the_claims_are_named_by_three_variables() {
        let configured = settings(&[
            ("TENANT_CLAIM", "custom:tenant"),
            ("WRITE_CLAIM", "cognito:groups"),
            ("WRITE_CLAIM_VALUE", "destinations-writers"),
        ]);
        assert_eq!(
            configured.token_claims(),
            crate::http::TokenClaims {
                tenant: "custom:tenant".into(),
                write: crate::http::WritePermission {
                    claim: "cognito:groups".into(),
                    value: "destinations-writers".into(),
                },
            }
        );
    }

    #[test]
    fn the_platform_comes_from_three_variables() {
        let configured = settings(&[
            ("PLATFORM_PRINCIPAL_ARNS", crate::testing::CONNECTOR),
            ("WRITER_ROLE_ARNS", crate::testing::WRITER),
            ("PLATFORM_ACCOUNT_IDS", "999999999999"),
        ]);
        let platform = configured.platform().unwrap();
        assert!(
            platform.is_platform_account(&crate::domain::AccountId::new("999999999999").unwrap())
        );
        let no_writer = settings(&[("PLATFORM_PRINCIPAL_ARNS", crate::testing::CONNECTOR)]);
        assert!(matches!(
            no_writer.platform(),
            Err(ConfigError::Platform(_))
        ));
    }

    #[test]
    fn a_delivery_attempt_never_outlives_the_writers_session() {
        assert_eq!(
            settings(&[]).delivery_attempt_budget(),
            Ok(std::time::Duration::from_secs(840))
        );
        for raw in ["0", "15m", "soon"] {
            assert!(
                settings(&[("DELIVERY_ATTEMPT_BUDGET", raw)])
                    .delivery_attempt_budget()
                    .is_err(),
                "{raw}"
            );
        }
        assert!(
            settings(&[("STAGING_BUCKET", "Not_A_Bucket")])
                .staging_bucket()
                .is_err()
        );
    }

    #[test]
    fn limits_default_and_override() {
        assert_eq!(settings(&[]).limits().unwrap(), Limits::default());
        let five = settings(&[("MAX_DESTINATIONS_PER_TENANT", "5")]);
        assert_eq!(five.limits().unwrap().destinations_per_tenant, 5);
    }
}
