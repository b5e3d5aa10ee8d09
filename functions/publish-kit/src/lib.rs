//! The `publish-kit` Lambda: a CloudFormation custom resource that publishes the setup kit's
//! templates (compiled into the binary from `infra/customer-kit/`) into the stack's kit bucket,
//! where CloudFormation quick-create links read them.

pub mod handler;

/// The handler's dependency: an S3 client with the function's own credentials (path-style when
/// `S3_FORCE_PATH_STYLE` says so, for an emulator on a local endpoint).
pub fn wire<F: Fn(&str) -> Option<String>>(
    settings: &shared::config::Settings<F>,
    aws: &aws_config::SdkConfig,
) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(settings.s3_force_path_style())
            .build(),
    )
}
