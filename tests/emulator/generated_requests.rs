//! Requests generated from openapi.yaml (schemathesis, property-based), against the API served as
//! the local run serves it: no answer is a 5xx, and every answer is one the contract documents
//! (status, content type, headers, schema).

use std::sync::Arc;

use support::world::World;

// Multi-threaded: schemathesis blocks this test while the API it calls serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_get_only_documented_answers() {
    // GIVEN the API on a free port, with one destination of each mode to aim requests at
    // (rate limits raised out of the way: this is about the contract, not the limits)
    let mut world = World::new().await;
    for limit in [
        "CREATES_PER_MINUTE",
        "MERGES_PER_MINUTE",
        "TEST_CONNECTIONS_PER_MINUTE",
        "REQUESTS_PER_MINUTE",
    ] {
        world.platform.set_env(limit, "1000000");
    }
    let services = Arc::new(
        Box::pin(dev_support::services::Services::wire(
            &world.platform,
            dev_support::services::quick_check_settings(),
        ))
        .await,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(dev_support::server::serve(
        listener,
        services,
        std::future::pending(),
    ));
    // WHEN schemathesis sends what openapi.yaml allows, and what it does not
    let contract = dev_support::template::repo_root().join("openapi.yaml");
    // Run from a scratch directory: whatever schemathesis keeps on disk stays out of the checkout.
    let scratch = std::env::temp_dir();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            .current_dir(scratch)
            .args([
                "run",
                contract.to_str().expect("a UTF-8 path"),
                "--url",
                &format!("http://{address}"),
                "--header",
                &format!("X-Tenant-Id: {}", support::api::TENANT),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                "25",
                "--seed",
                "20261128",
                "--request-timeout",
                "30",
                "--generation-database",
                "none",
            ])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .unwrap_or_else(|e| panic!("schemathesis is not installed ({e}); run the tests with infra/test.sh, which installs it"))
    })
    .await
    .unwrap();
    // THEN every check passed
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found answers outside the contract:\n{report}"
    );
}
