//! Implementations of the ports.

#[cfg(feature = "aws-probe")]
pub mod aws_probe;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod memory;
