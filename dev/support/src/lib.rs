//! Development support shared by the local run, the tests and the benchmarks: the emulator, the
//! platform built inside it from `template.yaml`, the functions wired as their `main.rs` wires
//! them, the event sources that feed them, the sample events and one HTTP client.

pub mod accounts;
pub mod dispatch;
pub mod emulator;
pub mod events;
pub mod gateway;
pub mod http;
pub mod platform;
pub mod server;
pub mod services;
pub mod template;
