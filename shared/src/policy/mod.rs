//! IAM documents for customers and for our own sessions: typed structures, deterministic
//! rendering, merging into existing bucket policies. Never string templates.

mod document;
mod merge;
pub(crate) mod render;

pub use document::{
    ConditionValue, Conditions, Effect, POLICY_VERSION, PolicyDocument, Principal, Statement,
    iam_size, to_pretty_json,
};
pub use merge::{
    MergeError, MergeOutcome, MergeWarning, MergeWarningKind, OurWrite, merge_statement,
};
pub use render::{
    BUCKET_OWNER_FULL_CONTROL, BUCKET_POLICY_LIMIT, KMS_ACTIONS, MANAGED_POLICY_LIMIT,
    PART_ACTIONS, PUT_ACTIONS, RenderError, RenderedPolicies, SESSION_POLICY_LIMIT, SID_PREFIX,
    TRUST_POLICY_LIMIT, WRITE_ACTIONS, bucket_policy_statement, key_policy_statement,
    object_resource, permissions_policy, render, session_policy, single_put_session_policy,
    statement_sid, trust_policy,
};

#[cfg(test)]
mod tests;
