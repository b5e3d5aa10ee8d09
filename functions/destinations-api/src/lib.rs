//! The `destinations-api` Lambda: destination CRUD, Save and platform facts.

pub mod handler;
