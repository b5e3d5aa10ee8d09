//! The setup kit: a destination's documents as a one-click CloudFormation stack, an AWS CLI script
//! and Terraform, each built from the same typed documents the policies endpoint renders.

mod cli;
pub mod lifecycle;
mod terraform;

use serde::Serialize;

use crate::domain::{
    AuthMode, Destination, Partition, PlatformIdentity, PrincipalArn, RoleArn, RoleSessionName,
};
use crate::policy::{RenderedPolicies, statement_sid};

/// The version of the templates under `infra/customer-kit/`; a change to them is a new version,
/// published beside the old ones, so links already handed out keep working.
pub const KIT_VERSION: &str = "v4";
pub const ROLE_TEMPLATE: &str = include_str!("../../../infra/customer-kit/role.yaml");
pub const BUCKET_POLICY_TEMPLATE: &str =
    include_str!("../../../infra/customer-kit/bucket-policy.yaml");

/// Every template of this version as `deployment` publishes it, as `(object key, text)` where the
/// kit bucket serves them. The templates take the principal to trust as a parameter (the
/// quick-create link fills it in); as published, that parameter accepts only this deployment's
/// own principals, so a link that names anyone else's cannot create a stack from our URL.
pub fn templates(deployment: &PlatformIdentity) -> [(String, String); 2] {
    let connectors: Vec<&str> = deployment
        .partitions()
        .map(|(_, identity)| identity.connector.as_str())
        .collect();
    let sessions: Vec<String> = deployment
        .partitions()
        .map(|(_, identity)| escape_pattern(&writer_session_prefix(&identity.writer_role)))
        .collect();
    let role = constrain(
        ROLE_TEMPLATE,
        "ConnectorPrincipalArn",
        &format!(
            "AllowedValues: {}",
            serde_json::to_string(&connectors).expect("strings serialise")
        ),
    );
    let bucket = constrain(
        BUCKET_POLICY_TEMPLATE,
        "WriterSessionArn",
        &format!(
            "AllowedPattern: {}",
            serde_json::to_string(&format!(
                "^({})destination-[0-9a-f]{{32}}$",
                sessions.join("|")
            ))
            .expect("strings serialise")
        ),
    );
    [
        (template_key("role.yaml"), role),
        (template_key("bucket-policy.yaml"), bucket),
    ]
}

/// `arn:<partition>:sts::<account>:assumed-role/<writer>/`: what every writer session's ARN starts
/// with (a session ARN drops the role's path).
fn writer_session_prefix(writer: &RoleArn) -> String {
    let session = RoleSessionName::new("destination-00000000000000000000000000000000")
        .expect("a valid session name");
    let arn = PrincipalArn::session_of(writer, &session);
    let (prefix, _) = arn
        .as_str()
        .rsplit_once('/')
        .expect("a session ARN ends with its name");
    format!("{prefix}/")
}

/// Every character that is not a letter or digit, escaped: the pattern matches the ARN literally.
fn escape_pattern(literal: &str) -> String {
    literal
        .chars()
        .flat_map(|c| {
            let escaped = (!c.is_ascii_alphanumeric()).then_some('\\');
            escaped.into_iter().chain([c])
        })
        .collect()
}

/// `template` with `parameter`'s `AllowedPattern` line replaced by `constraint`. The constraint's
/// values are JSON, which YAML reads as flow scalars; `JSON` quoting is what keeps any character
/// of an ARN from being read as YAML syntax.
fn constrain(template: &str, parameter: &str, constraint: &str) -> String {
    let header = format!("  {parameter}:");
    let mut in_parameter = false;
    let mut replaced = false;
    let lines: Vec<String> = template
        .lines()
        .map(|line| {
            if line == header {
                in_parameter = true;
            } else if in_parameter && !line.starts_with("    ") {
                in_parameter = false;
            } else if in_parameter && line.trim_start().starts_with("AllowedPattern:") {
                replaced = true;
                return format!("    {constraint}");
            }
            line.to_owned()
        })
        .collect();
    assert!(
        replaced,
        "the template has no AllowedPattern for {parameter}"
    );
    lines.join("\n") + "\n"
}

