#!/usr/bin/env bash
# Sets up everything govhub's tests need and runs them against a real Kafka broker:
#
#  1. tools: each missing one is installed from its Debian package, one package at a
#     time, so that one that cannot be installed does not hold back the rest (as root,
#     or through `sudo -n`; otherwise the script prints the command to run and stops);
#  2. the AsyncAPI parser the tests run (`npm ci` in deploy/asyncapi), when missing or
#     older than its lock file;
#  3. the broker: if none answers at $GOVHUB_TEST_KAFKA (default 127.0.0.1:9092), the
#     local one is fetched and started with deploy/kafka/local.sh, and stopped again
#     afterwards (GOVHUB_KEEP_KAFKA=1 keeps it running for the next run); likewise the
#     local secured broker (SASL/SCRAM over TLS + ACLs, 127.0.0.1:9094, target/kafka-scram)
#     for tests/kafka_acl.rs, unless GOVHUB_TEST_KAFKA_SECURE names one (then
#     GOVHUB_TEST_KAFKA_SECURE_HOME is its state dir: users.passwords, ca.pem);
#  4. `cargo test --release --workspace --locked --no-fail-fast` (every test binary runs,
#     whatever failed before it): the release profile of the demo's
#     `cargo run --release`, so after the demo only the test targets are compiled.
#
# Extra arguments go to `cargo test`, e.g. `./deploy/test.sh -p govhub-tests`.
# GOVHUB_NO_INSTALL=1 only reports what is missing and installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "test.sh: $*" >&2; }
die() { say "error: $*"; exit 2; }

# --- 1. tools -------------------------------------------------------------------------

# command, Debian package, what it is for. Each is needed by some test.
REQUIRED=(
  "cc:build-essential:compiles librdkafka and the TLS library"
  "make:build-essential:compiles librdkafka"
  "pkg-config:pkg-config:finds OpenSSL for librdkafka (SASL/SCRAM)"
  "java:openjdk-17-jre-headless:runs the local Kafka broker"
  "mvn:maven:fetches the Kafka broker from Maven Central"
  "kcat:kcat:the broker's readiness probe and the tests' independent Kafka client"
  "node:nodejs:runs the official AsyncAPI parser (crates/govhub/tests/asyncapi.rs)"
  "npm:npm:installs the AsyncAPI parser"
  "promtool:prometheus:checks /metrics and the alert rules"
  "chromium:chromium:the dashboard's browser test"
  "chromedriver:chromium-driver:drives chromium in the dashboard's browser test"
  "python3:python3:parses the deployment YAML files (crates/govhub/tests/deploy.rs)"
)
# Checks of the deployment files that run only where their tool is; listed at the end
# when they did not run. Their packages are tried in turn (kubectl from a configured
# Kubernetes repository, else Debian's own); `docker compose` comes with Docker, which
# this script does not install.
OPTIONAL=(
  "systemd-analyze:systemd:systemd-analyze verify of deploy/systemd"
  "kubectl:kubectl kubernetes-client:kubectl kustomize of deploy/k8s"
)

have() { command -v "$1" >/dev/null 2>&1; }
have_yaml() { python3 -c 'import yaml' >/dev/null 2>&1; }
have_compose() { docker compose version >/dev/null 2>&1; }
have_openssl_dev() { pkg-config --exists openssl >/dev/null 2>&1; }

apt_runner=()
if [[ "${GOVHUB_NO_INSTALL:-0}" != 1 ]] && have apt-get; then
  if [[ $(id -u) == 0 ]]; then
    apt_runner=(env DEBIAN_FRONTEND=noninteractive)
  elif have sudo && sudo -n true 2>/dev/null; then
    apt_runner=(sudo env DEBIAN_FRONTEND=noninteractive)
  fi
fi

apt_updated=0
# Installs one Debian package; says so and returns 1 when that fails.
apt_install() {
  local pkg=$1
  if [[ $apt_updated == 0 ]]; then
    say "apt-get update"
    "${apt_runner[@]}" apt-get update -qq || say "warning: apt-get update failed; trying the cached lists"
    apt_updated=1
  fi
  say "installing $pkg"
  if ! "${apt_runner[@]}" apt-get install -y -qq "$pkg" >/dev/null; then
    say "warning: could not install the Debian package $pkg"
    return 1
  fi
}

