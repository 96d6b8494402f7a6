#!/usr/bin/env bash
# Chaos test of govhub against the local Kafka broker: the hub is killed with SIGKILL at
# random moments while it syncs four misbehaving simulated departments, the broker is
# stopped and started again under a running hub, and then `govhub verify` checks from
# the outside, on the topics alone, that every record arrived (on its topic or the
# dead-letter topic), that every published record was resolved to a person, that no
# person id is left without a golden record, and that the records are grouped into the
# same persons as in a clean run. The hubs run exactly-once (Kafka transactions): an
# event that a read_committed consumer reads twice — counted by `govhub verify` and by
# kcat — fails the run (EXACTLY_ONCE=0 runs at-least-once and only counts them).
#
# Usage: deploy/chaos.sh [KILLS [BROKER_RESTARTS [RESIDENTS [SEED]]]]
#
#   KILLS            hub runs killed with kill -9 (default 50)
#   BROKER_RESTARTS  broker stops and starts while a hub runs (default 1; 0: none)
#   RESIDENTS        residents of the simulated population (default 5000)
#   SEED             seed of the population and of the kill timing (default random)
#
# The same four may be given as environment variables. Also:
#
#   GOVHUB_BIN       the govhub binary; nothing is built (default: the newest of
#                    target/release/govhub and target/debug/govhub)
#   PAGE_SIZE        records per page for every connector (default 10: many small
#                    batches, so many write-then-commit windows to die in, and a sync
#                    of the default population that outlasts the 50 kills)
#   GOVHUB_KAFKA_PORT  the broker's port on 127.0.0.1 (default 9092). Broker restarts
#                    need the broker deploy/kafka/local.sh runs; if none answers, this
#                    script starts one and stops it at the end
#   EXACTLY_ONCE     1 (default): the hubs run exactly-once (Kafka transactions), and
#                    any event a read_committed consumer reads twice fails the run;
#                    0: at-least-once (`exactly_once = false`), duplicates are counted
#   KEEP=1           keep the work directory (configs, logs, expected outcome); it is
#                    also kept when the verdict is FAIL
#   INSTANCES        1 (default): one hub at a time, killed and started again each
#                    round. N > 1 (exactly-once only): N instances run at once with the
#                    connectors spread over them ([cluster] spread_connectors, a data
#                    directory each); each round kills one at random with kill -9 and
#                    starts it again; after the last round they run on until the chaos
#                    run verifies (or 900 s pass), then stop gracefully
#
# With exactly-once, each round's hub first waits to become its instances' active one
# (after a kill -9 until the killed one's session times out, about 6 s), and the kill
# window opens then.
#
# Steps: `govhub sim --faults default --expected FILE` on free ports; a hub config from
# deploy/govhub.example.toml pointed at the simulators, the broker, a random topic prefix
# and a fresh data directory; KILLS times `govhub run --admin off`, a random 0.5-4 s, kill
# -9 (at rounds spread over the first two thirds the broker is restarted while that hub
# runs); `govhub run --once` to completion; a clean run (`run --once`, no kills) under another prefix and
# data directory against the same simulators; `govhub verify` of the clean run alone, then
# of the chaos run with `--compare` against the clean one.
#
# Prints the kills done (and how many struck before the hub had caught up, i.e. while
# its data directory had not yet reached its final state), the duplicates found and the
# verdict. Exit 0 when both verifications pass, 1 when one fails or a step cannot be done, 2 on bad usage.
# Everything started here is stopped on exit, however it exits; only 127.0.0.1 is used.
# The runs' topics stay on the broker (random prefixes, like the end-to-end tests').
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
LOCAL_KAFKA="$SCRIPT_DIR/kafka/local.sh"

KILLS="${1:-${KILLS:-50}}"
BROKER_RESTARTS="${2:-${BROKER_RESTARTS:-1}}"
RESIDENTS="${3:-${RESIDENTS:-5000}}"
SEED="${4:-${SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}}"
PAGE_SIZE="${PAGE_SIZE:-10}"
EXACTLY_ONCE="${EXACTLY_ONCE:-1}"
INSTANCES="${INSTANCES:-1}"
[[ "$EXACTLY_ONCE" == 0 || "$EXACTLY_ONCE" == 1 ]] || { echo "chaos: EXACTLY_ONCE must be 0 or 1" >&2; exit 2; }
BROKER="127.0.0.1:${GOVHUB_KAFKA_PORT:-9092}"

