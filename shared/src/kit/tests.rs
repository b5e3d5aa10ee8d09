use serde_json::Value;

use super::*;
use crate::domain::AuthModeKind;
use crate::policy::render;
use crate::testing::{DestinationBuilder, platform};

fn settings() -> KitSettings {
    KitSettings {
        templates_url: "https://kit-bucket.s3.us-east-1.amazonaws.com/setup-kit/v4/".into(),
        api: ApiAccess::Bearer {
            base_url: "https://api.example.com".into(),
        },
    }
}

fn kit_of(destination: &Destination) -> SetupKit {
    let rendered = render(destination, &platform()).unwrap();
    setup_kit(destination, &rendered, &platform(), &settings())
}

fn role_destination() -> Destination {
    DestinationBuilder::new(AuthModeKind::IamRole)
        .bucket("acme-exports")
        .folder("platform/exports")
        .region("eu-west-1")
        .kms_key("arn:aws:kms:eu-west-1:222222222222:key/k-1")
        .build()
}

/// `(name, value)` of every query parameter of the quick-create link's fragment.
fn link_parameters(url: &str) -> Vec<(String, String)> {
    let fragment = url.split_once('#').unwrap().1;
    let query = fragment.split_once('?').unwrap().1;
    query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let mut bytes = Vec::new();
            let raw = v.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'%' {
                    bytes.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    bytes.push(raw[i]);
                    i += 1;
                }
            }
            (k.to_owned(), String::from_utf8(bytes).unwrap())
        })
        .collect()
}

#[test]
fn the_quick_create_link_fills_in_every_parameter_for_the_partitions_console() {
    let destination = role_destination();
    let kit = kit_of(&destination);
    let cf = &kit.cloud_formation;
    assert!(cf.quick_create_url.starts_with(
        "https://console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/quickcreate?"
    ));
    assert_eq!(
        cf.template_url,
        "https://kit-bucket.s3.us-east-1.amazonaws.com/setup-kit/v4/role.yaml"
    );
    let params = link_parameters(&cf.quick_create_url);
    assert_eq!(params[0], ("templateURL".into(), cf.template_url.clone()));
    assert_eq!(params[1], ("stackName".into(), cf.stack_name.clone()));
    for parameter in &cf.parameters {
        assert!(
            params.contains(&(format!("param_{}", parameter.name), parameter.value.clone())),
            "{}",
            parameter.name
        );
    }
    let external_id = destination.external_id().unwrap().expose();
    assert!(
        cf.parameters
            .iter()
            .any(|p| p.name == "ExternalId" && p.value == external_id)
    );
    assert!(
        cf.parameters
            .iter()
            .any(|p| p.name == "KmsKeyRegion" && p.value == "eu-west-1")
    );
    // Every parameter the link fills in is one the template declares
    let template: Value = serde_json::to_value(serde_norway_free_parameters(&cf.template)).unwrap();
    for parameter in &cf.parameters {
        assert!(
            template
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == parameter.name),
            "{}",
            parameter.name
        );
    }
}

