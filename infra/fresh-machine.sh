#!/usr/bin/env bash
# Times the README's commands as a fresh machine runs them (BENCHMARKS.md, "A fresh machine"):
# a clean clone of HEAD, an empty target/, an empty Cargo home (so crates are downloaded again)
# and no emulator on PATH. The Rust toolchain stays (rustup's, as a fresh machine gets it first)
# and so do system packages already installed (Chromium, Python, Node.js).
#
#   infra/fresh-machine.sh local-run   # until `infra/local-run.sh` answers GET /platform
#   infra/fresh-machine.sh ci          # `bash .ci/run`, start to exit
#
# Run nothing else meanwhile: the timings are only meaningful on otherwise idle cores.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
what="${1:?usage: infra/fresh-machine.sh local-run|ci}"

work="$(mktemp -d "${TMPDIR:-/tmp}/fresh-machine.XXXXXX")"
# Several GB once built: removed at the end unless KEEP=1.
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
git clone --quiet "$ROOT" "$work/clone"
mkdir -p "$work/cargo-home" "$work/bin"
# The toolchain's commands without the emulator (rustup installs its proxies in ~/.cargo/bin).
for tool in "${CARGO_HOME:-$HOME/.cargo}"/bin/*; do
  case "$(basename "$tool")" in
    fakecloud | fakecloud-*) ;;
    *) ln -s "$tool" "$work/bin/" ;;
  esac
done
clean_path="$work/bin:$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -x -F "${CARGO_HOME:-$HOME/.cargo}/bin" | paste -sd:)"
fresh() { env -u FAKECLOUD_BIN CARGO_HOME="$work/cargo-home" PATH="$clean_path" "$@"; }
fresh bash -c 'command -v fakecloud' >/dev/null && { echo "fakecloud is still on PATH" >&2; exit 1; }
cd "$work/clone"
echo "fresh clone of $(git rev-parse --short HEAD) in $work/clone" >&2

started=$(date +%s)
case "$what" in
  ci)
    fresh bash .ci/run
    echo "bash .ci/run passed in $(( $(date +%s) - started )) s" >&2
    ;;
  local-run)
    port="${PORT:-3000}"
    # Job control gives the run its own process group, so Ctrl-C (SIGINT) reaches all of it.
    set -m
    fresh infra/local-run.sh &
    run=$!
    set +m
    until curl -fs -o /dev/null "http://127.0.0.1:$port/platform"; do
      kill -0 "$run" 2>/dev/null || { echo "infra/local-run.sh exited before answering" >&2; exit 1; }
      sleep 2
    done
    echo "infra/local-run.sh answered GET /platform after $(( $(date +%s) - started )) s" >&2
    kill -INT -- "-$run"
    wait "$run" || true
    ;;
  *)
    echo "usage: infra/fresh-machine.sh local-run|ci" >&2
    exit 2
    ;;
esac
echo "the emulator's build (cargo install): $(grep -h 'Finished' target/tools/fakecloud-build.log)" >&2