fn template_key(file: &str) -> String {
    format!("setup-kit/{KIT_VERSION}/{file}")
}

/// How the CLI script reaches this API (bucket-policy mode merges through it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAccess {
    /// Deployed: the API at `base_url`, with a token the customer exports as
    /// `DESTINATIONS_API_TOKEN`.
    Bearer { base_url: String },
    /// The local run: the tenant as `X-Tenant-Id`.
    TenantHeader { base_url: String, tenant: String },
}

/// Where the kit's templates are published and how its script reaches the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitSettings {
    /// The URL the templates of this version live under (ends with `/`), as CloudFormation reads
    /// them: an S3 URL.
    pub templates_url: String,
    pub api: ApiAccess,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudFormation {
    pub template_url: String,
    /// The console's quick-create page with every parameter filled in.
    pub quick_create_url: String,
    pub stack_name: String,
    pub parameters: Vec<Parameter>,
    /// The AWS CLI command that brings a stack made from this kit to these parameters (an
    /// External ID rotation, a new folder), keeping the role's name.
    pub update_command: String,
    /// The template as published at `template_url`.
    pub template: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupKit {
    pub cloud_formation: CloudFormation,
    /// A bash script for the AWS CLI, run as is with the customer's own credentials; running it
    /// twice changes nothing.
    pub aws_cli: String,
    /// The same resources as HCL.
    pub terraform: String,
    /// The bucket lifecycle rule that removes parts of uploads that never completed (the CLI
    /// script adds it; Terraform when asked to; by hand in the console's Lifecycle rules).
    pub lifecycle_rule: lifecycle::LifecycleRule,
    /// For setting up by hand in the console: the names to give what the customer creates, and
    /// where that partition's console is.
    pub console: ConsoleSetup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleSetup {
    /// `https://<the partition's console>`.
    pub console_url: String,
    /// Role mode: the role to create and the managed policy to attach to it (the kit's own tools
    /// use the same role name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

fn console_setup(destination: &Destination) -> ConsoleSetup {
    let role_mode = matches!(destination.auth(), AuthMode::IamRole { .. });
    let role = suggested_role_name(destination);
    ConsoleSetup {
        console_url: format!(
            "https://{}",
            console_host(destination.configuration().partition())
        ),
        policy_name: role_mode.then(|| format!("{role}-write")),
        role_name: role_mode.then_some(role),
    }
}

/// A name a customer recognises and CloudFormation accepts: letters, digits and hyphens.
fn stack_name(destination: &Destination) -> String {
    let short = &destination.id().as_str()[..8];
    format!("data-platform-destination-{short}")
}

/// The role name we suggest: unique per destination, inside IAM's 64 characters.
/// The role's trust and permissions policies as the customer's files hold them (pretty JSON;
/// empty in bucket-policy mode, which has no role).
fn role_documents(rendered: &RenderedPolicies) -> (String, String) {
    let pretty = |document: Option<&crate::policy::PolicyDocument>| {
        document
            .map(crate::policy::to_pretty_json)
            .unwrap_or_default()
    };
    (
        pretty(rendered.trust_policy.as_ref()),
        pretty(rendered.permissions_policy.as_ref()),
    )
}

pub fn suggested_role_name(destination: &Destination) -> String {
    format!(
        "DataPlatformDestination-{}",
        &destination.id().as_str()[..8]
    )
}

fn console_host(partition: Partition) -> &'static str {
    match partition {
        Partition::Aws => "console.aws.amazon.com",
        Partition::AwsCn => "console.amazonaws.cn",
        Partition::AwsUsGov => "console.amazonaws-us-gov.com",
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn parameters(destination: &Destination, rendered: &RenderedPolicies) -> Vec<Parameter> {
    let config = destination.configuration();
    let p = |name, value: &str| Parameter {
        name,
        value: value.to_owned(),
    };
    match destination.auth() {
        AuthMode::IamRole { external_id } => {
            let key = config.kms_key.as_ref();
            vec![
                p("RoleName", &suggested_role_name(destination)),
                p("ConnectorPrincipalArn", &rendered.platform_principal),
                p("ExternalId", external_id.expose()),
                p(
                    "NextExternalId",
                    destination
                        .rotation()
                        .next
                        .as_ref()
                        .map(|next| next.id.expose())
                        .unwrap_or(""),
                ),
                p("BucketName", config.bucket.as_str()),
                p("ObjectKeyPrefix", config.folder.as_str()),
                p(
                    "BucketOwnerAccountId",
                    config
                        .bucket_owner
                        .as_ref()
                        .map(|a| a.as_str())
                        .unwrap_or(""),
                ),
                p("KmsKeyArn", key.map(|k| k.as_str()).unwrap_or("")),
                p(
                    "KmsKeyRegion",
                    key.map(|k| k.region().as_str()).unwrap_or(""),
                ),
            ]
        }
        AuthMode::BucketPolicy => vec![
            p("BucketName", config.bucket.as_str()),
            p("ObjectKeyPrefix", config.folder.as_str()),
            p("WriterSessionArn", &rendered.platform_principal),
            p("StatementSid", &statement_sid(destination.id())),
        ],
    }
}

fn cloud_formation(
    destination: &Destination,
    rendered: &RenderedPolicies,
    deployment: &PlatformIdentity,
    settings: &KitSettings,
) -> CloudFormation {
    let [role, bucket_policy] = templates(deployment);
    let (file, (_, template)) = match destination.auth() {
        AuthMode::IamRole { .. } => ("role.yaml", role),
        AuthMode::BucketPolicy => ("bucket-policy.yaml", bucket_policy),
    };
    let template_url = format!("{}{file}", settings.templates_url);
    let stack_name = stack_name(destination);
    let parameters = parameters(destination, rendered);
    let config = destination.configuration();
    let partition = config.partition();
    let region = config
        .region
        .as_ref()
        .map(|r| r.as_str().to_owned())
        .unwrap_or_else(|| partition.default_region().to_owned());
    let mut fragment = format!(
        "/stacks/quickcreate?templateURL={}&stackName={}",
        encode(&template_url),
        encode(&stack_name)
    );
    for parameter in &parameters {
        fragment.push_str(&format!(
            "&param_{}={}",
            parameter.name,
            encode(&parameter.value)
        ));
    }
    CloudFormation {
        quick_create_url: format!(
            "https://{}/cloudformation/home?region={region}#{fragment}",
            console_host(partition)
        ),
        update_command: update_command(&template_url, &stack_name, &region, &parameters),
        template_url,
        stack_name,
        parameters,
        template,
    }
}

/// `aws cloudformation update-stack` with every parameter of the kit but the role's name, which
/// keeps its previous value: a new name would replace the role (and its ARN). Parameters go as
/// JSON (shorthand syntax would split a value at a comma).
fn update_command(
    template_url: &str,
    stack_name: &str,
    region: &str,
    parameters: &[Parameter],
) -> String {
    let parameters: Vec<serde_json::Value> = parameters
        .iter()
        .map(|parameter| {
            if parameter.name == "RoleName" {
                serde_json::json!({"ParameterKey": "RoleName", "UsePreviousValue": true})
            } else {
                serde_json::json!({"ParameterKey": parameter.name, "ParameterValue": parameter.value})
            }
        })
        .collect();
    format!(
        "aws cloudformation update-stack --region {} --stack-name {} --template-url {} --capabilities CAPABILITY_NAMED_IAM --parameters {}",
        cli::quote(region),
        cli::quote(stack_name),
        cli::quote(template_url),
        cli::quote(&serde_json::Value::from(parameters).to_string()),
    )
}

/// The kit for `destination`, from its rendered documents, as `deployment` publishes it.
pub fn setup_kit(
    destination: &Destination,
    rendered: &RenderedPolicies,
    deployment: &PlatformIdentity,
    settings: &KitSettings,
) -> SetupKit {
    SetupKit {
        cloud_formation: cloud_formation(destination, rendered, deployment, settings),
        aws_cli: cli::script(destination, rendered, &settings.api),
        terraform: terraform::configuration(destination, rendered),
        lifecycle_rule: lifecycle::incomplete_uploads_rule(destination),
        console: console_setup(destination),
    }
}

#[cfg(test)]
mod tests;