/// The names under `Parameters:` of a kit template (a line-based read: the templates are ours).
fn serde_norway_free_parameters(template: &str) -> Vec<String> {
    let section = template
        .split("\nParameters:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':').to_owned())
        .collect()
}

#[test]
fn other_partitions_link_to_their_own_console() {
    let cn = DestinationBuilder::new(AuthModeKind::IamRole)
        .region("cn-north-1")
        .build();
    let china = crate::domain::PlatformIdentity::parse(
        "arn:aws-cn:iam::111111111111:role/c",
        "arn:aws-cn:iam::111111111111:role/w",
        None,
    )
    .unwrap();
    let rendered = render(&cn, &china).unwrap();
    let kit = setup_kit(&cn, &rendered, &china, &settings());
    assert!(
        kit.cloud_formation
            .quick_create_url
            .starts_with("https://console.amazonaws.cn/cloudformation/home?region=cn-north-1#")
    );
}

#[test]
fn the_terraform_parses_and_holds_the_rendered_documents() {
    for destination in [
        role_destination(),
        DestinationBuilder::new(AuthModeKind::BucketPolicy)
            .kms_key("arn:aws:kms:us-east-1:222222222222:key/k")
            .build(),
    ] {
        let rendered = render(&destination, &platform()).unwrap();
        let kit = setup_kit(&destination, &rendered, &platform(), &settings());
        let body: hcl::Body =
            hcl::from_str(&kit.terraform).unwrap_or_else(|e| panic!("{e}\n{}", kit.terraform));
        let mut documents = std::collections::BTreeMap::new();
        for block in body.blocks() {
            for attribute in block.body().attributes() {
                if let hcl::Expression::TemplateExpr(template) = attribute.expr() {
                    let text = match template.as_ref() {
                        hcl::expr::TemplateExpr::Heredoc(h) => h.template.clone(),
                        other => panic!("{other:?}"),
                    };
                    let key = format!(
                        "{}.{}",
                        block
                            .labels()
                            .iter()
                            .map(|l| l.as_str())
                            .collect::<Vec<_>>()
                            .join("."),
                        attribute.key()
                    );
                    documents.insert(key, serde_json::from_str::<Value>(&text).unwrap());
                }
            }
        }
        let json = |d: &dyn erased::Json| d.value();
        match destination.auth() {
            AuthMode::IamRole { .. } => {
                assert_eq!(
                    documents["aws_iam_role.destination.assume_role_policy"],
                    json(rendered.trust_policy.as_ref().unwrap())
                );
                assert_eq!(
                    documents["aws_iam_role_policy.destination.policy"],
                    json(rendered.permissions_policy.as_ref().unwrap())
                );
            }
            AuthMode::BucketPolicy => {
                assert_eq!(
                    documents["aws_s3_bucket_policy.destination.policy"],
                    json(rendered.bucket_policy.as_ref().unwrap())
                );
                assert_eq!(
                    documents["key_policy_statement.value"],
                    json(rendered.key_policy_statement.as_ref().unwrap())
                );
                assert!(kit.terraform.contains("REPLACES THE BUCKET'S WHOLE POLICY"));
            }
        }
        says_only_what_it_must(&destination, &documents);
    }
}

/// What the kit's documents must say, stated without the renderer: in role mode only our
/// connector, only with this destination's External ID, only into its folder; in bucket-policy
/// mode only this destination's writer session.
fn says_only_what_it_must(
    destination: &Destination,
    documents: &std::collections::BTreeMap<String, Value>,
) {
    match destination.auth() {
        AuthMode::IamRole { .. } => {
            let trust = &documents["aws_iam_role.destination.assume_role_policy"]["Statement"][0];
            assert_eq!(trust["Principal"]["AWS"], crate::testing::CONNECTOR);
            assert_eq!(
                trust["Condition"]["StringEquals"]["sts:ExternalId"],
                destination.external_id().unwrap().expose()
            );
            let permissions = documents["aws_iam_role_policy.destination.policy"].to_string();
            assert!(
                permissions.contains("\"arn:aws:s3:::acme-exports/platform/exports/*\""),
                "{permissions}"
            );
        }
        AuthMode::BucketPolicy => {
            let grant = documents["aws_s3_bucket_policy.destination.policy"]["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Effect"] == "Allow")
                .unwrap()
                .clone();
            assert_eq!(
                grant["Principal"]["AWS"],
                crate::testing::writer_session(destination.id())
            );
        }
    }
}

