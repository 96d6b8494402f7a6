//! Connectors spread over the instances of a hub, through the intake topic:
//!
//! ```text
//! instance 1: connector ─┐ one transaction per page:    ┌─ active instance:
//! instance 2: connector ─┼▶ records + cursor, on the ───┼▶ map, validate, resolve,
//! instance 3: connector ─┘ connector's own partition    │  publish; the offsets read
//!                                                       └─ commit with the events
//! ```
//!
//! Each connector writes its pages as pulled to its partition of `<prefix>intake.v1`,
//! each page in one transaction of the connector's own transactional id
//! (`<prefix>hub-intake-<connector>`): the instance that takes a connector over fences
//! the one that ran it before, and resumes from the cursor of the last page committed.
//! The active instance reads the topic read_committed and treats each page as a batch
//! of its own connectors'; the offset after it commits in the state topic, in the
//! transaction of the events made of it. A page is therefore pulled once, resolved
//! once and published once, whichever instance dies when.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use govhub_core::{Batch, OutEvent, SourceRecord};
use govhub_resolve::StateStore;
use govhub_stream::kafka::{IntakeMessage, IntakeReader, read_partition_last};
use govhub_stream::{KafkaSink, KafkaSinkConfig, StreamError, Topics};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Connector, PreparedBatch, Shared, Work};
use crate::pipeline::PipelineError;

/// A page is written as records of at most about this many bytes of JSON (the broker
/// refuses records over its `message.max.bytes`, 1 MB by default).
const CHUNK_BYTES: usize = 256 * 1024;
/// The longest wait between retries of a refused intake write.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// How long an instance waits for the broker when it takes a connector over.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the intake topic when govhub creates it: compacted by connector once a
/// week old, so the last page of each connector (its cursor) is kept for ever and what
/// the active instance has read long ago goes.
pub(crate) const TOPIC_SETTINGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("min.compaction.lag.ms", "604800000"),
];

/// The state store's key of the next offset to read in intake partition `partition`.
pub(crate) fn position_key(partition: i32) -> String {
    format!("intake:{partition}")
}

/// Where the active instance reads the intake topic from: the offsets its state has
/// committed, per partition.
pub(crate) fn positions(
    store: &StateStore,
    partitions: i32,
) -> Result<BTreeMap<i32, i64>, govhub_resolve::StateError> {
    let mut from = BTreeMap::new();
    for partition in 0..partitions {
        if let Some(next) = store
            .cursor(&position_key(partition))?
            .and_then(|v| v.as_i64())
        {
            from.insert(partition, next);
        }
    }
    Ok(from)
}

/// One record of the intake topic: records of a page, and on the page's last record the
/// source's cursor after it.
#[derive(Debug, Serialize, Deserialize)]
struct Chunk {
    #[serde(default)]
    cursor: Option<Value>,
    records: Vec<SourceRecord>,
}

/// The records `chunks` of `records`, each of at most [`CHUNK_BYTES`] (or one record),
/// the last carrying `cursor`; a page without records is one chunk with the cursor.
fn chunks(records: &[SourceRecord], cursor: &Value) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    let mut encoded = Vec::new();
    let mut current: Vec<&SourceRecord> = Vec::new();
    let mut size = 0;
    let mut out = Vec::new();
    for record in records {
        encoded.clear();
        serde_json::to_writer(&mut encoded, record)?;
        if !current.is_empty() && size + encoded.len() > CHUNK_BYTES {
            out.push(serde_json::to_vec(&ChunkRef {
                cursor: None,
                records: &current,
            })?);
            current.clear();
            size = 0;
        }
        size += encoded.len();
        current.push(record);
    }
    out.push(serde_json::to_vec(&ChunkRef {
        cursor: Some(cursor),
        records: &current,
    })?);
    Ok(out)
}

/// [`Chunk`] as written, borrowing the page's records.
#[derive(Serialize)]
struct ChunkRef<'a> {
    cursor: Option<&'a Value>,
    records: &'a [&'a SourceRecord],
}

/// A connector's writer of its pages to its partition of the intake topic.
#[derive(Debug)]
pub(crate) struct IntakeWriter {
    sink: KafkaSink,
    topic: String,
    connector: Arc<str>,
    fenced: bool,
}

