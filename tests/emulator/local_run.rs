//! The README's first command: `infra/local-run.sh` starts, the README's walkthrough runs against
//! it as written, and Ctrl-C stops everything with a clean exit.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::free_port;

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The shell block between the README's walkthrough markers.
fn walkthrough() -> String {
    let readme = dev_support::template::repo_file("README.md");
    let block = readme
        .split("<!-- walkthrough -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /walkthrough -->").next())
        .expect("README.md marks its walkthrough");
    block
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_run_serves_the_readme_walkthrough_and_stops_on_ctrl_c() {
    // GIVEN infra/local-run.sh started as the README says, on free ports
    let root = dev_support::template::repo_root();
    let (port, emulator_port) = (free_port(), free_port());
    let state = std::env::temp_dir().join(format!("local-run-{port}"));
    let log = std::env::temp_dir().join(format!("local-run-{port}.log"));
    let log_file = std::fs::File::create(&log).unwrap();
    let mut script = Command::new("bash")
        .arg("infra/local-run.sh")
        .current_dir(&root)
        .env("PORT", port.to_string())
        .env("EMULATOR_PORT", emulator_port.to_string())
        .env("LOCAL_RUN_DIR", &state)
        // Re-validation on, quickly: the README promises its events in the local run's output.
        .env("REVALIDATE_INTERVAL", "2s")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
        .process_group(0)
        .spawn()
        .unwrap();
    let group = script.id() as i32;
    let started = Instant::now();
    let api = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(answer) =
            dev_support::http::send("GET", &format!("{api}/platform"), &[], None).await
            && answer.status == 200
        {
            break;
        }
        assert!(
            script.try_wait().unwrap().is_none(),
            "local-run.sh exited:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "no answer on {api}:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // WHEN the README's walkthrough runs against it
    let walk = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough()])
        .current_dir(&root)
        .env("API", &api)
        .env("LOCAL_RUN_DIR", &state)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&walk.stdout).into_owned();
    // THEN it prints what the README says it prints
    assert!(
        walk.status.success(),
        "the walkthrough failed:\n{printed}{}",
        String::from_utf8_lossy(&walk.stderr)
    );
    assert!(printed.contains("test passed: True"), "{printed}");
    assert!(printed.contains("status: verified"), "{printed}");
    let delivered = printed
        .lines()
        .find_map(|line| line.strip_prefix("delivery: delivered "))
        .unwrap_or_else(|| panic!("no delivery line in:\n{printed}"));
    assert!(
        delivered.starts_with("platform/") && delivered.ends_with("/orders-1-orders.csv"),
        "{delivered}"
    );
    assert!(printed.contains("in the bucket: id,total"), "{printed}");
    // AND the setup page is at the root, as the README says
    let page = dev_support::http::send("GET", &format!("{api}/"), &[], None)
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(
        String::from_utf8_lossy(&page.body).contains("<title>S3 destinations</title>"),
        "not the setup page"
    );
    // WHEN, after Save, the role's policy is deleted (as the README suggests)
    let id = dev_support::http::send(
        "GET",
        &format!("{api}/destinations"),
        &[("x-tenant-id", "acme")],
        None,
    )
    .await
    .unwrap()
    .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_admin = |script: &str| {
        let ran = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(&root)
            .env("API", &api)
            .env("ID", &id)
            .env("LOCAL_RUN_DIR", &state)
            .output()
            .unwrap();
        assert!(
            ran.status.success(),
            "{script}:\n{}{}",
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&ran.stderr)
        );
    };
    let admin =
        r#"source "$LOCAL_RUN_DIR/admin.env"; export PATH="$PWD/target/tools/venv/bin:$PATH"; "#;
    as_admin(&format!(
        "{admin}aws iam delete-role-policy --role-name DataPlatformDestination-${{ID:0:8}} --policy-name DataPlatformDestination"
    ));
    // THEN the local run prints the failure by itself, from re-validation
    let printed_within = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let output = std::fs::read_to_string(&log).unwrap();
            if output.contains(what) {
                return;
            }
            assert!(Instant::now() < deadline, "no {what:?} in:\n{output}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    printed_within("event: Destination Connection Failed");
    // WHEN the policy is put back (the kit's script, run again)
    as_admin(&format!(
        "{admin}curl -sf $API/destinations/$ID/setup-kit -H 'X-Tenant-Id: acme' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"awsCli\"])' | SKIP_LIFECYCLE=1 bash -s >/dev/null"
    ));
    // THEN it prints the recovery
    printed_within("event: Destination Connection Restored");
    // WHEN Ctrl-C reaches the local run
    // SAFETY: signalling a process group this test created.
    unsafe {
        libc::kill(-group, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = script.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "local-run.sh did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // THEN it exits cleanly, and nothing of it is left running or listening
    let mut output = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    assert!(status.success(), "exit {status}:\n{output}");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signal 0 only asks whether any process of the group is left.
    let left = unsafe { libc::kill(-group, 0) } == 0;
    assert!(!left, "processes of the local run are still running");
    assert!(
        !listening(port) && !listening(emulator_port),
        "a port is still in use"
    );
    assert!(
        output.contains("building the local server")
            && output.contains("starting the AWS emulator"),
        "{output}"
    );
}
