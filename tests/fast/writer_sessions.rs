//! The writer's credentials over many destinations: the connector's session is assumed once and
//! kept, however many destination sessions sign writes after it. Driven through the real
//! `AwsWriter::from_config` and SDK clients against the local stand-in for STS and S3.

use aws_credential_types::Credentials;
use shared::adapters::aws_writer::{AwsWriter, S3Options};
use shared::domain::{BucketName, RoleArn, RoleSessionName};
use shared::ports::{AssumeRoleRequest, ObjectBody, ObjectTarget, ObjectWriter};
use support::stand_in::StandIn;

const CONNECTOR_SESSION: &str = "destinations-connector";

#[tokio::test]
async fn the_connector_is_assumed_once_however_many_destination_sessions_write() {
    // GIVEN a writer acting as the connector, against the stand-in
    let stand_in = StandIn::start(Default::default()).await;
    let config = shared::aws::defaults()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&stand_in.endpoint)
        .credentials_provider(Credentials::new(
            "AKIDSTANDIN",
            "secret",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let writer = AwsWriter::from_config(
        &config,
        &RoleArn::new("arn:aws:iam::111111111111:role/destinations-connector").unwrap(),
        &RoleSessionName::new(CONNECTOR_SESSION).unwrap(),
        S3Options {
            force_path_style: true,
            multipart_action_names: false,
        },
    )
    .await;
    let role = RoleArn::new("arn:aws:iam::222222222222:role/AcmeDelivery").unwrap();
    let bucket = BucketName::new("acme-exports").unwrap();
    // WHEN 150 destinations' sessions are assumed and each signs one write: more credential
    // sets than the SDK's shared cache holds (64), which evicted the connector's
    for n in 0..150 {
        let session_name = RoleSessionName::new(&format!("destination-{n:032}")).unwrap();
        stand_in.allow_writer(session_name.as_str());
        let session = writer
            .assume_role(AssumeRoleRequest {
                role_arn: &role,
                external_id: None,
                session_name: &session_name,
                session_policy: None,
            })
            .await
            .expect("the stand-in assumes any role");
        writer
            .put_object(
                ObjectTarget {
                    session: &session,
                    bucket: &bucket,
                    key: "platform/probe",
                    region: "us-east-1",
                    expected_bucket_owner: None,
                    kms_key: None,
                },
                ObjectBody {
                    bytes: bytes::Bytes::from_static(b"probe"),
                    content_type: "text/plain",
                    checksum: None,
                    only_if_absent: false,
                },
            )
            .await
            .expect("the stand-in takes any object");
    }
    // THEN the connector was assumed once, and each destination's session once
    let sessions = stand_in.assumed_sessions();
    let connector = sessions.iter().filter(|s| *s == CONNECTOR_SESSION).count();
    assert_eq!(connector, 1, "the connector's session was assumed again");
    assert_eq!(sessions.len(), 151);
    assert_eq!(stand_in.counts.take().get("s3"), Some(&150));
}
