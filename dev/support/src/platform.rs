//! The platform inside the emulator, built from `template.yaml` itself: every function runs as an
//! identity with exactly the statements the template grants it, the connector and writer roles
//! have the template's trust and permissions, and each function's environment is the template's.
//!
//! Where the emulator differs from AWS (`docs/emulator.md`), this module — and nothing else —
//! adapts, in [`Concessions`]:
//! 1. A function's execution role is an IAM user with the role's statements (there is no Lambda
//!    to take on a role), and trust policies naming that role name the user.
//! 2. The emulator matches a role ARN named as a principal only literally, never to the role's
//!    sessions. So policies naming the connector role name its session instead (our functions
//!    always take it on under one fixed session name), and so does `PLATFORM_PRINCIPAL_ARNS`.
//! 3. Cross-account AssumeRole with an `sts:ExternalId` condition is always denied, so customer
//!    roles live in the platform account. "Our own accounts" (the denials in the connector and
//!    writer policies, and `PLATFORM_ACCOUNT_IDS`) are then a stand-in account holding nothing,
//!    unless a test of those denials asks for the real one ([`PlatformAccounts::Own`]).
//! 4. AWS authorises `SendMessageBatch` with `sqs:SendMessage`, and the requests of a multipart
//!    upload with `s3:PutObject`; the emulator asks for each request's own action name, so a grant
//!    of the one is a grant of the others (in the template's policies, in the documents a test
//!    customer applies through [`customer_document`], and in our session policies through
//!    `S3_MULTIPART_ACTION_NAMES`).
//! 5. The emulator serves plain HTTP only (`aws:SecureTransport` is always false), so statements
//!    that deny insecure transport are left out, and S3 URLs are its path-style ones.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use serde_json::{Value, json};

use crate::accounts::{Account, random_account_id, unique};
use crate::emulator::Emulator;
use crate::template::{self, Stack};

pub const CONNECTOR_ROLE: &str = "ConnectorRole";
pub const WRITER_ROLE: &str = "WriterRole";

/// What "the platform's own accounts" are in this emulated stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformAccounts {
    /// A stand-in account: customer roles can live in the platform account (concession 3).
    StandIn,
    /// The platform account itself, as deployed. Customer roles there are refused, as on AWS.
    Own,
}

pub struct Options {
    /// A fixed platform account (the local run), else a random one.
    pub account_id: Option<String>,
    pub platform_accounts: PlatformAccounts,
    /// Resource names end in this, so several platforms share one emulator.
    pub suffix: String,
    /// Whether the table has its stream (throughput runs go without: the emulator's stream
    /// bookkeeping makes every write slower than the last).
    pub stream: bool,
    /// Another template than template.yaml (a test that removes a statement from it).
    pub template: Option<Value>,
    /// Whether the kit is published as the stack's custom resource would publish it (a test that
    /// takes the publisher's statement away cannot).
    pub publish_kit: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            account_id: None,
            platform_accounts: PlatformAccounts::StandIn,
            suffix: unique("d"),
            stream: true,
            template: None,
            publish_kit: true,
        }
    }
}

/// One function of the template, as the emulator runs it.
pub struct FunctionIdentity {
    /// The IAM user standing in for its execution role (concession 1).
    pub arn: String,
    pub config: SdkConfig,
    /// Its environment, as the template sets it (with the concessions).
    pub env: BTreeMap<String, String>,
}

