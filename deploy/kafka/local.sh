#!/usr/bin/env bash
# Fetch and run a real single-node Apache Kafka broker (KRaft, combined
# broker+controller) on 127.0.0.1 for development, tests and CI.
# No Docker, no Apache download site: the broker jars come from Maven Central
# through deploy/kafka/pom.xml. See deploy/kafka/README.md.
#
# Usage: deploy/kafka/local.sh fetch|start|wait|up|stop|clean [--all]|status|acl FILE
#
# GOVHUB_KAFKA_SECURITY=scram runs a secured broker instead (by default in
# target/kafka-scram on 9094/9095): SASL_SSL + SCRAM-SHA-512 for clients (TLS with a
# throw-away CA made here, its certificate in \$STATE/ca.pem), the StandardAuthorizer,
# super user User:admin, no access without an ACL.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

SECURITY="${GOVHUB_KAFKA_SECURITY:-none}"   # none | scram
case "$SECURITY" in
  none)
    DEFAULT_HOME="$REPO_ROOT/target/kafka" DEFAULT_PORT=9092 DEFAULT_CONTROLLER_PORT=9093 ;;
  scram)
    DEFAULT_HOME="$REPO_ROOT/target/kafka-scram" DEFAULT_PORT=9094 DEFAULT_CONTROLLER_PORT=9095 ;;
  *)
    echo "local-kafka: error: GOVHUB_KAFKA_SECURITY must be 'none' or 'scram', not '$SECURITY'" >&2
    exit 2 ;;
esac
STATE_DIR="$(realpath -m "${GOVHUB_KAFKA_HOME:-$DEFAULT_HOME}")"
HOST="127.0.0.1"
PORT="${GOVHUB_KAFKA_PORT:-$DEFAULT_PORT}"
CONTROLLER_PORT="${GOVHUB_KAFKA_CONTROLLER_PORT:-$DEFAULT_CONTROLLER_PORT}"
WAIT_SECS="${GOVHUB_KAFKA_WAIT_SECS:-60}"
STOP_SECS="${GOVHUB_KAFKA_STOP_SECS:-30}"
NUM_PARTITIONS="${GOVHUB_KAFKA_NUM_PARTITIONS:-1}"
LOG_LEVEL="${GOVHUB_KAFKA_LOG_LEVEL:-INFO}"
PROBE="${GOVHUB_KAFKA_PROBE:-auto}"   # readiness probe: auto (kcat if installed) | kcat | java
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
JVM_PERF_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
EXTRA_OPTS="${KAFKA_OPTS:-}"

POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONFIG="$SCRIPT_DIR/log4j2.properties"
LIB_DIR="$STATE_DIR/lib"
LIB_STAMP="$LIB_DIR/.pom.sha256"
DATA_DIR="$STATE_DIR/data"
CONFIG="$STATE_DIR/server.properties"
CLUSTER_ID_FILE="$STATE_DIR/cluster.id"
PID_FILE="$STATE_DIR/kafka.pid"
STARTED_FILE="$STATE_DIR/kafka.started"
LOG_FILE="$STATE_DIR/kafka.log"   # broker log (log4j2)
OUT_FILE="$STATE_DIR/kafka.out"   # JVM stdout/stderr: WARN+ and fatal startup errors
# Secured mode only, both 0600: 'name:password' per SCRAM user; the admin's client
# properties for Kafka's command-line tools (--command-config).
PASSWORDS_FILE="$STATE_DIR/users.passwords"
ADMIN_PROPS="$STATE_DIR/admin.properties"
# Secured mode only: the throw-away CA (ca.pem, for clients; ca.key 0600) and the
# broker's certificate for 127.0.0.1/localhost (broker.pem; broker.key 0600), and the
# broker's PEM keystore (key + certificate, 0600).
CA_CERT="$STATE_DIR/ca.pem"
CA_KEY="$STATE_DIR/ca.key"
BROKER_CERT="$STATE_DIR/broker.pem"
BROKER_KEY="$STATE_DIR/broker.key"
BROKER_KEYSTORE="$STATE_DIR/broker.keystore.pem"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA="java"
fi

