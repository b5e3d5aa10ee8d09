//! Test support: sample events, the fakecloud emulator and the AWS accounts tests act in.

pub mod accounts;
pub mod api;
pub mod contract;
pub mod counting_proxy;
pub mod emulator;
pub mod events;
pub mod fixtures;
pub mod runtime_stub;
pub mod world;
