//! The `revalidate-scheduler` Lambda: EventBridge schedule and on-demand requests → queued checks.

pub mod handler;
