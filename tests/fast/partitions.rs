//! A deployment in aws-cn or aws-us-gov: its destinations live in its partition unless they name
//! another (never a silent `aws`), every principal, ARN, endpoint and console link they render is of
//! that partition, their checks assume and write there, and a destination whose region, role or
//! key is in another partition is refused with a clear problem.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shared::app::destinations::Limits;
use shared::domain::{Partition, PlatformIdentity};
use shared::ports::{ProbeError, ProbeFailure};
use shared::testing::memory::{InMemoryStore, ScriptedWriter};
use support::api::RequestExt;
use support::memory::MemoryWorld;

struct Deployment {
    partition: Partition,
    /// `arn:<partition>`.
    arn: &'static str,
    region: &'static str,
    console: &'static str,
    /// The domain of the partition's service endpoints.
    dns: &'static str,
}

/// The partitions' published formats: ARNs `arn:aws-cn:` / `arn:aws-us-gov:`, console hosts and
/// endpoint domains (docs.amazonaws.cn, docs.aws.amazon.com/govcloud-us).
const DEPLOYMENTS: [Deployment; 2] = [
    Deployment {
        partition: Partition::AwsCn,
        arn: "arn:aws-cn",
        region: "cn-north-1",
        console: "https://console.amazonaws.cn",
        dns: "amazonaws.com.cn",
    },
    Deployment {
        partition: Partition::AwsUsGov,
        arn: "arn:aws-us-gov",
        region: "us-gov-west-1",
        console: "https://console.amazonaws-us-gov.com",
        dns: "amazonaws.com",
    },
];

/// A customer role that trusts only the External ID set in it (refusing none and a wrong one, so
/// the confused-deputy guard passes), and a bucket that takes every write.
#[derive(Clone, Default)]
struct Role(Arc<Mutex<Option<String>>>);

impl Role {
    fn writer(&self) -> ScriptedWriter {
        let trusted = self.0.clone();
        ScriptedWriter::new(
            move |call| {
                let writer = call.role_arn.contains(":role/destinations-platform-writer");
                if writer
                    || (call.external_id.is_some() && call.external_id == *trusted.lock().unwrap())
                {
                    Ok(())
                } else {
                    Err(ProbeError::new(ProbeFailure::AccessDenied))
                }
            },
            |_| Ok(()),
        )
    }
}

fn deployed(d: &Deployment) -> MemoryWorld {
    deployed_with(d, ScriptedWriter::permissive())
}

fn deployed_with(d: &Deployment, writer: ScriptedWriter) -> MemoryWorld {
    let platform = PlatformIdentity::parse(
        &format!(
            "{}:iam::111111111111:role/destinations-platform-connector",
            d.arn
        ),
        &format!(
            "{}:iam::111111111111:role/destinations-platform-writer",
            d.arn
        ),
        None,
    )
    .unwrap();
    assert_eq!(platform.home(), d.partition);
    MemoryWorld::deployed_as(InMemoryStore::new(), writer, Limits::default(), platform)
}

/// Every ARN in `text` (`arn:<partition>:` prefixes).
fn arn_partitions(text: &str) -> Vec<String> {
    text.match_indices("arn:")
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest[4..].find(':').map_or(rest.len(), |i| i + 4);
            rest[..end].to_owned()
        })
        .collect()
}

async fn rendered(world: &MemoryWorld, id: &str) -> Value {
    world
        .api()
        .get(&format!("/destinations/{id}/policies"))
        .await
        .expect(200)
        .json()
}

fn assert_all_of(d: &Deployment, what: &str, text: &str) {
    let arns = arn_partitions(text);
    assert!(!arns.is_empty(), "{what}: no ARN");
    assert!(arns.iter().all(|a| a == d.arn), "{what}: {arns:?}");
}

#[tokio::test]
async fn every_document_principal_link_and_call_of_a_china_or_govcloud_deployment_is_of_its_partition()
 {
    for d in &DEPLOYMENTS {
        // GIVEN the deployment, and a role-mode destination naming no region
        let role_trust = Role::default();
        let world = deployed_with(d, role_trust.writer());
        let api = world.api();
        let role = format!("{}:iam::222222222222:role/AcmeDelivery", d.arn);
        let key = format!(
            "{}:kms:{}:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            d.arn, d.region
        );
        let id = api
            .create_id(json!({"name": "Lake", "bucket": "acme-exports", "folder": "in", "authMode": "iamRole"}))
            .await;
        // WHEN its documents are rendered before it names anything of its partition
        let policies = rendered(&world, &id).await;
        // THEN they are of the deployment's partition, not `aws`
        assert!(
            policies["platformPrincipal"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}:iam::111111111111:role/", d.arn)),
            "{policies}"
        );
        for document in policies["documents"].as_array().unwrap() {
            assert_all_of(
                d,
                document["kind"].as_str().unwrap(),
                document["text"].as_str().unwrap(),
            );
        }
        // WHEN the role and a key of the partition are set
        let patched = api
            .patch(&id, json!({"roleArn": role, "kmsKeyArn": key}))
            .await
            .expect(200)
            .json();
        *role_trust.0.lock().unwrap() = patched["externalId"].as_str().map(str::to_owned);
        let policies = rendered(&world, &id).await;
        for document in policies["documents"].as_array().unwrap() {
            let text = document["text"].as_str().unwrap();
            assert_all_of(d, document["kind"].as_str().unwrap(), text);
            if document["kind"] == "permissionsPolicy" {
                // (the key is used only through S3 of that partition)
                assert!(
                    text.contains(&format!("s3.{}.{}", d.region, d.dns)),
                    "{text}"
                );
            }
        }
        // AND the kit's links, console steps, script and Terraform are of the partition
        let kit = api
            .get(&format!("/destinations/{id}/setup-kit"))
            .await
            .expect(200)
            .json();
        let quick = kit["cloudFormation"]["quickCreateUrl"].as_str().unwrap();
        assert!(
            quick.starts_with(&format!(
                "{}/cloudformation/home?region={}#",
                d.console, d.region
            )),
            "{quick}"
        );
        assert_eq!(kit["console"]["consoleUrl"], d.console);
        for tool in ["awsCli", "terraform"] {
            assert_all_of(d, tool, kit[tool].as_str().unwrap());
        }
        assert!(
            kit["cloudFormation"]["updateCommand"]
                .as_str()
                .unwrap()
                .contains(&format!("--region '{}'", d.region))
        );
        // AND Test Connection assumes the role and writes in the partition's region
        let result = api.test(&id).await.expect(200).json();
        assert_eq!(result["passed"], true, "{result}");
        let assumed = world.writer.assume_calls();
        assert!(
            assumed.iter().all(|c| c.role_arn.starts_with(d.arn)),
            "{assumed:?}"
        );
        let puts = world.writer.put_calls();
        assert!(puts.iter().all(|p| p.region == d.region), "{puts:?}");

        // AND a bucket-policy destination grants the writer's session of the partition
        let bucket = api
            .create_id(json!({"name": "Raw", "bucket": "acme-raw", "authMode": "bucketPolicy", "bucketOwnerAccountId": "222222222222"}))
            .await;
        let policies = rendered(&world, &bucket).await;
        assert!(
            policies["platformPrincipal"]
                .as_str()
                .unwrap()
                .starts_with(&format!(
                    "{}:sts::111111111111:assumed-role/destinations-platform-writer/destination-",
                    d.arn
                )),
            "{policies}"
        );
        for document in policies["documents"].as_array().unwrap() {
            assert_all_of(
                d,
                document["kind"].as_str().unwrap(),
                document["text"].as_str().unwrap(),
            );
        }
    }
}