mod erased {
    pub trait Json {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

#[test]
fn the_cli_script_embeds_the_documents_and_quotes_what_it_interpolates() {
    let destination = role_destination();
    let rendered = render(&destination, &platform()).unwrap();
    let kit = setup_kit(&destination, &rendered, &platform(), &settings());
    let script = &kit.aws_cli;
    assert!(script.starts_with("#!/usr/bin/env bash\n"));
    assert!(script.contains("set -euo pipefail"));
    let trust = crate::policy::to_pretty_json(rendered.trust_policy.as_ref().unwrap());
    assert!(script.contains(&format!(
        "TRUST_POLICY=$(cat <<'DOCUMENT'\n{trust}\nDOCUMENT\n)"
    )));
    assert!(script.contains("update-assume-role-policy") && script.contains("put-role-policy"));
    let bucket = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .bucket("it-s.mine")
        .build();
    let rendered = render(&bucket, &platform()).unwrap();
    let local = KitSettings {
        templates_url: "http://127.0.0.1:4566/kit/setup-kit/v4/".into(),
        api: ApiAccess::TenantHeader {
            base_url: "http://127.0.0.1:3000".into(),
            tenant: "o'neil".into(),
        },
    };
    let script = setup_kit(&bucket, &rendered, &platform(), &local).aws_cli;
    assert!(
        script.contains("AUTH='x-tenant-id: o'\\''neil'"),
        "{script}"
    );
    assert!(script.contains(&format!(
        "MERGE_URL='http://127.0.0.1:3000/destinations/{}/bucket-policy/merge?output=policy'",
        bucket.id()
    )));
    let deployed = setup_kit(&bucket, &rendered, &platform(), &settings()).aws_cli;
    assert!(deployed.contains("DESTINATIONS_API_TOKEN:?"));
}

#[test]
fn the_templates_are_published_under_their_version() {
    let published = templates(&platform());
    let keys: Vec<&str> = published.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["setup-kit/v4/role.yaml", "setup-kit/v4/bucket-policy.yaml"]
    );
    assert!(BUCKET_POLICY_TEMPLATE.contains("REPLACES THE BUCKET'S WHOLE POLICY"));
    for (_, text) in &published {
        assert!(
            text.contains(&format!("setup kit, {KIT_VERSION}.")),
            "the template names its own version"
        );
    }
}

/// A published template's parameter, as CloudFormation reads it.
fn published_parameter(text: &str, name: &str) -> serde_norway::Value {
    let template: serde_norway::Value = serde_norway::from_str(text).unwrap();
    template["Parameters"][name].clone()
}

#[test]
fn the_published_role_template_trusts_only_this_deployments_connector() {
    // GIVEN a deployment serving two partitions
    let deployment = crate::domain::PlatformIdentity::parse(
        "arn:aws:iam::111111111111:role/connector,arn:aws-us-gov:iam::444444444444:role/connector",
        "arn:aws:iam::111111111111:role/writer,arn:aws-us-gov:iam::444444444444:role/writer",
        None,
    )
    .unwrap();
    // WHEN it publishes its templates
    let [(_, role), _] = templates(&deployment);
    // THEN the principal the role trusts can only be one of its connectors: a quick-create link
    // naming anyone else's principal with our template URL does not create a stack
    let parameter = published_parameter(&role, "ConnectorPrincipalArn");
    let allowed: Vec<&str> = parameter["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        allowed,
        [
            "arn:aws:iam::111111111111:role/connector",
            "arn:aws-us-gov:iam::444444444444:role/connector"
        ]
    );
    assert!(parameter.get("AllowedPattern").is_none());
    // AND everything else in the template is as written
    let source: serde_norway::Value = serde_norway::from_str(ROLE_TEMPLATE).unwrap();
    let published: serde_norway::Value = serde_norway::from_str(&role).unwrap();
    assert_eq!(source["Resources"], published["Resources"]);
    assert_eq!(source["Outputs"], published["Outputs"]);
}

#[test]
fn the_published_bucket_policy_template_grants_only_this_deployments_writer_sessions() {
    let [_, (_, bucket)] = templates(&platform());
    let parameter = published_parameter(&bucket, "WriterSessionArn");
    let pattern = regex::Regex::new(parameter["AllowedPattern"].as_str().unwrap()).unwrap();
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy).build();
    // A destination's own writer session fits; nothing wider or anyone else's does.
    assert!(pattern.is_match(&crate::testing::writer_session(destination.id())));
    for other in [
        "arn:aws:iam::111111111111:role/destinations-platform-writer",
        "arn:aws:sts::111111111111:assumed-role/destinations-platform-writer/destination-*",
        "arn:aws:sts::999999999999:assumed-role/destinations-platform-writer/destination-0b6f3c1e8a4d4a4f9d0e6d5c2b1a0f9e",
        "arn:aws:sts::111111111111:assumed-role/destinations-platform-writerX/destination-0b6f3c1e8a4d4a4f9d0e6d5c2b1a0f9e",
        "arn:aws:sts::111111111111:assumed-role/destinations-platform-writer/destination-0b6f3c1e8a4d4a4f9d0e6d5c2b1a0f9e/x",
        "arn:aws:iam::111111111111:root",
        "*",
    ] {
        assert!(!pattern.is_match(other), "{other}");
    }
}

