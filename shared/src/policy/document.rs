//! Typed IAM policy documents. Field order here is the order in the rendered JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const POLICY_VERSION: &str = "2012-10-17";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: POLICY_VERSION.to_owned(),
            statement,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    #[serde(rename = "AWS")]
    pub aws: String,
}

/// One condition value, or several (any of which matches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionValue {
    One(String),
    Any(Vec<String>),
}

/// `Condition: { operator: { key: value } }`, kept sorted so rendering is deterministic.
pub type Conditions = BTreeMap<String, BTreeMap<String, ConditionValue>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    #[serde(rename = "Action")]
    pub action: Vec<String>,
    /// Empty only in trust policies, where IAM forbids the element.
    #[serde(rename = "Resource", default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Conditions>,
}

impl Statement {
    pub fn allow(actions: &[&str], resources: Vec<String>) -> Self {
        Self {
            sid: None,
            effect: Effect::Allow,
            principal: None,
            action: actions.iter().map(|a| (*a).to_owned()).collect(),
            resource: resources,
            condition: None,
        }
    }

    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    pub fn with_principal(mut self, arn: impl Into<String>) -> Self {
        self.principal = Some(Principal { aws: arn.into() });
        self
    }

    pub fn with_condition(self, operator: &str, key: &str, value: impl Into<String>) -> Self {
        self.with_condition_value(operator, key, ConditionValue::One(value.into()))
    }

    /// A condition that matches when the key equals any of `values`.
    pub fn with_condition_any(self, operator: &str, key: &str, values: Vec<String>) -> Self {
        let value = match <[String; 1]>::try_from(values) {
            Ok([one]) => ConditionValue::One(one),
            Err(many) => ConditionValue::Any(many),
        };
        self.with_condition_value(operator, key, value)
    }

    fn with_condition_value(mut self, operator: &str, key: &str, value: ConditionValue) -> Self {
        self.condition
            .get_or_insert_with(BTreeMap::new)
            .entry(operator.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
        self
    }
}

/// Pretty JSON (two-space indent) as customers paste it into the console.
pub fn to_pretty_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail: no maps with non-string keys, no custom impls.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Size as IAM counts it: characters, without whitespace outside strings (the compact form).
pub fn iam_size<T: Serialize>(value: &T) -> usize {
    serde_json::to_string(value)
        .map(|s| s.chars().count())
        .unwrap_or(usize::MAX)
}