pub struct EmulatedPlatform {
    pub endpoint: String,
    /// The platform account's administrator (sets things up; never plays our code).
    pub account: Account,
    /// What `PLATFORM_ACCOUNT_IDS` holds.
    pub platform_account_ids: Vec<String>,
    /// What customers' trust policies name (concession 2).
    pub connector_principal: String,
    pub connector_role_arn: String,
    pub writer_role_arn: String,
    pub table: String,
    pub table_stream_arn: Option<String>,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    /// Where exporters stage files, and the queue (with its dead-letter queue) they may send
    /// delivery requests to.
    pub staging_bucket: String,
    pub delivery_queue_url: String,
    pub delivery_dead_letter_queue_url: String,
    pub failed_invocations_queue_url: String,
    pub event_bus: String,
    /// The public bucket of the setup kit's templates, and the URL they are read from.
    pub kit_bucket: String,
    pub kit_templates_url: String,
    /// Every event put on the bus lands here too (a rule the tests and the local run read).
    pub observer_queue_url: String,
    pub functions: BTreeMap<String, FunctionIdentity>,
    pub template: Value,
}

impl EmulatedPlatform {
    pub async fn create(emulator: &Emulator, options: Options) -> EmulatedPlatform {
        let template = options.template.clone().unwrap_or_else(template::template);
        let account = match &options.account_id {
            Some(id) => Account::with_id(emulator, id).await,
            None => Account::create(emulator).await,
        };
        let suffix = &options.suffix;
        let mut stack = base_stack(&template, &account.id, &emulator.region, suffix);
        let names = Names::new(suffix);

        // The data plane first: its ARNs go into every policy.
        let table = names.table.clone();
        shared::adapters::dynamodb::schema::create_table(
            &account.dynamodb(),
            &table,
            options.stream,
        )
        .await
        .expect("CreateTable");
        let described = account
            .dynamodb()
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .expect("table");
        let table_arn = described.table_arn.clone().expect("table ARN");
        let table_stream_arn = described.latest_stream_arn.clone();
        let sqs = account.sqs();
        let dead_letter = create_queue(&sqs, &names.dead_letter_queue, None).await;
        let queue = create_queue(
            &sqs,
            &names.queue,
            Some(redrive_policy(
                &template,
                "RevalidationQueue",
                &dead_letter.1,
            )),
        )
        .await;
        let failed = create_queue(&sqs, &names.failed_invocations_queue, None).await;
        let delivery_dead_letter =
            create_queue(&sqs, &names.delivery_dead_letter_queue, None).await;
        let delivery_queue = create_queue(
            &sqs,
            &names.delivery_queue,
            Some(redrive_policy(
                &template,
                "DeliveryQueue",
                &delivery_dead_letter.1,
            )),
        )
        .await;
        // The staging bucket's only statement denies plain HTTP, which is all the emulator
        // speaks (concession 5): it gets no policy here.
        let staging_bucket = names.staging_bucket.clone();
        account.create_bucket(&staging_bucket).await;
        let observer = create_queue(&sqs, &names.observer_queue, None).await;
        let events = account.events();
        let bus_arn = events
            .create_event_bus()
            .name(&names.event_bus)
            .send()
            .await
            .expect("CreateEventBus")
            .event_bus_arn
            .expect("bus ARN");
        events
            .put_rule()
            .name(format!("observe-{suffix}"))
            .event_bus_name(&names.event_bus)
            .event_pattern(
                json!({"source": [shared::domain::revalidation::EVENT_SOURCE]}).to_string(),
            )
            .send()
            .await
            .expect("PutRule");
        events
            .put_targets()
            .rule(format!("observe-{suffix}"))
            .event_bus_name(&names.event_bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("observer")
                    .arn(&observer.1)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("PutTargets");
        stack
            .set("DestinationsTable", table.as_str())
            .set("DestinationsTable.Arn", table_arn.as_str())
            .set(
                "DestinationsTable.StreamArn",
                // Without a stream, an ARN of the same shape that matches nothing keeps the
                // stream function's policy valid.
                table_stream_arn
                    .clone()
                    .unwrap_or_else(|| format!("{table_arn}/stream/none")),
            )
            .set("RevalidationQueue", queue.0.as_str())
            .set("RevalidationQueue.Arn", queue.1.as_str())
            .set("RevalidationDeadLetterQueue.Arn", dead_letter.1.as_str())
            .set("DeliveryQueue", delivery_queue.0.as_str())
            .set("DeliveryQueue.Arn", delivery_queue.1.as_str())
            .set(
                "DeliveryDeadLetterQueue.Arn",
                delivery_dead_letter.1.as_str(),
            )
            .set("StagingBucket", staging_bucket.as_str())
            .set(
                "StagingBucket.Arn",
                format!("arn:{}:s3:::{staging_bucket}", account.partition),
            )
            .set("FailedInvocationsQueue", failed.0.as_str())
            .set("FailedInvocationsQueue.Arn", failed.1.as_str())
            .set("DestinationEventBus", names.event_bus.as_str())
            .set("DestinationEventBus.Arn", bus_arn.as_str());

        let kit_bucket = format!("setup-kit-{suffix}");
        account.create_bucket(&kit_bucket).await;
        stack.set("SetupKitBucket", kit_bucket.as_str()).set(
            "SetupKitBucket.Arn",
            format!("arn:{}:s3:::{kit_bucket}", account.partition),
        );
        let kit_templates_url = format!(
            "{}/{kit_bucket}/setup-kit/{}/",
            emulator.endpoint,
            shared::kit::KIT_VERSION
        );

        let connector_name = param(&stack, "ConnectorRoleName");
        let writer_name = param(&stack, "WriterRoleName");
        let connector_role_arn = account.role_arn(&connector_name);
        let writer_role_arn = account.role_arn(&writer_name);
        stack
            .set("ConnectorRole.Arn", connector_role_arn.as_str())
            .set("WriterRole.Arn", writer_role_arn.as_str());
        let concessions = Concessions {
            connector_role_arn: connector_role_arn.clone(),
            connector_principal: format!(
                "arn:{}:sts::{}:assumed-role/{connector_name}/{}",
                account.partition,
                account.id,
                shared::domain::CONNECTOR_SESSION_NAME
            ),
            own_account: account.id.clone(),
            kit_templates_url: kit_templates_url.clone(),
            platform_account_ids: match options.platform_accounts {
                PlatformAccounts::StandIn => vec![random_account_id()],
                PlatformAccounts::Own => vec![account.id.clone()],
            },
        };

        // Execution identities, one per function (concession 1).
        let mut functions = BTreeMap::new();
        let function_ids: Vec<String> = template["Resources"]
            .as_object()
            .expect("Resources")
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
            .map(|(id, _)| id.clone())
            .collect();
        for id in &function_ids {
            let statements = concessions
                .policy(stack.resolve(&Value::Array(template::function_statements(&template, id))));
            let policy = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
            // The deliver function sends large parts and sets no probe timeouts.
            let probing =
                connector_trusts(&template, &format!("{id}Role")) && id != "DeliverFunction";
            let (arn, config) = account
                .create_user(emulator, &format!("{id}-{suffix}"), &policy, probing)
                .await;
            stack.set(&format!("{id}Role.Arn"), arn.as_str());
            let env = concessions.env(function_env(&template, &stack, id));
            functions.insert(id.clone(), FunctionIdentity { arn, config, env });
        }

        // The connector and the writer, with the template's trust and permissions.
        for (logical_id, name) in [
            (CONNECTOR_ROLE, &connector_name),
            (WRITER_ROLE, &writer_name),
        ] {
            create_template_role(&account, &template, &stack, &concessions, logical_id, name).await;
        }

        let platform = EmulatedPlatform {
            endpoint: emulator.endpoint.clone(),
            platform_account_ids: concessions.platform_account_ids.clone(),
            connector_principal: concessions.connector_principal.clone(),
            connector_role_arn,
            writer_role_arn,
            table,
            table_stream_arn,
            queue_url: queue.0,
            dead_letter_queue_url: dead_letter.0,
            staging_bucket,
            delivery_queue_url: delivery_queue.0,
            delivery_dead_letter_queue_url: delivery_dead_letter.0,
            failed_invocations_queue_url: failed.0,
            event_bus: names.event_bus,
            kit_bucket,
            kit_templates_url,
            observer_queue_url: observer.0,
            functions,
            template,
            account,
        };
        if options.publish_kit {
            platform.publish_kit(&stack).await;
        }
        platform
    }

    /// The kit bucket's policy from the template (concession 5 applied), and this kit version's
    /// templates published into it by the publisher function, the only identity it lets write.
    async fn publish_kit(&self, stack: &Stack) {
        let mut policy = stack.resolve(
            &template::resource(&self.template, "SetupKitBucketPolicy")["Properties"]
                ["PolicyDocument"],
        );
        policy["Statement"]
            .as_array_mut()
            .expect("statements")
            .retain(|s| s["Condition"]["Bool"]["aws:SecureTransport"].is_null());
        self.account
            .put_bucket_policy(&self.kit_bucket, &policy.to_string())
            .await;
        let publisher = crate::accounts::s3_client(&self.function("PublishKitFunction").config);
        publish_kit::handler::publish(&publisher, &self.kit_bucket, &self.platform_identity())
            .await
            .expect("the setup kit's templates are published");
    }

    /// Sets `name` for every function whose template environment has it.
    pub fn set_env(&mut self, name: &str, value: &str) {
        for function in self.functions.values_mut() {
            if let Some(slot) = function.env.get_mut(name) {
                *slot = value.to_owned();
            }
        }
    }

    pub fn function(&self, logical_id: &str) -> &FunctionIdentity {
        self.functions
            .get(logical_id)
            .unwrap_or_else(|| panic!("template.yaml has no function {logical_id}"))
    }

    /// The platform identity the functions read from their environment.
    pub fn platform_identity(&self) -> shared::domain::PlatformIdentity {
        self.function("TestConnectionFunction")
            .settings()
            .platform()
            .expect("the emulated environment configures the platform")
    }
}

impl FunctionIdentity {
    /// Its configuration, read the way its `main.rs` reads the process environment.
    pub fn settings(&self) -> shared::config::Settings<impl Fn(&str) -> Option<String> + '_> {
        shared::config::Settings(move |name: &str| self.env.get(name).cloned())
    }
}

