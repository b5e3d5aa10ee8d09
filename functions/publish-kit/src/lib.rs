//! The `publish-kit` Lambda: a CloudFormation custom resource that publishes the setup kit's
//! templates (compiled into the binary from `infra/customer-kit/`) into the stack's kit bucket,
//! where CloudFormation quick-create links read them.

pub mod handler;

/// The handler's dependency: an S3 client with the function's own credentials.
pub fn wire(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(aws)
}
