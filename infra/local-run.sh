#!/usr/bin/env bash
# The whole service on this machine: fakecloud on 127.0.0.1:${EMULATOR_PORT:-4566} (strict IAM,
# SigV4 checked), the platform built inside it from template.yaml, and the HTTP API and setup
# page on 127.0.0.1:${PORT:-3000}. One progress line per phase; Ctrl-C stops everything.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. infra/tools.sh

EMULATOR_PORT="${EMULATOR_PORT:-4566}"
PORT="${PORT:-3000}"

phase "checking tools and ports"
require_rust
require_python
for port in "$EMULATOR_PORT" "$PORT"; do
  port_busy "$port" && die "port $port on 127.0.0.1 is already in use: is the local run already up? Stop it, or set PORT / EMULATOR_PORT"
done
start_fakecloud_build
ensure_python_tools

# Where cargo puts the server (CARGO_TARGET_DIR when set, as cargo does).
SERVER="${CARGO_TARGET_DIR:-$ROOT/target}/debug/local-run"
built_before=$([ -x "$SERVER" ] && echo yes || echo no)
if [ "$built_before" = no ]; then estimate=14; else estimate=1; fi
phase "building the local server" "$estimate"
# The same features as the test build, so that either build reuses the other's artifacts.
cargo build --locked --workspace --all-features --bin local-run

ensure_fakecloud
export LOCAL_RUN_DIR="${LOCAL_RUN_DIR:-$ROOT/target/local-run}"
mkdir -p "$LOCAL_RUN_DIR"
phase "starting the AWS emulator on 127.0.0.1:$EMULATOR_PORT (log: $LOCAL_RUN_DIR/fakecloud.log)"
FAKECLOUD_IAM=strict FAKECLOUD_VERIFY_SIGV4=true FAKECLOUD_LOG=error \
  "$FAKECLOUD_BIN" --addr "127.0.0.1:$EMULATOR_PORT" >"$LOCAL_RUN_DIR/fakecloud.log" 2>&1 &
EMULATOR_PID=$!
stop() { kill "$EMULATOR_PID" 2>/dev/null || true; wait "$EMULATOR_PID" 2>/dev/null || true; }
trap stop EXIT
# Ctrl-C is how the local run is stopped: a clean exit once everything has stopped.
trap 'exit 0' INT TERM
for _ in $(seq 1 200); do
  port_busy "$EMULATOR_PORT" && break
  kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$LOCAL_RUN_DIR/fakecloud.log" >&2; die "the AWS emulator exited at start"; }
  sleep 0.1
done
port_busy "$EMULATOR_PORT" || die "the AWS emulator did not listen on 127.0.0.1:$EMULATOR_PORT within 20 s"

phase "setting up the platform in the emulator and serving"
FAKECLOUD_ENDPOINT="http://127.0.0.1:$EMULATOR_PORT" PORT="$PORT" "$SERVER" &
SERVER_PID=$!
# Ctrl-C reaches the whole process group: the server stops by itself, and its exit status (not a
# blanket 0) is the script's, so a server that fails to stop cleanly is seen.
trap 'wait "$SERVER_PID"; exit $?' INT TERM
wait "$SERVER_PID"