missing_pkgs=()
for entry in "${REQUIRED[@]}"; do
  IFS=: read -r cmd pkg _ <<<"$entry"
  have "$cmd" && continue
  if ((${#apt_runner[@]})); then
    apt_install "$pkg" || true
  fi
  have "$cmd" || missing_pkgs+=("$pkg")
done
if have python3 && ! have_yaml; then
  # PyYAML for the python3 on the PATH: Debian's package serves Debian's python3 only.
  if [[ "$(command -v python3)" == /usr/bin/python3 ]] && ((${#apt_runner[@]})); then
    apt_install python3-yaml || true
  elif [[ "${GOVHUB_NO_INSTALL:-0}" != 1 ]]; then
    say "installing PyYAML with pip for $(command -v python3)"
    python3 -m pip install --quiet pyyaml || say "warning: pip could not install PyYAML"
  fi
  have_yaml || missing_pkgs+=("python3-yaml")
fi
# OpenSSL's headers: librdkafka needs them for SASL/SCRAM (and TLS) to brokers.
if have pkg-config && ! have_openssl_dev; then
  if ((${#apt_runner[@]})); then
    apt_install libssl-dev || true
  fi
  have_openssl_dev || missing_pkgs+=("libssl-dev")
fi
for entry in "${OPTIONAL[@]}"; do
  IFS=: read -r cmd pkgs _ <<<"$entry"
  have "$cmd" && continue
  ((${#apt_runner[@]})) || continue
  for pkg in $pkgs; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then
      apt_install "$pkg" && break
    fi
  done
done

if ! have cargo; then
  die "cargo is not installed: install Rust with rustup (https://rustup.rs), then run this again"
fi
if ((${#missing_pkgs[@]})); then
  say "error: missing tools the tests need:"
  for entry in "${REQUIRED[@]}"; do
    IFS=: read -r cmd pkg why <<<"$entry"
    have "$cmd" || say "  $cmd (Debian package $pkg): $why"
  done
  have python3 && ! have_yaml && say "  PyYAML for $(command -v python3): parses the deployment YAML files"
  have pkg-config && ! have_openssl_dev && say "  OpenSSL headers (Debian package libssl-dev): librdkafka's SASL/SCRAM"
  if ! have apt-get; then
    die "this is not a Debian-like system: install the tools above with its package manager"
  fi
  mapfile -t unique < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
  if ((${#apt_runner[@]})); then
    die "installing them failed (see the warnings above); try: apt-get install ${unique[*]}"
  fi
  die "not root, and sudo needs a password: run  sudo apt-get install ${unique[*]}  and then this script again"
fi
node_major=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
((node_major >= 18)) || die "Node.js $(node --version) is too old for the AsyncAPI parser: 18 or newer is needed"

# --- 2. the AsyncAPI parser -----------------------------------------------------------

lock=deploy/asyncapi/package-lock.json
installed=deploy/asyncapi/node_modules/.package-lock.json
if [[ ! -f $installed || $lock -nt $installed ]]; then
  say "npm ci --prefix deploy/asyncapi (the AsyncAPI parser)"
  npm ci --prefix deploy/asyncapi --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi

# --- 3. the broker --------------------------------------------------------------------

BROKER="${GOVHUB_TEST_KAFKA:-127.0.0.1:9092}"
started=0
if kcat -b "$BROKER" -L -m 5 >/dev/null 2>&1; then
  say "using the Kafka broker at $BROKER"
elif [[ -n "${GOVHUB_TEST_KAFKA:-}" ]]; then
  die "GOVHUB_TEST_KAFKA=$BROKER does not answer"
else
  say "no broker at $BROKER; starting the local one"
  "$ROOT/deploy/kafka/local.sh" up
  started=1
fi

secure_started=0
log="$(mktemp)"
finish() {
  if [[ "${GOVHUB_KEEP_KAFKA:-0}" != 1 ]]; then
    if [[ $started == 1 ]]; then
      "$ROOT/deploy/kafka/local.sh" stop || true
    fi
    if [[ $secure_started == 1 ]]; then
      "${secure[@]}" "$ROOT/deploy/kafka/local.sh" stop || true
    fi
  fi
  rm -f "$log"
}
trap finish EXIT

if [[ -n "${GOVHUB_TEST_KAFKA_SECURE:-}" ]]; then
  say "using the secured Kafka broker at $GOVHUB_TEST_KAFKA_SECURE (GOVHUB_TEST_KAFKA_SECURE_HOME: its state dir)"
else
  # The local secured broker, with the users tests/kafka_acl.rs logs in as. govhub's
  # password goes to the test through the environment, as it would to govhub; the
  # test trusts the broker's throw-away CA, $GOVHUB_TEST_KAFKA_SECURE_HOME/ca.pem.
  export GOVHUB_TEST_KAFKA_SECURE=127.0.0.1:9094
  export GOVHUB_TEST_KAFKA_SECURE_HOME="$ROOT/target/kafka-scram"
  secure=(env GOVHUB_KAFKA_SECURITY=scram GOVHUB_KAFKA_HOME="$GOVHUB_TEST_KAFKA_SECURE_HOME"
          GOVHUB_KAFKA_PORT=9094 GOVHUB_KAFKA_CONTROLLER_PORT=9095)
  if [[ -z "${GOVHUB_KAFKA_GOVHUB_PASSWORD:-}" ]]; then
    # Once formatted, the broker knows the password it was formatted with.
    saved="$(awk -F: '$1 == "govhub" { sub(/^[^:]*:/, ""); print }' \
      "$GOVHUB_TEST_KAFKA_SECURE_HOME/users.passwords" 2>/dev/null || true)"
    GOVHUB_KAFKA_GOVHUB_PASSWORD="${saved:-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')}"
  fi
  export GOVHUB_KAFKA_GOVHUB_PASSWORD
  if "${secure[@]}" "$ROOT/deploy/kafka/local.sh" status >/dev/null; then
    say "using the local secured broker at $GOVHUB_TEST_KAFKA_SECURE"
  else
    say "starting the local secured broker (SASL/SCRAM over TLS, ACLs) at $GOVHUB_TEST_KAFKA_SECURE"
    # Its jars are the plain broker's: copied rather than fetched again.
    if [[ ! -d "$GOVHUB_TEST_KAFKA_SECURE_HOME/lib" && -d "$ROOT/target/kafka/lib" ]]; then
      mkdir -p "$GOVHUB_TEST_KAFKA_SECURE_HOME"
      cp -a "$ROOT/target/kafka/lib" "$GOVHUB_TEST_KAFKA_SECURE_HOME/lib"
    fi
    secure_started=1
    GOVHUB_KAFKA_USERS="urban_app health_app" "${secure[@]}" "$ROOT/deploy/kafka/local.sh" up
  fi
fi

# --- 4. the tests ---------------------------------------------------------------------

target="${CARGO_TARGET_DIR:-$ROOT/target}"
if [[ ! -x "$target/release/govhub" ]]; then
  say "first build: compiling govhub, its dependencies (librdkafka among them) and its tests in release mode takes about 11 minutes on 2 cores"
fi
# The whole workspace, unless the arguments name packages (`--workspace` would win).
scope=(--workspace)
for arg in "$@"; do
  [[ $arg == -p || $arg == --package || $arg == --package=* ]] && scope=()
done
set +e
GOVHUB_TEST_KAFKA="$BROKER" cargo test --release "${scope[@]}" --locked --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# --- 5. summary -----------------------------------------------------------------------

# cargo prints one result line per test binary; the totals say what ran in all.
awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "test.sh: tests: %d passed, %d failed\n", p, f }' "$log"
for entry in "${OPTIONAL[@]}"; do
  IFS=: read -r cmd _ why <<<"$entry"
  have "$cmd" || say "not run: $why ($cmd is not installed)"
done
have_compose || say "not run: docker compose config of deploy/compose (Docker's compose plugin is not installed)"
exit "$status"
