//! Implementations of the ports.

#[cfg(feature = "aws-probe")]
pub mod aws_probe;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "events")]
pub mod eventbridge;
pub mod memory;
#[cfg(feature = "queue")]
pub mod sqs;
