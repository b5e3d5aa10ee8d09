//! `template.yaml`, read the way CloudFormation reads it: short-form tags (`!Sub`, `!GetAtt`, …)
//! become their long forms, and the intrinsic functions the template uses in its IAM documents
//! and environment are evaluated against the values one stack would have.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The repository root (this crate lives in `dev/support`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn repo_file(name: &str) -> String {
    let path = repo_root().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// template.yaml as JSON, tags in long form.
pub fn template() -> Value {
    parse(&repo_file("template.yaml"))
}

/// A CloudFormation template's text as JSON, tags in long form.
pub fn parse(text: &str) -> Value {
    let yaml: serde_norway::Value = serde_norway::from_str(text).expect("a YAML template");
    long_form(yaml)
}

/// What `{"Ref": "AWS::NoValue"}` resolves to: removed from the lists and objects it is in.
const NO_VALUE: &str = "\u{0}AWS::NoValue";

fn long_form(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            match name {
                "Ref" => json!({ "Ref": inner }),
                "GetAtt" => {
                    let parts: Vec<Value> = inner
                        .as_str()
                        .map(|s| s.splitn(2, '.').map(|p| json!(p)).collect())
                        .unwrap_or_else(|| inner.as_array().cloned().unwrap_or_default());
                    json!({ "Fn::GetAtt": parts })
                }
                "Condition" => json!({ "Condition": inner }),
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match long_form(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, long_form(v))
                })
                .collect(),
        ),
        Y::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        other => serde_json::to_value(other).expect("plain YAML is JSON"),
    }
}

/// The values one stack resolves intrinsics to: pseudo parameters, parameters, and the
/// attributes (`Ref`, `Fn::GetAtt`) of its resources.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub values: BTreeMap<String, Value>,
    pub conditions: BTreeMap<String, bool>,
}

impl Stack {
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.values.insert(name.to_owned(), value.into());
        self
    }

    /// Evaluates the template's `Conditions` (Equals, Not, And, Or, Condition).
    pub fn evaluate_conditions(&mut self, template: &Value) -> &mut Self {
        let conditions = template["Conditions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in conditions.keys() {
            let holds = self.condition(&conditions, name);
            self.conditions.insert(name.clone(), holds);
        }
        self
    }

    fn condition(&self, all: &Map<String, Value>, name: &str) -> bool {
        self.holds(
            all,
            all.get(name)
                .unwrap_or_else(|| panic!("no condition {name}")),
        )
    }

    fn holds(&self, all: &Map<String, Value>, expression: &Value) -> bool {
        let (function, arg) = expression
            .as_object()
            .and_then(|m| m.iter().next())
            .expect("a condition function");
        let args = || arg.as_array().cloned().unwrap_or_default();
        match function.as_str() {
            "Fn::Equals" => {
                let pair = args();
                self.resolve(&pair[0]) == self.resolve(&pair[1])
            }
            "Fn::Not" => !self.holds(all, &args()[0]),
            "Fn::And" => args().iter().all(|a| self.holds(all, a)),
            "Fn::Or" => args().iter().any(|a| self.holds(all, a)),
            "Condition" => self.condition(all, arg.as_str().expect("a condition name")),
            other => panic!("the emulated stack cannot evaluate {other}"),
        }
    }

    /// Evaluates `value`'s intrinsic functions. Panics on one the stack cannot resolve, so a
    /// template change that the emulated stack does not know fails loudly.
    pub fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (name, arg) = map.iter().next().expect("one entry");
                match name.as_str() {
                    "Ref" if arg == "AWS::NoValue" => Value::String(NO_VALUE.to_owned()),
                    "Ref" => self.lookup(arg.as_str().expect("Ref names a string")),
                    "Fn::GetAtt" => {
                        let parts: Vec<&str> = arg
                            .as_array()
                            .expect("GetAtt takes [resource, attribute]")
                            .iter()
                            .map(|p| p.as_str().expect("GetAtt parts are strings"))
                            .collect();
                        self.lookup(&parts.join("."))
                    }
                    "Fn::Sub" => Value::String(self.sub(arg)),
                    "Fn::Join" => {
                        let args = arg.as_array().expect("Join takes [separator, list]");
                        let separator = args[0].as_str().expect("a separator");
                        let items = self.resolve(&args[1]);
                        let joined: Vec<String> = items
                            .as_array()
                            .expect("Join's list resolves to a list")
                            .iter()
                            .map(|item| match self.resolve(item) {
                                Value::String(s) => s,
                                other => other.to_string(),
                            })
                            .collect();
                        Value::String(joined.join(separator))
                    }
                    "Fn::Split" => {
                        let args = arg.as_array().expect("Split takes [separator, string]");
                        let separator = args[0].as_str().expect("a separator");
                        let text = self.resolve(&args[1]);
                        Value::Array(
                            text.as_str()
                                .expect("Split's string resolves to a string")
                                .split(separator)
                                .map(|s| json!(s))
                                .collect(),
                        )
                    }
                    "Fn::If" => {
                        let args = arg.as_array().expect("If takes [condition, then, else]");
                        let condition = args[0].as_str().expect("a condition name");
                        let holds = *self.conditions.get(condition).unwrap_or_else(|| {
                            panic!("the emulated stack has no condition {condition}")
                        });
                        self.resolve(&args[if holds { 1 } else { 2 }])
                    }
                    _ => Value::Object(
                        map.iter()
                            .map(|(k, v)| (k.clone(), self.resolve(v)))
                            .collect::<Map<_, _>>(),
                    ),
                }
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .filter(|(_, v)| v != NO_VALUE)
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v))
                    .filter(|v| v != NO_VALUE)
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn lookup(&self, name: &str) -> Value {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the emulated stack has no value for {name}"))
    }

    fn sub(&self, arg: &Value) -> String {
        let (text, locals) = match arg {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(parts) => (
                parts[0].as_str().expect("Sub's template is a string"),
                parts[1].as_object().cloned().unwrap_or_default(),
            ),
            other => panic!("Sub takes a string or [string, map], not {other}"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').expect("a closed ${...}");
            let name = &after[..end];
            let value = match locals.get(name) {
                Some(local) => self.resolve(local),
                None => self.lookup(name),
            };
            match value {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The resource named `logical_id`.
pub fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    template["Resources"]
        .get(logical_id)
        .unwrap_or_else(|| panic!("template.yaml has no resource {logical_id}"))
}

/// The inline statements of a SAM function's `Policies` (none for a function without).
pub fn function_statements(template: &Value, function: &str) -> Vec<Value> {
    resource(template, function)["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The inline policies of an `AWS::IAM::Role`, by name.
pub fn role_policies(template: &Value, role: &str) -> Vec<(String, Value)> {
    resource(template, role)["Properties"]["Policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p["PolicyName"].as_str().unwrap_or_default().to_owned(),
                p["PolicyDocument"].clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms_and_resolve() {
        let template = template();
        let mut stack = Stack::default();
        stack
            .set("AWS::Partition", "aws")
            .set("AWS::AccountId", "111111111111")
            .set("ConnectorRoleName", "c")
            .set("AdditionalPlatformAccountIds", json!([""]));
        let env = &resource(&template, "DestinationsApiFunction")["Properties"]["Environment"]["Variables"];
        assert_eq!(
            stack.resolve(&env["PLATFORM_PRINCIPAL_ARNS"]),
            json!("arn:aws:iam::111111111111:role/c")
        );
        assert_eq!(
            stack.resolve(&env["PLATFORM_ACCOUNT_IDS"]),
            json!("111111111111,")
        );
    }
}
