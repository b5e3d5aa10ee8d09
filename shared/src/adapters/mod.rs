//! Implementations of the ports.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod memory;
