use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaSinkConfig;
use super::context::KafkaContext;
use crate::{LogEntry, StreamError};

/// Reads a whole topic as it is now: every partition from `from` (next offset per
/// partition, default the beginning) up to its high watermark at the time of the call.
///
/// For operator commands (`dlq`, `tail`), not for the hot path: it blocks, so callers
/// run it on a blocking thread.
pub fn read_topic(
    config: &KafkaSinkConfig,
    topic: &str,
    from: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> Result<Vec<LogEntry>, StreamError> {
    let unreachable = |source: KafkaError| StreamError::Unreachable {
        servers: config.bootstrap_servers.clone(),
        source,
    };
    let mut client = config.connection_config();
    let consumer: BaseConsumer<KafkaContext> = client
        .set("group.id", "govhub-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create_with_context(KafkaContext::new(&config.bootstrap_servers))
        .map_err(StreamError::KafkaConfig)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(unreachable)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut high = BTreeMap::new();
    let mut next = BTreeMap::new();
    for &partition in &partitions {
        let (low, hi) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(unreachable)?;
        let start = from.get(&partition).copied().unwrap_or(low).max(low);
        if start < hi {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(start))
                .map_err(unreachable)?;
            high.insert(partition, hi);
            next.insert(partition, start);
        }
    }
    if high.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment).map_err(unreachable)?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while next.iter().any(|(p, n)| *n < high[p]) {
        if Instant::now() > deadline {
            return Err(unreachable(KafkaError::ClientCreation(format!(
                "timed out reading {topic}"
            ))));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.map_err(unreachable)?;
        next.insert(message.partition(), message.offset() + 1);
        if message.offset() >= high.get(&message.partition()).copied().unwrap_or(0) {
            continue;
        }
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
        out.push(LogEntry {
            partition: message.partition(),
            offset: u64::try_from(message.offset()).unwrap_or_default(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers,
            // A tombstone (no payload) reads as null.
            value: if message.payload().is_none() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(payload).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(payload).into_owned())
                })
            },
        });
    }
    out.sort_by_key(|e| (e.partition, e.offset));
    Ok(out)
}
