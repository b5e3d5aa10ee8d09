#!/usr/bin/env bash
# Benchmarks (not part of the test suite): builds the release binaries, runs the policy-rendering
# criterion bench and the harness in tests/benches/functions.rs against fakecloud, and writes
# BENCHMARKS.md. Takes about twenty minutes on 2 cores after the first builds.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. infra/tools.sh

ensure_fakecloud
ensure_python_tools   # boto3 (via aws-sam-cli) for the cold-start baseline
log "Building release binaries"
cargo build --release --locked \
  -p destinations-api -p policies-api -p test-connection \
  -p revalidate-scheduler -p revalidate-worker -p revalidate-on-change -p bench-hello
log "Building the arm64 Lambda binaries (cargo lambda, for their sizes)"
if ! "$ROOT/infra/.venv/bin/cargo-lambda" lambda --version >/dev/null 2>&1; then
  "$ROOT/infra/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "cargo-lambda==1.9.2"
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null
"$ROOT/infra/.venv/bin/cargo-lambda" lambda build --release --arm64 --locked \
  -p destinations-api -p policies-api -p test-connection \
  -p revalidate-scheduler -p revalidate-worker -p revalidate-on-change -p bench-hello
log "Policy rendering (criterion)"
cargo bench --locked -p shared --bench render -- --noplot
log "Functions: cold start, size, memory, latency, calls, throughput"
cargo bench --locked -p destinations-tests --bench functions
