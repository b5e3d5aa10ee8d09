//! A minimal Lambda Runtime API on loopback: it times a function binary's start-up (exec to its
//! first `next` request) and feeds it events one at a time, timing each answer and keeping its
//! body (so that only a successful answer counts).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub enum Signal {
    /// The function asked for its first event.
    Ready(Instant),
    /// It answered an event (`ok` false for `/error`) with `body`.
    Answered {
        at: Instant,
        ok: bool,
        body: Vec<u8>,
    },
}

pub struct RuntimeStub {
    pub address: String,
    events: Sender<Vec<u8>>,
    signals: Receiver<Signal>,
}

impl RuntimeStub {
    pub fn start() -> RuntimeStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback port");
        let address = listener.local_addr().expect("address").to_string();
        let (events_tx, events_rx) = channel::<Vec<u8>>();
        let (signals_tx, signals_rx) = channel::<Signal>();
        // The runtime client may open a new connection while an idle one stays open: serve each on
        // its own thread, sharing one event queue.
        let state: State = Arc::new(Mutex::new((events_rx, false, 0u64)));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (state, signals) = (state.clone(), signals_tx.clone());
                std::thread::spawn(move || serve(stream, &state, &signals));
            }
        });
        RuntimeStub {
            address,
            events: events_tx,
            signals: signals_rx,
        }
    }

    pub fn wait(&self, timeout: Duration) -> Option<Signal> {
        self.signals.recv_timeout(timeout).ok()
    }

    pub fn send(&self, event: Vec<u8>) {
        let _ = self.events.send(event);
    }
}

type State = Arc<Mutex<(Receiver<Vec<u8>>, bool, u64)>>;

fn serve(stream: TcpStream, state: &State, signals: &Sender<Signal>) -> std::io::Result<()> {
    // Small writes must not wait for delayed ACKs, or every invocation gains ~40 ms.
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0usize;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body = vec![0; content_length];
            reader.read_exact(&mut body)?;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if path.ends_with("/invocation/next") {
            let (event, request_number) = {
                let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                let (events, ready_sent, request_number) = &mut *guard;
                if !*ready_sent {
                    *ready_sent = true;
                    let _ = signals.send(Signal::Ready(Instant::now()));
                }
                let Ok(event) = events.recv() else {
                    return Ok(());
                };
                *request_number += 1;
                (event, *request_number)
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or(0);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-{}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\nContent-Length: {}\r\n\r\n",
                request_number,
                event.len()
            )?;
            writer.write_all(&event)?;
        } else {
            let ok = path.ends_with("/response");
            write!(
                writer,
                "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{{}}"
            )?;
            let _ = signals.send(Signal::Answered {
                at: Instant::now(),
                ok,
                body,
            });
        }
        writer.flush()?;
    }
}
