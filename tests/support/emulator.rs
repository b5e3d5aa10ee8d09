//! Starts fakecloud on a free loopback port for the current test binary and stops it with the process.
//!
//! The binary comes from `FAKECLOUD_BIN` or `PATH`; `infra/test.sh` installs it when missing. A test
//! run with neither fails loudly: nothing here skips a test because the emulator is absent.
//! `FAKECLOUD_ENDPOINT` points tests at an emulator someone else started (then it is not stopped).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Emulator {
    pub endpoint: String,
    pub addr: SocketAddr,
    /// Set when this process started it.
    pid: Option<u32>,
}

impl Emulator {
    /// Starts a separate emulator that a test may stop (fault tests); it also dies with the process.
    pub fn start_private() -> Emulator {
        start()
    }

    /// Kills an emulator this process started, at once, as a crash would.
    pub fn kill(&self) {
        if let Some(pid) = self.pid {
            // SAFETY: plain syscall on a pid we spawned.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// The emulator of this test binary, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("FAKECLOUD_ENDPOINT") {
            let addr = endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .expect("FAKECLOUD_ENDPOINT must be http://127.0.0.1:<port>");
            wait_healthy(addr, Duration::from_secs(30));
            return Emulator {
                endpoint,
                addr,
                pid: None,
            };
        }
        start()
    })
}

fn start() -> Emulator {
    let binary = std::env::var("FAKECLOUD_BIN").unwrap_or_else(|_| "fakecloud".to_owned());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free loopback port")
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (sender, receiver) = std::sync::mpsc::channel();
    // The child is spawned from a thread that lives as long as the process, because the kernel's
    // parent-death signal fires when the spawning *thread* ends: the emulator dies with the tests,
    // however they end, and no process is left behind.
    std::thread::spawn(move || {
        let mut command = Command::new(&binary);
        command
            .args(["--addr", &addr.to_string()])
            .env("FAKECLOUD_IAM", "strict")
            .env("FAKECLOUD_VERIFY_SIGV4", "true")
            .env("FAKECLOUD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match command.spawn() {
            Ok(mut child) => {
                sender.send(Ok(child.id())).ok();
                let _ = child.wait();
            }
            Err(e) => {
                sender.send(Err(format!(
                    "could not start the AWS emulator `{binary}`: {e}. Run the tests with infra/test.sh, \
                     which installs fakecloud 0.51.0, or set FAKECLOUD_BIN to its path."
                )))
                .ok();
            }
        }
        // Keep this thread (and so the child's parent) alive until the process exits.
        loop {
            std::thread::park();
        }
    });
    let pid = match receiver.recv().expect("emulator thread vanished") {
        Ok(pid) => pid,
        Err(message) => panic!("{message}"),
    };
    wait_healthy(addr, Duration::from_secs(60));
    Emulator {
        endpoint: format!("http://{addr}"),
        addr,
        pid: Some(pid),
    }
}

fn wait_healthy(addr: SocketAddr, budget: Duration) {
    let deadline = Instant::now() + budget;
    loop {
        if let Ok((200, _)) = http(addr, "GET", "/_fakecloud/health", None) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the AWS emulator at {addr} did not become healthy within {budget:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 exchange with the emulator's own control endpoints (loopback only).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = json.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, dechunk(&body)))
}

/// Undoes `Transfer-Encoding: chunked` when the body is chunked (enough for small JSON answers).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size_line, after)) = rest.split_once("\r\n") else {
            return body.to_owned();
        };
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            return body.to_owned();
        };
        if size == 0 {
            return out;
        }
        if after.len() < size {
            return body.to_owned();
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
}
