//! A loopback TCP proxy in front of the emulator that counts AWS requests per service, read from
//! each request's SigV4 credential scope, and can hold each request for a per-service round trip
//! (the emulator answers over loopback in about a millisecond; AWS does not). Bytes pass through
//! unchanged, so signatures still verify.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Counts(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counts {
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub struct CountingProxy {
    pub endpoint: String,
    pub counts: Counts,
}

impl CountingProxy {
    pub fn start(upstream: SocketAddr) -> CountingProxy {
        Self::with_latency(upstream, BTreeMap::new())
    }

    /// Every request to a service in `latency` waits that long before it is forwarded.
    pub fn with_latency(
        upstream: SocketAddr,
        latency: BTreeMap<&'static str, Duration>,
    ) -> CountingProxy {
        let latency = Arc::new(latency);
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let counts = Counts::default();
        let shared = counts.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counts = shared.clone();
                let latency = latency.clone();
                std::thread::spawn(move || {
                    let Ok(server) = TcpStream::connect(upstream) else {
                        return;
                    };
                    let (Ok(mut client_read), Ok(mut server_write)) =
                        (client.try_clone(), server.try_clone())
                    else {
                        return;
                    };
                    let (mut server_read, mut client_write) = (server, client);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut server_read, &mut client_write);
                    });
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        let n = match client_read.read(&mut buffer) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        for service in count_requests(&buffer[..n], &counts) {
                            if let Some(delay) = latency.get(service.as_str()) {
                                std::thread::sleep(*delay);
                            }
                        }
                        if server_write.write_all(&buffer[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        CountingProxy { endpoint, counts }
    }
}

/// Every `Credential=KEY/DATE/REGION/SERVICE/aws4_request` seen starts one signed request; returns
/// the services of the requests counted.
fn count_requests(bytes: &[u8], counts: &Counts) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let services: Vec<String> = text
        .split("Credential=")
        .skip(1)
        .filter_map(|piece| piece.split('/').nth(3).map(str::to_owned))
        .collect();
    let mut counts = counts.0.lock().unwrap_or_else(|p| p.into_inner());
    for service in &services {
        *counts.entry(service.clone()).or_default() += 1;
    }
    services
}