#[test]
fn the_lifecycle_rule_removes_the_folders_incomplete_uploads_after_a_week() {
    // GIVEN a destination writing under platform/exports/
    let destination = role_destination();
    // WHEN its kit is rendered
    let kit = kit_of(&destination);
    // THEN the rule, as S3's API spells it, names the destination and covers only its folder
    assert_eq!(
        serde_json::to_value(&kit.lifecycle_rule).unwrap(),
        serde_json::json!({
            "ID": format!("DataPlatformDestination-{}-IncompleteUploads", destination.id()),
            "Filter": {"Prefix": "platform/exports/"},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}
        })
    );
}

#[test]
fn the_terraform_lifecycle_rule_is_applied_only_when_asked() {
    // GIVEN a destination whose bucket owner is named
    let destination = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .bucket("acme-exports")
        .folder("f")
        .owner("222222222222")
        .build();
    // WHEN its Terraform is rendered
    let terraform = kit_of(&destination).terraform;
    let body: hcl::Body = hcl::from_str(&terraform).unwrap();
    // THEN the lifecycle resource exists behind a variable that is off by default (it would
    // replace the bucket's other rules), for that owner's bucket only
    let block = |kind: &str, label: &str| {
        body.blocks()
            .find(|b| b.identifier() == kind && b.labels().iter().any(|l| l.as_str() == label))
            .unwrap_or_else(|| panic!("no {kind} {label} in\n{terraform}"))
            .clone()
    };
    let variable = block("variable", "manage_bucket_lifecycle");
    let default = variable.body().attributes().find(|a| a.key() == "default");
    assert_eq!(default.unwrap().expr(), &hcl::Expression::Bool(false));
    assert!(
        terraform.contains("count = var.manage_bucket_lifecycle ? 1 : 0"),
        "{terraform}"
    );
    assert!(
        terraform.contains("expected_bucket_owner = \"222222222222\""),
        "{terraform}"
    );
    let resource = block("resource", "aws_s3_bucket_lifecycle_configuration");
    let rule = resource
        .body()
        .blocks()
        .find(|b| b.identifier() == "rule")
        .unwrap();
    let text = hcl::to_string(rule.body()).unwrap();
    assert!(
        text.contains(&format!(
            "id = \"DataPlatformDestination-{}-IncompleteUploads\"",
            destination.id()
        )),
        "{text}"
    );
    assert!(text.contains("prefix = \"f/\""), "{text}");
    assert!(text.contains("days_after_initiation = 7"), "{text}");
}

/// Both scripts, as a customer downloads them from the deployed API.
fn both_scripts() -> Vec<String> {
    let bucket = DestinationBuilder::new(AuthModeKind::BucketPolicy)
        .bucket("acme-raw")
        .owner("222222222222")
        .kms_key("arn:aws:kms:us-east-1:222222222222:key/k")
        .build();
    vec![
        kit_of(&role_destination()).aws_cli,
        kit_of(&role_destination_with_arn()).aws_cli,
        kit_of(&bucket).aws_cli,
    ]
}

const ROLE_ARN: &str = "arn:aws:iam::333333333333:role/DataPlatformDestination-lake";

fn role_destination_with_arn() -> Destination {
    DestinationBuilder::new(AuthModeKind::IamRole)
        .bucket("acme-exports")
        .region("eu-west-1")
        .role_arn(ROLE_ARN)
        .kms_key("arn:aws:kms:eu-west-1:222222222222:key/k-1")
        .build()
}

