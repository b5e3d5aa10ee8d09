//! CloudFormation custom-resource event → templates published (or nothing, on Delete) → the
//! answer PUT to CloudFormation's pre-signed response URL.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::PlatformIdentity;

/// What CloudFormation sends a custom resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceEvent {
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
}

/// What CloudFormation expects back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    pub status: String,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishKitError {
    #[error("could not answer CloudFormation: {0}")]
    Respond(String),
}

impl From<PublishKitError> for lambda_runtime::Diagnostic {
    fn from(error: PublishKitError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "RespondFailed".to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Publishes every template of this kit version, as `deployment` publishes it, into `bucket` (the
/// `Bucket` resource property; the local run and the tests publish into the emulator with it too).
pub async fn publish(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    deployment: &PlatformIdentity,
) -> Result<(), String> {
    for (key, text) in shared::kit::templates(deployment) {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("text/yaml; charset=utf-8")
            .body(text.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "PutObject {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(())
}

/// The principals the published templates accept: the `PlatformPrincipalArns` and
/// `WriterRoleArns` resource properties, read as the functions read the same values.
fn deployment(properties: &Value) -> Result<PlatformIdentity, String> {
    let property = |name: &str| properties[name].as_str().unwrap_or_default().to_owned();
    PlatformIdentity::parse(
        &property("PlatformPrincipalArns"),
        &property("WriterRoleArns"),
        None,
    )
    .map_err(|e| format!("the resource properties name no usable principals: {e}"))
}

/// Handles one event and answers CloudFormation. Templates stay on Delete: links already handed
/// to customers keep working (the bucket is retained too).
pub async fn handle(
    s3: &aws_sdk_s3::Client,
    event: CustomResourceEvent,
) -> Result<CustomResourceResponse, PublishKitError> {
    let bucket = event.resource_properties["Bucket"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let outcome = match event.request_type.as_str() {
        "Create" | "Update" if bucket.is_empty() => {
            Err("the Bucket property is missing".to_owned())
        }
        "Create" | "Update" => match deployment(&event.resource_properties) {
            Ok(deployment) => publish(s3, &bucket, &deployment).await,
            Err(reason) => Err(reason),
        },
        _ => Ok(()),
    };
    if let Err(reason) = &outcome {
        tracing::error!(%reason, "setup kit not published");
    }
    let response = CustomResourceResponse {
        status: if outcome.is_ok() { "SUCCESS" } else { "FAILED" }.to_owned(),
        reason: outcome
            .err()
            .unwrap_or_else(|| format!("setup kit {} published", shared::kit::KIT_VERSION)),
        physical_resource_id: event
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| format!("setup-kit-{}-{bucket}", shared::kit::KIT_VERSION)),
        stack_id: event.stack_id,
        request_id: event.request_id,
        logical_resource_id: event.logical_resource_id,
    };
    respond(&event.response_url, &response).await?;
    Ok(response)
}

/// PUTs the answer to the pre-signed URL (HTTPS with the system's roots, or plain HTTP for a
/// local endpoint).
async fn respond(url: &str, response: &CustomResourceResponse) -> Result<(), PublishKitError> {
    use http_body_util::{BodyExt, Full};
    let fail = |e: &dyn std::fmt::Display| PublishKitError::Respond(e.to_string());
    let body = serde_json::to_vec(response).map_err(|e| fail(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(shared::aws::trusted_roots());
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| fail(&e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let request = hyper::Request::put(url)
        // CloudFormation's pre-signed URL is signed for an empty content type.
        .header("content-type", "")
        .header("content-length", body.len())
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| fail(&e))?;
    let answer = client.request(request).await.map_err(|e| fail(&e))?;
    let status = answer.status();
    let _ = answer.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(PublishKitError::Respond(format!(
            "the response URL answered {status}"
        )))
    }
}
