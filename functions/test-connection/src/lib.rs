//! The `test-connection` Lambda: runs the staged connection test for one destination.

// Handlers return `Result<_, Problem>` on the error path only; see shared::http.
#![allow(clippy::result_large_err)]

pub mod handler;
