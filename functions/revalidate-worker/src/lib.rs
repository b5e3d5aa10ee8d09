//! The `revalidate-worker` Lambda: SQS batch of checks → staged tests → status, events.

pub mod handler;