struct Names {
    table: String,
    queue: String,
    dead_letter_queue: String,
    failed_invocations_queue: String,
    delivery_queue: String,
    delivery_dead_letter_queue: String,
    staging_bucket: String,
    observer_queue: String,
    event_bus: String,
}

impl Names {
    fn new(suffix: &str) -> Self {
        Self {
            table: format!("destinations-{suffix}"),
            queue: format!("revalidation-{suffix}"),
            dead_letter_queue: format!("revalidation-dlq-{suffix}"),
            failed_invocations_queue: format!("failed-invocations-{suffix}"),
            delivery_queue: format!("deliveries-{suffix}"),
            delivery_dead_letter_queue: format!("deliveries-dlq-{suffix}"),
            staging_bucket: format!("staging-{suffix}"),
            observer_queue: format!("observed-events-{suffix}"),
            event_bus: format!("destinations-{suffix}"),
        }
    }
}

/// Pseudo parameters of a stack in `region`, and every parameter at its default.
pub fn base_stack(template: &Value, account: &str, region: &str, suffix: &str) -> Stack {
    let partition = shared::domain::Region::new(region)
        .map(|r| r.partition())
        .unwrap_or(shared::domain::Partition::Aws);
    let mut stack = Stack::default();
    stack
        .set("AWS::Partition", partition.as_str())
        .set("AWS::AccountId", account)
        .set("AWS::Region", region)
        .set("AWS::URLSuffix", partition.dns_suffix())
        .set("AWS::StackName", format!("destinations-{suffix}"));
    for (name, parameter) in template["Parameters"].as_object().expect("Parameters") {
        let default = match (&parameter["Type"], &parameter["Default"]) {
            (_, Value::Null) => continue,
            (t, Value::String(s)) if t == "CommaDelimitedList" => {
                Value::Array(s.split(',').map(|p| json!(p.trim())).collect())
            }
            (_, Value::Number(n)) => Value::String(n.to_string()),
            (_, other) => other.clone(),
        };
        stack.values.insert(name.clone(), default);
    }
    stack.evaluate_conditions(template);
    stack
}