say() { echo "chaos: $*"; }
die() { echo "chaos: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && usage
for v in KILLS BROKER_RESTARTS RESIDENTS SEED PAGE_SIZE INSTANCES; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "chaos: $v must be a whole number, not '${!v}'" >&2; usage; }
done
(( RESIDENTS > 0 && PAGE_SIZE > 0 && INSTANCES > 0 )) || { echo "chaos: RESIDENTS, PAGE_SIZE and INSTANCES must be > 0" >&2; exit 2; }
(( INSTANCES == 1 || EXACTLY_ONCE == 1 )) || { echo "chaos: INSTANCES > 1 needs EXACTLY_ONCE=1 (spread connectors hand pages over in transactions)" >&2; exit 2; }

if [[ -z "${GOVHUB_BIN:-}" ]]; then
  for candidate in "$REPO_ROOT/target/release/govhub" "$REPO_ROOT/target/debug/govhub"; do
    if [[ -x "$candidate" && ( -z "${GOVHUB_BIN:-}" || "$candidate" -nt "$GOVHUB_BIN" ) ]]; then
      GOVHUB_BIN="$candidate"
    fi
  done
  [[ -n "${GOVHUB_BIN:-}" ]] || die "no govhub binary under $REPO_ROOT/target: build one (cargo build -p govhub) or set GOVHUB_BIN"
fi
[[ -x "$GOVHUB_BIN" ]] || die "GOVHUB_BIN=$GOVHUB_BIN is not an executable"
"$GOVHUB_BIN" verify --help >/dev/null 2>&1 || die "$GOVHUB_BIN has no 'verify' command: rebuild it"

RANDOM=$SEED
WORK="$(mktemp -d "${TMPDIR:-/tmp}/govhub-chaos.XXXXXX")"
SIM_PID=""
HUB_PID=""
PIDS=()                # with INSTANCES > 1: the instances' process ids, by number
BROKER_DOWN=0          # we stopped the broker and have not started it again
STARTED_BROKER=0       # no broker ran before: we started it, we stop it
VERDICT="FAIL"
STARTED_RUNS=0         # keep the work directory of a failed run, not of a failed set-up
T0=$(date +%s)

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then
    # A `timeout` leads its own process group, with the hub in it.
    kill -KILL -- "-$HUB_PID" 2>/dev/null || kill -KILL "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  local pid
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "$SIM_PID" ]] && kill -0 "$SIM_PID" 2>/dev/null; then
    kill -TERM "$SIM_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
  if (( STARTED_BROKER )); then
    "$LOCAL_KAFKA" stop >/dev/null 2>&1 || true
  elif (( BROKER_DOWN )); then
    say "starting the broker again"
    "$LOCAL_KAFKA" up >/dev/null 2>&1 || echo "chaos: the broker did not come back: run $LOCAL_KAFKA up" >&2
  fi
  if [[ "${KEEP:-0}" == 1 || ( "$VERDICT" != PASS && "$STARTED_RUNS" == 1 ) ]]; then
    say "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
local_broker() { "$LOCAL_KAFKA" status >/dev/null 2>&1; }

# A random pause of $1..$2 milliseconds.
pause_ms() {
  local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
}

# The broker: ours to restart, or started here.
if ! port_open "${BROKER#*:}"; then
  say "no broker at $BROKER: starting one with deploy/kafka/local.sh"
  "$LOCAL_KAFKA" up >"$WORK/broker.log" 2>&1 || { cat "$WORK/broker.log" >&2; die "the broker did not start"; }
  STARTED_BROKER=1
elif (( BROKER_RESTARTS > 0 )) && ! local_broker; then
  die "the broker at $BROKER is not the one deploy/kafka/local.sh runs, so it cannot be restarted: set BROKER_RESTARTS=0"
fi

# The simulators, misbehaving, on four free consecutive ports.
for attempt in 1 2 3 4 5; do
  BASE=$((20000 + RANDOM % 40000))
  if port_open "$BASE" || port_open $((BASE + 1)) || port_open $((BASE + 2)) || port_open $((BASE + 3)); then
    continue
  fi
  "$GOVHUB_BIN" sim --seed "$SEED" --residents "$RESIDENTS" --base-port "$BASE" --faults default \
    --expected "$WORK/expected.json" >"$WORK/sim.out" 2>"$WORK/sim.err" &
  SIM_PID=$!
  for _ in $(seq 600); do
    grep -q '^serving until' "$WORK/sim.out" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^serving until' "$WORK/sim.out" 2>/dev/null && break
  kill -KILL "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=""
  (( attempt < 5 )) || { cat "$WORK/sim.err" >&2; die "the simulators did not start"; }