#[tokio::test]
async fn a_destination_in_another_partition_than_the_deployment_or_its_own_region_is_refused() {
    let cn = &DEPLOYMENTS[0];
    let world = deployed(cn);
    let api = world.api();
    // GIVEN a China deployment, WHEN a destination names a region of another partition
    let refused = api
        .send(
            support::api::request("POST", "/destinations").json(
                json!({"name": "Lake", "bucket": "acme-exports", "authMode": "iamRole", "region": "eu-west-1"}),
            ),
        )
        .await
        .expect(409);
    // THEN it is refused: the deployment has no principals there
    assert_eq!(refused.problem(), "partition-not-served");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("aws partition")
    );
    // WHEN a destination of the partition is given a role or key of another one
    let id = api
        .create_id(json!({"name": "Lake", "bucket": "acme-exports", "authMode": "iamRole", "region": "cn-north-1"}))
        .await;
    for (field, value) in [
        ("roleArn", "arn:aws:iam::222222222222:role/AcmeDelivery"),
        (
            "kmsKeyArn",
            "arn:aws-us-gov:kms:us-gov-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
    ] {
        let edit = json!({ field: value });
        let patched = api.patch(&id, edit.clone()).await.expect(400);
        let previewed = api.preview(&id, edit).await.expect(400);
        // THEN the field is refused, saying which partitions disagree, and nothing is stored
        let error: &Value = &patched.json()["errors"][0];
        assert_eq!(error["field"], field);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("partition") && message.contains("aws-cn"),
            "{message}"
        );
        assert_eq!(previewed.json()["errors"], patched.json()["errors"]);
    }
    // AND a new destination whose region and key disagree is refused the same way
    let refused = api
        .send(support::api::request("POST", "/destinations").json(json!({
            "name": "Lake", "bucket": "acme-exports", "authMode": "iamRole", "region": "cn-north-1",
            "kmsKeyArn": "arn:aws-us-gov:kms:us-gov-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        })))
        .await
        .expect(400);
    assert_eq!(refused.json()["errors"][0]["field"], "kmsKeyArn");
    let stored = api.get(&format!("/destinations/{id}")).await.json();
    assert_eq!(stored["roleArn"], Value::Null);
    assert_eq!(stored["kmsKeyArn"], Value::Null);
    assert_eq!(stored["version"], 1);
}

#[test]
fn the_regions_a_check_uses_resolve_to_the_partitions_own_sts_and_s3_endpoints() {
    use aws_sdk_s3::config::endpoint::ResolveEndpoint as _;
    use aws_sdk_sts::config::endpoint::ResolveEndpoint as _;
    for d in &DEPLOYMENTS {
        // GIVEN the region a check of a destination naming none writes to (the partition's)
        let region = d.partition.default_region();
        assert_eq!(region, d.region);
        // WHEN the SDK resolves STS and S3 there
        let (sts_resolver, s3_resolver) = (
            aws_sdk_sts::config::endpoint::DefaultResolver::new(),
            aws_sdk_s3::config::endpoint::DefaultResolver::new(),
        );
        let sts_params = aws_sdk_sts::config::endpoint::Params::builder()
            .region(region)
            .build()
            .unwrap();
        let s3_params = aws_sdk_s3::config::endpoint::Params::builder()
            .region(region)
            .bucket("acme-exports")
            .build()
            .unwrap();
        let sts = futures::executor::block_on(sts_resolver.resolve_endpoint(&sts_params)).unwrap();
        let s3 = futures::executor::block_on(s3_resolver.resolve_endpoint(&s3_params)).unwrap();
        // THEN both are the partition's own endpoints
        assert_eq!(sts.url(), format!("https://sts.{region}.{}", d.dns));
        assert!(
            s3.url().ends_with(&format!(".s3.{region}.{}", d.dns)),
            "{}",
            s3.url()
        );
    }
}
