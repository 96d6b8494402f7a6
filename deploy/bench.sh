#!/usr/bin/env bash
# deploy/bench.sh — end-to-end throughput benchmark of govhub against the four simulated
# departments (no faults), into the embedded log and/or a real Kafka broker, with kcat as
# the reference measured in the same run.
#
# Usage:
#   deploy/bench.sh [--residents N] [--reps R]
#                   [--sinks log|kafka|kafka-alo|kafka-spread|both|delivery|spread]
#                   [--seed S]
#                   [--kafka HOST:PORT] [--perf] [--keep] [--work-dir DIR]
#
#   --residents N   synthetic residents (env BENCH_RESIDENTS, default 350000). The four
#                   simulators serve about 1.5 records per resident, so 350k residents
#                   are ~525k records (the exact count is printed from `govhub sim`).
#   --reps R        repetitions (env BENCH_REPS, default 3). Each repetition runs every
#                   sink once (the order alternates between repetitions), each against a
#                   freshly started simulator, then the kcat reference.
#   --sinks S       log, kafka (exactly-once, the default), kafka-alo (at-least-once,
#                   `exactly_once = false`), kafka-spread (exactly-once with
#                   `[cluster] spread_connectors`: one instance, each page through the
#                   intake topic), both (log and kafka), delivery (kafka and kafka-alo)
#                   or spread (kafka and kafka-spread) (env BENCH_SINKS, default both)
#   --seed S        population seed (env BENCH_SEED, default 2026)
#   --kafka ADDR    broker (env BENCH_KAFKA, default 127.0.0.1:9092)
#   --perf          after the timed repetitions, one extra (untimed) kafka run (log run
#                   with --sinks log) under `perf record -g` (event: env BENCH_PERF_EVENT,
#                   default cpu-clock; frequency BENCH_PERF_FREQ, default 999 Hz) and the
#                   top of `perf report --no-children` (self time by symbol)
#   --keep          keep the work directory and the benchmark's Kafka topics
#   --work-dir DIR  where run directories go (default: a new dir under ${TMPDIR:-/tmp})
#
#   GOVHUB_BIN      the binary (default target/release/govhub). This script never builds:
#                   cargo build --release -p govhub --locked
#
# One run, per repetition and sink:
#   1. `govhub sim --residents N --base-port P` on four free ports; its URLs and `export`
#      lines (the secrets) are parsed from its output;
#   2. a config written from deploy/govhub.example.toml with the simulators' URLs, a fresh
#      data_dir, a fresh random topic prefix (bench-<id>-r<rep>-<sink>.) and, for kafka,
#      [kafka] bootstrap_servers (govhub always produces with acks=all, idempotence on,
#      lz4, linger 5 ms); for log, no [kafka] table;
#   3. `govhub run --config … --once --admin off` under GNU `/usr/bin/time -v`: wall time,
#      user+sys CPU and peak RSS of the hub process (the simulator runs beside it on the
#      same cores and is not counted). kafka-spread: `govhub run` (not --once: spread
#      connectors hand pages over only in a continuous run) with its admin API on a free
#      port, polled every 200 ms until the records published, rejected and dropped as
#      duplicates add up to those served; the wall time is from the start to then, the
#      CPU and RSS those of the process, stopped gracefully right after;
#   4. the simulator is stopped; records pulled come from the run's summary table, events
#      written from the sink (embedded log: lines of log/*.jsonl; Kafka: every message of
#      every topic of the run's prefix, read back with kcat).
# The kcat reference (once per repetition): the events of that repetition's kafka run
# (departmental, identity, person and dead-letter topics; with --sinks log the embedded
# log's events) are dumped as key<TAB>value lines and produced with
#   kcat -P -K<TAB> -Z -X acks=all -X enable.idempotence=true -X compression.codec=lz4
#        -X linger.ms=5
# into one fresh topic, timed with /usr/bin/time. kcat -P cannot send per-message
# headers: each source topic's messages carry that topic's first message's headers
# (same names, near-identical sizes) via -H.
#
# Reported per run and, at the end, per sink as min and median over the repetitions:
#   rec/s       records pulled ÷ hub wall time (start-up included)
#   ev/s        events written (all topics) ÷ hub wall time
#   cpu_us/rec  hub user+sys CPU µs ÷ records pulled
#   rss_MB      hub peak RSS
#   kcat_msg/s  kcat -P messages ÷ kcat wall time (same repetition)
#   ratio_ev    ev/s ÷ kcat_msg/s    (messages vs messages: the like-for-like ratio)
#   ratio_rec   rec/s ÷ kcat_msg/s   (records pulled vs messages)
# A `stages:` line in the hub's output (per-stage CPU breakdown) is passed through.
#
# Needs: kcat, GNU time (/usr/bin/time; Debian: apt-get install time), jq, ss; for --perf,
# perf; for deleting topics afterwards, java and the broker jars of deploy/kafka/local.sh
# (target/kafka/lib; without them the topics stay, retention deletes them).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