#[test]
fn a_key_in_another_account_gets_its_statement_from_every_kit_output_that_can_carry_it() {
    // GIVEN a role-mode destination whose role is known and whose key is in another account
    let destination = role_destination_with_arn();
    let rendered = render(&destination, &platform()).unwrap();
    let kit = setup_kit(&destination, &rendered, &platform(), &settings());
    // THEN the rendered key-policy statement grants that role the key through S3
    let statement = rendered.key_policy_statement.as_ref().unwrap();
    let value = serde_json::to_value(statement).unwrap();
    assert_eq!(value["Principal"]["AWS"], ROLE_ARN);
    assert_eq!(
        value["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.eu-west-1.amazonaws.com"
    );
    // AND the CLI script prints it (a key policy is never rewritten by the kit), Terraform outputs
    // it, and the role's ARN stays the script's last line
    let pretty = crate::policy::to_pretty_json(statement);
    assert!(kit.aws_cli.contains(&pretty), "{}", kit.aws_cli);
    assert!(
        kit.aws_cli
            .contains("printf '%s\\n' \"$KEY_POLICY_STATEMENT\" >&2")
    );
    assert!(!kit.aws_cli.contains("put-key-policy"));
    assert!(
        kit.aws_cli
            .trim_end()
            .ends_with("--query Role.Arn --output text")
    );
    assert!(
        kit.terraform.contains("output \"key_policy_statement\""),
        "{}",
        kit.terraform
    );
    // AND the CloudFormation stack, which cannot change a key policy, outputs the key to grant
    let template: serde_norway::Value =
        serde_norway::from_str(&kit.cloud_formation.template).unwrap();
    let output = &template["Outputs"]["KmsKeyToGrant"];
    assert_eq!(output["Condition"].as_str(), Some("HasKmsKey"));
    assert!(
        output["Description"]
            .as_str()
            .unwrap()
            .contains("key policy")
    );
    // AND before the role's ARN is known the script says where the statement will appear
    let early = kit_of(&role_destination()).aws_cli;
    assert!(
        early.contains("once you have pasted the role's ARN"),
        "{early}"
    );
    assert!(!early.contains("KEY_POLICY_STATEMENT"));
}

/// Runs `script` with bash and `args`, with stand-ins for the AWS CLI and curl that only record
/// that they were called (and fail). Returns the output and whether either was called.
fn run_with_stubs(script: &str, args: &[&str]) -> (std::process::Output, bool) {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("kit-stubs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let called = dir.join("called");
    for tool in ["aws", "curl"] {
        let path = dir.join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho {tool} >> '{}'\nexit 97\n",
                called.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = std::process::Command::new("bash")
        .arg("-s")
        .arg("--")
        .args(args)
        .env("PATH", path)
        .env("DESTINATIONS_API_TOKEN", "a-token")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let was_called = called.exists();
    let _ = std::fs::remove_dir_all(&dir);
    (output, was_called)
}

#[test]
fn the_scripts_parse_and_refuse_an_unknown_option_before_touching_anything() {
    for script in both_scripts() {
        let syntax = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(syntax.status.success(), "{syntax:?}");
        // An unknown option stops the script before it calls AWS or the API.
        let (refused, called) = run_with_stubs(&script, &["--yse"]);
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("Unknown option --yse"),
            "{refused:?}"
        );
        assert!(!called, "an AWS call after an unknown option");
        // Known options pass the parser, and the script goes on to call AWS.
        let (known, called) = run_with_stubs(&script, &["--yes", "--force"]);
        assert!(!known.status.success(), "{known:?}");
        assert!(called, "{known:?}");
    }
}

#[test]
fn the_scripts_avoid_constructs_that_macos_bash_3_2_lacks() {
    // Constructs bash 3.2 (macOS's /bin/bash) does not have: a list checked, not a run under 3.2.
    let newer = [
        "declare -A",
        "local -A",
        "mapfile",
        "readarray",
        ",,}",
        "^^}",
        "|&",
        "&>>",
        "coproc",
        "globstar",
        ";&",
        ";;&",
        "wait -n",
    ];
    for script in both_scripts() {
        for construct in newer {
            assert!(!script.contains(construct), "{construct} in:\n{script}");
        }
    }
}