say() { echo "local-kafka: $*"; }
err() { echo "local-kafka: $*" >&2; }
die() { err "error: $*"; exit 1; }

usage() {
  cat <<EOF
usage: $(basename "$0") <command>

commands:
  fetch        download the Kafka jars from Maven Central into \$STATE/lib (cached)
  start        fetch if needed, format storage if needed, start the broker in the background
  wait         wait until the broker answers metadata requests (GOVHUB_KAFKA_WAIT_SECS, default 60)
  up           fetch + start + wait
  stop         stop the broker (SIGTERM, then SIGKILL after GOVHUB_KAFKA_STOP_SECS, default 30)
  clean        stop and delete broker data/logs (keeps jars); 'clean --all' also deletes jars
  status       exit 0 if the broker is running, 1 otherwise
  acl FILE     secured mode: run the kafka-acls.sh lines of FILE ('-': stdin), e.g. the
               output of 'govhub acl', as the admin against this broker

security:  $SECURITY  (GOVHUB_KAFKA_SECURITY: none | scram)
state dir: $STATE_DIR  (GOVHUB_KAFKA_HOME)
bootstrap: $HOST:$PORT  (GOVHUB_KAFKA_PORT; controller GOVHUB_KAFKA_CONTROLLER_PORT=$CONTROLLER_PORT)
EOF
}

now_ms() { date +%s%3N; }

# Seconds (one decimal) between two millisecond timestamps.
secs_between() { local ms=$(($2 - $1)); printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100)); }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

jars_present() { compgen -G "$LIB_DIR/*.jar" >/dev/null; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# PID of our broker if it is alive, else nothing (and a stale pid file is removed).
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
     && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $CONFIG"; then
    echo "$pid"
    return 0
  fi
  rm -f "$PID_FILE"
  return 1
}

START_MARKER="==== local.sh: broker start"

# Tail of the JVM output and of the broker log since the last start.
show_log_tail() {
  if [[ -s "$OUT_FILE" ]]; then
    err "---- last 40 lines of $OUT_FILE ----"
    tail -n 40 "$OUT_FILE" >&2
  fi
  local since=""
  [[ -s "$LOG_FILE" ]] && since="$(awk -v m="$START_MARKER" \
    'index($0, m) == 1 { n = 0; next } { buf[n++] = $0 }
     END { for (i = (n > 40 ? n - 40 : 0); i < n; i++) print buf[i] }' "$LOG_FILE")"
  if [[ -n "$since" ]]; then
    err "---- last 40 lines of $LOG_FILE (this start) ----"
    echo "$since" >&2
  fi
}

cmd_fetch() {
  local want
  want="$(pom_hash)"
  if jars_present && [[ -f "$LIB_STAMP" && "$(cat "$LIB_STAMP")" == "$want" ]]; then
    say "jars already in $LIB_DIR (pom unchanged), skipping fetch"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (install Maven 3.8+)"
  say "fetching Kafka jars from Maven Central into $LIB_DIR ..."
  local t0 tmp mvnlog
  t0="$(now_ms)"
  mkdir -p "$STATE_DIR"
  tmp="$(mktemp -d "$STATE_DIR/lib.tmp.XXXXXX")"
  mvnlog="$STATE_DIR/fetch.log"
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvnlog" 2>&1; then
    rm -rf "$tmp"
    err "mvn dependency:copy-dependencies failed; output:"
    tail -n 40 "$mvnlog" >&2
    exit 1
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "no kafka_2.13 jar was fetched"; }
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  rm -f "$mvnlog"
  local n
  n="$(find "$LIB_DIR" -maxdepth 1 -name '*.jar' | wc -l)"
  say "fetched $n jars ($(kafka_version)) in $(secs_between "$t0" "$(now_ms)")s"
}

kafka_version() {
  local j
  j="$(compgen -G "$LIB_DIR/kafka_2.13-*.jar" | head -n1)"
  j="${j##*/kafka_2.13-}"
  echo "Kafka ${j%.jar}"
}

