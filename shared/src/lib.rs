//! Everything the destinations functions share: the pure domain and policy rendering, the ports the
//! handlers depend on, and the AWS adapters behind them (enabled per function by cargo features).

pub mod adapters;
#[cfg(feature = "sdk")]
pub mod aws;
pub mod config;
pub mod connection_test;
pub mod domain;
pub mod http;
pub mod policy;
pub mod ports;
pub mod revalidation;
pub mod telemetry;
