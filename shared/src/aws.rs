//! One way to build the AWS SDK configuration, shared by every function, the local run and the
//! tests, so that cold starts stay cheap and every binary links one TLS stack.
//!
//! What the SDK's defaults would do at cold start, and what this does instead:
//! - The default credentials chain builds an STS client (for web identity) even in functions that
//!   never call STS. Lambda always hands a function its role's credentials in the environment, as
//!   does `sam local invoke`, so the environment provider is the whole chain here.
//! - Every SDK client build sets up a TLS configuration from the platform's trust store (parsing
//!   every root certificate again), and the platform probe reads a bundle file *and* every file of a
//!   certificate directory (hundreds on Debian-like systems). Here TLS is set up once per SDK
//!   configuration (a function has one), when the first request needs it, from the one bundle file
//!   read once per process: the same trust anchors, and a function that answers without calling AWS
//!   (a rejected request) never pays for it. The writer's per-test S3 clients share that set-up and
//!   its connection pool.
//! - The trusted roots are Amazon Trust Services' (compiled in), which every endpoint of the `aws`
//!   and `aws-us-gov` partitions chains to, rather than the system bundle of 144 roots read,
//!   parsed and sifted at each cold start. `SSL_CERT_FILE` overrides them; the China partition
//!   uses the system bundle.
//! - TLS is rustls with the *ring* provider rather than aws-lc, which is larger (no post-quantum
//!   key exchange with ring; see BENCHMARKS.md for the sizes).

use std::borrow::Cow;
use std::sync::OnceLock;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The roots every AWS service endpoint of the `aws` and `aws-us-gov` partitions chains to:
/// Amazon Trust Services' four, and the Starfield root that cross-signs them (AWS moved every
/// endpoint to these, S3's last, in 2022). Compiled in, so no cold start reads or sifts a system
/// bundle; each is named, with its SHA-256 fingerprint, in the file.
const AMAZON_TRUST_SERVICES: &str = include_str!("../certs/amazon-trust-services.pem");

/// Where systems keep the PEM bundle of trusted roots: `SSL_CERT_FILE` when set, then Amazon Linux
/// (the Lambda `provided.al2023` runtime) and Fedora, Debian and Ubuntu, Alpine and macOS.
const BUNDLE_CANDIDATES: [&str; 3] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, thiserror::Error)]
pub enum AwsConfigError {
    #[error("AWS_REGION is not set")]
    MissingRegion,
}

/// The SDK configuration for a function: region and credentials from the Lambda environment,
/// `AWS_ENDPOINT_URL` and the other `AWS_*` settings as the SDK reads them, and `timeouts` on
/// every call.
pub async fn sdk_config(timeouts: Option<TimeoutConfig>) -> Result<SdkConfig, AwsConfigError> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .map_err(|_| AwsConfigError::MissingRegion)?;
    let mut loader = defaults().region(Region::new(region)).credentials_provider(
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    );
    if let Some(timeouts) = timeouts {
        loader = loader.timeout_config(timeouts);
    }
    Ok(loader.load().await)
}

#[derive(Debug, thiserror::Error)]
#[error("the platform has no connector in the partition of {region}, where this function runs")]
pub struct PartitionNotServed {
    pub region: String,
}

/// The platform's identities in the partition this function runs in (a function can only
/// assume roles of its own partition).
pub fn own_partition_identity<'a>(
    config: &SdkConfig,
    platform: &'a crate::domain::PlatformIdentity,
) -> Result<&'a crate::domain::PartitionIdentity, PartitionNotServed> {
    let region = config
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_default();
    crate::domain::Region::new(&region)
        .ok()
        .and_then(|r| platform.for_partition(r.partition()))
        .ok_or(PartitionNotServed { region })
}

/// Bounds for every AWS call of a connection test, well inside the test's overall deadline.
pub fn probe_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .build()
}

