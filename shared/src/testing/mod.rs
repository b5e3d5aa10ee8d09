//! Builders and in-memory adapters for tests: compiled for this crate's unit tests and, through the
//! `test-util` feature, for the test crates. Never in a function binary.

pub mod memory;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::domain::check::{
    CheckResult, FailureCategory, Stage, StageFailure, StageResult, StageStatus,
};
use crate::domain::revalidation::RevalidationSettings;
use crate::domain::*;

pub const PLATFORM_ACCOUNT: &str = "111111111111";
pub const CONNECTOR: &str = "arn:aws:iam::111111111111:role/destinations-platform-connector";
pub const WRITER: &str = "arn:aws:iam::111111111111:role/destinations-platform-writer";
pub const CUSTOMER_ACCOUNT: &str = "222222222222";
pub const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

/// The platform as deployed in account 111111111111.
pub fn platform() -> PlatformIdentity {
    PlatformIdentity::parse(CONNECTOR, WRITER, None).expect("valid test platform")
}

/// The session ARN a bucket-policy destination's writes come from.
pub fn writer_session(id: &DestinationId) -> String {
    platform()
        .writer_session(Partition::Aws, id)
        .expect("aws partition served")
        .as_str()
        .to_owned()
}

/// A destination as a customer would create it; bucket-policy ones name the customer's account.
pub struct DestinationBuilder {
    id: DestinationId,
    tenant: TenantId,
    name: String,
    auth: AuthModeKind,
    configuration: Configuration,
    home: Partition,
}

impl DestinationBuilder {
    pub fn new(auth: AuthModeKind) -> Self {
        Self {
            id: DestinationId::generate(),
            tenant: TenantId::new("tenant-a").expect("valid"),
            name: "Lake".into(),
            auth,
            configuration: Configuration {
                bucket: BucketName::new("customer-bucket").expect("valid"),
                folder: Folder::root(),
                region: None,
                role_arn: None,
                kms_key: None,
                bucket_owner: (auth == AuthModeKind::BucketPolicy)
                    .then(|| AccountId::new(CUSTOMER_ACCOUNT).expect("valid")),
                home: Partition::Aws,
            },
            home: Partition::Aws,
        }
    }

    /// A destination of a deployment in `partition` (the fixture platform's is `aws`).
    pub fn home(mut self, partition: Partition) -> Self {
        self.home = partition;
        self
    }
    pub fn id(mut self, id: &str) -> Self {
        self.id = DestinationId::new(id).expect("a canonical UUID");
        self
    }
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = TenantId::new(tenant).expect("valid tenant");
        self
    }
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
    pub fn bucket(mut self, bucket: &str) -> Self {
        self.configuration.bucket = BucketName::new(bucket).expect("valid bucket");
        self
    }
    pub fn folder(mut self, folder: &str) -> Self {
        self.configuration.folder = Folder::new(folder).expect("valid folder");
        self
    }
    pub fn region(mut self, region: &str) -> Self {
        self.configuration.region = Some(Region::new(region).expect("valid region"));
        self
    }
    pub fn kms_key(mut self, key: &str) -> Self {
        self.configuration.kms_key = Some(KmsKeyArn::new(key).expect("valid key"));
        self
    }
    pub fn owner(mut self, account: &str) -> Self {
        self.configuration.bucket_owner = Some(AccountId::new(account).expect("valid account"));
        self
    }
    pub fn role_arn(mut self, arn: &str) -> Self {
        self.configuration.role_arn = Some(RoleArn::new(arn).expect("valid role ARN"));
        self
    }

    pub fn build(self) -> Destination {
        Destination::new_draft(
            self.id,
            self.tenant,
            NewDestination {
                name: DestinationName::new(&self.name).expect("valid name"),
                description: Description::default(),
                key_template: KeyTemplate::default(),
                auth: self.auth,
                configuration: self.configuration,
            },
            self.home,
            NOW,
        )
        .expect("OS random source")
    }

    /// Tested (passing) and saved.
    pub fn saved(self) -> Destination {
        let mut destination = self.build();
        let owner = destination.configuration().expected_owner();
        let mut result = passed(destination.config_version());
        result.bucket_owner = owner;
        destination.record_test(result, None, NOW);
        destination
            .save(&RevalidationSettings::default(), NOW)
            .expect("a passing test allows Save");
        destination
    }
}

/// A passing check of `config_version`.
pub fn passed(config_version: u64) -> CheckResult {
    result(config_version, None)
}

/// A check of `config_version` that failed at the write with `category`.
pub fn failed(config_version: u64, category: FailureCategory) -> CheckResult {
    result(config_version, Some(category))
}

fn result(config_version: u64, category: Option<FailureCategory>) -> CheckResult {
    CheckResult {
        passed: category.is_none(),
        config_version,
        started_at: NOW,
        duration_ms: 1,
        category,
        test_object_key: None,
        bucket_region: None,
        bucket_owner: None,
        stages: vec![StageResult {
            stage: Stage::Write,
            status: if category.is_some() {
                StageStatus::Failed
            } else {
                StageStatus::Passed
            },
            duration_ms: 1,
            failure: category.map(|category| StageFailure {
                category,
                aws_error_code: None,
                aws_request_id: None,
                explanation: "failed".into(),
                possible_causes: Vec::new(),
                fix: "fix it".into(),
                fix_document: None,
                bucket_region: None,
            }),
        }],
    }
}
