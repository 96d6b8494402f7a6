//! Shared helpers of govhub's end-to-end tests: the broker they run against, per-test
//! topic prefixes, and reading topics back with rdkafka and with kcat.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

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

/// One message as read back from Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Key as text.
    pub key: Option<String>,
    /// Headers as text, in order.
    pub headers: Vec<(String, String)>,
    /// Value parsed as JSON.
    pub value: serde_json::Value,
}

impl Received {
    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every message of `topic`, from the beginning to the high watermark of each partition
/// as it is when called: exactly what the topic holds, so a duplicate would show.
pub fn read_topic(servers: &str, topic: &str) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", format!("govhub-test-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut assignment = TopicPartitionList::new();
    let mut high = BTreeMap::new();
    for &p in &partitions {
        let (_, hi) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        high.insert(p, hi);
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let mut next: BTreeMap<i32, i64> = partitions.iter().map(|p| (*p, 0)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while next.iter().any(|(p, n)| *n < high[p]) {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume");
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                        (h.key.to_owned(), value.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        next.insert(message.partition(), message.offset() + 1);
        out.push(Received {
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers,
            value: serde_json::from_slice(message.payload().unwrap_or_default())
                .expect("every govhub value is JSON"),
        });
    }
    out
}

/// The same messages read by kcat, an independent client (Debian package `kcat`):
/// `(key, ce_id header, value)` per message, in partition and offset order.
pub fn read_topic_with_kcat(
    servers: &str,
    topic: &str,
) -> Vec<(String, String, serde_json::Value)> {
    // %k key, %h headers (k=v,k=v), %s value; one record per line, separated by tabs.
    let output = Command::new("kcat")
        .args(["-b", servers, "-C", "-t", topic, "-e", "-q", "-u"])
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
                serde_json::from_str(fields[4]).expect("value is JSON"),
            )
        })
        .collect();
    rows.sort_by_key(|r| (r.0, r.1));
    rows.into_iter()
        .map(|(_, _, k, id, v)| (k, id, v))
        .collect()
}
