#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: builds the AWS emulator in the background while
# the workspace builds and the fast tier runs, installs the Python linters and the browser, then
# runs the emulator tier. Arguments go to both `cargo test` runs (e.g. a test name filter).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. infra/tools.sh

phase "checking tools"
require_rust
require_python
start_fakecloud_build
ensure_python_tools
ensure_browser_tools

phase "building the tests and the local server"
cargo test --workspace --all-features --locked --no-run
cargo build --workspace --all-features --locked --bin local-run
phase "fast tier: unit tests and tests/fast (nothing installed)"
cargo test --workspace --all-features --locked --lib --bins --test fast "$@"

ensure_fakecloud
phase "emulator tier: tests/emulator against $FAKECLOUD_BIN"
cargo test -p destinations-tests --all-features --locked --test emulator "$@"
phase "all tests passed"