done
eval "$(grep '^export ' "$WORK/sim.out")"
FAULTS="$(sed -n 's/^faults: //p' "$WORK/sim.out")"

# A hub config: the example's connectors pointed at the simulators, the broker, a topic
# prefix and a data directory.
write_config() { # prefix data_dir file
  sed -e "s|^data_dir = .*|data_dir = \"$2\"|" \
      -e "s|^topic_prefix = .*|topic_prefix = \"$1\"|" \
      -e "s|^poll_interval_secs = .*|poll_interval_secs = 1|" \
      -e "s|^bootstrap_servers = .*|bootstrap_servers = \"$BROKER\"|" \
      -e "s|^exactly_once = .*|exactly_once = $([[ $EXACTLY_ONCE == 1 ]] && echo true || echo false)|" \
      -e "s|^page_size = .*|page_size = $PAGE_SIZE|" \
      -e "s|127\.0\.0\.1:8801/|127.0.0.1:$BASE/|" \
      -e "s|127\.0\.0\.1:8802/|127.0.0.1:$((BASE + 1))/|" \
      -e "s|127\.0\.0\.1:8803/|127.0.0.1:$((BASE + 2))/|" \
      -e "s|127\.0\.0\.1:8804/|127.0.0.1:$((BASE + 3))/|" \
      "$REPO_ROOT/deploy/govhub.example.toml" >"$3"
  "$GOVHUB_BIN" check --config "$3" >"$3.check" 2>&1 || { cat "$3.check" >&2; die "the generated config $3 does not pass govhub check"; }
}
RUN_ID="$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
PREFIX="chaos${RUN_ID}.govhub."
CLEAN_PREFIX="clean${RUN_ID}.govhub."
write_config "$PREFIX" "$WORK/data" "$WORK/chaos.toml"
write_config "$CLEAN_PREFIX" "$WORK/clean-data" "$WORK/clean.toml"
if (( INSTANCES > 1 )); then
  for ((i = 1; i <= INSTANCES; i++)); do
    write_config "$PREFIX" "$WORK/data-$i" "$WORK/chaos-$i.toml"
    printf '\n[cluster]\nspread_connectors = true\n' >>"$WORK/chaos-$i.toml"
    "$GOVHUB_BIN" check --config "$WORK/chaos-$i.toml" >/dev/null 2>&1 || die "the generated config chaos-$i.toml does not pass govhub check"
  done
fi

say "binary $GOVHUB_BIN"
say "seed $SEED, $RESIDENTS residents, page size $PAGE_SIZE, simulators on 127.0.0.1:$BASE-$((BASE + 3)), broker $BROKER"
say "faults: $FAULTS"
say "topic prefixes: $PREFIX (chaos), $CLEAN_PREFIX (clean)"

# Rounds at which the broker is restarted: spread over the first two thirds, while the
# hub still has records to sync.
declare -A RESTART_AT=()
if (( KILLS > 0 )); then
  for ((j = 1; j <= BROKER_RESTARTS; j++)); do
    RESTART_AT[$(( (KILLS * j) / (2 * BROKER_RESTARTS + 1) + 1 ))]=1
  done
fi