fn param(stack: &Stack, name: &str) -> String {
    stack
        .resolve(&json!({"Ref": name}))
        .as_str()
        .expect("a string parameter")
        .to_owned()
}

/// A queue's redrive policy as the template declares it, towards `dead_letter_arn`.
fn redrive_policy(template: &Value, queue: &str, dead_letter_arn: &str) -> String {
    let declared = &template::resource(template, queue)["Properties"]["RedrivePolicy"];
    let max_receive_count = declared["maxReceiveCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("{queue} declares a maxReceiveCount"));
    json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count.to_string()})
        .to_string()
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    redrive: Option<String>,
) -> (String, String) {
    let mut request = sqs.create_queue().queue_name(name);
    if let Some(redrive) = redrive {
        request = request.attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            redrive,
        );
    }
    let url = request
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue ARN");
    (url, arn)
}

/// Whether the connector trusts this execution role (the function then probes customers, with
/// the probe timeouts its `main.rs` sets).
fn connector_trusts(template: &Value, role: &str) -> bool {
    template::resource(template, CONNECTOR_ROLE)["Properties"]["AssumeRolePolicyDocument"]
        .to_string()
        .contains(&format!("\"{role}\""))
}

fn function_env(template: &Value, stack: &Stack, id: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let own = &template::resource(template, id)["Properties"]["Environment"]["Variables"];
    for variables in [globals, own] {
        for (name, value) in variables.as_object().into_iter().flatten() {
            let resolved = match stack.resolve(value) {
                Value::String(s) => s,
                other => other.to_string(),
            };
            env.insert(name.clone(), resolved);
        }
    }
    env
}

