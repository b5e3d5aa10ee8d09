//! The fast tier: everything that needs nothing installed (no emulator, no Python tools).
//! `cargo test` runs it on a fresh clone; `infra/test.sh` runs it with the emulator tier.

mod aws_responses;
mod check_now;
mod contract;
mod deliveries;
mod fairness;
mod handlers;
mod layout;
mod metrics;
mod partitions;
mod permissions;
mod policy_preview;
mod ports;
mod revalidation;
mod rotation;
mod writer_sessions;
