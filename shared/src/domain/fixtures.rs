//! Destinations and check results for the domain's own unit tests (which may not use the crate's
//! `testing` fixtures: the domain depends on nothing).

use time::OffsetDateTime;
use time::macros::datetime;

use super::check::{CheckResult, FailureCategory, Stage, StageFailure, StageResult, StageStatus};
use super::revalidation::RevalidationSettings;
use super::*;

pub const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

pub fn configuration(bucket: &str) -> Configuration {
    Configuration {
        bucket: BucketName::new(bucket).unwrap(),
        folder: Folder::new("exports").unwrap(),
        region: None,
        role_arn: None,
        kms_key: None,
        bucket_owner: Some(AccountId::new("222222222222").unwrap()),
        home: Partition::Aws,
    }
}

pub fn draft(auth: AuthModeKind) -> Destination {
    Destination::new_draft(
        DestinationId::generate(),
        TenantId::new("t").unwrap(),
        NewDestination {
            name: DestinationName::new("Lake").unwrap(),
            description: Description::default(),
            key_template: KeyTemplate::default(),
            auth,
            configuration: configuration("bucket"),
        },
        Partition::Aws,
        NOW,
    )
    .unwrap()
}

pub fn result(config_version: u64, category: Option<FailureCategory>) -> CheckResult {
    CheckResult {
        passed: category.is_none(),
        config_version,
        started_at: NOW,
        duration_ms: 1,
        category,
        test_object_key: None,
        bucket_region: None,
        bucket_owner: Some(AccountId::new("222222222222").unwrap()),
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
                explanation: String::new(),
                possible_causes: Vec::new(),
                fix: String::new(),
                fix_document: None,
                bucket_region: None,
            }),
        }],
    }
}

pub fn saved() -> Destination {
    let mut d = draft(AuthModeKind::BucketPolicy);
    assert!(d.record_test(result(1, None), None, NOW));
    d.save(&RevalidationSettings::default(), NOW).unwrap();
    d
}
