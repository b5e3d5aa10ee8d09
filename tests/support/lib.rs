//! Test support: requests, the one path every response takes (validated against openapi.yaml),
//! and the worlds tests act in (in memory, or the emulated platform), and a browser for the
//! setup page.

pub mod api;
#[cfg(feature = "emulator")]
pub mod browser;
pub mod contract;
pub mod memory;
pub mod ports;
pub mod stand_in;
#[cfg(feature = "emulator")]
pub mod world;

/// The workspace's `target/` directory (screenshots, installed test tools).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dev_support::template::repo_root().join("target"))
}

/// A loopback port nobody listens on now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}
