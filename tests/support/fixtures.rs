//! Destinations and results for tests that start below the API.

use time::OffsetDateTime;

use shared::domain::connection_test::ConnectionTestResult;
use shared::domain::*;

/// A destination as a customer would configure it; defaults: tenant `tenant-a`, a fresh id, no
/// region, key or bucket owner.
pub struct DestinationBuilder {
    id: DestinationId,
    tenant: String,
    input: NewDestination,
}

pub fn destination(auth: AuthModeKind, bucket: &str, folder: &str) -> DestinationBuilder {
    DestinationBuilder {
        id: DestinationId::generate(),
        tenant: "tenant-a".to_owned(),
        input: NewDestination {
            name: DestinationName::new("Lake").unwrap(),
            description: Description::default(),
            bucket: BucketName::new(bucket).unwrap(),
            region: None,
            folder: Folder::new(folder).unwrap(),
            auth,
            kms_key: None,
            bucket_owner: None,
        },
    }
}

impl DestinationBuilder {
    pub fn id(mut self, id: &str) -> Self {
        self.id = DestinationId::new(id).unwrap();
        self
    }
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = tenant.to_owned();
        self
    }
    pub fn region(mut self, region: &str) -> Self {
        self.input.region = Some(Region::new(region).unwrap());
        self
    }
    pub fn kms_key(mut self, arn: &str) -> Self {
        self.input.kms_key = Some(KmsKeyArn::new(arn).unwrap());
        self
    }
    pub fn bucket_owner(mut self, account: &str) -> Self {
        self.input.bucket_owner = Some(AccountId::new(account).unwrap());
        self
    }

    /// A draft, created at `at`.
    pub fn draft_at(self, at: OffsetDateTime) -> Destination {
        Destination::new_draft(
            self.id,
            TenantId::new(&self.tenant).unwrap(),
            self.input,
            at,
        )
        .unwrap()
    }

    pub fn draft(self) -> Destination {
        self.draft_at(OffsetDateTime::now_utc())
    }

    /// Saved at `at` after a passing test: verified and due for re-validation from then on.
    pub fn saved_at(self, at: OffsetDateTime) -> Destination {
        let mut destination = self.draft_at(at);
        save_after_passing_test(&mut destination, at);
        destination
    }
}

/// Records a passing test on the current configuration and saves.
pub fn save_after_passing_test(destination: &mut Destination, at: OffsetDateTime) {
    destination.latest_test = Some(passing_result(destination.config_version, at));
    destination.save(at).unwrap();
}

pub fn passing_result(config_version: u64, at: OffsetDateTime) -> ConnectionTestResult {
    ConnectionTestResult {
        passed: true,
        config_version,
        started_at: at,
        duration_ms: 1,
        category: None,
        test_object_key: None,
        bucket_region: None,
        stages: Vec::new(),
    }
}
