//! Reading a topic back for operator commands: as it is at the time of the call, and
//! only what read_committed consumers see.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaSinkConfig;
use super::context::KafkaContext;
use crate::{LogEntry, StreamError};

/// Reads a whole topic as it is now: every partition from `from` (next offset per
/// partition, default the beginning) up to its high watermark at the time of the call.
///
/// The reader is read_committed: it sees only records of committed transactions (and
/// every record of a producer that is not transactional), and stops at a transaction
/// still open. Offsets of aborted records and of transaction markers are skipped, so
/// entries' offsets may have gaps.
///
/// For operator commands (`dlq`, `tail`), not for the hot path: it blocks, so callers
/// run it on a blocking thread.
pub fn read_topic(
    config: &KafkaSinkConfig,
    topic: &str,
    from: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> Result<Vec<LogEntry>, StreamError> {
    let deadline = Instant::now() + timeout;
    let mut entries = Vec::new();
    read_range(
        config,
        topic,
        deadline,
        |partition, low, _| from.get(&partition).copied().unwrap_or(low),
        &mut |message| entries.push(log_entry(message)),
    )?;
    entries.sort_by_key(|e| (e.partition, e.offset));
    Ok(entries)
}

/// [`read_topic`], handing each record's key and value, as written (no value: a
/// tombstone), to `each` as it is read (in offset order within each partition) instead
/// of collecting entries: for topics too long to hold in memory at once, such as the
/// state topic, whose values are not parsed on the way. Returns, per partition read,
/// the offset the read ended at (the next one to read).
pub fn read_topic_each(
    config: &KafkaSinkConfig,
    topic: &str,
    from: &BTreeMap<i32, i64>,
    timeout: Duration,
    each: &mut RawRecordFn<'_>,
) -> Result<BTreeMap<i32, i64>, StreamError> {
    let deadline = Instant::now() + timeout;
    let starts = read_range(
        config,
        topic,
        deadline,
        |partition, low, _| from.get(&partition).copied().unwrap_or(low),
        &mut |message| each(message.key(), message.payload()),
    )?;
    Ok(starts
        .into_iter()
        .map(|(p, (_, _, end))| (p, end))
        .collect())
}

/// Reads the last `last` records of every partition of `topic`, read_committed, as
/// [`read_topic`] does.
///
/// `last` counts records, not offsets: the end of a transactionally written partition
/// is a commit marker, which takes an offset but is never read. The read starts at
/// `max(low, high - last)` and, where that yields fewer than `last` records (markers,
/// aborted records), starts again further back, up to the beginning.
pub fn read_topic_tail(
    config: &KafkaSinkConfig,
    topic: &str,
    last: i64,
    timeout: Duration,
) -> Result<Vec<LogEntry>, StreamError> {
    let deadline = Instant::now() + timeout;
    let last = last.max(0);
    let mut window = last;
    loop {
        let mut entries = Vec::new();
        let starts = read_range(
            config,
            topic,
            deadline,
            |_, _, high| high.saturating_sub(window),
            &mut |message| entries.push(log_entry(message)),
        )?;
        let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
        for entry in &entries {
            *counts.entry(entry.partition).or_default() += 1;
        }
        let short = starts
            .iter()
            .any(|(p, (low, start, _))| start > low && counts.get(p).copied().unwrap_or(0) < last);
        if !short || last == 0 {
            return Ok(keep_last(entries, last));
        }
        window = window.saturating_mul(2);
    }
}

/// The last record of partition `partition` of `topic`, read_committed, `None` when it
/// has none: the read starts a few offsets before the end and, where that yields no
/// record (markers, aborted records), further back, up to the beginning.
pub fn read_partition_last(
    config: &KafkaSinkConfig,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<Option<LogEntry>, StreamError> {
    let deadline = Instant::now() + timeout;
    let mut window = 4i64;
    loop {
        let mut last = None;
        let starts = read_range(
            config,
            topic,
            deadline,
            |p, _, high| {
                if p == partition {
                    high.saturating_sub(window)
                } else {
                    high
                }
            },
            &mut |message| {
                if message.partition() == partition {
                    last = Some(log_entry(message));
                }
            },
        )?;
        let searched_all = starts
            .get(&partition)
            .is_none_or(|(low, start, _)| start <= low);
        if last.is_some() || searched_all {
            return Ok(last);
        }
        window = window.saturating_mul(4);
    }
}

/// The last `last` of each partition's `entries`, sorted by partition and offset.
fn keep_last(entries: Vec<LogEntry>, last: i64) -> Vec<LogEntry> {
    let last = usize::try_from(last).unwrap_or(usize::MAX);
    let mut by_partition: BTreeMap<i32, Vec<LogEntry>> = BTreeMap::new();
    for entry in entries {
        by_partition.entry(entry.partition).or_default().push(entry);
    }
    by_partition
        .into_values()
        .flat_map(|mut entries| {
            let skip = entries.len().saturating_sub(last);
            entries.drain(..skip);
            entries
        })
        .collect()
}

/// Reads every partition of `topic`, read_committed, from `start(partition, low, high)`
/// (raised to the low watermark) to the end as it is at the time of the call, handing
/// each record to `each` (in offset order within a partition), failing after
/// `deadline`. Returns where the read of each partition started and ended.
fn read_range(
    config: &KafkaSinkConfig,
    topic: &str,
    deadline: Instant,
    start: impl Fn(i32, i64, i64) -> i64,
    each: &mut dyn FnMut(&BorrowedMessage<'_>),
) -> Result<Starts, StreamError> {
    let unreachable = |source: KafkaError| StreamError::Unreachable {
        servers: config.bootstrap_servers.clone(),
        source,
    };
    let consumer: BaseConsumer<KafkaContext> = committed_reader(config)
        // Reaching the end is reported: the last offsets below the high watermark may be
        // transaction markers or aborted records, which are never delivered.
        .set("enable.partition.eof", "true")
        .create_with_context(KafkaContext::new(&config.bootstrap_servers))
        .map_err(StreamError::KafkaConfig)?;
    let timeout = deadline.saturating_duration_since(Instant::now());
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
    let mut starts = BTreeMap::new();
    for &partition in &partitions {
        let (low, hi) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(unreachable)?;
        let start = start(partition, low, hi).max(low);
        starts.insert(partition, (low, start, start));
        if start < hi {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(start))
                .map_err(unreachable)?;
            high.insert(partition, hi);
            next.insert(partition, start);
        }
    }
    if high.is_empty() {
        return Ok(starts);
    }
    consumer.assign(&assignment).map_err(unreachable)?;
    while next.iter().any(|(p, n)| *n < high[p]) {
        if Instant::now() > deadline {
            return Err(unreachable(KafkaError::ClientCreation(format!(
                "timed out reading {topic}"
            ))));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            // Nothing more to read in that partition now: whatever lies between here and
            // the high watermark taken above is a marker, aborted, or in a transaction
            // still open.
            Err(KafkaError::PartitionEOF(partition)) => {
                if let Some(&hi) = high.get(&partition) {
                    next.insert(partition, hi);
                }
                continue;
            }
            // The broker went away for a moment (restarted, a leader moved): librdkafka
            // reconnects and fetches on; the deadline bounds the wait.
            Err(e) if is_transient(&e) => continue,
            Err(e) => return Err(unreachable(e)),
        };
        next.insert(message.partition(), message.offset() + 1);
        if message.offset() >= high.get(&message.partition()).copied().unwrap_or(0) {
            continue;
        }
        if let Some((_, _, end)) = starts.get_mut(&message.partition()) {
            *end = message.offset() + 1;
        }
        each(&message);
    }
    Ok(starts)
}

/// The settings of govhub's own readers: its reader group (`govhub-reader`, never
/// committed to: positions are the caller's), and only records of committed
/// transactions, so a read ends at the last stable offset.
pub(super) fn committed_reader(config: &KafkaSinkConfig) -> rdkafka::ClientConfig {
    let mut client = config.connection_config();
    client
        .set("group.id", "govhub-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed");
    client
}

/// What [`read_topic_each`] hands each record to: its key and its value, as written.
pub type RawRecordFn<'a> = dyn FnMut(Option<&[u8]>, Option<&[u8]>) + 'a;

/// A record as an entry: headers and key as text, the value parsed as JSON (a value
/// that is not JSON as a string, a tombstone as null).
fn log_entry(message: &BorrowedMessage<'_>) -> LogEntry {
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
    LogEntry {
        partition: message.partition(),
        offset: u64::try_from(message.offset()).unwrap_or_default(),
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        headers,
        value: match message.payload() {
            None => serde_json::Value::Null,
            Some(payload) => serde_json::from_slice(payload).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(payload).into_owned())
            }),
        },
    }
}

/// Per partition read: its low watermark, the offset the read started at, and the one
/// after the last record it delivered (where a later read goes on: what lies beyond is
/// a marker, aborted, or of a transaction still open, which may commit later).
type Starts = BTreeMap<i32, (i64, i64, i64)>;

/// Consumer errors that librdkafka recovers from by itself.
pub(super) fn is_transient(error: &KafkaError) -> bool {
    error.rdkafka_error_code().is_some_and(|code| {
        matches!(
            code,
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
        )
    })
}