async fn create_template_role(
    account: &Account,
    template: &Value,
    stack: &Stack,
    concessions: &Concessions,
    logical_id: &str,
    name: &str,
) {
    let properties = &template::resource(template, logical_id)["Properties"];
    let trust = concessions.policy(stack.resolve(&properties["AssumeRolePolicyDocument"]));
    let iam = account.iam();
    let mut request = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string());
    if let Some(seconds) = properties["MaxSessionDuration"].as_i64() {
        request = request.max_session_duration(i32::try_from(seconds).expect("an hour or so"));
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"));
    for (policy_name, document) in template::role_policies(template, logical_id) {
        let document = concessions.policy(stack.resolve(&document));
        iam.put_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRolePolicy {name}: {e:?}"));
    }
}

/// 4: AWS authorises SendMessageBatch with `sqs:SendMessage`, and a multipart upload's requests
/// with `s3:PutObject`; the emulator asks for each request's own action name, so a grant of the
/// one is a grant of the others.
fn actions(value: Value) -> Value {
    let mut list: Vec<Value> = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    if list.iter().any(|a| a == "sqs:SendMessage") {
        list.push(json!("sqs:SendMessageBatch"));
    }
    if list.iter().any(|a| a == "s3:PutObject") {
        list.extend(MULTIPART_ACTIONS.iter().map(|a| json!(a)));
    }
    Value::Array(list)
}

/// The emulator's own action names for the requests of a multipart upload (AWS authorises all
/// three as `s3:PutObject`).
pub const MULTIPART_ACTIONS: [&str; 3] = [
    "s3:CreateMultipartUpload",
    "s3:UploadPart",
    "s3:CompleteMultipartUpload",
];

/// A document a customer applies in the emulator (a role's permissions policy, a bucket policy),
/// with concession 4 applied: its `s3:PutObject` grants also name the emulator's multipart
/// actions. Principals and accounts are the customer's own and stay as rendered.
pub fn customer_document(document: &str) -> String {
    fn walk(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = if k == "Action" { actions(v) } else { walk(v) };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
            other => other,
        }
    }
    let value: Value = serde_json::from_str(document).expect("a JSON policy document");
    walk(value).to_string()
}

