//! Test support: requests, the one path every response takes (validated against openapi.yaml),
//! and the worlds tests act in (in memory, or the emulated platform).

pub mod api;
pub mod contract;
pub mod memory;
#[cfg(feature = "emulator")]
pub mod world;
