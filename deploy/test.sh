#!/usr/bin/env bash
# Runs govhub's whole test suite against a real Kafka broker.
#
# If no broker answers at $GOVHUB_TEST_KAFKA (default 127.0.0.1:9092), the local one is
# fetched and started with deploy/kafka/local.sh, and stopped again afterwards
# (GOVHUB_KEEP_KAFKA=1 keeps it running for the next run). Extra arguments go to
# `cargo test`, e.g. `./deploy/test.sh -p govhub-tests`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "test.sh: $*"; }

for tool in cargo java mvn kcat; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "error: '$tool' is not installed (see README.md, Prerequisites)" >&2
    exit 2
  fi
done

BROKER="${GOVHUB_TEST_KAFKA:-127.0.0.1:9092}"
started=0
if kcat -b "$BROKER" -L -m 5 >/dev/null 2>&1; then
  say "using the Kafka broker at $BROKER"
elif [[ -n "${GOVHUB_TEST_KAFKA:-}" ]]; then
  say "error: GOVHUB_TEST_KAFKA=$BROKER does not answer" >&2
  exit 2
else
  say "no broker at $BROKER; starting the local one"
  "$ROOT/deploy/kafka/local.sh" up
  started=1
fi

stop_broker() {
  if [[ $started == 1 && "${GOVHUB_KEEP_KAFKA:-0}" != 1 ]]; then
    "$ROOT/deploy/kafka/local.sh" stop || true
  fi
}
trap stop_broker EXIT

GOVHUB_TEST_KAFKA="$BROKER" cargo test --workspace --locked "$@"
