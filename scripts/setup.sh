#!/usr/bin/env bash
# All of edgeorch's set-up, idempotent and cached:
#   1. Python virtual environment at .venv with the project installed (editable, with dev tools)
#   2. anvil and cast from npm into the project-local .tools/npm
#   3. Prometheus and promtool from Debian's package, if missing
#   4. Chromium and its WebDriver from Debian's packages, if missing (the city map's browser test)
#   5. kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok
#      built from the Go module proxy at pinned versions (cached in ~/.cache/edgeorch)
# Each step is skipped when its inputs did not change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 2; }

ANVIL_NPM_VERSION=1.7.1

# --- 1. Python ---------------------------------------------------------------
py="${PYTHON:-python3}"
command -v "$py" >/dev/null || die "python3 (>= 3.11) is needed: apt-get install python3 python3-venv"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "Python >= 3.11 is needed, found $("$py" --version)"
stamp=".venv/.edgeorch-installed"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv and installing edgeorch with its dev tools"
  [ -x .venv/bin/python ] || "$py" -m venv .venv || die "could not create .venv: apt-get install python3-venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi

# --- 2. anvil and cast (npm, project-local) -----------------------------------
tools=".tools/npm"
if [ ! -x "$tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" ] \
   || [ ! -x "$tools/node_modules/@foundry-rs/cast-linux-amd64/bin/cast" ] \
   || [ "$(cat "$tools/.version" 2>/dev/null)" != "$ANVIL_NPM_VERSION" ]; then
  command -v npm >/dev/null || die "npm is needed to install anvil: apt-get install npm"
  log "installing anvil and cast $ANVIL_NPM_VERSION from npm into $tools"
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || echo '{"name":"edgeorch-tools","private":true}' > "$tools/package.json"
  npm install --silent --no-audit --no-fund --prefix "$tools" \
    "@foundry-rs/anvil-linux-amd64@$ANVIL_NPM_VERSION" "@foundry-rs/cast-linux-amd64@$ANVIL_NPM_VERSION"
  chmod +x "$tools"/node_modules/@foundry-rs/*/bin/* 2>/dev/null || true
  echo "$ANVIL_NPM_VERSION" > "$tools/.version"
fi

# --- 3. Prometheus and promtool (Debian package) --------------------------------
# The stack runs its own Prometheus on a free port; the tests check the alert rules with promtool.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  command -v apt-get >/dev/null || die "Prometheus is needed: install the 'prometheus' package of your distribution"
  [ "$(id -u)" = 0 ] || die "Prometheus is needed: run 'sudo apt-get install prometheus' (this set-up is not root)"
  # The package may start its own system service. Stop that one only if this install started it (it was
  # not running before), through the service manager; never any other Prometheus (nothing is stopped by its name).
  service_was_running=no
  if service prometheus status >/dev/null 2>&1 || systemctl is-active --quiet prometheus 2>/dev/null; then
    service_was_running=yes
  fi
  log "installing Prometheus (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ "$service_was_running" = no ]; then
    (systemctl stop prometheus || service prometheus stop) >/dev/null 2>&1 || true
  fi
  command -v promtool >/dev/null || die "the prometheus package installed no promtool; install it (it checks the alert rules)"
fi

# --- 4. Chromium and chromium-driver (Debian packages) -------------------------
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  command -v apt-get >/dev/null || die "Chromium is needed: install the 'chromium' and 'chromium-driver' packages of your distribution"
  [ "$(id -u)" = 0 ] || die "Chromium is needed: run 'sudo apt-get install chromium chromium-driver' (this set-up is not root)"
  log "installing Chromium and chromium-driver (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

# --- 5. Kubernetes binaries (Go module proxy, cached) --------------------------
bash deploy/local/build-binaries.sh >/dev/null
log "ready"
