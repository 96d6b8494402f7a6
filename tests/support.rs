//! Shared helpers of govhub's end-to-end tests: the broker they run against, per-test
//! topic prefixes, and reading topics back with rdkafka and with kcat.

pub mod instances;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use govhub_stream::{KafkaSinkConfig, LogEntry};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Where the tests expect a broker: `GOVHUB_TEST_KAFKA`, default `127.0.0.1:9092`.
pub fn broker() -> String {
    std::env::var("GOVHUB_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Fails the test, saying how to start a broker, unless one answers at [`broker`].
pub fn require_broker() -> String {
    let servers = broker();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a Kafka client for {servers}: {e}"));
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "no Kafka broker reachable at {servers} ({e}). These tests need a real broker: \
             start one with `./deploy/kafka/local.sh up`, or run `./deploy/test.sh`, which \
             starts it when needed. Set GOVHUB_TEST_KAFKA to use another broker."
        );
    }
    servers
}

/// A topic prefix no other test run uses, e.g. `t3f2a9c1d.govhub.`.
pub fn random_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}.govhub.", &id[..10])
}

/// Every message of `topic`, from the beginning to each partition's high watermark as
/// it is when called: exactly what the topic holds, so a duplicate would show. Read
/// with govhub's own reader; [`read_topic_with_kcat`] is the independent check.
pub fn read_topic(servers: &str, topic: &str) -> Vec<LogEntry> {
    govhub_stream::kafka::read_topic(
        &KafkaSinkConfig::new(servers),
        topic,
        &BTreeMap::new(),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("reading {topic}: {e}"))
}

/// The same messages read by kcat, an independent client (Debian package `kcat`), as a
/// downstream consumer reads them (`isolation.level=read_committed`: nothing of an
/// aborted transaction): `(key, ce_id header, value)` per message, in partition and
/// offset order.
pub fn read_topic_with_kcat(
    servers: &str,
    topic: &str,
) -> Vec<(String, String, serde_json::Value)> {
    // %k key, %h headers (k=v,k=v), %s value; one record per line, separated by tabs.
    let output = Command::new("kcat")
        .args(["-b", servers, "-C", "-t", topic, "-e", "-q", "-u"])
        .args(["-X", "isolation.level=read_committed"])
        .args(["-f", "%p\t%o\t%k\t%h\t%s\n"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kcat ({e}); install it with `apt-get install kcat`")
        });
    assert!(
        output.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("kcat output is UTF-8");
    let mut rows: Vec<(i64, i64, String, String, serde_json::Value)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, '\t').collect();
            assert_eq!(fields.len(), 5, "unexpected kcat line: {line}");
            let ce_id = fields[3]
                .split(',')
                .find_map(|kv| kv.strip_prefix("ce_id="))
                .unwrap_or_default()
                .to_owned();
            (
                fields[0].parse().expect("partition"),
                fields[1].parse().expect("offset"),
                fields[2].to_owned(),
                ce_id,
                // A tombstone (a person merged away) has no value.
                if fields[4].is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_str(fields[4]).expect("value is JSON")
                },
            )
        })
        .collect();
    rows.sort_by_key(|r| (r.0, r.1));
    rows.into_iter()
        .map(|(_, _, k, id, v)| (k, id, v))
        .collect()
}

/// Every topic on the broker whose name starts with `prefix`.
pub fn topics_with_prefix(servers: &str, prefix: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a Kafka client for {servers}: {e}"));
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("listing the topics of {servers}: {e}"));
    let mut topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|name| name.starts_with(prefix))
        .collect();
    topics.sort();
    topics
}

/// The `govhub` binary of the build the calling test belongs to: a test runs from
/// `<target>/<profile>/deps/`, and cargo puts the binary in `<target>/<profile>/`.
/// Fails the test, saying how to build it, when it is not there.
pub fn govhub_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let bin = profile_dir.join("govhub");
    assert!(
        bin.is_file(),
        "no govhub binary at {}: run this test through `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

/// What a downstream consumer (kcat, `read_committed`) reads on each topic of `prefix`
/// but govhub's own state and intake topics: the events, how many of them repeat an event id read
/// before, and how many carry no event id.
pub fn events_read(servers: &str, prefix: &str) -> BTreeMap<String, EventsRead> {
    let mut out = BTreeMap::new();
    for topic in topics_with_prefix(servers, prefix) {
        if topic.ends_with("state.v1") || topic.ends_with("intake.v1") {
            continue;
        }
        let rows = read_topic_with_kcat(servers, &topic);
        let mut ids: Vec<&str> = rows.iter().map(|(_, id, _)| id.as_str()).collect();
        let without_id = ids.iter().filter(|id| id.is_empty()).count();
        ids.sort_unstable();
        let events = ids.len();
        ids.dedup();
        out.insert(
            topic,
            EventsRead {
                events,
                read_twice: events - ids.len(),
                without_id,
            },
        );
    }
    out
}

/// One topic's line of [`events_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsRead {
    /// Events read.
    pub events: usize,
    /// Events whose id was read before.
    pub read_twice: usize,
    /// Events without a `ce_id`.
    pub without_id: usize,
}