/// The SDK's loader with this crate's HTTP client; callers that are not functions (tests, the
/// local run) set region and credentials themselves.
pub fn defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// An HTTP client (HTTPS, and plain HTTP for a local endpoint) for one SDK configuration: every SDK
/// client built from it shares its TLS set-up and connection pool. One per configuration, not per
/// process: a connection pool belongs to the tokio runtime that opened its connections.
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(SetUpOnFirstUse::default())
}

/// The SDK's hyper client, created when the first request asks for a connector. The SDK's own
/// client builds a connector (TLS included) in `validate_base_client_config`, on every SDK client
/// build, and throws it away; this one keeps the default no-op there.
#[derive(Debug, Default)]
struct SetUpOnFirstUse {
    client: std::sync::Arc<OnceLock<SharedHttpClient>>,
}

impl HttpClient for SetUpOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The hyper client caches one connector per settings, so TLS is set up once.
        self.client
            .get_or_init(|| https_client(tls_context()))
            .http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

fn https_client(context: TlsContext) -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https()
}

/// Which roots a process trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TrustSource {
    /// `SSL_CERT_FILE`: the operator's choice, whatever the partition.
    Bundle(std::path::PathBuf),
    /// The compiled-in Amazon Trust Services roots.
    AmazonTrustServices,
    /// The system's bundle: the China partition, whose endpoints we do not pin to Amazon Trust
    /// Services.
    System,
}

/// `ssl_cert_file` overrides everything; otherwise the partition of `region` decides.
fn trust_source(ssl_cert_file: Option<std::ffi::OsString>, region: Option<&str>) -> TrustSource {
    match ssl_cert_file {
        Some(path) => TrustSource::Bundle(path.into()),
        None if region.is_some_and(|r| r.starts_with("cn-")) => TrustSource::System,
        None => TrustSource::AmazonTrustServices,
    }
}

fn process_trust_source() -> TrustSource {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok();
    trust_source(std::env::var_os("SSL_CERT_FILE"), region.as_deref())
}

/// The first bundle of `candidates` that can be read.
fn read_bundle(candidates: impl Iterator<Item = std::path::PathBuf>) -> Option<Vec<u8>> {
    candidates
        .into_iter()
        .find_map(|path| std::fs::read(path).ok())
}

fn system_bundle() -> Option<Vec<u8>> {
    read_bundle(BUNDLE_CANDIDATES.iter().map(std::path::PathBuf::from))
}

fn tls_context() -> TlsContext {
    // Decided, and any bundle read and sifted, once per process.
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    let store = STORE.get_or_init(|| match process_trust_source() {
        TrustSource::AmazonTrustServices => {
            TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
        }
        TrustSource::Bundle(path) => read_bundle(std::iter::once(path))
            .and_then(|pem| trust_store_from_bundle(&pem))
            .unwrap_or_default(),
        // No bundle where we looked: let the SDK probe the platform as it would by default.
        TrustSource::System => system_bundle()
            .and_then(|pem| trust_store_from_bundle(&pem))
            .unwrap_or_default(),
    });
    TlsContext::builder()
        .with_trust_store(store.clone())
        .build()
        .expect("a TLS context with a trust store always builds")
}

