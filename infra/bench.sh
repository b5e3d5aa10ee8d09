#!/usr/bin/env bash
# Benchmarks (not part of the test suite): builds the release binaries (x86_64, and arm64 with
# cargo lambda for their sizes), runs the policy-rendering criterion bench and the harness in
# tests/benches/functions.rs against fakecloud, and writes BENCHMARKS.md (keeping its "A fresh
# machine" section, which infra/fresh-machine.sh measures). About 45 minutes on 2 cores from a
# built workspace, plus about 45 the first time for the emulator's optimised build;
# BENCH_QUICK=1 checks the harness in a few minutes without writing anything.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. infra/tools.sh

FUNCTIONS=(destinations-api policies-api test-connection revalidate-scheduler revalidate-worker deliver deliveries-api
  revalidate-on-change publish-events publish-kit setup-page bench-hello bench-router)
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done
# The cost section's Rust SDK baseline: an x86_64 build only, as it has no size row.
sdk_baseline=(-p bench-sdk-check)

# The benchmarks run against the emulator built as published (its release profile), installed as
# `fakecloud-optimised` beside the tests' unoptimised build: under 64 concurrent checks that one
# spends both cores of the machine, and the throughput ratio would measure the emulator, not us.
# BENCH_FAKECLOUD_BIN may name such a build of the pinned version.
FAKECLOUD_NAME=fakecloud-optimised
FAKECLOUD_BUILD_FLAGS=()
FAKECLOUD_BUILD_MINUTES=45
FAKECLOUD_BIN="${BENCH_FAKECLOUD_BIN:-}"
if [ -n "$FAKECLOUD_BIN" ] && ! "$FAKECLOUD_BIN" --version 2>/dev/null | grep -q "$FAKECLOUD_VERSION"; then
  die "BENCH_FAKECLOUD_BIN is not fakecloud $FAKECLOUD_VERSION: $FAKECLOUD_BIN"
fi
# Every section says which build it was measured against (another build, such as the tests'
# unoptimised one, must say what it is: BENCH_FAKECLOUD_BUILD="opt-level 0").
if [ -n "$FAKECLOUD_BIN" ] && [ -z "${BENCH_FAKECLOUD_BUILD:-}" ]; then
  die "say how BENCH_FAKECLOUD_BIN was built: BENCH_FAKECLOUD_BUILD=\"its release profile as published (opt-level 3)\" or \"opt-level 0\""
fi
export BENCH_EMULATOR_BUILD="${BENCH_FAKECLOUD_BUILD:-its release profile as published (opt-level 3)}"
# The harness starts that emulator itself; an endpoint from the environment (a local run's) would
# be another build.
unset FAKECLOUD_ENDPOINT

require_rust
start_fakecloud_build
ensure_python_tools   # boto3 (with the AWS CLI) for the cold-start baseline
phase "building the release binaries (x86_64)"
cargo build --release --locked "${packages[@]}" "${sdk_baseline[@]}"
# Whether BENCH_SECTIONS (all when unset) includes $1.
measuring() { [ -z "${BENCH_SECTIONS:-}" ] || [[ ",$BENCH_SECTIONS," == *",$1,"* ]]; }
if [ -z "${BENCH_QUICK:-}" ]; then
  arm64=()
  if measuring size; then arm64=("${packages[@]}"); elif measuring router; then arm64=(-p bench-router); fi
  if [ ${#arm64[@]} -gt 0 ]; then
    phase "building the arm64 Lambda binaries (cargo lambda, for their sizes)"
    "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check "cargo-lambda==1.9.2"
    rustup target add aarch64-unknown-linux-gnu >/dev/null
    "$TOOLS/venv/bin/cargo-lambda" lambda build --release --arm64 --locked "${arm64[@]}"
  fi
  # Timed on a quiet machine: after the emulator's build, not beside it.
  ensure_fakecloud
  if measuring rendering; then
    phase "policy rendering (criterion)"
    cargo bench --locked -p shared --features test-util --bench render -- --noplot
  fi
fi
ensure_fakecloud
phase "functions: cold start, size, memory, latency, calls, throughput"
cargo bench --locked -p destinations-tests --features emulator --bench functions
phase "done: BENCHMARKS.md"
