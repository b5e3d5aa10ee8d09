//! Every document we render passes an independent IAM linter (parliament) with zero findings.
//!
//! parliament must be on PATH (infra/test.sh installs it); a missing linter fails the test.

use std::process::Command;

use serde_json::{Value, json};

use shared::config::PlatformPrincipals;
use shared::domain::*;
use shared::policy::{self, OurWrite, PolicyDocument, to_pretty_json};
use support::fixtures;

const PRINCIPAL: &str = "arn:aws:iam::111111111111:role/destinations-platform-connector";
const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn destination(auth: AuthModeKind, kms: bool) -> Destination {
    let builder = fixtures::destination(auth, "acme-analytics-exports", "platform/exports")
        .region("eu-west-1");
    if kms { builder.kms_key(KEY) } else { builder }.draft()
}

fn lint(name: &str, document: &Value) {
    let output = Command::new("parliament")
        .args(["--json", "--string", &document.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("parliament is not installed ({e}); run the tests with infra/test.sh, which installs it"));
    let findings = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && findings.trim().is_empty(),
        "parliament found problems in the {name}:\n{findings}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        to_pretty_json(document)
    );
}

fn as_value<T: serde::Serialize>(document: &T) -> Value {
    serde_json::to_value(document).unwrap()
}

#[test]
fn every_rendered_document_lints_clean() {
    let principals = PlatformPrincipals::parse(PRINCIPAL).unwrap();
    for kms in [false, true] {
        let role_mode = destination(AuthModeKind::IamRole, kms);
        let rendered = policy::render(&role_mode, &principals).unwrap();
        lint(
            "permissions policy",
            &as_value(&rendered.permissions_policy.unwrap()),
        );
        // parliament only knows identity and resource policies, which need a Resource; IAM forbids
        // Resource in a trust policy. So the trust statement is linted against the resource it
        // governs, the customer's role; every other check applies unchanged. (CreateRole accepting
        // the document as it is rendered is proven against the emulator.)
        let mut trust = as_value(&rendered.trust_policy.unwrap());
        trust["Statement"][0]["Resource"] =
            json!("arn:aws:iam::222222222222:role/AcmeDeliveryRole");
        lint("trust policy", &trust);

        let bucket_mode = destination(AuthModeKind::BucketPolicy, kms);
        let rendered = policy::render(&bucket_mode, &principals).unwrap();
        lint("bucket policy", &as_value(&rendered.bucket_policy.unwrap()));
        let statement = rendered.bucket_policy_statement.unwrap();
        lint(
            "bucket policy statement",
            &as_value(&PolicyDocument::new(vec![statement.clone()])),
        );
        if let Some(key_statement) = rendered.key_policy_statement {
            lint(
                "key policy statement",
                &as_value(&PolicyDocument::new(vec![key_statement])),
            );
        }

        let existing = json!({"Version": "2012-10-17", "Statement": [{"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-analytics-exports/shared/*"}]});
        let resource = policy::object_resource(&bucket_mode);
        let merged = policy::merge_statement(
            &existing.to_string(),
            &statement,
            &OurWrite {
                principal: PRINCIPAL,
                object_resource: &resource,
            },
        )
        .unwrap();
        lint("merged bucket policy", &merged.policy);
    }
}
