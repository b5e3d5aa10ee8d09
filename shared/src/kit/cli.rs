//! The AWS CLI script of the setup kit. The documents in it are serialised from the typed
//! documents; the shell around them quotes every value it interpolates.

use crate::domain::{AuthMode, Destination};
use crate::policy::RenderedPolicies;

use super::lifecycle::{DAYS_AFTER_INITIATION, incomplete_uploads_rule, rule_id};
use super::{ApiAccess, role_documents, suggested_role_name};

/// The script's options, read the same way by bash 3.2 (macOS) and later.
const OPTIONS: &str = r#"YES="${YES:-}"
FORCE="${FORCE:-}"
for option in "$@"; do
  case "$option" in
    --yes) YES=1 ;;
    --force) FORCE=1 ;;
    *) echo "Unknown option $option (this script knows --yes and --force)." >&2; exit 2 ;;
  esac
done
"#;

/// A single-quoted shell word: safe for any value.
pub(super) fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A document as a quoted here-document assigned to `name` (nothing in it is expanded).
fn document(name: &str, json: &str) -> String {
    format!("{name}=$(cat <<'DOCUMENT'\n{json}\nDOCUMENT\n)\n")
}

pub fn script(destination: &Destination, rendered: &RenderedPolicies, api: &ApiAccess) -> String {
    let header = format!(
        "#!/usr/bin/env bash\n# Data platform destination {name:?} ({id}): {what}\n# Run it with your own AWS credentials (AWS CLI v2). Running it again changes nothing.\n# Options: --yes applies a bucket policy without asking; --force (or FORCE=1) goes ahead where\n# the script would refuse.\nset -euo pipefail\n{OPTIONS}WORK=$(mktemp -d)\ntrap 'rm -rf \"$WORK\"' EXIT\n\n",
        name = destination.name().as_str(),
        id = destination.id(),
        what = match destination.auth() {
            AuthMode::IamRole { .. } =>
                "creates or updates the IAM role the platform assumes, adds a lifecycle rule for incomplete uploads to the bucket, and prints the role's ARN.",
            AuthMode::BucketPolicy =>
                "adds the destination's statement to the bucket policy, keeping every statement already there, and a lifecycle rule for incomplete uploads.",
        }
    );
    match destination.auth() {
        // The role's ARN stays the last line printed: that is what the customer pastes.
        AuthMode::IamRole { .. } => {
            header
                + &role_script(destination, rendered)
                + &lifecycle_script(destination)
                + &key_policy_section(destination, rendered)
                + "aws iam get-role --role-name \"$ROLE_NAME\" --query Role.Arn --output text\n"
        }
        AuthMode::BucketPolicy => {
            header
                + &bucket_policy_script(destination, api)
                + &lifecycle_script(destination)
                + &key_policy_section(destination, rendered)
        }
    }
}

fn role_script(destination: &Destination, rendered: &RenderedPolicies) -> String {
    let (trust, permissions) = role_documents(rendered);
    let mut out = format!(
        "ROLE_NAME=\"${{ROLE_NAME:-{}}}\"\n",
        suggested_role_name(destination)
    );
    out += &format!("CONNECTOR={}\n", quote(&rendered.platform_principal));
    out += &document("TRUST_POLICY", &trust);
    out += &document("PERMISSIONS_POLICY", &permissions);
    out += r#"
if aws iam get-role --role-name "$ROLE_NAME" --output json \
    --query "Role.AssumeRolePolicyDocument.Statement[?Effect=='Allow'].Principal.AWS" \
    >"$WORK/trust.json" 2>"$WORK/get-role.err"; then
  # A role whose trust policy does not already allow the platform's connector is not one this
  # kit made: replacing its trust policy would take it over from whatever uses it. (Only the
  # Allow statements' AWS principals count: a Deny naming the connector is no trust.)
  if ! grep -qF "\"$CONNECTOR\"" "$WORK/trust.json" && [ "$FORCE" != 1 ]; then
    echo "The role $ROLE_NAME exists and does not trust the data platform ($CONNECTOR), so this kit did not make it: updating it would replace its trust policy and its permissions for this destination. Run again with ROLE_NAME=<another name>, or with --force to take it over. Nothing was changed." >&2
    exit 1
  fi
  aws iam update-assume-role-policy --role-name "$ROLE_NAME" --policy-document "$TRUST_POLICY"
elif ! grep -q NoSuchEntity "$WORK/get-role.err"; then
  cat "$WORK/get-role.err" >&2
  exit 1
else
  aws iam create-role --role-name "$ROLE_NAME" --assume-role-policy-document "$TRUST_POLICY" \
    --description "Lets the data platform write to one S3 folder, with your External ID." >/dev/null
fi
aws iam put-role-policy --role-name "$ROLE_NAME" --policy-name DataPlatformDestination \
  --policy-document "$PERMISSIONS_POLICY"
"#;
    out
}