# A Kafka cluster id is a base64url-encoded (no padding) random 128-bit UUID
# (22 chars). Like Uuid.randomUuid(), avoid ids starting with '-'.
new_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* && ${#id} -eq 22 ]] && { echo "$id"; return; }
  done
}

# The listener (and, secured, authentication and authorization) lines of server.properties.
listener_config() {
  if [[ "$SECURITY" == none ]]; then
    cat <<EOF
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  cat <<EOF
# Secured mode: clients (and the broker itself) authenticate with SCRAM-SHA-512 over
# SASL_SSL, with a certificate of the throw-away CA in $CA_CERT. The controller
# listener stays PLAINTEXT on loopback; what arrives there is User:ANONYMOUS, which
# must be a super user for the broker to register with its own controller.
listeners=SASL_SSL://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=SASL_SSL://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
ssl.keystore.type=PEM
ssl.keystore.location=$BROKER_KEYSTORE
ssl.truststore.type=PEM
ssl.truststore.location=$CA_CERT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(user_password admin)";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
}

write_config() {
  mkdir -p "$DATA_DIR"
  local listeners
  listeners="$(listener_config)"
  (
  if [[ "$SECURITY" == scram ]]; then umask 077; fi   # then it holds the admin's password
  cat >"$CONFIG" <<EOF
# Generated by deploy/kafka/local.sh on every start; edits are overwritten.
# Single-node KRaft (combined broker+controller) for development, tests and CI.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
$listeners
log.dirs=$DATA_DIR

# Single replica everywhere (the defaults of 3 can never be met by one broker).
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Small internal topics (defaults: 50 partitions each) so they are created fast.
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3
share.coordinator.state.topic.num.partitions=3

num.partitions=$NUM_PARTITIONS
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# Sized for a 2-core box.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1

# Keep disk use bounded for long-lived dev brokers.
log.retention.hours=24
log.segment.bytes=104857600
EOF
  )
}

# --- secured mode: users and passwords ------------------------------------------------

# The SCRAM users: admin, govhub and those of GOVHUB_KAFKA_USERS ("name:password ..." or
# "name ..."), as 'name:password' lines. Passwords from the environment
# (GOVHUB_KAFKA_ADMIN_PASSWORD, GOVHUB_KAFKA_GOVHUB_PASSWORD, GOVHUB_KAFKA_USERS), else
# the one already in PASSWORDS_FILE, else a new random one.
wanted_users() {
  local entry name pw
  # shellcheck disable=SC2086 # GOVHUB_KAFKA_USERS is a space-separated list
  for entry in "admin:${GOVHUB_KAFKA_ADMIN_PASSWORD:-}" "govhub:${GOVHUB_KAFKA_GOVHUB_PASSWORD:-}" \
               ${GOVHUB_KAFKA_USERS:-}; do
    name="${entry%%:*}"
    pw=""
    [[ "$entry" == *:* ]] && pw="${entry#*:}"
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad user name in GOVHUB_KAFKA_USERS (allowed: A-Z a-z 0-9 . _ -)"
    [[ -z "$pw" || "$pw" =~ ^[A-Za-z0-9._~+-]+$ ]] \
      || die "the password of user $name has characters other than A-Z a-z 0-9 . _ ~ + -"
    [[ -n "$pw" ]] || pw="$(saved_password "$name")"
    [[ -n "$pw" ]] || pw="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    echo "$name:$pw"
  done
}

saved_password() {
  [[ -f "$PASSWORDS_FILE" ]] || return 0
  awk -F: -v n="$1" '$1 == n { sub(/^[^:]*:/, ""); print; exit }' "$PASSWORDS_FILE"
}

user_password() {
  local pw
  pw="$(saved_password "$1")"
  [[ -n "$pw" ]] || die "no password for user $1 in $PASSWORDS_FILE"
  echo "$pw"
}

# --- secured mode: the throw-away CA and the broker's certificate ---------------------

