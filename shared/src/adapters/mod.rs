//! Implementations of the ports, each enabled by a cargo feature so that a function links only
//! the SDK clients it calls.

#[cfg(feature = "aws-writer")]
pub mod aws_staging;
#[cfg(feature = "aws-writer")]
pub mod aws_writer;
#[cfg(feature = "aws-writer")]
pub mod connector_session;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "events")]
pub mod eventbridge;
#[cfg(feature = "queue")]
pub mod sqs;
