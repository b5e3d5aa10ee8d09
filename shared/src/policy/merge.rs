//! Adds our statement to a customer's existing bucket policy without disturbing anything else.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use super::document::Statement;
use super::render::BUCKET_POLICY_LIMIT;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MergeError {
    #[error("the existing policy is not valid JSON: {0}")]
    NotJson(String),
    #[error("a bucket policy is a JSON object with a \"Statement\" member; this is {0}")]
    NotAnObject(&'static str),
    #[error("the policy has no \"Statement\" member")]
    MissingStatement,
    #[error("\"Statement\" must be an object or an array of objects")]
    StatementNotList,
    #[error("statement #{index} is not a JSON object")]
    StatementNotObject { index: usize },
    #[error("statement #{index} has no \"Effect\" of \"Allow\" or \"Deny\"")]
    StatementEffect { index: usize },
    #[error("\"Version\" must be \"2012-10-17\" or \"2008-10-17\"")]
    Version,
    #[error("the merged policy would be {size} bytes, over the {limit}-byte bucket policy limit")]
    TooLarge { size: usize, limit: usize },
}

/// What a flagged statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MergeWarningKind {
    /// A Deny that could refuse our writes.
    MayBlockOurWrites,
    /// An Allow that lets more than this destination's session write (Test Connection refuses the
    /// policy).
    GrantsOthers,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeWarning {
    pub kind: MergeWarningKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub statement_index: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeOutcome {
    pub policy: Value,
    /// True when our statement was already there (with the same Sid) and has been replaced.
    pub replaced_existing: bool,
    pub warnings: Vec<MergeWarning>,
}

/// What a Deny statement is checked against to decide whether it could block our writes.
pub struct OurWrite<'a> {
    pub principal: &'a str,
    pub object_resource: &'a str,
}

/// Parses `existing` (JSON text), then adds or replaces `ours` by Sid. Every other statement keeps its
/// exact content and position; merging the result again changes nothing.
pub fn merge_statement(
    existing: &str,
    ours: &Statement,
    write: &OurWrite<'_>,
) -> Result<MergeOutcome, MergeError> {
    let value: Value =
        serde_json::from_str(existing).map_err(|e| MergeError::NotJson(e.to_string()))?;
    let mut policy = match value {
        Value::Object(map) => map,
        other => return Err(MergeError::NotAnObject(json_kind(&other))),
    };
    if let Some(version) = policy.get("Version")
        && !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17"))
    {
        return Err(MergeError::Version);
    }
    let statements = match policy.get_mut("Statement").map(Value::take) {
        None => return Err(MergeError::MissingStatement),
        Some(Value::Array(items)) => items,
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err(MergeError::StatementNotList),
    };
    for (index, statement) in statements.iter().enumerate() {
        let Value::Object(fields) = statement else {
            return Err(MergeError::StatementNotObject { index });
        };
        if !matches!(
            fields.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            return Err(MergeError::StatementEffect { index });
        }
    }

    let our_value = serde_json::to_value(ours).map_err(|e| MergeError::NotJson(e.to_string()))?;
    let our_sid = ours.sid.as_deref();
    let mut replaced_existing = false;
    let mut merged = Vec::with_capacity(statements.len() + 1);
    for statement in statements {
        let sid = statement.get("Sid").and_then(Value::as_str);
        if our_sid.is_some() && sid == our_sid {
            if !replaced_existing {
                merged.push(our_value.clone());
                replaced_existing = true;
            }
            // A second copy of our Sid would make the policy invalid; drop it.
        } else {
            merged.push(statement);
        }
    }
    if !replaced_existing {
        merged.push(our_value);
    }
    let warnings = warnings(&merged, our_sid, write);

    // Replacing the value in place keeps the customer's member order.
    policy.insert("Statement".into(), Value::Array(merged));
    let policy = Value::Object(policy);
    let size = serde_json::to_string(&policy)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if size > BUCKET_POLICY_LIMIT {
        return Err(MergeError::TooLarge {
            size,
            limit: BUCKET_POLICY_LIMIT,
        });
    }
    Ok(MergeOutcome {
        policy,
        replaced_existing,
        warnings,
    })
}

/// Denies that could block our writes, and Allows (other than ours) that let others write.
fn warnings(merged: &[Value], our_sid: Option<&str>, write: &OurWrite<'_>) -> Vec<MergeWarning> {
    merged
        .iter()
        .enumerate()
        .filter_map(|(index, statement)| {
            deny_warning(index, statement, write).or_else(|| {
                (statement.get("Sid").and_then(Value::as_str) != our_sid)
                    .then(|| broad_allow_warning(index, statement, write))
                    .flatten()
            })
        })
        .collect()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether a statement's actions and resources could cover our PutObject into the folder.
fn covers_our_put(statement: &Value, write: &OurWrite<'_>) -> bool {
    let action_hit = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(a), _) => strings(a)
            .iter()
            .any(|p| wildcard_match(&p.to_ascii_lowercase(), "s3:putobject")),
        (None, Some(na)) => !strings(na)
            .iter()
            .any(|p| wildcard_match(&p.to_ascii_lowercase(), "s3:putobject")),
        (None, None) => true,
    };
    let folder = write.object_resource.trim_end_matches('*');
    let probe = folder.to_owned() + "object";
    let resource_hit = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(r), _) => strings(r).iter().any(|p| may_match_under(p, folder)),
        (None, Some(nr)) => !strings(nr).iter().any(|p| wildcard_match(p, &probe)),
        (None, None) => true,
    };
    action_hit && resource_hit
}