# Makes the CA and the broker's certificate (for IP 127.0.0.1 and DNS localhost) with
# openssl, once: they are kept until 'clean'. Private keys and the keystore are 0600.
write_tls() {
  [[ "$SECURITY" == scram ]] || return 0
  if [[ -s "$CA_CERT" && -s "$BROKER_KEYSTORE" ]]; then
    return 0
  fi
  command -v openssl >/dev/null || die "openssl not found (needed for the secured broker's TLS)"
  mkdir -p "$STATE_DIR"
  local out ext
  ext="$(mktemp "$STATE_DIR/broker.ext.XXXXXX")"
  printf '%s\n' "subjectAltName=IP:$HOST,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" >"$ext"
  if ! out="$(
    # (no 'set -e' here: it does not apply inside an 'if' condition)
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CA_KEY" -out "$CA_CERT" -days 365 \
      -subj "/CN=govhub local Kafka throw-away CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>&1 \
    && openssl req -new -newkey rsa:2048 -nodes -keyout "$BROKER_KEY" -out "$STATE_DIR/broker.csr" \
      -subj "/CN=localhost" 2>&1 \
    && openssl x509 -req -in "$STATE_DIR/broker.csr" -CA "$CA_CERT" -CAkey "$CA_KEY" \
      -set_serial "0x$(openssl rand -hex 8)" -days 365 -extfile "$ext" -out "$BROKER_CERT" 2>&1 \
    && cat "$BROKER_KEY" "$BROKER_CERT" >"$BROKER_KEYSTORE"
  )"; then
    rm -f "$ext" "$STATE_DIR/broker.csr" "$CA_CERT" "$CA_KEY" "$BROKER_CERT" "$BROKER_KEY" "$BROKER_KEYSTORE"
    err "making the CA and the broker's certificate failed:"
    echo "$out" >&2
    exit 1
  fi
  rm -f "$ext" "$STATE_DIR/broker.csr"
  chmod 644 "$CA_CERT" "$BROKER_CERT"
  say "made a throw-away CA ($CA_CERT) and the broker's certificate for $HOST/localhost"
}

# Writes PASSWORDS_FILE and ADMIN_PROPS (0600). The users are created when
# the storage is formatted; once it is, PASSWORDS_FILE is what the broker knows.
write_passwords() {
  [[ "$SECURITY" == scram ]] || return 0
  mkdir -p "$STATE_DIR"
  if [[ ! -f "$DATA_DIR/meta.properties" || ! -s "$PASSWORDS_FILE" ]]; then
    local users
    users="$(wanted_users)"
    (umask 077; echo "$users" >"$PASSWORDS_FILE.tmp")
    mv "$PASSWORDS_FILE.tmp" "$PASSWORDS_FILE"
  fi
  local admin
  admin="$(user_password admin)"
  (
    umask 077
    printf '%s\n' security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 \
      ssl.truststore.type=PEM "ssl.truststore.location=$CA_CERT" \
      "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin\";" \
      >"$ADMIN_PROPS"
  )
}

