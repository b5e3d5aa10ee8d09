//! The setup kit, each way a customer would use it, ending in a passing Test Connection: the
//! quick-create link through the emulator's CloudFormation, the AWS CLI script (run twice), and
//! the bucket-policy script against a bucket that already has a policy.

use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};
use support::api::verdict;
use support::world::World;

use dev_support::accounts::{Account, unique};
use dev_support::emulator::emulator;

/// Runs `program` as the customer of `account` would, with its credentials and the emulator as
/// AWS; returns stdout, panicking with stderr on failure.
/// Runs `program` as `account`, against the emulator, with `stdin`.
fn spawn_as(
    account: &Account,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &account.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &account.secret_access_key)
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_DEFAULT_REGION", dev_support::accounts::REGION)
        .env("AWS_ENDPOINT_URL", &emulator().endpoint)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}); run the tests with infra/test.sh, which installs it"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn run_as(account: &Account, program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let output = spawn_as(account, program, args, stdin);
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn kit(world: &World, id: &str) -> Value {
    world
        .api()
        .get(&format!("/destinations/{id}/setup-kit"))
        .await
        .expect(200)
        .json()
}

/// The bucket's lifecycle rules as `(ID, the rest of the rule as S3 returns it)`.
fn lifecycle_rules(account: &Account, bucket: &str) -> Vec<(String, Value)> {
    let output = run_as(
        account,
        "aws",
        &[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            bucket,
            "--query",
            "Rules",
            "--output",
            "json",
        ],
        None,
    );
    let rules: Vec<Value> = serde_json::from_str(&output).unwrap();
    rules
        .into_iter()
        .map(|mut rule| {
            let id = rule.as_object_mut().unwrap().remove("ID").unwrap();
            (id.as_str().unwrap().to_owned(), rule)
        })
        .collect()
}

fn our_incomplete_uploads_rule(folder: &str) -> Value {
    json!({"Filter": {"Prefix": folder}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}})
}

/// The quick-create link's parameters, as the console reads them from the URL.
fn link_parameters(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('#').unwrap().1.split_once('?').unwrap().1;
    shared::http::parse_query(query)
}

