//! Structured JSON logs for CloudWatch. Log fields are chosen at each call site: request bodies,
//! credentials and External IDs are never among them.

/// Installs the JSON subscriber once; the level comes from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned())
        .to_ascii_lowercase();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