# The data directory's content, to tell kills during a sync from kills of an idle hub.
state_of() { find "$1" -type f ! -name govhub.lock -print0 2>/dev/null | sort -z | xargs -0 -r cat | md5sum | cut -d' ' -f1; }
KILL_STATES=()
STARTED_RUNS=1
KILLED=0
EXITED=0
RESTARTS=0
ACTIVE_LINES=0
WAITS=()
start_instance() { # number
  "$GOVHUB_BIN" run --config "$WORK/chaos-$1.toml" --admin off >>"$WORK/hub-$1.log" 2>&1 &
  PIDS[$1]=$!
}
restart_broker() { # round
  pause_ms 500 2000
  say "round $1: stopping the broker under the hub"
  BROKER_DOWN=1
  "$LOCAL_KAFKA" stop >>"$WORK/broker.log" 2>&1
  pause_ms 1000 4000
  "$LOCAL_KAFKA" up >>"$WORK/broker.log" 2>&1 || { tail -n 20 "$WORK/broker.log" >&2; die "the broker did not come back"; }
  BROKER_DOWN=0
  RESTARTS=$((RESTARTS + 1))
  say "round $1: broker back"
}
if (( INSTANCES > 1 )); then
  say "$INSTANCES instances, the connectors spread over them"
  for ((i = 1; i <= INSTANCES; i++)); do start_instance "$i"; done
  for ((round = 1; round <= KILLS; round++)); do
    if [[ -n "${RESTART_AT[$round]:-}" ]] && local_broker; then
      restart_broker "$round"
    fi
    pause_ms 500 4000
    i=$((1 + RANDOM % INSTANCES))
    if kill -0 "${PIDS[$i]}" 2>/dev/null; then
      kill -KILL "${PIDS[$i]}" 2>/dev/null || true
      wait "${PIDS[$i]}" 2>/dev/null || true
      KILLED=$((KILLED + 1))
    else
      rc=0
      wait "${PIDS[$i]}" 2>/dev/null || rc=$?
      EXITED=$((EXITED + 1))
      say "round $round: instance $i had exited by itself (exit $rc)"
    fi
    start_instance "$i"
  done
fi
for ((round = 1; round <= KILLS && INSTANCES == 1; round++)); do
  "$GOVHUB_BIN" run --config "$WORK/chaos.toml" --admin off >>"$WORK/hub.log" 2>&1 &
  HUB_PID=$!
  if [[ "$EXACTLY_ONCE" == 1 ]]; then
    # An exactly-once hub starts once its instances' group makes it the active one:
    # after a kill -9, when the killed instance's session has timed out (6 s). The kill
    # window opens then, so that kills strike hubs at work.
    started_at=$(date +%s%N)
    for _ in $(seq 600); do
      (( $(grep -c 'this instance is active' "$WORK/hub.log") > ACTIVE_LINES )) && break
      kill -0 "$HUB_PID" 2>/dev/null || break
      sleep 0.05
    done
    ACTIVE_LINES=$(grep -c 'this instance is active' "$WORK/hub.log" || true)
    WAITS+=($(( ($(date +%s%N) - started_at) / 1000000 )))
  fi
  if [[ -n "${RESTART_AT[$round]:-}" ]] && local_broker; then
    restart_broker "$round"
  fi
  pause_ms 500 4000
  if kill -0 "$HUB_PID" 2>/dev/null; then
    kill -KILL "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
    KILLED=$((KILLED + 1))
    KILL_STATES+=("$(state_of "$WORK/data")")
  else
    rc=0
    wait "$HUB_PID" 2>/dev/null || rc=$?
    EXITED=$((EXITED + 1))
    say "round $round: the hub had exited by itself (exit $rc)"
  fi
  HUB_PID=""
