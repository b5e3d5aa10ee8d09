//! Everything the destinations functions share: the pure domain and policy rendering, the ports the
//! handlers depend on, and the AWS adapters behind them (enabled per function by cargo features).

pub mod config;
pub mod domain;
pub mod policy;
