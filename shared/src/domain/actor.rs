//! Who acts: the namespaced name the audit trail and events give a caller.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("an actor is 1 to 256 printable characters")]
pub struct ActorError;

/// Who made a change, in a namespace so that no kind can pass for another: `user:<token subject>`
/// (locally a header), `service:<name>` for the service itself, `platform:<IAM caller>` for the
/// platform's own exporters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor(String);

impl Actor {
    pub fn new(raw: &str) -> Result<Self, ActorError> {
        let ok = (1..=256).contains(&raw.chars().count()) && !raw.chars().any(char::is_control);
        ok.then(|| Self(raw.to_owned())).ok_or(ActorError)
    }

    /// A tenant's user, by the subject of their token.
    pub fn user(subject: &str) -> Result<Self, ActorError> {
        Self::new(&format!("user:{subject}"))
    }

    /// The platform's own AWS identity (an exporter), by its IAM caller ARN or queue sender id.
    pub fn platform(caller: &str) -> Result<Self, ActorError> {
        Self::new(&format!("platform:{caller}"))
    }

    /// A tenant's token that names no subject.
    pub fn token_without_subject() -> Self {
        Self("token:without-subject".to_owned())
    }

    /// Re-validation and other work the service does on its own.
    pub fn service() -> Self {
        Self("service:revalidation".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Actor {
    type Error = ActorError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Actor> for String {
    fn from(value: Actor) -> Self {
        value.0
    }
}