done
say "$KILLED hubs killed, $EXITED exited by themselves, $RESTARTS broker restarts"
if ((${#WAITS[@]})); then
  say "waits to become the active instance after a restart, ms: min $(printf '%s\n' "${WAITS[@]}" | sort -n | head -1), median $(printf '%s\n' "${WAITS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'), max $(printf '%s\n' "${WAITS[@]}" | sort -n | tail -1)"
fi

# Catch up, then the clean run; each must finish.
once() { # config log
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    # In the background, so that a signal to this script is handled at once.
    timeout 900 "$GOVHUB_BIN" run --config "$1" --once >>"$2" 2>&1 &
    HUB_PID=$!
    wait "$HUB_PID" || rc=$?
    HUB_PID=""
    (( rc == 0 )) && return 0
    say "run --once on $(basename "$1") failed (exit $rc, attempt $attempt); its log: $2"
    tail -n 5 "$2" | sed 's/^/chaos:   /'
    sleep 2
  done
  return 1
}
CATCH_UP=ok
if (( INSTANCES == 1 )); then
  once "$WORK/chaos.toml" "$WORK/catch-up.log" || CATCH_UP=failed
fi
CLEAN_RUN=ok
once "$WORK/clean.toml" "$WORK/clean-run.log" || CLEAN_RUN=failed
if (( INSTANCES > 1 )); then
  # The instances catch up by themselves: until the chaos run verifies, then a graceful stop.
  CATCH_UP=failed
  caught_up_at=$(date +%s)
  for _ in $(seq 90); do
    if "$GOVHUB_BIN" verify --bootstrap-servers "$BROKER" --topic-prefix "$PREFIX" \
        --expected "$WORK/expected.json" --compare "$CLEAN_PREFIX" >/dev/null 2>&1; then
      CATCH_UP=ok
      break
    fi
    sleep 10
  done
  say "the instances caught up: $CATCH_UP ($(( $(date +%s) - caught_up_at )) s after the last kill and the clean run)"
  for ((i = 1; i <= INSTANCES; i++)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for ((i = 1; i <= INSTANCES; i++)); do
    rc=0
    wait "${PIDS[$i]}" 2>/dev/null || rc=$?
    (( rc == 0 )) || say "instance $i stopped with exit $rc; its log: $WORK/hub-$i.log"
  done
  PIDS=()
fi
FINAL_STATE=""  # (INSTANCES > 1: no kill states are kept)
if (( INSTANCES == 1 )); then
  FINAL_STATE="$(state_of "$WORK/data")"
fi
BUSY=0
for s in "${KILL_STATES[@]}"; do [[ "$s" == "$FINAL_STATE" ]] || BUSY=$((BUSY + 1)); done
say "catch-up run: $CATCH_UP; clean run: $CLEAN_RUN"

echo
say "the clean run alone:"
CLEAN_RC=0
"$GOVHUB_BIN" verify --bootstrap-servers "$BROKER" --topic-prefix "$CLEAN_PREFIX" \
  --expected "$WORK/expected.json" >"$WORK/verify-clean.out" 2>&1 || CLEAN_RC=$?
sed 's/^/  /' "$WORK/verify-clean.out"
echo
say "the chaos run, compared with the clean one:"
CHAOS_RC=0
"$GOVHUB_BIN" verify --bootstrap-servers "$BROKER" --topic-prefix "$PREFIX" \
  --expected "$WORK/expected.json" --compare "$CLEAN_PREFIX" >"$WORK/verify.out" 2>&1 || CHAOS_RC=$?
sed 's/^/  /' "$WORK/verify.out"
echo

# The same count by an independent client, kcat, reading as a downstream consumer
# (read_committed): deliveries of an event id beyond its first, over every topic of the
# chaos run but govhub's own state topic.
kcat_duplicates() { # prefix
  local topic extra total=0
  for topic in $(kcat -b "$BROKER" -L -q 2>/dev/null | sed -n 's/^ *topic "\([^"]*\)".*/\1/p' | grep -F "$1" | grep -v 'state\.v1$'); do
    extra="$(kcat -b "$BROKER" -C -t "$topic" -e -q -X isolation.level=read_committed -f '%h\n' \
      | grep -o 'ce_id=[^,]*' | sort | uniq -c | awk '$1 > 1 { n += $1 - 1 } END { print n + 0 }')"
    total=$((total + extra))
  done
  echo "$total"
}

DUPLICATES="$(sed -n 's/^duplicates: //p' "$WORK/verify.out")"
KCAT_DUPLICATES="$(kcat_duplicates "$PREFIX")"
if (( INSTANCES > 1 )); then
  say "kills: $KILLED of $INSTANCES instances with the connectors spread (exits on their own: $EXITED), broker restarts: $RESTARTS, seed $SEED, $(( $(date +%s) - T0 )) s"
else
  say "kills: $KILLED ($BUSY before the hub had caught up; hub exits on its own: $EXITED), broker restarts: $RESTARTS, seed $SEED, $(( $(date +%s) - T0 )) s"
fi
say "mode: $([[ $EXACTLY_ONCE == 1 ]] && echo exactly-once || echo at-least-once)"
say "duplicates found: ${DUPLICATES:-unknown} (govhub verify), $KCAT_DUPLICATES (kcat, read_committed)"
if (( CHAOS_RC == 0 && CLEAN_RC == 0 )) && [[ "$CATCH_UP" == ok && "$CLEAN_RUN" == ok ]]; then
  VERDICT=PASS
fi
if [[ "$EXACTLY_ONCE" == 1 && ( "${DUPLICATES:-x}" != 0 || "$KCAT_DUPLICATES" != 0 ) ]]; then
  say "exactly-once broken: an event was read twice"
  VERDICT=FAIL
fi
say "verdict: $VERDICT (chaos run: $(sed -n 's/^verdict: //p' "$WORK/verify.out"); clean run: $(sed -n 's/^verdict: //p' "$WORK/verify-clean.out"))"
[[ "$VERDICT" == PASS ]]
