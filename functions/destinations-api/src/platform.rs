//! `GET /platform`: what customers need for their IAM setup, and exporters for deliveries.

use serde_json::json;

use shared::domain::{BucketName, PlatformIdentity};
use shared::http::ApiResponse;

pub fn facts(platform: &PlatformIdentity, staging_bucket: &BucketName) -> ApiResponse {
    let list: Vec<_> = platform
        .partitions()
        .map(|(partition, identity)| {
            json!({
                "partition": partition,
                "principalArn": identity.connector.as_str(),
                // A bucket policy names one destination's session, never the writer role: the
                // role's other sessions write for other tenants.
                "writerSessionTemplate": format!(
                    "{}/destination-{{destinationId without hyphens}}",
                    identity
                        .writer_role
                        .as_str()
                        .replacen(":iam::", ":sts::", 1)
                        .replacen(":role/", ":assumed-role/", 1)
                ),
            })
        })
        .collect();
    ApiResponse::json(
        200,
        &json!({ "platformPrincipals": list, "stagingBucket": staging_bucket.as_str() }),
    )
}