#[tokio::test]
async fn the_quick_create_link_makes_a_role_that_passes() {
    // GIVEN a role-mode destination and its kit
    let world = World::new().await;
    let bucket = world.role_account_bucket().await;
    let created = world
        .api()
        .create(
            json!({"name": "Lake", "bucket": bucket, "folder": "exports", "authMode": "iamRole"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let cf = kit(&world, &id).await["cloudFormation"].clone();
    // WHEN the customer follows the link: the console reads the template from templateURL and
    // creates the stack with the link's parameters
    let link = link_parameters(cf["quickCreateUrl"].as_str().unwrap());
    let template_url = &link.iter().find(|(k, _)| k == "templateURL").unwrap().1;
    let template = dev_support::http::send("GET", template_url, &[], None)
        .await
        .unwrap();
    assert_eq!(
        template.status,
        200,
        "the template is public: {}",
        template.text()
    );
    assert_eq!(template.text(), cf["template"].as_str().unwrap());
    let stack = link
        .iter()
        .find(|(k, _)| k == "stackName")
        .unwrap()
        .1
        .clone();
    let mut args = vec![
        "cloudformation".to_owned(),
        "create-stack".into(),
        "--stack-name".into(),
        stack.clone(),
        "--template-body".into(),
        template.text(),
        "--capabilities".into(),
        "CAPABILITY_NAMED_IAM".into(),
        "--parameters".into(),
    ];
    for (name, value) in link
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("param_")?, v)))
    {
        args.push(format!("ParameterKey={name},ParameterValue={value}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let account = world.customer_role_account();
    run_as(account, "aws", &args, None);
    let outputs: Value = serde_json::from_str(&run_as(
        account,
        "aws",
        &["cloudformation", "describe-stacks", "--stack-name", &stack],
        None,
    ))
    .unwrap();
    let stack = &outputs["Stacks"][0];
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE");
    let role = stack["Outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["OutputKey"] == "RoleArn")
        .unwrap()["OutputValue"]
        .as_str()
        .unwrap()
        .to_owned();
    // THEN the role it made passes Test Connection
    assert_role_passes(&world, &id, &role).await;

    // WHEN the destination is saved, its External ID rotation started, and the customer runs the
    // kit's stack update (every parameter as the kit says now, the role's name kept)
    world.api().save(&id).await.expect(200);
    world
        .api()
        .send(support::api::request(
            "POST",
            &format!("/destinations/{id}/external-id/rotation"),
        ))
        .await
        .expect(200);
    let cf = kit(&world, &id).await["cloudFormation"].clone();
    run_as(
        account,
        "bash",
        &["-c", cf["updateCommand"].as_str().unwrap()],
        None,
    );
    let updated: Value = serde_json::from_str(&run_as(
        account,
        "aws",
        &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            cf["stackName"].as_str().unwrap(),
        ],
        None,
    ))
    .unwrap();
    assert_eq!(updated["Stacks"][0]["StackStatus"], "UPDATE_COMPLETE");
    // THEN the same role passes Test Connection with the next ID, so the rotation completes
    let result = world.api().test(&id).await.expect(200).json();
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
    world
        .api()
        .send(support::api::request(
            "POST",
            &format!("/destinations/{id}/external-id/rotation/complete"),
        ))
        .await
        .expect(200);
}

/// A role destination writing into a new bucket of the role account, and its kit's CLI script:
/// `(bucket, destination id, script)`.
async fn role_destination_and_its_script(world: &World) -> (String, String, String) {
    let bucket = world.role_account_bucket().await;
    let created = world
        .api()
        .create(json!({"name": "Lake", "bucket": bucket, "authMode": "iamRole"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let script = kit(world, &id).await["awsCli"].as_str().unwrap().to_owned();
    (bucket, id, script)
}

#[tokio::test]
async fn the_cli_script_run_twice_makes_a_role_that_passes() {
    let world = World::new().await;
    let (bucket, id, script) = role_destination_and_its_script(&world).await;
    // WHEN the customer runs it with SKIP_LIFECYCLE=1
    run_as(
        world.customer_role_account(),
        "bash",
        &["-s"],
        Some(&format!("export SKIP_LIFECYCLE=1\n{script}")),
    );
    // THEN the bucket's lifecycle configuration is left alone
    let untouched = spawn_as(
        world.customer_role_account(),
        "aws",
        &[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            &bucket,
        ],
        None,
    );
    assert!(
        String::from_utf8_lossy(&untouched.stderr).contains("NoSuchLifecycleConfiguration"),
        "{untouched:?}"
    );
    // WHEN the customer runs it twice (the second run changes nothing and fails on nothing)
    let first = run_as(
        world.customer_role_account(),
        "bash",
        &["-s"],
        Some(&script),
    );
    let second = run_as(
        world.customer_role_account(),
        "bash",
        &["-s"],
        Some(&script),
    );
    // THEN both print the role's ARN, and that role passes
    let role = first.trim().lines().last().unwrap().to_owned();
    assert!(
        role.starts_with("arn:aws:iam::") && role.contains(":role/DataPlatformDestination-"),
        "{first}"
    );
    assert_eq!(second.trim().lines().last().unwrap(), role);
    // AND the bucket, which had no lifecycle configuration, has the rule for incomplete uploads once
    assert_eq!(
        lifecycle_rules(world.customer_role_account(), &bucket),
        [(
            format!("DataPlatformDestination-{id}-IncompleteUploads"),
            our_incomplete_uploads_rule("")
        )]
    );
    assert_role_passes(&world, &id, &role).await;
}

// Multi-threaded: the customer's script blocks this test while the API it calls serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_policy_script_keeps_the_customers_statements_and_passes() {
    // GIVEN the API served locally with its kit reaching it by the tenant header, and a customer
    // bucket that already has a policy
    let mut world = World::new().await;
    world
        .platform
        .functions
        .get_mut(dev_support::services::POLICIES_API)
        .unwrap()
        .env
        .insert("SETUP_KIT_TENANT_HEADER".into(), "true".into());
    let services = Arc::new(
        Box::pin(dev_support::services::Services::wire(
            &world.platform,
            dev_support::services::quick_check_settings(),
        ))
        .await,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(dev_support::server::serve(
        listener,
        services.clone(),
        std::future::pending(),
    ));
    let customer = Account::create(emulator()).await;
    let bucket = unique("merge");
    customer.create_bucket(&bucket).await;
    let theirs = json!({"Version": "2012-10-17", "Statement": [{"Sid": "TheirReaders", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", customer.id)}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    customer
        .put_bucket_policy(&bucket, &theirs.to_string())
        .await;
    let their_rule =
        json!({"Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}});
    let mut lifecycle = json!({"Rules": [their_rule]});
    lifecycle["Rules"][0]["ID"] = json!("TheirExpiry");
    run_as(
        &customer,
        "aws",
        &[
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            &bucket,
            "--lifecycle-configuration",
            &lifecycle.to_string(),
            "--transition-default-minimum-object-size",
            "varies_by_storage_class",
        ],
        None,
    );
    let base = format!("http://{address}");
    let send = |method: &str, path: &str, body: Option<Value>| {
        let url = format!("{base}{path}");
        let method = method.to_owned();
        async move {
            let mut headers = vec![("x-tenant-id", support::api::TENANT)];
            if body.is_some() {
                headers.push(("content-type", "application/json"));
            }
            dev_support::http::send(
                &method,
                &url,
                &headers,
                body.map(|b| b.to_string().into_bytes()),
            )
            .await
            .unwrap()
        }
    };
    // (the local server: a caller that sends its groups without the write permission is a reader)
    let as_reader = |method: &str, path: &str| {
        let url = format!("{base}{path}");
        let method = method.to_owned();
        async move {
            dev_support::http::send(
                &method,
                &url,
                &[
                    ("x-tenant-id", support::api::TENANT),
                    ("x-groups", "[analysts]"),
                    ("content-type", "application/json"),
                ],
                Some(b"{}".to_vec()),
            )
            .await
            .unwrap()
        }
    };
    let refused = as_reader("POST", "/destinations").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["type"], "/problems/read-only");
    assert_eq!(as_reader("GET", "/me").await.json()["canWrite"], false);
    assert_eq!(send("GET", "/me", None).await.json()["canWrite"], true);
    let created = send("POST", "/destinations", Some(json!({"name": "Raw", "bucket": bucket, "folder": "in", "authMode": "bucketPolicy", "bucketOwnerAccountId": customer.id}))).await.json();
    let id = created["id"].as_str().unwrap().to_owned();
    let script = send("GET", &format!("/destinations/{id}/setup-kit"), None)
        .await
        .json()["awsCli"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN the customer runs the script where nobody can answer its question
    let unconfirmed = run_expecting_failure(&customer, &script, &[]);
    // THEN it showed our statement, asked, applied nothing and said how to apply it
    assert!(
        unconfirmed.contains(&format!("\"arn:aws:s3:::{bucket}/in/*\"")),
        "{unconfirmed}"
    );
    assert!(unconfirmed.contains("--yes"), "{unconfirmed}");
    let untouched: Value = bucket_policy(&customer, &bucket).await;
    assert_eq!(untouched, theirs);
    // WHEN the customer runs it with --yes, twice
    for _ in 0..2 {
        run_as(&customer, "bash", &["-s", "--", "--yes"], Some(&script));
    }
    // THEN the bucket policy holds their statement and ours, once each
    let policy: Value = bucket_policy(&customer, &bucket).await;
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "TheirReaders",
            &format!("DataPlatformDestination{}", id.replace('-', ""))
        ]
    );
    // AND its lifecycle configuration holds their rule and ours (for incomplete uploads), once each
    assert_eq!(
        lifecycle_rules(&customer, &bucket),
        [
            ("TheirExpiry".to_owned(), their_rule),
            (
                format!("DataPlatformDestination-{id}-IncompleteUploads"),
                our_incomplete_uploads_rule("in/")
            )
        ]
    );
    // AND the bucket's setting for transitions of small objects, which a put without it resets
    let minimum = run_as(
        &customer,
        "aws",
        &[
            "s3api",
            "get-bucket-lifecycle-configuration",
            "--bucket",
            &bucket,
            "--query",
            "TransitionDefaultMinimumObjectSize",
            "--output",
            "text",
        ],
        None,
    );
    assert_eq!(minimum.trim(), "varies_by_storage_class");
    // AND the destination passes
    let result = send("POST", &format!("/destinations/{id}/test"), None)
        .await
        .json();
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
    // WHEN someone adds a statement that lets everyone put, and the script runs again
    let mut broad = policy.clone();
    broad["Statement"].as_array_mut().unwrap().push(json!({"Sid": "Everyone", "Effect": "Allow",
        "Principal": "*", "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}));
    customer
        .put_bucket_policy(&bucket, &broad.to_string())
        .await;
    let refused = run_expecting_failure(&customer, &script, &["--yes"]);
    // THEN it refuses, says why, and changes nothing
    assert!(refused.contains("--force"), "{refused}");
    let after: Value = bucket_policy(&customer, &bucket).await;
    assert_eq!(after, broad);
}

/// `role` set on destination `id` passes Test Connection.
async fn assert_role_passes(world: &World, id: &str, role: &str) {
    world
        .api()
        .patch(id, json!({"roleArn": role}))
        .await
        .expect(200);
    let result = world.api().test(id).await.expect(200).json();
    assert_eq!(
        verdict(&result),
        ("passed".into(), String::new()),
        "{result}"
    );
}

/// The bucket's policy as S3 returns it.
async fn bucket_policy(account: &Account, bucket: &str) -> Value {
    let policy = account
        .s3()
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    serde_json::from_str(&policy).unwrap()
}

/// Runs `script` with bash as `account`, with `options`; it must fail. Returns what it printed.
fn run_expecting_failure(account: &Account, script: &str, options: &[&str]) -> String {
    let args: Vec<&str> = ["-s", "--"].iter().chain(options).copied().collect();
    let output = spawn_as(account, "bash", &args, Some(script));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the script succeeded:\n{printed}");
    printed
}

#[tokio::test]
async fn the_role_script_does_not_take_over_a_role_it_did_not_make() {
    // GIVEN a role destination and, in the customer's account, an unrelated role that already
    // has the name the kit suggests
    let world = World::new().await;
    let (_, id, script) = role_destination_and_its_script(&world).await;
    let customer = world.customer_role_account();
    let role_name = format!("DataPlatformDestination-{}", &id[..8]);
    // (it even names our connector, in a Deny: that is no trust)
    let theirs = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": world.platform.connector_principal}, "Action": "sts:AssumeRole"}]});
    run_as(
        customer,
        "aws",
        &[
            "iam",
            "create-role",
            "--role-name",
            &role_name,
            "--assume-role-policy-document",
            &theirs.to_string(),
        ],
        None,
    );
    let trust = || {
        let printed = run_as(
            customer,
            "aws",
            &[
                "iam",
                "get-role",
                "--role-name",
                &role_name,
                "--query",
                "Role.AssumeRolePolicyDocument",
                "--output",
                "json",
            ],
            None,
        );
        serde_json::from_str::<Value>(&printed).unwrap()
    };
    // WHEN the customer runs the kit's script
    let refused =
        run_expecting_failure(customer, &format!("export SKIP_LIFECYCLE=1\n{script}"), &[]);
    // THEN it refuses, says why and how to go on, and the role still trusts only its own service
    assert!(
        refused.contains("does not trust the data platform"),
        "{refused}"
    );
    assert!(refused.contains("--force"), "{refused}");
    assert_eq!(trust(), theirs);
    // WHEN the customer insists with --force
    let printed = run_as(
        customer,
        "bash",
        &["-s", "--", "--force"],
        Some(&format!("export SKIP_LIFECYCLE=1\n{script}")),
    );
    // THEN the role is taken over: it trusts the connector with the External ID, and passes
    assert!(
        trust().to_string().contains("sts:ExternalId"),
        "{}",
        trust()
    );
    let role = printed.trim().lines().last().unwrap().to_owned();
    assert_role_passes(&world, &id, &role).await;
}

/// A stand-in for CloudFormation's pre-signed response URL: answers one PUT and hands back its
/// body.
async fn response_url() -> (String, tokio::sync::oneshot::Receiver<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/response?signed=yes",
        listener.local_addr().unwrap()
    );
    let (sender, receiver) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    assert!(head.starts_with("PUT /response?signed=yes "), "{head}");
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = sender.send(serde_json::from_str(body).unwrap());
                    return;
                }
            }
            if read == 0 {
                return;
            }
        }
    });
    (url, receiver)
}

#[tokio::test]
async fn the_sample_custom_resource_events_publish_the_kit_and_keep_it_on_delete() {
    // GIVEN an empty kit bucket, and the sample Create event aimed at it and at a response URL
    let account = Account::create(emulator()).await;
    let bucket = unique("kit");
    account.create_bucket(&bucket).await;
    let s3 = account.s3();
    let event = |request_type: &str, url: &str| {
        let mut raw: Value = dev_support::events::parse("publish-kit-create.json");
        raw["RequestType"] = json!(request_type);
        raw["ResponseURL"] = json!(url);
        raw["ResourceProperties"]["Bucket"] = json!(bucket);
        if request_type == "Delete" {
            raw["PhysicalResourceId"] = json!(format!("setup-kit-v4-{bucket}"));
        }
        serde_json::from_value::<publish_kit::handler::CustomResourceEvent>(raw).unwrap()
    };
    let keys = || async {
        let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    };
    // WHEN CloudFormation creates the resource
    let (url, answer) = response_url().await;
    publish_kit::handler::handle(&s3, event("Create", &url))
        .await
        .unwrap();
    // THEN every template of this version is in the bucket, and CloudFormation heard SUCCESS
    let answer = answer.await.unwrap();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["LogicalResourceId"], "SetupKit");
    // (published for the principals the event names, which the role template alone accepts)
    let deployment = shared::domain::PlatformIdentity::parse(
        "arn:aws:iam::123456789012:role/destinations-platform-connector",
        "arn:aws:iam::123456789012:role/destinations-platform-writer",
        None,
    )
    .unwrap();
    let published = shared::kit::templates(&deployment);
    let expected: Vec<String> = {
        let mut keys: Vec<String> = published.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys
    };
    assert_eq!(keys().await, expected);
    let role = s3
        .get_object()
        .bucket(&bucket)
        .key(&published[0].0)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(String::from_utf8_lossy(&role), published[0].1);
    // WHEN the stack deletes it
    let (url, answer) = response_url().await;
    publish_kit::handler::handle(&s3, event("Delete", &url))
        .await
        .unwrap();
    // THEN the templates stay (links already handed out keep working)
    assert_eq!(answer.await.unwrap()["Status"], "SUCCESS");
    assert_eq!(keys().await, expected);
}

#[tokio::test]
async fn a_create_without_the_principals_to_accept_publishes_nothing_and_fails() {
    // GIVEN the sample Create event without the deployment's principals
    let account = Account::create(emulator()).await;
    let bucket = unique("kit");
    account.create_bucket(&bucket).await;
    let s3 = account.s3();
    let (url, answer) = response_url().await;
    let mut raw: Value = dev_support::events::parse("publish-kit-create.json");
    raw["ResponseURL"] = json!(url);
    raw["ResourceProperties"]["Bucket"] = json!(bucket);
    raw["ResourceProperties"]
        .as_object_mut()
        .unwrap()
        .remove("PlatformPrincipalArns");
    let event = serde_json::from_value(raw).unwrap();
    // WHEN CloudFormation creates the resource
    publish_kit::handler::handle(&s3, event).await.unwrap();
    // THEN it hears FAILED with the reason, and no template accepting any principal was published
    let answer = answer.await.unwrap();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(
        answer["Reason"].as_str().unwrap().contains("principals"),
        "{answer}"
    );
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert!(listed.contents().is_empty());
}

/// The role template as customers read it from the kit's URL.
async fn published_role_template(platform: &dev_support::platform::EmulatedPlatform) -> String {
    dev_support::http::send(
        "GET",
        &format!("{}role.yaml", platform.kit_templates_url),
        &[],
        None,
    )
    .await
    .unwrap()
    .text()
}

#[tokio::test]
async fn only_the_publisher_writes_or_removes_the_kits_templates() {
    // GIVEN the platform, its kit published by the publisher function
    let world = World::new().await;
    let platform = &world.platform;
    let key = format!("setup-kit/{}/role.yaml", shared::kit::KIT_VERSION);
    let before = published_role_template(platform).await;
    // WHEN the account's administrator, or another of the platform's functions, overwrites or
    // deletes a template
    let others = [
        ("the administrator", platform.account.s3()),
        (
            "the API function",
            dev_support::accounts::s3_client(&platform.function("DestinationsApiFunction").config),
        ),
    ];
    for (who, s3) in &others {
        let put = s3
            .put_object()
            .bucket(&platform.kit_bucket)
            .key(&key)
            .body(b"Resources: {}".to_vec().into())
            .send()
            .await;
        let delete = s3
            .delete_object()
            .bucket(&platform.kit_bucket)
            .key(&key)
            .send()
            .await;
        // THEN both are denied
        for (what, code) in [
            (
                "put",
                put.err()
                    .and_then(|e| e.into_service_error().meta().code().map(str::to_owned)),
            ),
            (
                "delete",
                delete
                    .err()
                    .and_then(|e| e.into_service_error().meta().code().map(str::to_owned)),
            ),
        ] {
            assert!(
                matches!(
                    code.as_deref(),
                    Some("AccessDenied" | "AccessDeniedException")
                ),
                "{who} could {what} a template: {code:?}"
            );
        }
    }
    // AND the template customers read is unchanged, and the publisher can still publish
    let after = published_role_template(platform).await;
    assert_eq!(after, before);
    let publisher =
        dev_support::accounts::s3_client(&platform.function("PublishKitFunction").config);
    publish_kit::handler::publish(
        &publisher,
        &platform.kit_bucket,
        &platform.platform_identity(),
    )
    .await
    .unwrap();
}