/// The emulator's differences from AWS, adapted in one place (see the module documentation).
struct Concessions {
    kit_templates_url: String,
    connector_role_arn: String,
    connector_principal: String,
    own_account: String,
    platform_account_ids: Vec<String>,
}

impl Concessions {
    /// A policy (or list of statements) with the principal, account and batch-action
    /// concessions applied.
    fn policy(&self, value: Value) -> Value {
        match value {
            // 2: the connector named as a principal is named by its session.
            Value::String(s) if s == self.connector_role_arn => {
                Value::String(self.connector_principal.clone())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = if k == "aws:ResourceAccount" {
                            self.accounts(v)
                        } else if k == "Action" {
                            actions(v)
                        } else if k == "Resource" || k == "NotResource" {
                            v // a role ARN as a resource is the role itself
                        } else {
                            self.policy(v)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.policy(v)).collect())
            }
            other => other,
        }
    }

    /// 3: "our own accounts" in a denial.
    fn accounts(&self, value: Value) -> Value {
        let replace = |s: &str| -> Vec<Value> {
            if s == self.own_account {
                self.platform_account_ids.iter().map(|a| json!(a)).collect()
            } else {
                vec![json!(s)]
            }
        };
        match value {
            Value::String(s) => Value::Array(replace(&s)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(replace)
                    .collect(),
            ),
            other => other,
        }
    }

    fn env(&self, mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
        if env.contains_key("PLATFORM_PRINCIPAL_ARNS") {
            env.insert(
                "PLATFORM_PRINCIPAL_ARNS".into(),
                self.connector_principal.clone(),
            );
        }
        if env.contains_key("PLATFORM_ACCOUNT_IDS") {
            env.insert(
                "PLATFORM_ACCOUNT_IDS".into(),
                self.platform_account_ids.join(","),
            );
        }
        if env.contains_key("SETUP_KIT_TEMPLATES_URL") {
            env.insert(
                "SETUP_KIT_TEMPLATES_URL".into(),
                self.kit_templates_url.clone(),
            );
        }
        env.insert("S3_FORCE_PATH_STYLE".into(), "true".into());
        env.insert("S3_MULTIPART_ACTION_NAMES".into(), "true".into());
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concessions() -> Concessions {
        Concessions {
            kit_templates_url: "http://127.0.0.1:4566/kit/setup-kit/v4/".into(),
            connector_role_arn: "arn:aws:iam::111111111111:role/c".into(),
            connector_principal: "arn:aws:sts::111111111111:assumed-role/c/s".into(),
            own_account: "111111111111".into(),
            platform_account_ids: vec!["999999999999".into()],
        }
    }

    #[test]
    fn principals_naming_the_connector_name_its_session_but_resources_stay_roles() {
        let trust = json!({"Statement": [{"Principal": {"AWS": "arn:aws:iam::111111111111:role/c"}, "Resource": "arn:aws:iam::111111111111:role/c"}]});
        let adapted = concessions().policy(trust);
        assert_eq!(
            adapted["Statement"][0]["Principal"]["AWS"],
            "arn:aws:sts::111111111111:assumed-role/c/s"
        );
        assert_eq!(
            adapted["Statement"][0]["Resource"],
            "arn:aws:iam::111111111111:role/c"
        );
    }

    #[test]
    fn our_own_account_in_a_denial_becomes_the_stand_in() {
        let deny =
            json!({"Condition": {"StringEquals": {"aws:ResourceAccount": ["111111111111", ""]}}});
        let adapted = concessions().policy(deny);
        assert_eq!(
            adapted["Condition"]["StringEquals"]["aws:ResourceAccount"],
            json!(["999999999999", ""])
        );
    }
}
