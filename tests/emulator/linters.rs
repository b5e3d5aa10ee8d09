//! Independent linters, installed by infra/test.sh: every rendered document passes parliament
//! (an IAM policy linter) with zero findings, and template.yaml passes cfn-lint and
//! `sam validate --lint`. A missing linter fails the test.

use std::process::Command;

use serde_json::{Value, json};
use shared::domain::{AuthModeKind, Destination};
use shared::policy::{self, OurWrite, PolicyDocument, to_pretty_json};
use shared::testing::{DestinationBuilder, platform};

const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn destination(auth: AuthModeKind, kms: bool) -> Destination {
    let builder = DestinationBuilder::new(auth)
        .bucket("acme-analytics-exports")
        .folder("platform/exports")
        .region("eu-west-1")
        .owner("222222222222");
    if kms { builder.kms_key(KEY) } else { builder }.build()
}

/// Runs `program` from the repository root; a missing tool or any finding fails.
pub fn run_linter(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dev_support::template::repo_root())
        .env("AWS_REGION", "us-east-1")
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}); run the tests with infra/test.sh, which installs it"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} reported:\n{report}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// parliament does not know role-session principals (`arn:aws:sts::<account>:assumed-role/<role>/
/// <session>`), which AWS documents for resource policies and which our bucket policies name.
/// So such a principal is linted as its role; every other check applies unchanged.
fn sessions_as_roles(value: &Value) -> Value {
    match value {
        Value::String(s) if s.contains(":assumed-role/") => {
            let (head, tail) = s.split_once(":assumed-role/").unwrap();
            let role = tail.split('/').next().unwrap();
            json!(format!(
                "{}:role/{role}",
                head.replacen(":sts:", ":iam:", 1)
            ))
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), sessions_as_roles(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(sessions_as_roles).collect()),
        other => other.clone(),
    }
}

pub fn lint_policy(name: &str, document: &Value) {
    let linted = sessions_as_roles(document);
    let findings = run_linter("parliament", &["--json", "--string", &linted.to_string()]);
    assert!(
        findings.trim().is_empty(),
        "parliament found problems in the {name}:\n{findings}\n{}",
        to_pretty_json(document)
    );
}

fn as_value<T: serde::Serialize>(document: &T) -> Value {
    serde_json::to_value(document).unwrap()
}

/// parliament knows identity and resource policies, which need a Resource; IAM forbids one in a
/// trust policy. So a trust statement is linted against the resource it governs, the customer's
/// role; every other check applies unchanged. (CreateRole accepting the document as rendered is
/// proven against the emulator.)
pub fn lint_trust_policy(name: &str, trust: &Value) {
    let mut trust = trust.clone();
    for statement in trust["Statement"].as_array_mut().unwrap() {
        statement["Resource"] = json!("arn:aws:iam::222222222222:role/AcmeDeliveryRole");
    }
    lint_policy(name, &trust);
}

