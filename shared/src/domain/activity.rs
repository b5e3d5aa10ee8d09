//! The audit trail: who changed a destination, when, and how.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Status;
use super::actor::Actor;
use super::check::FailureCategory;
use super::delivery::DeliveryId;

/// What happened to a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Activity {
    Created,
    /// `fields` are the API names of what the PATCH changed.
    #[serde(rename_all = "camelCase")]
    Updated {
        fields: Vec<String>,
    },
    Saved,
    Discarded,
    Deleted,
    #[serde(rename_all = "camelCase")]
    Tested {
        passed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<FailureCategory>,
    },
    /// An exporter asked for a delivery (the actor is its IAM identity).
    #[serde(rename_all = "camelCase")]
    DeliveryRequested {
        delivery_id: DeliveryId,
    },
    /// The platform's exporter was given a short session to write into the destination's folder
    /// (the actor is its IAM identity).
    CredentialsVended,
    /// A new External ID was generated as the next one (the trust policy must accept both).
    ExternalIdRotationStarted,
    /// The open rotation was dropped; the current External ID stays.
    ExternalIdRotationCancelled,
    /// The next External ID became the only one sent; the old one is retired.
    ExternalIdRotationCompleted,
    /// Re-validation moved the status of the active configuration.
    #[serde(rename_all = "camelCase")]
    StatusChanged {
        from: Status,
        to: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<FailureCategory>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Actor,
    #[serde(flatten)]
    pub activity: Activity,
    /// The destination's version after the change.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_serialise_flat_with_their_action() {
        let entry = ActivityEntry {
            at: OffsetDateTime::UNIX_EPOCH,
            actor: Actor::new("user-1").unwrap(),
            activity: Activity::Updated {
                fields: vec!["bucket".into()],
            },
            version: 3,
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["action"], "updated");
        assert_eq!(json["fields"][0], "bucket");
        assert_eq!(json["actor"], "user-1");
        let back: ActivityEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn actors_are_bounded_printable_text() {
        assert!(Actor::new("auth0|abc").is_ok());
        // Namespaced: a user whose subject looks like the service's is still a user.
        assert_eq!(
            Actor::user("service:revalidation").unwrap().as_str(),
            "user:service:revalidation"
        );
        assert_ne!(Actor::user("revalidation").unwrap(), Actor::service());
        assert!(
            Actor::user(&"a".repeat(252)).is_err(),
            "256 characters at most"
        );
        assert!(Actor::new("").is_err());
        assert!(Actor::new("a\nb").is_err());
        assert!(Actor::new(&"a".repeat(257)).is_err());
    }
}
