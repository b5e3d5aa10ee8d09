//! Everything the destinations functions share, in layers: the pure `domain` and `policy`, the
//! `ports` the use cases depend on, the use cases (`app`), the AWS `adapters` behind the ports
//! (each enabled by a cargo feature), and the HTTP edge (`http`).
//!
//! Dependencies point one way: `domain ← policy ← (kit) ← ports ← app ← http`, and
//! `ports ← adapters`.

pub mod adapters;
pub mod app;
#[cfg(feature = "sdk")]
pub mod aws;
pub mod config;
pub mod domain;
pub mod http;
#[cfg(feature = "kit")]
pub mod kit;
pub mod metrics;
pub mod policy;
pub mod ports;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
