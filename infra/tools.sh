# Sourced by infra/*.sh and .ci/run: finds or installs what the tests and the local run need, and
# reports progress. Every install is declared here, so a fresh machine gets exactly what CI gets.
# Nothing is left half-installed: the emulator is built in a staging directory and moved into
# place only when the build succeeded; the Python tools are reinstalled until a run completes.

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
TOOLS="$ROOT/target/tools"
FAKECLOUD_VERSION=0.51.0
FAKECLOUD_HOME="${CARGO_HOME:-$HOME/.cargo}/bin"
# The tests' emulator is built without optimisation and without debug info: 4× faster to build
# than a default release build for about +12 s on the emulator test tier (BENCHMARKS.md, "A fresh
# machine"). Its behaviour is the same code; only its speed differs (infra/bench.sh, which
# measures speed, builds the optimised one).
FAKECLOUD_BUILD_FLAGS=(--config 'profile.release.opt-level=0' --config 'profile.release.debug=false')
# Minutes each step takes on a fresh 2-core machine (measured; BENCHMARKS.md).
FAKECLOUD_BUILD_MINUTES=12
SECONDS_AT_START=$(date +%s)

# `phase "what" <minutes left after this starts>`: one progress line with the elapsed time.
phase() {
  local elapsed=$(( $(date +%s) - SECONDS_AT_START ))
  local left=""
  if [ "${2:-0}" -gt 0 ]; then left=" (about $2 min left)"; fi
  printf '\033[1m[%02d:%02d] %s%s\033[0m\n' $((elapsed / 60)) $((elapsed % 60)) "$1" "$left" >&2
}

die() {
  printf '\033[1;31merror: %s\033[0m\n' "$*" >&2
  exit 1
}

require_rust() {
  command -v cargo >/dev/null 2>&1 ||
    die "no Rust toolchain: install rustup (https://rustup.rs); rust-toolchain.toml then picks the version"
}

require_python() {
  command -v python3 >/dev/null 2>&1 || die "no Python 3: install python3 (3.9 or newer) with its venv module"
  python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
    die "Python 3.9 or newer with the venv module is needed (python3 -m venv)"
}

# Which emulator build the functions below find, build and install. The tests' build (these
# defaults) is installed as `fakecloud`; infra/bench.sh sets these to build and install an
# optimised one beside it.
FAKECLOUD_NAME=fakecloud