#[test]
fn every_rendered_document_lints_clean() {
    let platform = platform();
    for kms in [false, true] {
        let role_mode = destination(AuthModeKind::IamRole, kms);
        let rendered = policy::render(&role_mode, &platform).unwrap();
        lint_policy(
            "permissions policy",
            &as_value(&rendered.permissions_policy.unwrap()),
        );
        lint_trust_policy("trust policy", &as_value(&rendered.trust_policy.unwrap()));
        // (and while its External ID rotates: both IDs in one condition)
        let mut rotating = role_mode.clone();
        rotating
            .start_rotation(
                &shared::domain::Actor::user("user-1").unwrap(),
                shared::testing::NOW,
            )
            .unwrap();
        let both = policy::render(&rotating, &platform)
            .unwrap()
            .trust_policy
            .unwrap();
        assert_eq!(
            as_value(&both)["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        lint_trust_policy("trust policy during a rotation", &as_value(&both));
        let owner = role_mode.configuration().expected_owner();
        lint_policy(
            "session policy",
            &as_value(&policy::session_policy(
                role_mode.configuration(),
                owner.as_ref(),
            )),
        );

        let bucket_mode = destination(AuthModeKind::BucketPolicy, kms);
        let rendered = policy::render(&bucket_mode, &platform).unwrap();
        lint_policy("bucket policy", &as_value(&rendered.bucket_policy.unwrap()));
        let statement = rendered.bucket_policy_statement.unwrap();
        lint_policy(
            "bucket policy statement",
            &as_value(&PolicyDocument::new(vec![statement.clone()])),
        );
        if let Some(key_statement) = rendered.key_policy_statement {
            lint_policy(
                "key policy statement",
                &as_value(&PolicyDocument::new(vec![key_statement])),
            );
        }
        let existing = json!({"Version": "2012-10-17", "Statement": [{"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-analytics-exports/shared/*"}]});
        let resource = policy::object_resource(bucket_mode.configuration());
        let merged = policy::merge_statement(
            &existing.to_string(),
            &statement,
            &OurWrite {
                principal: &rendered.platform_principal,
                object_resource: &resource,
            },
        )
        .unwrap();
        lint_policy("merged bucket policy", &merged.policy);
    }
}

#[test]
fn cfn_lint_reports_nothing_on_the_template() {
    run_linter("cfn-lint", &["template.yaml"]);
}

#[test]
fn sam_validate_lint_accepts_the_template() {
    run_linter(
        "sam",
        &[
            "validate",
            "--lint",
            "--template",
            "template.yaml",
            "--region",
            "us-east-1",
        ],
    );
}

#[test]
fn the_setup_kit_templates_lint_clean() {
    run_linter(
        "cfn-lint",
        &[
            "infra/customer-kit/role.yaml",
            "infra/customer-kit/bucket-policy.yaml",
        ],
    );
}

/// The kit template of `destination`, resolved with the kit's own parameters, as CloudFormation
/// would create it.
fn resolved_kit(destination: &Destination) -> Value {
    use dev_support::template::{Stack, parse};
    let rendered = policy::render(destination, &platform()).unwrap();
    let settings = shared::kit::KitSettings {
        templates_url: "https://kit.s3.us-east-1.amazonaws.com/setup-kit/v4/".into(),
        api: shared::kit::ApiAccess::Bearer {
            base_url: "https://api.example.com".into(),
        },
    };
    let kit = shared::kit::setup_kit(destination, &rendered, &platform(), &settings);
    let template = parse(&kit.cloud_formation.template);
    let mut stack = Stack::default();
    stack
        .set("AWS::Partition", "aws")
        .set("AWS::URLSuffix", "amazonaws.com");
    for parameter in &kit.cloud_formation.parameters {
        stack.set(parameter.name, parameter.value.as_str());
    }
    stack.evaluate_conditions(&template);
    stack.resolve(&template["Resources"])
}

#[test]
fn the_documents_inside_the_setup_kit_templates_lint_clean_and_match_the_rendered_ones() {
    for (kms, owner) in [(false, false), (true, true)] {
        let mut builder = DestinationBuilder::new(AuthModeKind::IamRole)
            .bucket("acme-exports")
            .folder("f")
            .region("eu-west-1");
        if kms {
            builder = builder.kms_key(KEY);
        }
        if owner {
            builder = builder.owner("222222222222");
        }
        let destination = builder.build();
        let rendered = policy::render(&destination, &platform()).unwrap();
        let role = &resolved_kit(&destination)["DestinationRole"]["Properties"];
        let trust = role["AssumeRolePolicyDocument"].clone();
        let permissions = role["Policies"][0]["PolicyDocument"].clone();
        lint_trust_policy("kit trust policy", &trust);
        lint_policy("kit permissions policy", &permissions);
        assert_eq!(
            normalised(&trust),
            normalised(&as_value(&rendered.trust_policy.unwrap()))
        );
        assert_eq!(
            normalised(&permissions),
            normalised(&as_value(&rendered.permissions_policy.unwrap()))
        );
    }
    let destination = destination(AuthModeKind::BucketPolicy, false);
    let rendered = policy::render(&destination, &platform()).unwrap();
    let bucket_policy =
        resolved_kit(&destination)["DestinationBucketPolicy"]["Properties"]["PolicyDocument"]
            .clone();
    lint_policy("kit bucket policy", &bucket_policy);
    assert_eq!(
        normalised(&bucket_policy),
        normalised(&as_value(&rendered.bucket_policy.unwrap()))
    );
}

/// One form for values IAM reads alike: a lone string and a one-element list.
fn normalised(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if ["Action", "Resource"].contains(&k.as_str()) => {
                            json!([s])
                        }
                        other => normalised(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalised).collect()),
        other => other.clone(),
    }
}

/// The documents of China and GovCloud deployments: every document of both modes, with a role and
/// a key of the partition, lints clean (parliament knows the partitions' ARN formats).
#[test]
fn every_rendered_document_of_the_other_partitions_lints_clean() {
    for (partition, arn, region) in [
        (shared::domain::Partition::AwsCn, "arn:aws-cn", "cn-north-1"),
        (
            shared::domain::Partition::AwsUsGov,
            "arn:aws-us-gov",
            "us-gov-west-1",
        ),
    ] {
        let platform = shared::domain::PlatformIdentity::parse(
            &format!("{arn}:iam::111111111111:role/destinations-platform-connector"),
            &format!("{arn}:iam::111111111111:role/destinations-platform-writer"),
            None,
        )
        .unwrap();
        let key =
            format!("{arn}:kms:{region}:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab");
        for auth in [AuthModeKind::IamRole, AuthModeKind::BucketPolicy] {
            let mut builder = DestinationBuilder::new(auth)
                .home(partition)
                .bucket("acme-analytics-exports")
                .folder("platform/exports")
                .owner("222222222222")
                .kms_key(&key);
            if auth == AuthModeKind::IamRole {
                builder = builder.role_arn(&format!("{arn}:iam::222222222222:role/AcmeDelivery"));
            }
            let destination = builder.build();
            let rendered = policy::render(&destination, &platform).unwrap();
            let name = |kind: &str| format!("{partition} {kind}");
            if let Some(trust) = &rendered.trust_policy {
                lint_trust_policy(&name("trust policy"), &as_value(trust));
            }
            for (kind, document) in [
                ("permissions policy", rendered.permissions_policy.as_ref()),
                ("bucket policy", rendered.bucket_policy.as_ref()),
            ] {
                if let Some(document) = document {
                    assert!(
                        as_value(document)
                            .to_string()
                            .contains(&format!("\"{arn}:"))
                    );
                    lint_policy(&name(kind), &as_value(document));
                }
            }
            let key_statement = rendered.key_policy_statement.clone().unwrap();
            lint_policy(
                &name("key policy statement"),
                &as_value(&PolicyDocument::new(vec![key_statement])),
            );
        }
    }
}