RESIDENTS="${BENCH_RESIDENTS:-350000}"
REPS="${BENCH_REPS:-3}"
SINKS="${BENCH_SINKS:-both}"
SEED="${BENCH_SEED:-2026}"
KAFKA="${BENCH_KAFKA:-127.0.0.1:9092}"
PERF=0
KEEP=0
WORK_PARENT="${TMPDIR:-/tmp}"
WORK=""
BIN="${GOVHUB_BIN:-$REPO_ROOT/target/release/govhub}"
EXAMPLE="$REPO_ROOT/deploy/govhub.example.toml"
SIM_WAIT_SECS="${BENCH_SIM_WAIT_SECS:-1800}"
PERF_EVENT="${BENCH_PERF_EVENT:-cpu-clock}"
PERF_FREQ="${BENCH_PERF_FREQ:-999}"
KAFKA_LIB="${GOVHUB_KAFKA_HOME:-$REPO_ROOT/target/kafka}/lib"

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --residents) RESIDENTS="${2:?}"; shift 2 ;;
    --reps) REPS="${2:?}"; shift 2 ;;
    --sinks) SINKS="${2:?}"; shift 2 ;;
    --seed) SEED="${2:?}"; shift 2 ;;
    --kafka) KAFKA="${2:?}"; shift 2 ;;
    --perf) PERF=1; shift ;;
    --keep) KEEP=1; shift ;;
    --work-dir) WORK_PARENT="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

case "$SINKS" in
  log) SINK_LIST=(log) ;;
  kafka) SINK_LIST=(kafka) ;;
  kafka-alo) SINK_LIST=(kafka-alo) ;;
  kafka-spread) SINK_LIST=(kafka-spread) ;;
  both) SINK_LIST=(log kafka) ;;
  delivery) SINK_LIST=(kafka kafka-alo) ;;
  spread) SINK_LIST=(kafka kafka-spread) ;;
  *) die "--sinks must be log, kafka, kafka-alo, kafka-spread, both, delivery or spread, not '$SINKS'" ;;
esac
[[ "$RESIDENTS" =~ ^[1-9][0-9]*$ ]] || die "--residents must be a positive integer"
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"

# ---- prerequisites -----------------------------------------------------------------
[[ -x "$BIN" ]] || die "no govhub binary at $BIN; build it first:
  cargo build --release -p govhub --locked      (or set GOVHUB_BIN)"
[[ -f "$EXAMPLE" ]] || die "missing $EXAMPLE"
/usr/bin/time -v true >/dev/null 2>&1 \
  || die "GNU time is needed at /usr/bin/time (Debian/Ubuntu: apt-get install time)"