# The installed emulator of the pinned version, if any: FAKECLOUD_BIN, PATH, or ~/.cargo/bin.
find_fakecloud() {
  local candidate
  for candidate in "${FAKECLOUD_BIN:-}" "$(command -v "$FAKECLOUD_NAME" 2>/dev/null)" "$FAKECLOUD_HOME/$FAKECLOUD_NAME"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version 2>/dev/null | grep -q "$FAKECLOUD_VERSION"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Starts building the emulator in the background unless it is installed or already building.
start_fakecloud_build() {
  find_fakecloud >/dev/null && return 0
  local build="$TOOLS/$FAKECLOUD_NAME-build"
  if [ -f "$build.pid" ] && kill -0 "$(cat "$build.pid")" 2>/dev/null; then return 0; fi
  # Built but not yet installed (ensure_fakecloud installs it): nothing to build again.
  if [ "$(cat "$build.status" 2>/dev/null)" = 0 ] && [ -x "$TOOLS/$FAKECLOUD_NAME-staging/bin/fakecloud" ]; then return 0; fi
  mkdir -p "$TOOLS"
  rm -rf "$TOOLS/$FAKECLOUD_NAME-staging"
  phase "building the AWS emulator (fakecloud $FAKECLOUD_VERSION) in the background; log: target/tools/$FAKECLOUD_NAME-build.log" "$FAKECLOUD_BUILD_MINUTES"
  (
    cargo install --locked fakecloud --version "$FAKECLOUD_VERSION" --root "$TOOLS/$FAKECLOUD_NAME-staging" \
      --target-dir "$TOOLS/$FAKECLOUD_NAME-target" ${FAKECLOUD_BUILD_FLAGS[@]+"${FAKECLOUD_BUILD_FLAGS[@]}"} >"$build.log" 2>&1
    echo $? >"$build.status"
  ) &
  echo $! >"$build.pid"
}

# Waits for the build (starting it if needed), installs the binary, and exports FAKECLOUD_BIN.
ensure_fakecloud() {
  local found
  if found=$(find_fakecloud); then
    export FAKECLOUD_BIN="$found"
    return 0
  fi
  start_fakecloud_build
  phase "waiting for the AWS emulator's build"
  local build="$TOOLS/$FAKECLOUD_NAME-build" staging="$TOOLS/$FAKECLOUD_NAME-staging" pid
  pid=$(cat "$build.pid")
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
  if [ "$(cat "$build.status" 2>/dev/null)" != 0 ]; then
    tail -n 30 "$build.log" >&2
    rm -rf "$staging" "$build.pid" "$build.status"
    die "the AWS emulator did not build (log above and in target/tools/$FAKECLOUD_NAME-build.log); run the command again to retry"
  fi
  mkdir -p "$FAKECLOUD_HOME"
  # A rename within one file system is atomic: the binary is either absent or whole.
  cp "$staging/bin/fakecloud" "$FAKECLOUD_HOME/.$FAKECLOUD_NAME.partial"
  mv "$FAKECLOUD_HOME/.$FAKECLOUD_NAME.partial" "$FAKECLOUD_HOME/$FAKECLOUD_NAME"
  rm -rf "$staging" "$TOOLS/$FAKECLOUD_NAME-target" "$build.pid" "$build.status"
  export FAKECLOUD_BIN="$FAKECLOUD_HOME/$FAKECLOUD_NAME"
  "$FAKECLOUD_BIN" --version >/dev/null || die "the installed emulator does not run: $FAKECLOUD_BIN"
}

# The Python tools pinned in infra/requirements.txt, in target/tools/venv.
ensure_python_tools() {
  require_python
  local venv="$TOOLS/venv" stamp="$TOOLS/venv/.requirements"
  if ! "$venv/bin/python" -c 'pass' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" || die "could not create a Python virtual environment in $venv"
  fi
  if ! cmp -s "$ROOT/infra/requirements.txt" "$stamp"; then
    phase "installing the Python tools (parliament, cfn-lint, SAM CLI, AWS CLI, schemathesis)" 2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/infra/requirements.txt" ||
      die "the Python tools did not install (see above); run the command again to retry"
    cp "$ROOT/infra/requirements.txt" "$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Headless Chromium and its WebDriver (Debian's packages), and axe-core (infra/browser, npm ci)
# in target/tools/browser: what the setup page's browser tests drive and inject.
ensure_browser_tools() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 ||
      die "the browser tests need Chromium and ChromeDriver: install them (Debian: apt-get install chromium chromium-driver)"
    phase "installing Chromium and ChromeDriver (Debian packages)" 3
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium chromium-driver >"$TOOLS/apt.log" 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive $sudo apt-get update >>"$TOOLS/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium chromium-driver >>"$TOOLS/apt.log" 2>&1; } ||
      { tail -n 20 "$TOOLS/apt.log" >&2; die "Chromium did not install (log above and in target/tools/apt.log)"; }
  fi
  command -v npm >/dev/null 2>&1 || die "the browser tests need Node.js and npm (for axe-core): install them"
  local dir="$TOOLS/browser"
  if ! cmp -s "$ROOT/infra/browser/package-lock.json" "$dir/package-lock.json" || [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
    phase "installing axe-core for the accessibility checks" 1
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$ROOT/infra/browser/package.json" "$ROOT/infra/browser/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
      { rm -rf "$dir"; die "axe-core did not install (see above); run the command again to retry"; }
  fi
  export AXE_CORE_JS="$dir/node_modules/axe-core/axe.min.js"
}
