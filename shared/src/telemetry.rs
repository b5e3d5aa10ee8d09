//! Structured JSON logs for CloudWatch. Log fields are chosen at each call site: request bodies,
//! credentials and External IDs are never among them.

use tracing_subscriber::filter::LevelFilter;

/// Installs the JSON subscriber once, at the level of `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's
/// advanced logging controls) or `RUST_LOG`, `info` by default. One level for every crate: a
/// per-target filter would link a regex engine into every function for no current use.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(|value| level_from(&value))
        .unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Lambda's levels (`TRACE` … `FATAL`) and `RUST_LOG`'s bare levels; anything else means `info`.
fn level_from(value: &str) -> LevelFilter {
    match value.trim().to_ascii_lowercase().as_str() {
        "off" => LevelFilter::OFF,
        "fatal" | "error" => LevelFilter::ERROR,
        "warn" => LevelFilter::WARN,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_and_rust_log_levels_map_to_filters() {
        assert_eq!(level_from("ERROR"), LevelFilter::ERROR);
        assert_eq!(level_from("FATAL"), LevelFilter::ERROR);
        assert_eq!(level_from("warn"), LevelFilter::WARN);
        assert_eq!(level_from("debug"), LevelFilter::DEBUG);
        assert_eq!(level_from("off"), LevelFilter::OFF);
        assert_eq!(level_from("info,hyper=warn"), LevelFilter::INFO);
        assert_eq!(level_from(""), LevelFilter::INFO);
        assert_eq!(level_from("1"), LevelFilter::INFO);
    }
}