for tool in kcat jq ss awk; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian/Ubuntu: apt-get install $tool)"
done
if [[ $PERF == 1 ]]; then command -v perf >/dev/null || die "--perf needs perf"; fi
BROKER=0
if kcat -b "$KAFKA" -L -m 5 >/dev/null 2>&1; then BROKER=1; fi
if [[ $BROKER == 0 ]]; then
  [[ "$SINKS" == log ]] || die "no Kafka broker answers at $KAFKA (deploy/kafka/local.sh up)"
  say "no broker at $KAFKA: the kcat reference is skipped"
fi

RUN_ID="$(date +%m%d%H%M%S)$(printf '%04x' $((RANDOM)))"
mkdir -p "$WORK_PARENT"
WORK="$(mktemp -d "$WORK_PARENT/govhub-bench-$RUN_ID.XXXX")"
RESULTS="$WORK/results.tsv"
STAGES="$WORK/stages.txt"
: >"$STAGES"
printf 'rep\tsink\tresidents\texpected\tpulled\tpublished\trejected\tduplicates\tevents\twall_s\tcpu_s\trss_kb\trec_s\tev_s\tcpu_us_rec\tkcat_msgs\tkcat_wall_s\tkcat_msg_s\tratio_ev\tratio_rec\n' >"$RESULTS"

SIM_PID=""
stop_sim() {
  [[ -n "$SIM_PID" ]] || return 0
  if kill -0 "$SIM_PID" 2>/dev/null; then
    kill -INT "$SIM_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$SIM_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SIM_PID" 2>/dev/null || true
  fi
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=""
}

delete_topics() {
  [[ $BROKER == 1 && $KEEP == 0 ]] || return 0
  if command -v java >/dev/null && compgen -G "$KAFKA_LIB/kafka-tools-*.jar" >/dev/null; then
    java -cp "$KAFKA_LIB/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA" \
      --delete --if-exists --topic "bench-$RUN_ID-.*" >/dev/null 2>&1 \
      || say "could not delete the topics bench-$RUN_ID-* (retention will)"
  else
    say "topics bench-$RUN_ID-* left on the broker (no java/kafka-tools to delete them)"
  fi
}

