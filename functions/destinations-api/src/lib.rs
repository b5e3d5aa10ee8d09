//! The `destinations-api` Lambda: destination CRUD, Save and platform facts.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;
