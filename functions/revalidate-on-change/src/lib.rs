//! The `revalidate-on-change` Lambda: DynamoDB stream → checks for changed saved destinations.

pub mod handler;