fn bucket_policy_script(destination: &Destination, api: &ApiAccess) -> String {
    let config = destination.configuration();
    let (base_url, auth) = match api {
        ApiAccess::Bearer { base_url } => (
            base_url,
            ": \"${DESTINATIONS_API_TOKEN:?export DESTINATIONS_API_TOKEN=<your API token> first}\"\nAUTH=\"authorization: Bearer $DESTINATIONS_API_TOKEN\"\n".to_owned(),
        ),
        // Plain http only to the local run, on this machine.
        ApiAccess::TenantHeader { base_url, tenant } => (base_url, format!("# The local run's API (plain http, on this machine only).\nAUTH={}\n", quote(&format!("x-tenant-id: {tenant}")))),
    };
    let merge_url = format!(
        "{}/destinations/{}/bucket-policy/merge?output=policy",
        base_url.trim_end_matches('/'),
        destination.id()
    );
    let mut out = format!(
        "BUCKET={}\nMERGE_URL={}\n{auth}",
        quote(config.bucket.as_str()),
        quote(&merge_url)
    );
    out += r#"
# The bucket's policy today (none yet is an empty one).
if ! CURRENT=$(aws s3api get-bucket-policy --bucket "$BUCKET" --query Policy --output text 2>"$WORK/get.err"); then
  if grep -q NoSuchBucketPolicy "$WORK/get.err"; then
    CURRENT='{"Version":"2012-10-17","Statement":[]}'
  else
    cat "$WORK/get.err" >&2
    exit 1
  fi
fi
# The platform merges its statement in (replacing an older copy of it) and keeps every other one.
MERGED=$(printf '{"existingPolicy":%s}' "$CURRENT" | curl -fsS -X POST "$MERGE_URL" \
  -D "$WORK/headers" -H "$AUTH" -H 'content-type: application/json' --data-binary @-)
# Statements that let more than this destination write make the platform refuse the bucket.
GRANTS=$(tr 'A-Z' 'a-z' <"$WORK/headers" | sed -n 's/^x-grants-others: *\([0-9]*\).*/\1/p')
if [ "${GRANTS:-0}" != 0 ] && [ "$FORCE" != 1 ]; then
  echo "The bucket policy of $BUCKET has $GRANTS statement(s) letting more than this destination put objects into its folder (everyone, the platform's account or its writer role). The platform refuses such a bucket: remove them (the setup page's merge step names them), or run again with --force (or FORCE=1) to apply the merge anyway. Nothing was changed." >&2
  exit 1
fi
# The change, shown before it is made: exactly the policy that will be applied (ours added or an
# older copy of it replaced, every other statement kept as it is).
echo "The bucket policy of $BUCKET becomes:"
printf '%s\n' "$MERGED"
if [ "$YES" != 1 ]; then
  ANSWER=""
  # Asked on the terminal (the script itself may come on standard input); no terminal, no yes.
  if { exec 3</dev/tty; } 2>/dev/null; then
    read -r -p "Apply it? [y/N] " ANSWER <&3 || true
    exec 3<&-
  fi
  case "$ANSWER" in
    y|Y|yes|YES) ;;
    *) echo "Nothing was changed (answer y to apply it, or run with --yes)." >&2; exit 1 ;;
  esac
fi
aws s3api put-bucket-policy --bucket "$BUCKET" --policy "$MERGED"
echo "Bucket policy of $BUCKET updated."
"#;
    out
}