cleanup() {
  local rc=$?
  stop_sim
  delete_topics
  if [[ $KEEP == 1 || $rc != 0 ]]; then
    say "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four consecutive free TCP ports on 127.0.0.1: prints the first.
free_base_port() {
  local base listening
  listening="$(ss -Htln | awk '{print $4}' | sed 's/.*://')"
  for _ in $(seq 100); do
    base=$((20000 + RANDOM % 40000))
    if ! grep -qxE "$base|$((base + 1))|$((base + 2))|$((base + 3))" <<<"$listening"; then
      echo "$base"; return 0
    fi
  done
  die "no four free consecutive ports found"
}

# Starts `govhub sim` writing to $1/sim.out; waits until it serves.
start_sim() {
  local dir="$1" port attempt waited
  for attempt in 1 2 3; do
    port="$(free_base_port)"
    : >"$dir/sim.out"
    "$BIN" sim --residents "$RESIDENTS" --seed "$SEED" --base-port "$port" \
      >"$dir/sim.out" 2>&1 &
    SIM_PID=$!
    waited=0
    while ! grep -q 'serving until Ctrl-C' "$dir/sim.out"; do
      if ! kill -0 "$SIM_PID" 2>/dev/null; then break; fi
      sleep 0.5; waited=$((waited + 1))
      ((waited < SIM_WAIT_SECS * 2)) || { stop_sim; die "govhub sim did not start within ${SIM_WAIT_SECS}s; see $dir/sim.out"; }
    done
    grep -q 'serving until Ctrl-C' "$dir/sim.out" && return 0
    wait "$SIM_PID" 2>/dev/null || true
    SIM_PID=""
    say "govhub sim failed on port $port (attempt $attempt): $(tail -n 2 "$dir/sim.out" | tr '\n' ' ')"
  done
  die "govhub sim would not start; see $dir/sim.out"
}

# Writes the hub config for sink $1 into $2/hub.toml (topic prefix $3).
write_config() {
  local sink="$1" dir="$2" prefix="$3" urls
  urls="$(awk '$1 ~ /^[a-z0-9_-]+$/ && $2 ~ /^https?:\/\// {printf "%s %s ", $1, $2}' "$dir/sim.out")"
  [[ -n "$urls" ]] || die "no URLs in $dir/sim.out"
  awk -v sink="$sink" -v data="$dir/data" -v prefix="$prefix" -v kafka="$KAFKA" -v urls="$urls" '
    BEGIN { n = split(urls, a, " "); for (i = 1; i < n; i += 2) { url[a[i]] = a[i + 1]; want++ } }
    /^\[/ { table = $0; gsub(/^\[+|\]+.*$/, "", table); inkafka = (table == "kafka" || table ~ /^kafka\./) }
    /^data_dir[ \t]*=/ { print "data_dir = \"" data "\""; next }
    /^topic_prefix[ \t]*=/ { print "topic_prefix = \"" prefix "\""; next }
    inkafka && sink == "log" { next }
    inkafka && /^bootstrap_servers[ \t]*=/ { print "bootstrap_servers = \"" kafka "\""; next }
    inkafka && sink == "kafka-alo" && /^exactly_once[ \t]*=/ { print "exactly_once = false"; next }
    /^url[ \t]*=/ {
      split(table, t, ".")
      if (t[1] == "connectors" && (t[2] in url)) { print "url = \"" url[t[2]] "\""; done[t[2]] = 1; next }
    }
    { print }
    END { for (c in url) if (!(c in done)) { print "no connector " c " in the example config" > "/dev/stderr"; exit 1 } }
  ' "$EXAMPLE" >"$dir/hub.toml"
  grep -q '^topic_prefix' "$dir/hub.toml" || sed -i "1i topic_prefix = \"$prefix\"" "$dir/hub.toml"
  if [[ "$sink" == kafka-spread ]]; then
    printf '\n[cluster]\nspread_connectors = true\n' >>"$dir/hub.toml"
  fi
}

# kafka-spread: `govhub run` ($1: the run's directory) until the records it has handled
# reach $2; prints the seconds from its start to then. Its GNU time output goes where a
# --once run's does.
run_spread() {
  local dir="$1" expected="$2" port pid t0 done_at handled
  port="$(free_base_port)"
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$dir/time.txt" "$BIN" run --config "$dir/hub.toml" --admin "127.0.0.1:$port" \
    >"$dir/hub.out" 2>"$dir/hub.err" &
  pid=$!
  done_at=""
  while kill -0 "$pid" 2>/dev/null; do
    handled="$(curl -sf "http://127.0.0.1:$port/api/connectors" 2>/dev/null \
      | jq '[.connectors[].counts | .published + .rejected + .duplicates] | add // 0' 2>/dev/null || echo 0)"
    if (( ${handled:-0} >= expected )); then
      done_at=$(date +%s%N)
      break
    fi
    sleep 0.2
  done
  # The hub is GNU time's child: a graceful stop of the hub, which time then reports.
  pkill -TERM -P "$pid" 2>/dev/null || true
  wait "$pid" || { tail -n 20 "$dir/hub.err" >&2; return 1; }
  [[ -n "$done_at" ]] || return 1
  awk -v ns=$((done_at - t0)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}

# The simulator's secrets, exported into this shell (only GOVHUB_* names are accepted).
export_secrets() {
  local line
  while IFS= read -r line; do
    [[ "$line" =~ ^export\ GOVHUB_[A-Z0-9_]+= ]] || continue
    eval "$line"
  done <"$1/sim.out"
}

# Seconds of GNU time's "Elapsed (wall clock) time" etc. from $1: prints wall cpu rss_kb.
parse_time() {
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($NF, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
    /User time \(seconds\)/ { u = $NF }
    /System time \(seconds\)/ { s = $NF }
    /Maximum resident set size/ { r = $NF }
    END { printf "%.3f %.3f %d\n", w, u + s, r }' "$1"
}

# Messages in topic $1, from the partitions' high watermarks (offsets are contiguous for
# a non-transactional producer).
topic_count() {
  local topic="$1" total=0 p last
  for p in $(kcat -b "$KAFKA" -L -t "$topic" 2>/dev/null | awk '$1 == "partition" {sub(",", "", $2); print $2}'); do
    last="$(kcat -b "$KAFKA" -C -t "$topic" -p "$p" -o -1 -c 1 -e -q -f '%o\n' 2>/dev/null || true)"
    [[ -n "$last" ]] && total=$((total + last + 1))
  done
  echo "$total"
}

# Event topics of the broker starting with $1 (not govhub's own state and coordination
# topics).
topics_with_prefix() {
  kcat -b "$KAFKA" -L 2>/dev/null | awk -v p="$1" '$1 == "topic" { t = $2; gsub(/"/, "", t); if (index(t, p) == 1) print t }' \
    | grep -vE '(state|cluster|connectors|intake)\.v1$' | sort
}

# Dumps every topic of prefix $1 into $2/<topic>.tsv (key TAB value) and
# $2/<topic>.headers (name=value of its first message, one per line). Prints the total.
dump_kafka() {
  local prefix="$1" out="$2" t total=0 n
  mkdir -p "$out"
  for t in $(topics_with_prefix "$prefix"); do
    kcat -b "$KAFKA" -C -t "$t" -o beginning -e -q -X isolation.level=read_committed -f '%k\t%s\n' >"$out/$t.tsv"
    kcat -b "$KAFKA" -C -t "$t" -o beginning -c 1 -e -q -J \
      | jq -r '(.headers // []) as $h | range(0; $h | length; 2) | "\($h[.])=\($h[. + 1])"' >"$out/$t.headers"
    n="$(wc -l <"$out/$t.tsv")"
    echo "  $t $n" >>"$out/counts.txt"
    total=$((total + n))
  done
  echo "$total"
}

# The same dump from an embedded log directory $1 into $2.
dump_log() {
  local log="$1" out="$2" f t total=0 n
  mkdir -p "$out"
  for f in "$log"/*.jsonl; do
    [[ -e "$f" ]] || continue
    t="$(basename "$f" .jsonl)"
    jq -rj '(.key // "") + "\t" + (if .value == null then "" else (.value | tojson) end) + "\n"' "$f" >"$out/$t.tsv"
    head -n 1 "$f" | jq -r '.headers[] | "\(.[0])=\(.[1])"' >"$out/$t.headers"
    n="$(wc -l <"$out/$t.tsv")"
    total=$((total + n))
  done
  echo "$total"
}

# Produces every dump of $1 with kcat into the fresh topic $2, timed. Sets KMSGS KWALL.
kcat_reference() {
  local dump="$1" topic="$2" script="$1/produce.sh" f t hdrs h msgs
  kcat -b "$KAFKA" -L -t "$topic" -X allow.auto.create.topics=true >/dev/null 2>&1 || true
  for _ in $(seq 50); do
    kcat -b "$KAFKA" -L -t "$topic" 2>/dev/null | grep -q 'leader 1\|leader [0-9]' && break
    sleep 0.2
  done
  {
    echo 'set -e'
    for f in "$dump"/*.tsv; do
      t="$(basename "$f" .tsv)"
      hdrs=""
      while IFS= read -r h; do [[ -n "$h" ]] && hdrs+=" -H $(printf '%q' "$h")"; done <"$dump/$t.headers"
      printf 'kcat -P -b %q -t %q -K %q -Z -X acks=all -X enable.idempotence=true -X compression.codec=lz4 -X linger.ms=5%s <%q\n' \
        "$KAFKA" "$topic" $'\t' "$hdrs" "$f"
    done
  } >"$script"
  msgs="$(cat "$dump"/*.tsv | wc -l)"
  /usr/bin/time -v -o "$dump/kcat.time" bash "$script" >"$dump/kcat.out" 2>&1 \
    || { cat "$dump/kcat.out" >&2; die "kcat -P failed"; }
  local produced
  produced="$(topic_count "$topic")"
  [[ "$produced" == "$msgs" ]] || say "warning: kcat reference topic has $produced messages, expected $msgs"
  KMSGS="$msgs"
  read -r KWALL _ _ < <(parse_time "$dump/kcat.time")
}

# Waits up to BENCH_BROKER_WAIT_SECS (default 120) for the broker to answer.
wait_broker() {
  local waited=0
  until kcat -b "$KAFKA" -L -m 5 >/dev/null 2>&1; do
    ((waited == 0)) && say "waiting for the broker at $KAFKA"
    ((waited < ${BENCH_BROKER_WAIT_SECS:-120})) || die "no broker at $KAFKA"
    sleep 1; waited=$((waited + 1))
  done
}

# One hub run, retried once when the hub fails (e.g. the broker went away meanwhile).
run_once() {
  local attempt rc
  for attempt in 1 2; do
    rm -f "$WORK/attempt.ok"
    set +e
    (
      set -e
      trap stop_sim EXIT
      run_attempt "$@"
    )
    rc=$?
    set -e
    if [[ $rc == 0 && -f "$WORK/attempt.ok" ]]; then
      # shellcheck disable=SC1091
      source "$WORK/attempt.ok"
      return 0
    fi
    ((attempt == 1)) && say "run failed (exit $rc); retrying it once (did the broker restart?)"
  done
  die "run $1 $2 failed twice"
}

# One hub run: rep $1, sink $2. Writes RUN_* assignments to $WORK/attempt.ok.
run_attempt() {
  local rep="$1" sink="$2" dir prefix expected
  dir="$WORK/r$rep-$sink"
  mkdir -p "$dir"
  prefix="bench-$RUN_ID-r$rep-$sink.$RANDOM."
  rm -rf "$dir"; mkdir -p "$dir"
  [[ "$sink" == kafka* ]] && wait_broker
  say "rep $rep/$REPS $sink: starting govhub sim ($RESIDENTS residents)"
  start_sim "$dir"
  expected="$(sed -n 's/^records: \([0-9]*\) students, \([0-9]*\) encounters, [0-9]* households (\([0-9]*\) members), \([0-9]*\) grid cases.*/\1 \2 \3 \4/p' "$dir/sim.out" | awk '{print $1 + $2 + $3 + $4}')"
  write_config "$sink" "$dir" "$prefix"
  (
    export_secrets "$dir"
    "$BIN" check --config "$dir/hub.toml" >"$dir/check.out" 2>&1 \
      || { cat "$dir/check.out" >&2; exit 2; }
    say "rep $rep/$REPS $sink: govhub run --once ($expected records served)"
    local wrap=()
    [[ "${PERF_RUN:-0}" == 1 ]] && wrap=(perf record -g -e "$PERF_EVENT" -F "$PERF_FREQ" -o "$WORK/perf.data" --)
    if [[ "$sink" == kafka-spread ]]; then
      run_spread "$dir" "$expected" >"$dir/wall.txt"
    else
      /usr/bin/time -v -o "$dir/time.txt" "${wrap[@]}" "$BIN" run --config "$dir/hub.toml" --once --admin off \
        >"$dir/hub.out" 2>"$dir/hub.err"
    fi
  ) || { rc=$?; stop_sim; tail -n 20 "$dir/hub.err" >&2 || true; die "hub run failed (exit $rc); see $dir"; }
  stop_sim

  local pulled published rejected dups events wall cpu rss
  read -r pulled published rejected dups < <(awk '
    $1 == "connector" && $2 == "pulled" { t = 1; next }
    t && NF == 5 && $2 ~ /^[0-9]+$/ { p += $2; pu += $3; r += $4; d += $5; next }
    t { t = 0 }
    END { print p + 0, pu + 0, r + 0, d + 0 }' "$dir/hub.out")
  read -r wall cpu rss < <(parse_time "$dir/time.txt")
  if [[ -s "$dir/wall.txt" ]]; then wall="$(cat "$dir/wall.txt")"; fi
  local stage
  stage="$(grep -hE '^[[:space:]]*stages:' "$dir/hub.out" "$dir/hub.err" || true)"
  if [[ -n "$stage" ]]; then
    printf 'rep %s %s: %s\n' "$rep" "$sink" "$stage" >>"$STAGES"
  fi
  if [[ "$sink" == kafka* ]]; then
    events="$(dump_kafka "$prefix" "$dir/dump")"
    cat "$dir/dump/counts.txt" >&2
  else
    events=0
    for f in "$dir/data/log"/*.jsonl; do
      [[ -e "$f" ]] || continue
      n="$(wc -l <"$f")"; events=$((events + n))
      echo "  $(basename "$f" .jsonl) $n" >&2
    done
  fi
  {
    printf 'RUN_DIR=%q\nRUN_PREFIX=%q\n' "$dir" "$prefix"
    printf 'RUN_LINE=%q\n' "$rep	$sink	$RESIDENTS	$expected	$pulled	$published	$rejected	$dups	$events	$wall	$cpu	$rss"
  } >"$WORK/attempt.ok"
  say "rep $rep/$REPS $sink: $pulled records pulled of $expected served, $published published, $rejected rejected, $dups duplicates, $events events; wall ${wall}s, cpu ${cpu}s, peak RSS $((rss / 1024)) MB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [[ "$pulled" != "$expected" ]]; then say "warning: pulled $pulled != served $expected"; fi
}

# ---- the repetitions -----------------------------------------------------------------
say "govhub $("$BIN" --version 2>/dev/null || echo '(no --version)') at $BIN; work dir $WORK"
say "residents $RESIDENTS, seed $SEED, $REPS repetitions, sinks: ${SINK_LIST[*]}, broker $KAFKA"
for rep in $(seq "$REPS"); do
  order=("${SINK_LIST[@]}")
  if ((rep % 2 == 0)) && ((${#order[@]} == 2)); then order=("${order[1]}" "${order[0]}"); fi
  declare -A LINES=()
  ref_dump=""
  for sink in "${order[@]}"; do
    run_once "$rep" "$sink"
    LINES[$sink]="$RUN_LINE"
    if [[ $sink == kafka* ]]; then
      ref_dump="$RUN_DIR/dump"
    elif [[ $BROKER == 1 && " ${SINK_LIST[*]} " != *" kafka"* ]]; then
      ref_dump="$RUN_DIR/logdump"
      dump_log "$RUN_DIR/data/log" "$ref_dump" >/dev/null
    fi
  done
  KMSGS="" KWALL="" kmsgs="" kwall=""
  if [[ -n "$ref_dump" ]]; then
    say "rep $rep/$REPS kcat reference: producing the same events into a fresh topic"
    kcat_reference "$ref_dump" "bench-$RUN_ID-r$rep-kcat-ref"
    kmsgs="$KMSGS" kwall="$KWALL"
    say "rep $rep/$REPS kcat: $kmsgs messages in ${kwall}s"
  fi
  for sink in "${order[@]}"; do
    awk -F'\t' -v OFS='\t' -v km="${kmsgs:-0}" -v kw="${kwall:-0}" '{
      rec_s = $5 / $10; ev_s = $9 / $10; cpu_us = $11 * 1e6 / ($5 > 0 ? $5 : 1)
      kr = (kw > 0) ? km / kw : 0
      print $0, sprintf("%.0f", rec_s), sprintf("%.0f", ev_s), sprintf("%.1f", cpu_us), km, kw,
            sprintf("%.0f", kr), (kr > 0 ? sprintf("%.3f", ev_s / kr) : "-"), (kr > 0 ? sprintf("%.3f", rec_s / kr) : "-")
    }' <<<"${LINES[$sink]}" >>"$RESULTS"
  done
  if [[ $KEEP == 0 ]]; then
    for sink in "${order[@]}"; do rm -rf "$WORK/r$rep-$sink/dump" "$WORK/r$rep-$sink/logdump" "$WORK/r$rep-$sink/data"; done
  fi
  unset LINES
done

# ---- report ----------------------------------------------------------------------------
echo
echo "govhub bench: $RESIDENTS residents, $REPS repetitions, binary $BIN"
echo
echo "per run:"
column -t -s $'\t' "$RESULTS" 2>/dev/null || cat "$RESULTS"
echo
echo "per sink (min / median over $REPS repetitions; rss also max):"
awk -F'\t' '
  function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
  function stat(col, sink,   a, n, i, k, med) {
    n = 0; for (i = 1; i <= rows; i++) if (s[i] == sink && v[i, col] != "-") a[++n] = v[i, col] + 0
    if (n == 0) return "-"
    sortn(a, n); med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    k = (col == 19 || col == 20) ? "%.3f" : (col == 15 ? "%.1f" : "%.0f")
    return sprintf(k " / " k, a[1], med) (col == 12 ? sprintf(" / %.0f", a[n]) : "")
  }
  NR == 1 { next }
  { rows++; s[rows] = $2; seen[$2] = 1; for (c = 1; c <= NF; c++) v[rows, c] = $c; v[rows, 12] = $12 / 1024 }
  END {
    printf "%-9s %-19s %-19s %-13s %-19s %-19s %-15s %-15s\n", "sink", "rec/s", "ev/s", "cpu_us/rec", "rss_MB (max)", "kcat_msg/s", "ratio_ev", "ratio_rec"
    for (sk in seen)
      printf "%-9s %-19s %-19s %-13s %-19s %-19s %-15s %-15s\n", sk, stat(13, sk), stat(14, sk), stat(15, sk), stat(12, sk), stat(18, sk), stat(19, sk), stat(20, sk)
  }' "$RESULTS"
echo
echo "ratio_ev = govhub events written/s ÷ kcat -P messages/s; ratio_rec = govhub records pulled/s ÷ kcat messages/s"
echo "(kcat: acks=all, idempotence, lz4, linger 5 ms, one partition, one representative header set per source topic)"
echo
if [[ -s "$STAGES" ]]; then
  echo "stage breakdown from the hub:"
  cat "$STAGES"
else
  echo "no stage breakdown from this binary"
fi
cp "$RESULTS" "$WORK_PARENT/govhub-bench-$RUN_ID.tsv"
echo "results: $WORK_PARENT/govhub-bench-$RUN_ID.tsv"

# ---- optional profile --------------------------------------------------------------------
if [[ $PERF == 1 ]]; then
  psink=kafka
  [[ " ${SINK_LIST[*]} " == *" kafka "* ]] || psink=log
  say "perf: one extra $psink run under perf record -g -e $PERF_EVENT (not in the table)"
  PERF_RUN=1 run_once perf "$psink"
  echo
  echo "perf ($psink run, self time by symbol, $PERF_EVENT):"
  perf report -i "$WORK/perf.data" --no-children --percent-limit 1 --stdio 2>/dev/null \
    | grep -v '^$' | grep -v '^#' | grep -E '^ +[0-9.]+%' | head -n 15
  if [[ $KEEP == 1 ]]; then echo "perf data: $WORK/perf.data"; fi
fi
