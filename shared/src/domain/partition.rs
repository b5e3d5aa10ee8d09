//! AWS partitions and regions. Trust never crosses a partition, so both are typed.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Partition {
    #[serde(rename = "aws")]
    Aws,
    #[serde(rename = "aws-cn")]
    AwsCn,
    #[serde(rename = "aws-us-gov")]
    AwsUsGov,
}

impl Partition {
    pub const ALL: [Partition; 3] = [Partition::Aws, Partition::AwsCn, Partition::AwsUsGov];

    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// The domain AWS service endpoints of this partition end in.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        }
    }

    /// The region we use when a destination names none (S3 redirects to the bucket's own).
    pub fn default_region(self) -> &'static str {
        match self {
            Partition::Aws => "us-east-1",
            Partition::AwsCn => "cn-north-1",
            Partition::AwsUsGov => "us-gov-west-1",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be an AWS region code such as us-east-1 or eu-west-2")]
pub struct RegionError;

/// An AWS region code (`us-east-1`, `cn-north-1`, `us-gov-west-1`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Shape check only (`<letters>(-<letters>)*-<digits>`): new regions appear without a code change.
    pub fn new(raw: &str) -> Result<Self, RegionError> {
        let parts: Vec<&str> = raw.split('-').collect();
        let Some((number, words)) = parts.split_last() else {
            return Err(RegionError);
        };
        let words_ok = words.len() >= 2
            && words
                .iter()
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
        let number_ok =
            !number.is_empty() && number.len() <= 2 && number.bytes().all(|b| b.is_ascii_digit());
        if raw.len() > 32 || !words_ok || !number_ok {
            return Err(RegionError);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn partition(&self) -> Partition {
        if self.0.starts_with("cn-") {
            Partition::AwsCn
        } else if self.0.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Region {
    type Error = RegionError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_partition() {
        assert_eq!(
            Region::new("eu-west-2").unwrap().partition(),
            Partition::Aws
        );
        assert_eq!(
            Region::new("cn-north-1").unwrap().partition(),
            Partition::AwsCn
        );
        assert_eq!(
            Region::new("us-gov-west-1").unwrap().partition(),
            Partition::AwsUsGov
        );
    }

    #[test]
    fn each_partitions_default_region_is_its_own() {
        for partition in Partition::ALL {
            let region = Region::new(partition.default_region()).unwrap();
            assert_eq!(region.partition(), partition);
        }
    }

    #[test]
    fn a_region_is_stored_as_its_name() {
        let region = Region::new("eu-west-2").unwrap();
        assert_eq!(serde_json::to_value(&region).unwrap(), "eu-west-2");
    }

    #[test]
    fn malformed_regions_are_rejected() {
        for raw in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "us--1",
            "us-east-123",
        ] {
            assert!(Region::new(raw).is_err(), "{raw}");
        }
    }
}