/// A KMS key's policy is printed, not applied: it holds the key owner's other grants, and a wrong
/// write to it can lock everyone out of the key. Printed on standard error, so that the role's
/// ARN stays the last line of standard output.
fn key_policy_section(destination: &Destination, rendered: &RenderedPolicies) -> String {
    let Some(key) = &destination.configuration().kms_key else {
        return String::new();
    };
    let mut out = format!(
        "
KMS_KEY={}
",
        quote(key.as_str())
    );
    match &rendered.key_policy_statement {
        Some(statement) => {
            out += &document(
                "KEY_POLICY_STATEMENT",
                &crate::policy::to_pretty_json(statement),
            );
            out += r#"echo "Objects are encrypted with the KMS key $KMS_KEY. Unless its key policy already grants it, add this statement to the key policy (KMS console: Customer managed keys, the key, Key policy, Edit), in the key's account:" >&2
printf '%s\n' "$KEY_POLICY_STATEMENT" >&2
"#;
        }
        // Role mode before the role's ARN is known: the statement names the role.
        None => {
            out += r#"echo "Objects are encrypted with the KMS key $KMS_KEY. If the key is in another account than this role, its key policy must grant the role: once you have pasted the role's ARN, the destination's documents (the setup page's step 2) show the statement to add." >&2
"#;
        }
    }
    out
}

/// Adds the destination's lifecycle rule to the bucket's lifecycle configuration, replacing an
/// older copy of it and keeping every other rule and the bucket's default minimum object size for
/// transitions (a configuration put without one resets it). The merge is a JMESPath query over
/// the configuration S3 returns, so the script needs nothing but the AWS CLI.
fn lifecycle_script(destination: &Destination) -> String {
    let config = destination.configuration();
    let rule = serde_json::to_string(&incomplete_uploads_rule(destination))
        .expect("a lifecycle rule serialises");
    // In a JMESPath literal only the backtick is special (a folder may hold one).
    let literal = rule.replace('`', "\\`");
    let query = format!(
        "{{LifecycleConfiguration: {{Rules: [Rules[?ID!='{id}'], [`{literal}`]][]}}, TransitionDefaultMinimumObjectSize: TransitionDefaultMinimumObjectSize || 'all_storage_classes_128K'}}",
        id = rule_id(destination)
    );
    // Never touch a bucket of another account than the one the customer named.
    let owner = config
        .bucket_owner
        .as_ref()
        .map(|owner| format!(" --expected-bucket-owner {}", quote(owner.as_str())))
        .unwrap_or_default();
    let mut out = format!(
        "\n# Parts of uploads that never completed are removed after {DAYS_AFTER_INITIATION} days: the bucket's lifecycle\n# configuration gets the rule below (an older copy of it is replaced, every other rule kept).\n# SKIP_LIFECYCLE=1 leaves the bucket's lifecycle configuration alone.\nLIFECYCLE_BUCKET={}\nLIFECYCLE_QUERY={}\n",
        quote(config.bucket.as_str()),
        quote(&query)
    );
    out += &document("LIFECYCLE_RULE", &rule);
    out += &format!(
        r#"if [ "${{SKIP_LIFECYCLE:-}}" != 1 ]; then
  if LIFECYCLE=$(aws s3api get-bucket-lifecycle-configuration --bucket "$LIFECYCLE_BUCKET"{owner} \
      --output json --query "$LIFECYCLE_QUERY" 2>"$WORK/lifecycle.err"); then
    :
  elif grep -q NoSuchLifecycleConfiguration "$WORK/lifecycle.err"; then
    LIFECYCLE=$(printf '{{"LifecycleConfiguration":{{"Rules":[%s]}}}}' "$LIFECYCLE_RULE")
  else
    cat "$WORK/lifecycle.err" >&2
    echo "Could not read the lifecycle configuration of $LIFECYCLE_BUCKET. Run again with credentials of the bucket's account, or with SKIP_LIFECYCLE=1 and add the rule above yourself." >&2
    exit 1
  fi
  aws s3api put-bucket-lifecycle-configuration --bucket "$LIFECYCLE_BUCKET"{owner} --cli-input-json "$LIFECYCLE"
  echo "Lifecycle rule for incomplete uploads set on $LIFECYCLE_BUCKET." >&2
fi
"#
    );
    out
}