impl IntakeWriter {
    /// Takes connector `connector` (partition `partition`) over: fences the instance
    /// that ran it before and reads the cursor of its last page committed (`None`: it
    /// never wrote one).
    pub(crate) async fn open(
        kafka: &KafkaSinkConfig,
        topics: &Topics,
        partition: i32,
        connector: &str,
    ) -> Result<(IntakeWriter, Option<Value>), StreamError> {
        let mut config = kafka.clone();
        config.transactional_id = Some(format!(
            "{}-intake-{connector}",
            crate::state_topic::transactional_id(topics)
        ));
        let topic = topics.intake();
        let mut sink = KafkaSink::new(config)?.pin(&topic, partition);
        // After this, nothing the instance before may still write can commit: the last
        // committed page is the last page.
        sink.init_transactions(OPEN_TIMEOUT).await?;
        let (kafka, read) = (kafka.clone(), topic.clone());
        let last = tokio::task::spawn_blocking(move || {
            read_partition_last(&kafka, &read, partition, OPEN_TIMEOUT)
        })
        .await
        .map_err(|_| StreamError::Canceled {
            topic: topic.clone(),
        })??;
        let cursor = match last {
            None => None,
            Some(entry) if entry.key.as_deref() == Some(connector) => {
                entry.value.get("cursor").cloned().filter(|c| !c.is_null())
            }
            Some(_) => {
                tracing::warn!(
                    connector,
                    partition,
                    "the intake partition of this connector ends with another connector's page (the connectors were renamed or reordered): it starts from its configured start"
                );
                None
            }
        };
        let writer = IntakeWriter {
            sink,
            topic,
            connector: connector.into(),
            fenced: false,
        };
        Ok((writer, cursor))
    }

    /// Whether another instance has taken the connector over.
    pub(crate) fn is_fenced(&self) -> bool {
        self.fenced
    }

    /// Writes `batch`, a page and its cursor, in one transaction, trying again with
    /// growing waits while the broker fails it. `false` when it cannot be written: the
    /// connector was taken over (fenced), the broker refuses the page for what it is,
    /// or `stop` came first; the next owner of the connector reads the page again.
    pub(crate) async fn write(&mut self, batch: &Batch, stop: &CancellationToken) -> bool {
        let values = match chunks(&batch.records, &batch.cursor) {
            Ok(values) => values,
            Err(e) => {
                tracing::error!(connector = %self.connector, error = %e, "a page could not be encoded for the intake topic");
                return false;
            }
        };
        let events: Vec<OutEvent> = values
            .into_iter()
            .map(|value| OutEvent {
                topic: self.topic.clone(),
                key: Some(self.connector.to_string()),
                headers: Vec::new(),
                value,
            })
            .collect();
        let mut wait = Duration::from_millis(500);
        loop {
            match self.sink.write_each(&events).await {
                Ok(refused) => match refused.into_iter().flatten().next() {
                    None => return true,
                    Some(reason) => {
                        tracing::error!(connector = %self.connector, reason = %reason, "the broker refused a page for the intake topic; the connector stops here until it is restarted");
                        return false;
                    }
                },
                Err(e @ StreamError::Fenced { .. }) => {
                    tracing::info!(connector = %self.connector, error = %e, "another instance runs this connector now");
                    self.fenced = true;
                    return false;
                }
                Err(e) => {
                    tracing::warn!(connector = %self.connector, error = %e, retry_in_ms = wait.as_millis() as u64, "writing a page to the intake topic failed; retrying it");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => return false,
                    }
                    wait = (wait * 2).min(MAX_RETRY_WAIT);
                }
            }
        }
    }
}

/// Where the active instance reads pages from: the intake topic of the hub's Kafka.
#[derive(Debug, Clone)]
pub(crate) struct IntakeFeed {
    pub kafka: KafkaSinkConfig,
    pub topic: String,
}

