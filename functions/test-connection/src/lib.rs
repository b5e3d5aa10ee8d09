//! The `test-connection` Lambda: runs the staged connection test for one destination.

pub mod handler;