# The storage tool's '--add-scram' arguments for every user of PASSWORDS_FILE.
scram_format_args() {
  [[ "$SECURITY" == scram ]] || return 0
  local name pw
  while IFS=: read -r name pw; do
    [[ -n "$name" ]] || continue
    printf '%s\n' --add-scram "SCRAM-SHA-512=[name=$name,password=$pw]"
  done <"$PASSWORDS_FILE"
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cid
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cid="$(cat "$CLUSTER_ID_FILE")"
  else
    cid="$(new_cluster_id)"
    echo "$cid" >"$CLUSTER_ID_FILE"
  fi
  say "formatting KRaft storage in $DATA_DIR (cluster id $cid)"
  local out scram=()
  mapfile -t scram < <(scram_format_args)
  if ! out="$("$JAVA" -cp "$LIB_DIR/*" \
        -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$STATE_DIR" \
        -Dgovhub.kafka.log.level=WARN \
        kafka.tools.StorageTool format --cluster-id "$cid" --config "$CONFIG" \
        --ignore-formatted "${scram[@]}" 2>&1)"; then
    err "storage format failed:"
    echo "$out" >&2
    exit 1
  fi
}

cmd_start() {
  local pid
  if pid="$(broker_pid)"; then
    if port_open "$PORT"; then
      say "already running (pid $pid, $HOST:$PORT)"
    else
      say "already starting (pid $pid); run '$0 wait'"
    fi
    return 0
  fi
  if port_open "$PORT"; then
    die "$HOST:$PORT is already in use by another process (set GOVHUB_KAFKA_PORT)"
  fi
  if port_open "$CONTROLLER_PORT"; then
    die "$HOST:$CONTROLLER_PORT is already in use by another process (set GOVHUB_KAFKA_CONTROLLER_PORT)"
  fi
  command -v "$JAVA" >/dev/null || die "java not found (Java 17+ required)"
  cmd_fetch
  write_passwords
  write_tls
  write_config
  format_storage

  now_ms >"$STARTED_FILE"
  : >"$OUT_FILE"
  echo "$START_MARKER $(date -u +%Y-%m-%dT%H:%M:%SZ) ====" >>"$LOG_FILE"
  # shellcheck disable=SC2086 # word splitting of the *_OPTS variables is intended
  setsid nohup "$JAVA" $HEAP_OPTS $JVM_PERF_OPTS $EXTRA_OPTS \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
    -Dkafka.logs.dir="$STATE_DIR" \
    -Dgovhub.kafka.log.level="$LOG_LEVEL" \
    -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG" \
    </dev/null >>"$OUT_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  sleep 0.3
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    err "broker exited immediately"
    show_log_tail
    exit 1
  fi
  say "started $(kafka_version) (pid $pid) on $HOST:$PORT, controller $HOST:$CONTROLLER_PORT, state $STATE_DIR"
  if [[ "$SECURITY" == scram ]]; then
    say "secured (SASL_SSL, SCRAM-SHA-512, ACLs required); users $(cut -d: -f1 "$PASSWORDS_FILE" | paste -sd' '), passwords in $PASSWORDS_FILE"
    say "CA certificate for clients (ssl.ca.location): $CA_CERT"
  fi
}

# Ask the broker for cluster metadata and check that it lists itself.
probe_metadata() {
  # Capture first, then match: with pipefail, 'cmd | grep -q' can fail on SIGPIPE.
  local out="" kcat=""
  # Secured, kcat is not used: Debian's kcat (librdkafka 2.0.2) fails SCRAM-SHA-512
  # against Kafka 4.1 with "invalid credentials" where the Java client succeeds.
  if [[ "$PROBE" != java && "$SECURITY" != scram ]]; then
    kcat="$(command -v kcat || command -v kafkacat || true)"
    [[ -n "$kcat" || "$PROBE" != kcat ]] || die "GOVHUB_KAFKA_PROBE=kcat but kcat is not installed"
  fi
  if [[ -n "$kcat" ]]; then
    out="$("$kcat" -b "$HOST:$PORT" -L -m 3 2>/dev/null)" || return 1
    [[ "$out" == *"broker 1 at $HOST:$PORT"* ]]
  else
    # No kcat: the Kafka admin CLI (one JVM per probe, ~1-2 s). Only probe once the port is open.
    port_open "$PORT" || return 1
    local admin=()
    [[ "$SECURITY" == scram ]] && admin=(--command-config "$ADMIN_PROPS")
    out="$(timeout 20 "$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -cp "$LIB_DIR/*" \
      -Dlog4j2.level=ERROR -Dlog4j2.configurationFile=/nonexistent-log4j2.properties \
      org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$HOST:$PORT" \
      "${admin[@]}" 2>/dev/null)" || return 1
    [[ "$out" == *"$HOST:$PORT (id: 1"* ]]
  fi
}

cmd_wait() {
  local pid deadline t0
  pid="$(broker_pid)" || { err "broker is not running"; show_log_tail; exit 1; }
  t0="$(cat "$STARTED_FILE" 2>/dev/null || now_ms)"
  deadline=$(( $(date +%s) + WAIT_SECS ))
  while :; do
    if probe_metadata; then
      say "ready on $HOST:$PORT ($(secs_between "$t0" "$(now_ms)")s after start)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      err "broker process $pid died while starting"
      show_log_tail
      exit 1
    fi
    if (( $(date +%s) >= deadline )); then
      err "broker not ready after ${WAIT_SECS}s (pid $pid still running)"
      show_log_tail
      exit 1
    fi
    sleep 0.5
  done
}

cmd_stop() {
  local pid i
  if ! pid="$(broker_pid)"; then
    say "not running"
    return 0
  fi
  say "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_SECS * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      say "stopped"
      return 0
    fi
    sleep 0.1
  done
  err "broker did not exit within ${STOP_SECS}s of SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$PID_FILE"
  say "killed"
}

cmd_clean() {
  cmd_stop
  if [[ "${1:-}" == "--all" ]]; then
    rm -rf "$STATE_DIR"
    say "removed $STATE_DIR"
  else
    rm -rf "$DATA_DIR" "$CONFIG" "$CLUSTER_ID_FILE" "$STARTED_FILE" "$OUT_FILE" "$LOG_FILE" "$LOG_FILE".* \
      "$PASSWORDS_FILE" "$ADMIN_PROPS" "$CA_CERT" "$CA_KEY" "$BROKER_CERT" "$BROKER_KEY" "$BROKER_KEYSTORE"
    say "removed broker data and logs in $STATE_DIR (jars kept; 'clean --all' removes them too)"
  fi
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    if port_open "$PORT"; then
      say "running (pid $pid, $HOST:$PORT)"
    else
      say "running (pid $pid), $HOST:$PORT not open yet"
    fi
    return 0
  fi
  say "not running"
  return 1
}

# Runs each 'kafka-acls.sh ...' line of a file (from 'govhub acl') with Kafka's own ACL
# tool (org.apache.kafka.tools.AclCommand), against this broker as the admin: its
# --bootstrap-server and --command-config are replaced by this broker's. Other lines
# that are not blank or '#' comments are refused.
cmd_acl() {
  [[ "$SECURITY" == scram ]] || die "acl needs the secured broker (GOVHUB_KAFKA_SECURITY=scram)"
  local file="${1:-}"
  [[ -n "$file" ]] || die "usage: $0 acl FILE ('-' for stdin)"
  [[ "$file" == - ]] && file=/dev/stdin
  broker_pid >/dev/null || die "broker is not running"
  [[ -s "$ADMIN_PROPS" ]] || die "no $ADMIN_PROPS; start the broker first"
  local line words args i n=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^[A-Za-z0-9\ ._:=/*,@-]+$ ]] || die "refusing a line with shell characters: $line"
    read -ra words <<<"$line"
    [[ "${words[0]}" == kafka-acls.sh || "${words[0]}" == kafka-acls ]] \
      || die "not a kafka-acls.sh command: $line"
    args=(--bootstrap-server "$HOST:$PORT" --command-config "$ADMIN_PROPS")
    for ((i = 1; i < ${#words[@]}; i++)); do
      case "${words[i]}" in
        --bootstrap-server | --command-config) i=$((i + 1)) ;;
        *) args+=("${words[i]}") ;;
      esac
    done
    local out
    if ! out="$("$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -cp "$LIB_DIR/*" \
          -Dlog4j2.level=ERROR -Dlog4j2.configurationFile=/nonexistent-log4j2.properties \
          org.apache.kafka.tools.AclCommand "${args[@]}" 2>&1)"; then
      echo "$out" >&2
      die "kafka-acls failed: $line"
    fi
    n=$((n + 1))
  done <"$file"
  say "applied $n ACL command(s)"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    wait) cmd_wait ;;
    up) cmd_start && cmd_wait ;;
    stop) cmd_stop ;;
    clean) cmd_clean "$@" ;;
    status) cmd_status ;;
    acl) cmd_acl "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
