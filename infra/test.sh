#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what the tests need (fakecloud, parliament),
# then runs every test. Each integration-test binary starts its own emulator on a free loopback port
# (FAKECLOUD_IAM=strict, SigV4 verified) and the emulator dies with it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. infra/tools.sh

ensure_fakecloud
ensure_python_tools
log "Running the test suite (fakecloud: $FAKECLOUD_BIN)"
cargo test --workspace --locked --no-fail-fast "$@"
