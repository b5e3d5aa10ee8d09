# Sourced by infra/*.sh: finds or installs the tools the tests and the local run need.
# Every install is declared here, so a fresh machine gets exactly what CI gets.

FAKECLOUD_VERSION=0.51.0

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# fakecloud, the local AWS that really evaluates IAM. Reuses FAKECLOUD_BIN, PATH or ~/.cargo/bin;
# builds it only when missing, and says how long that takes.
ensure_fakecloud() {
  local candidate
  for candidate in "${FAKECLOUD_BIN:-}" "$(command -v fakecloud 2>/dev/null)" "$HOME/.cargo/bin/fakecloud"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version 2>/dev/null | grep -q "$FAKECLOUD_VERSION"; then
      export FAKECLOUD_BIN="$candidate"
      return 0
    fi
  done
  log "fakecloud $FAKECLOUD_VERSION is not installed: building it from crates.io now."
  log "This takes about 45 minutes on 2 cores the first time; the binary is then reused from ~/.cargo/bin."
  cargo install --locked fakecloud --version "$FAKECLOUD_VERSION"
  export FAKECLOUD_BIN="$HOME/.cargo/bin/fakecloud"
  "$FAKECLOUD_BIN" --version >/dev/null
}

# Python command-line tools from PyPI, pinned in infra/requirements.txt, installed into infra/.venv.
ensure_python_tools() {
  local venv="$ROOT/infra/.venv" stamp="$ROOT/infra/.venv/.requirements"
  if [ ! -x "$venv/bin/python" ]; then
    log "Creating $venv for the Python tools (parliament, cfn-lint, aws-sam-cli)."
    python3 -m venv "$venv"
  fi
  if ! cmp -s "$ROOT/infra/requirements.txt" "$stamp"; then
    log "Installing the Python tools from infra/requirements.txt (a minute or two the first time)."
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/infra/requirements.txt"
    cp "$ROOT/infra/requirements.txt" "$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}