/// The active instance's read of the intake topic: each page, mapped and validated
/// with its connector's stages, to the resolve stage, with the offset after it, until
/// `stop` or `halt`. `connectors` are the hub's (in partition order); they come back.
pub(super) async fn read(
    connectors: Vec<Connector>,
    feed: IntakeFeed,
    from: BTreeMap<i32, i64>,
    shared: &Shared,
    tx: mpsc::Sender<Work>,
    stop: &CancellationToken,
    halt: &CancellationToken,
) -> (Vec<Connector>, Result<(), PipelineError>) {
    let partitions = i32::try_from(connectors.len()).unwrap_or(i32::MAX);
    let (reader, mut rx) = match IntakeReader::start(&feed.kafka, &feed.topic, partitions, &from) {
        Ok(started) => started,
        Err(e) => return (connectors, Err(PipelineError::from("intake", &e))),
    };
    tracing::info!(topic = %feed.topic, partitions, "reading the pages of the connectors on every instance");
    loop {
        let message = tokio::select! {
            message = rx.recv() => message,
            () = stop.cancelled() => None,
            () = halt.cancelled() => None,
        };
        let Some(message) = message else { break };
        let batch = match page(&connectors, message, shared) {
            Ok(batch) => batch,
            Err(e) => {
                drop_reader(reader).await;
                return (connectors, Err(e));
            }
        };
        if tx.send(Work::Batch(batch)).await.is_err() {
            break;
        }
    }
    drop_reader(reader).await;
    (connectors, Ok(()))
}

/// Stops the reading thread, off the async workers (it joins the thread).
async fn drop_reader(reader: IntakeReader) {
    tokio::task::spawn_blocking(move || drop(reader)).await.ok();
}

/// The batch of intake record `message`: its records prepared by the connector of its
/// partition, and the offset after it. A record that is not a page of that connector is
/// an error: the hub does not guess what it holds.
fn page(
    connectors: &[Connector],
    message: IntakeMessage,
    shared: &Shared,
) -> Result<PreparedBatch, PipelineError> {
    let broken = |message: String| PipelineError {
        stage: "intake",
        message,
        class: govhub_core::ErrorClass::Internal,
        retryable: false,
    };
    let at = format!("partition {} offset {}", message.partition, message.offset);
    let connector = usize::try_from(message.partition)
        .ok()
        .and_then(|index| connectors.get(index))
        .ok_or_else(|| broken(format!("intake {at}: no connector has this partition")))?;
    if message.key.as_deref() != Some(connector.name()) {
        return Err(broken(format!(
            "intake {at}: a page of {:?}, where {:?} writes (the connectors were renamed or reordered while pages waited: run the instances with the same config, and let the active one read every page before changing it)",
            message.key.unwrap_or_default(),
            connector.name()
        )));
    }
    let chunk: Chunk = serde_json::from_slice(&message.value)
        .map_err(|e| broken(format!("intake {at}: not a page: {e}")))?;
    let mut batch = connector.prepare(chunk.records, chunk.cursor, shared)?;
    batch.intake = Some((message.partition, message.offset + 1));
    Ok(batch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn record(n: usize, bytes: usize) -> SourceRecord {
        SourceRecord {
            connector: "health".into(),
            department: "health".into(),
            kind: "health.encounter".into(),
            source_record_id: format!("ENC{n:04}"),
            payload: json!({"note": "x".repeat(bytes)}),
            fetched_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_page_is_cut_into_chunks_and_only_the_last_carries_the_cursor() {
        let records: Vec<SourceRecord> = (0..10).map(|n| record(n, 100 * 1024)).collect();
        let cursor = json!({"page": 7});
        let chunks = chunks(&records, &cursor).unwrap();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        let mut read = Vec::new();
        for (index, bytes) in chunks.iter().enumerate() {
            assert!(bytes.len() <= CHUNK_BYTES + 1024, "{} bytes", bytes.len());
            let chunk: Chunk = serde_json::from_slice(bytes).unwrap();
            let last = index == chunks.len() - 1;
            assert_eq!(chunk.cursor.is_some(), last);
            read.extend(chunk.records);
        }
        assert_eq!(read, records);
        let empty = super::chunks(&[], &cursor).unwrap();
        let chunk: Chunk = serde_json::from_slice(&empty[0]).unwrap();
        assert_eq!((chunk.records.len(), chunk.cursor), (0, Some(cursor)));
    }

    #[test]
    fn a_record_larger_than_a_chunk_goes_alone() {
        let records = vec![record(1, 10), record(2, CHUNK_BYTES + 1), record(3, 10)];
        let chunks = chunks(&records, &json!(null)).unwrap();
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|b| serde_json::from_slice::<Chunk>(b).unwrap().records.len())
            .collect();
        assert_eq!(sizes, [1, 1, 1]);
    }
}