/// A Deny that could apply to our PutObject: principal, action and resource all possibly matching.
fn deny_warning(index: usize, statement: &Value, write: &OurWrite<'_>) -> Option<MergeWarning> {
    if statement.get("Effect").and_then(Value::as_str) != Some("Deny") {
        return None;
    }
    let principal_hit = match (statement.get("Principal"), statement.get("NotPrincipal")) {
        (Some(p), _) => principal_matches(p, write.principal),
        (None, Some(np)) => !principal_matches(np, write.principal),
        (None, None) => true,
    };
    if !(principal_hit && covers_our_put(statement, write)) {
        return None;
    }
    let sid = sid_of(statement);
    let conditional = statement.get("Condition").is_some();
    let message = if conditional {
        format!(
            "this Deny covers s3:PutObject on the destination folder for our principal when its Condition ({}) is met; check that our uploads (with x-amz-acl bucket-owner-full-control, over TLS) do not meet it",
            condition_keys(statement).join(", ")
        )
    } else {
        "this Deny covers s3:PutObject on the destination folder for our principal without any condition: it overrides our Allow and every upload will be refused".to_owned()
    };
    Some(MergeWarning {
        kind: MergeWarningKind::MayBlockOurWrites,
        sid,
        statement_index: index,
        message,
    })
}

fn sid_of(statement: &Value) -> Option<String> {
    statement
        .get("Sid")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// An Allow that lets more than our one session put into the folder: everyone, the platform's
/// account, the writer role itself, or a wildcard over its sessions. Any tenant naming this bucket
/// would then have its data written here; Test Connection refuses such a policy.
fn broad_allow_warning(
    index: usize,
    statement: &Value,
    write: &OurWrite<'_>,
) -> Option<MergeWarning> {
    if statement.get("Effect").and_then(Value::as_str) != Some("Allow")
        || !covers_our_put(statement, write)
    {
        return None;
    }
    let granted = match statement.get("Principal") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(principal) => principal.get("AWS").map(strings).unwrap_or_default(),
        None => Vec::new(),
    };
    let broad = granted
        .into_iter()
        .find(|p| p != write.principal && grants_other_sessions(p, write.principal))?;
    Some(MergeWarning {
        kind: MergeWarningKind::GrantsOthers,
        sid: sid_of(statement),
        statement_index: index,
        message: format!(
            "this Allow lets more than this destination's writer session put objects into the folder (it names {broad}): any customer of the platform who names this bucket could have data written here, so Test Connection refuses the bucket policy; remove it, or replace it with this destination's statement"
        ),
    })
}

/// Whether `granted` (a principal of an Allow) covers a session of our writer other than `ours`
/// (`arn:<p>:sts::<account>:assumed-role/<role>/<session>`).
fn grants_other_sessions(granted: &str, ours: &str) -> bool {
    let parts: Vec<&str> = ours.split(':').collect();
    let (partition, account) = (
        parts.get(1).copied().unwrap_or_default(),
        parts.get(4).copied().unwrap_or_default(),
    );
    let role = ours
        .split('/')
        .nth(1)
        .map(|name| format!("arn:{partition}:iam::{account}:role/{name}"));
    let another_session = ours
        .rsplit_once('/')
        .map(|(prefix, _)| format!("{prefix}/destination-00000000000000000000000000000000"))
        .unwrap_or_default();
    granted == "*"
        || granted == account
        || granted == format!("arn:{partition}:iam::{account}:root")
        || Some(granted) == role.as_deref()
        || wildcard_match(granted, &another_session)
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn principal_matches(principal: &Value, ours: &str) -> bool {
    if principal.as_str() == Some("*") {
        return true;
    }
    let Some(aws) = principal.get("AWS") else {
        return false;
    };
    let account = ours.split(':').nth(4).unwrap_or_default();
    strings(aws)
        .iter()
        .any(|p| p == "*" || p == ours || p == account || p.ends_with(&format!(":{account}:root")))
}

fn condition_keys(statement: &Value) -> Vec<String> {
    let Some(Value::Object(operators)) = statement.get("Condition") else {
        return Vec::new();
    };
    operators
        .iter()
        .flat_map(|(operator, keys)| match keys {
            Value::Object(keys) => keys.keys().map(|k| format!("{operator} {k}")).collect(),
            _ => vec![operator.clone()],
        })
        .collect()
}

/// Whether `pattern` (an IAM glob) matches some text longer than `prefix` that starts with it:
/// whether a grant or a denial on it could reach an object under the folder `prefix`, even one
/// key of it (`folder/2*` reaches our dated keys).
fn may_match_under(pattern: &str, prefix: &str) -> bool {
    let mut pattern = pattern.chars();
    for c in prefix.chars() {
        match pattern.next() {
            // From here on the pattern matches whatever follows the prefix.
            Some('*') => return true,
            Some(p) if p == '?' || p == c => {}
            _ => return false,
        }
    }
    // Whatever is left of the pattern matches some non-empty rest of a key.
    pattern.next().is_some()
}

/// IAM-style glob: `*` any run, `?` one character.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
