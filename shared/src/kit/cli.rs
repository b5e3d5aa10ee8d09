//! The AWS CLI script of the setup kit. The documents in it are serialised from the typed
//! documents; the shell around them quotes every value it interpolates.

use crate::domain::{AuthMode, Destination};
use crate::policy::RenderedPolicies;

use super::{ApiAccess, role_documents, suggested_role_name};

/// A single-quoted shell word: safe for any value.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A document as a quoted here-document assigned to `name` (nothing in it is expanded).
fn document(name: &str, json: &str) -> String {
    format!("{name}=$(cat <<'DOCUMENT'\n{json}\nDOCUMENT\n)\n")
}

pub fn script(destination: &Destination, rendered: &RenderedPolicies, api: &ApiAccess) -> String {
    let header = format!(
        "#!/usr/bin/env bash\n# Data platform destination {name:?} ({id}): {what}\n# Run it with your own AWS credentials (AWS CLI v2). Running it again changes nothing.\nset -euo pipefail\n\n",
        name = destination.name().as_str(),
        id = destination.id(),
        what = match destination.auth() {
            AuthMode::IamRole { .. } =>
                "creates or updates the IAM role the platform assumes, and prints its ARN.",
            AuthMode::BucketPolicy =>
                "adds the destination's statement to the bucket policy, keeping every statement already there.",
        }
    );
    header
        + &match destination.auth() {
            AuthMode::IamRole { .. } => role_script(destination, rendered),
            AuthMode::BucketPolicy => bucket_policy_script(destination, api),
        }
}

fn role_script(destination: &Destination, rendered: &RenderedPolicies) -> String {
    let (trust, permissions) = role_documents(rendered);
    let mut out = format!(
        "ROLE_NAME=\"${{ROLE_NAME:-{}}}\"\n",
        suggested_role_name(destination)
    );
    out += &document("TRUST_POLICY", &trust);
    out += &document("PERMISSIONS_POLICY", &permissions);
    out += r#"
if aws iam get-role --role-name "$ROLE_NAME" >/dev/null 2>&1; then
  aws iam update-assume-role-policy --role-name "$ROLE_NAME" --policy-document "$TRUST_POLICY"
else
  aws iam create-role --role-name "$ROLE_NAME" --assume-role-policy-document "$TRUST_POLICY" \
    --description "Lets the data platform write to one S3 folder, with your External ID." >/dev/null
fi
aws iam put-role-policy --role-name "$ROLE_NAME" --policy-name DataPlatformDestination \
  --policy-document "$PERMISSIONS_POLICY"
aws iam get-role --role-name "$ROLE_NAME" --query Role.Arn --output text
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
        ApiAccess::TenantHeader { base_url, tenant } => (base_url, format!("AUTH={}\n", quote(&format!("x-tenant-id: {tenant}")))),
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
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
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
if [ "${GRANTS:-0}" != 0 ] && [ "${FORCE:-}" != 1 ]; then
  echo "The bucket policy of $BUCKET has $GRANTS statement(s) letting more than this destination put objects into its folder (everyone, the platform's account or its writer role). The platform refuses such a bucket: remove them (the setup page's merge step names them), or run again with FORCE=1 to apply the merge anyway. Nothing was changed." >&2
  exit 1
fi
aws s3api put-bucket-policy --bucket "$BUCKET" --policy "$MERGED"
echo "Bucket policy of $BUCKET updated."
"#;
    out
}
