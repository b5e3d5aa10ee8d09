//! fakecloud, the local AWS: started on a free loopback port with strict IAM and SigV4 checks, or
//! attached at `FAKECLOUD_ENDPOINT`. The binary comes from `FAKECLOUD_BIN` or `PATH`;
//! `infra/test.sh` and `infra/local-run.sh` install it when missing. Nothing here skips a test
//! because the emulator is absent: it fails loudly.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Emulator {
    pub endpoint: String,
    pub addr: SocketAddr,
    /// The region it advertises; its ARNs are of that region's partition.
    pub region: String,
    /// Set when this process started it.
    pid: Option<u32>,
}

static SHARED: OnceLock<Emulator> = OnceLock::new();
static OTHER_REGIONS: std::sync::Mutex<Vec<(&str, &Emulator)>> = std::sync::Mutex::new(Vec::new());

/// The region of the process's emulator (and of every SDK configuration pointed at it).
pub const REGION: &str = "us-east-1";

/// The emulator of this process, started on first use (or the one at `FAKECLOUD_ENDPOINT`).
pub fn emulator() -> &'static Emulator {
    SHARED.get_or_init(|| match std::env::var("FAKECLOUD_ENDPOINT") {
        Ok(endpoint) => Emulator::attach(&endpoint),
        Err(_) => Emulator::start(),
    })
}

/// Another emulator of this process, advertising `region` (started on first use): everything it
/// makes is of that region's partition (`cn-north-1`: `arn:aws-cn:`), for running a China or
/// GovCloud deployment's whole flow.
pub fn emulator_in(region: &'static str) -> &'static Emulator {
    let mut started = OTHER_REGIONS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, emulator)) = started.iter().find(|(r, _)| *r == region) {
        return emulator;
    }
    let emulator: &'static Emulator = Box::leak(Box::new(Emulator::start_in(region)));
    started.push((region, emulator));
    emulator
}

impl Emulator {
    /// An emulator someone else started (never stopped from here).
    pub fn attach(endpoint: &str) -> Emulator {
        let addr = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|_| panic!("{endpoint} must be http://127.0.0.1:<port>"));
        wait_healthy(addr, Duration::from_secs(30));
        Emulator {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            addr,
            region: std::env::var("FAKECLOUD_REGION").unwrap_or_else(|_| REGION.to_owned()),
            pid: None,
        }
    }

    /// A separate emulator that a test may kill (fault tests); it dies with the process.
    pub fn start() -> Emulator {
        Self::start_in(REGION)
    }

    /// The same, advertising `region`.
    pub fn start_in(region: &str) -> Emulator {
        let advertised = region.to_owned();
        let binary = std::env::var("FAKECLOUD_BIN").unwrap_or_else(|_| "fakecloud".to_owned());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free loopback port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let (sender, receiver) = std::sync::mpsc::channel();
        // The child is spawned from a thread that lives as long as the process, because the
        // kernel's parent-death signal fires when the spawning *thread* ends: the emulator dies
        // with the tests, however they end, and no process is left behind.
        std::thread::spawn(move || {
            let mut command = Command::new(&binary);
            command
                .args(["--addr", &addr.to_string()])
                .env("FAKECLOUD_IAM", "strict")
                .env("FAKECLOUD_VERIFY_SIGV4", "true")
                .env("FAKECLOUD_LOG", "error")
                .env("FAKECLOUD_REGION", &advertised)
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
                    sender
                        .send(Err(format!(
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
            region: region.to_owned(),
            pid: Some(pid),
        }
    }

    /// The partition of its region, which every ARN it makes is of.
    pub fn partition(&self) -> shared::domain::Partition {
        shared::domain::Region::new(&self.region)
            .map(|r| r.partition())
            .unwrap_or(shared::domain::Partition::Aws)
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

    /// POSTs to one of the emulator's own control endpoints.
    pub async fn control(&self, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.endpoint);
        let response = crate::http::post_json(&url, body)
            .await
            .unwrap_or_else(|e| panic!("emulator control endpoint {path}: {e}"));
        assert!(
            (200..300).contains(&response.status),
            "{path} answered {}: {}",
            response.status,
            response.text()
        );
        response.json()
    }
}

/// Blocks until `GET /_fakecloud/health` answers 200. Runs the async client on a thread of its
/// own, so it works whether or not the caller is inside a runtime.
fn wait_healthy(addr: SocketAddr, budget: Duration) {
    let url = format!("http://{addr}/_fakecloud/health");
    let healthy = || {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime for the health check");
                    runtime.block_on(async {
                        tokio::time::timeout(
                            Duration::from_secs(2),
                            crate::http::send("GET", &url, &[], None),
                        )
                        .await
                        .is_ok_and(|r| r.is_ok_and(|r| r.status == 200))
                    })
                })
                .join()
                .unwrap_or(false)
        })
    };
    let deadline = Instant::now() + budget;
    while !healthy() {
        assert!(
            Instant::now() < deadline,
            "the AWS emulator at {addr} did not become healthy within {budget:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
