//! The `policies-api` Lambda: rendered IAM documents and bucket-policy merging.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;
