#!/usr/bin/env bash
# The whole service on this machine: fakecloud on 127.0.0.1:4566 (strict IAM, SigV4 checked), the
# platform account, connector role and table inside it, and the HTTP API on 127.0.0.1:${PORT:-3000}.
# Ctrl-C stops everything, the emulator included.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. infra/tools.sh

EMULATOR_PORT=4566
PORT="${PORT:-3000}"
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$EMULATOR_PORT" "$PORT"; do
  if port_busy "$port"; then
    echo "Port $port on 127.0.0.1 is already in use: is the local run already up? Stop it first (or set PORT)." >&2
    exit 1
  fi
done

ensure_fakecloud
log "Building the local server"
cargo build --locked -p local-run

mkdir -p infra/.local
log "Starting fakecloud on 127.0.0.1:$EMULATOR_PORT (log: infra/.local/fakecloud.log)"
FAKECLOUD_IAM=strict FAKECLOUD_VERIFY_SIGV4=true \
  "$FAKECLOUD_BIN" --addr "127.0.0.1:$EMULATOR_PORT" >infra/.local/fakecloud.log 2>&1 &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null; wait "$EMULATOR_PID" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  port_busy "$EMULATOR_PORT" && break
  kill -0 "$EMULATOR_PID" 2>/dev/null || { cat infra/.local/fakecloud.log >&2; exit 1; }
  sleep 0.1
done

FAKECLOUD_ENDPOINT="http://127.0.0.1:$EMULATOR_PORT" PORT="$PORT" target/debug/local-run