/// The roots the SDK configuration trusts (DER), for the rare HTTPS call that is not an SDK call.
pub fn trusted_roots() -> Vec<CertificateDer<'static>> {
    let pem = match process_trust_source() {
        TrustSource::AmazonTrustServices => Some(AMAZON_TRUST_SERVICES.as_bytes().to_vec()),
        TrustSource::Bundle(path) => read_bundle(std::iter::once(path)),
        TrustSource::System => system_bundle(),
    };
    pem.map(|pem| {
        CertificateDer::pem_slice_iter(&pem)
            .flatten()
            .filter(|der| webpki::anchor_from_trusted_cert(der).is_ok())
            .map(CertificateDer::into_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// A trust store of the bundle's certificates that can serve as trust anchors, or `None` if there
/// are none.
fn trust_store_from_bundle(pem: &[u8]) -> Option<TrustStore> {
    let anchors = usable_anchors(pem);
    (!anchors.is_empty()).then(|| {
        anchors
            .into_iter()
            .fold(TrustStore::empty(), |store, anchor| {
                store.with_pem_certificate(anchor)
            })
    })
}

/// The bundle's certificates (PEM) that can serve as trust anchors. The SDK rejects a whole custom
/// store over one unusable certificate (it panics building the connector); the platform probe
/// skips such a certificate, and so does this.
fn usable_anchors(pem: &[u8]) -> Vec<Vec<u8>> {
    CertificateDer::pem_slice_iter(pem)
        .flatten()
        .filter(|der| webpki::anchor_from_trusted_cert(der).is_ok())
        .map(|der| pem_encode(&der))
        .collect()
}

fn pem_encode(der: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed CA certificate (generated for this test only).
    const CA_PEM: &str = include_str!("../tests/data/test-ca.pem");
    const DAMAGED: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_bundle_keeps_its_usable_anchors_and_skips_the_rest() {
        // GIVEN a bundle with prose, one CA certificate and one damaged entry
        let bundle = format!("# comments are allowed in bundles\n{CA_PEM}{DAMAGED}");
        // WHEN its anchors are read
        let anchors = usable_anchors(bundle.as_bytes());
        // THEN only the CA certificate is kept
        assert_eq!(anchors.len(), 1);
        assert!(trust_store_from_bundle(bundle.as_bytes()).is_some());
    }

    #[test]
    fn a_bundle_without_usable_anchors_falls_back_to_the_platform() {
        assert!(trust_store_from_bundle(b"not a bundle").is_none());
        assert!(trust_store_from_bundle(DAMAGED.as_bytes()).is_none());
    }

    #[cfg(feature = "dynamodb")]
    #[tokio::test]
    async fn sdk_clients_build_on_a_store_read_from_a_bundle_with_a_damaged_entry() {
        // GIVEN an HTTPS client whose trust store came from an imperfect bundle
        let bundle = format!("{CA_PEM}{DAMAGED}");
        let store = trust_store_from_bundle(bundle.as_bytes()).unwrap();
        // WHEN an SDK client is built (which sets up its TLS connector at once)
        // THEN it is usable (building the connector would have panicked on an unusable anchor)
        assert_sdk_client_builds_on(store).await;
    }

    #[cfg(feature = "dynamodb")]
    async fn assert_sdk_client_builds_on(store: TrustStore) {
        let http = https_client(
            TlsContext::builder()
                .with_trust_store(store)
                .build()
                .unwrap(),
        );
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new("us-east-1"))
            .no_credentials()
            .load()
            .await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        assert_eq!(client.config().region().unwrap().as_ref(), "us-east-1");
    }

    #[cfg(feature = "dynamodb")]
    #[tokio::test]
    async fn tls_is_set_up_by_the_first_request_not_by_building_clients() {
        // GIVEN the process's HTTP client, not yet used
        let set_up = std::sync::Arc::new(OnceLock::new());
        let http = SharedHttpClient::new(SetUpOnFirstUse {
            client: set_up.clone(),
        });
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .endpoint_url(format!("http://{closed_port}"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        // WHEN SDK clients are built
        let first = aws_sdk_dynamodb::Client::new(&config);
        let _second = aws_sdk_dynamodb::Client::new(&config);
        // THEN nothing is set up yet
        assert!(set_up.get().is_none());
        // WHEN a request is sent (here to a port nobody listens on)
        let sent = first.list_tables().send().await;
        // THEN the connection was attempted through the client set up for it
        assert!(sent.is_err());
        assert!(set_up.get().is_some());
    }

    fn anchors_of(pem: &[u8]) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem).flatten().collect()
    }

    /// Whether `leaf` (with `intermediates`) chains to one of `roots` at a moment it was valid:
    /// the root it chained to, by its subject's bytes.
    fn chains_to(
        roots: &[CertificateDer<'static>],
        intermediates: &[CertificateDer<'static>],
    ) -> Result<Vec<u8>, webpki::Error> {
        let leaf =
            CertificateDer::from(include_bytes!("../tests/data/aws-amazon-com-leaf.der").to_vec());
        let anchors: Vec<_> = roots
            .iter()
            .map(|r| webpki::anchor_from_trusted_cert(r).unwrap())
            .collect();
        // 2025-08-13, when the recorded chain was served by aws.amazon.com.
        let then = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            1_755_113_506,
        ));
        let leaf = webpki::EndEntityCert::try_from(&leaf).unwrap();
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            intermediates,
            then,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|path| path.anchor().subject.as_ref().to_vec())
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[test]
    fn the_compiled_in_store_is_the_five_amazon_trust_services_roots_each_a_usable_anchor() {
        let roots = anchors_of(AMAZON_TRUST_SERVICES.as_bytes());
        assert_eq!(roots.len(), 5);
        for (root, name) in roots.iter().zip([
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ]) {
            let anchor = webpki::anchor_from_trusted_cert(root).expect("a usable trust anchor");
            assert!(contains(anchor.subject.as_ref(), name), "{name}");
        }
    }

    #[test]
    fn an_aws_endpoints_chain_verifies_against_the_compiled_in_roots_and_not_against_others() {
        let intermediate = CertificateDer::from(
            include_bytes!("../tests/data/aws-amazon-com-intermediate.der").to_vec(),
        );
        let roots = anchors_of(AMAZON_TRUST_SERVICES.as_bytes());
        // GIVEN aws.amazon.com's chain as served (leaf, Amazon RSA 2048 M01) THEN it reaches
        // Amazon Root CA 1
        let root = chains_to(&roots, std::slice::from_ref(&intermediate)).unwrap();
        assert!(contains(&root, "Amazon Root CA 1"));
        // AND through the cross-signed Amazon Root CA 1, the Starfield root alone is enough
        let cross_signed = CertificateDer::from(
            include_bytes!("../tests/data/amazon-root-ca-1-by-starfield.der").to_vec(),
        );
        let root = chains_to(&roots[4..], &[intermediate.clone(), cross_signed]).unwrap();
        assert!(contains(
            &root,
            "Starfield Services Root Certificate Authority - G2"
        ));
        // AND roots that are not Amazon's do not accept it
        let other = anchors_of(CA_PEM.as_bytes());
        assert!(chains_to(&other, &[intermediate]).is_err());
    }

    #[test]
    fn ssl_cert_file_overrides_and_only_china_reads_the_system_bundle() {
        let bundle = || Some(std::ffi::OsString::from("/etc/custom.pem"));
        assert_eq!(
            trust_source(bundle(), Some("cn-north-1")),
            TrustSource::Bundle("/etc/custom.pem".into())
        );
        assert_eq!(
            trust_source(bundle(), Some("eu-west-1")),
            TrustSource::Bundle("/etc/custom.pem".into())
        );
        for region in [Some("eu-west-1"), Some("us-gov-west-1"), None] {
            assert_eq!(
                trust_source(None, region),
                TrustSource::AmazonTrustServices,
                "{region:?}"
            );
        }
        assert_eq!(
            trust_source(None, Some("cn-northwest-1")),
            TrustSource::System
        );
    }

    #[cfg(feature = "dynamodb")]
    #[tokio::test]
    async fn sdk_clients_build_on_the_compiled_in_store() {
        // Building the connector parses the store, and would panic on a bad certificate.
        assert_sdk_client_builds_on(
            TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes()),
        )
        .await;
    }

    #[test]
    fn pem_round_trip_gives_back_the_same_certificate() {
        let der = CertificateDer::pem_slice_iter(CA_PEM.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let again = CertificateDer::pem_slice_iter(&pem_encode(&der))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(der, again);
    }
}
