//! A loopback TCP proxy in front of the emulator that counts AWS requests per service, read from
//! each request's SigV4 credential scope, times each one's round trip to the emulator (forwarded
//! → first byte of the answer), and can hold each request for a modelled per-service round trip
//! (the emulator answers over loopback; AWS does not). Bytes pass through unchanged, so
//! signatures still verify.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use support::stand_in::Counts;

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
                std::thread::spawn(move || relay(client, upstream, &counts, &latency));
            }
        });
        CountingProxy { endpoint, counts }
    }
}

/// One client connection. HTTP/1.1 without pipelining: a request's answer starts before the
/// next request, so the first bytes back after a request end its round trip.
fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    counts: &Counts,
    latency: &BTreeMap<&'static str, Duration>,
) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut server_read, mut client_write) = (server, client);
    let pending: Arc<Mutex<Option<(String, Instant)>>> = Arc::default();
    let answered = pending.clone();
    let answer_counts = counts.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some((service, sent)) = answered.lock().unwrap().take() {
                answer_counts.record(&service, sent.elapsed());
            }
            if client_write.write_all(&buffer[..n]).is_err() {
                return;
            }
        }
    });
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match client_read.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Every `Credential=KEY/DATE/REGION/SERVICE/aws4_request` starts one signed request.
        let text = String::from_utf8_lossy(&buffer[..n]);
        if let Some(service) = text
            .split("Credential=")
            .nth(1)
            .and_then(|piece| piece.split('/').nth(3))
        {
            if let Some(delay) = latency.get(service) {
                std::thread::sleep(*delay);
            }
            *pending.lock().unwrap() = Some((service.to_owned(), Instant::now()));
        }
        if server_write.write_all(&buffer[..n]).is_err() {
            return;
        }
    }
}
