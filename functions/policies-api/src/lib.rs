//! The `policies-api` Lambda: rendered IAM documents and bucket-policy merging.

pub mod handler;
