//! The active instance's read of the intake topic, when connectors are spread over the
//! instances of a hub: every partition (one per connector), read_committed, from the
//! offsets its state says it has resolved, for as long as it runs. The consumer polls
//! on a thread of its own and hands each record over a bounded channel, so a slow
//! resolve stage holds the reading back instead of filling memory.
//!
//! No consumer group takes part: the partitions are assigned by hand and the offsets
//! resolved are committed with the hub's own state, in the transaction of the events
//! made of them, never to the group coordinator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::KafkaSinkConfig;
use super::context::KafkaContext;
use crate::StreamError;

/// Records read ahead of the resolve stage, at most.
const READ_AHEAD: usize = 16;

/// One record of the intake topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeMessage {
    /// Its partition (its connector's).
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key: the connector that wrote it.
    pub key: Option<String>,
    /// Its value, as written.
    pub value: Vec<u8>,
}

/// The reading thread; stops when dropped.
pub struct IntakeReader {
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for IntakeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeReader").finish_non_exhaustive()
    }
}

impl IntakeReader {
    /// Reads partitions `0..partitions` of `topic`, each from its offset in `from` (the
    /// beginning when absent), until dropped. The broker going away and coming back is
    /// waited out; librdkafka's other reports are logged (once each in a row).
    pub fn start(
        config: &KafkaSinkConfig,
        topic: &str,
        partitions: i32,
        from: &BTreeMap<i32, i64>,
    ) -> Result<(IntakeReader, mpsc::Receiver<IntakeMessage>), StreamError> {
        let unreachable = |source: KafkaError| StreamError::Unreachable {
            servers: config.bootstrap_servers.clone(),
            source,
        };
        // Only pages whose transaction committed: a connector killed mid-write leaves
        // nothing half-read.
        let consumer: BaseConsumer<KafkaContext> = super::read::committed_reader(config)
            .set("allow.auto.create.topics", "false")
            .create_with_context(KafkaContext::new(&config.bootstrap_servers))
            .map_err(StreamError::KafkaConfig)?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            let offset = from
                .get(&partition)
                .map_or(Offset::Beginning, |&next| Offset::Offset(next));
            assignment
                .add_partition_offset(topic, partition, offset)
                .map_err(unreachable)?;
        }
        consumer.assign(&assignment).map_err(unreachable)?;
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let topic = topic.to_owned();
        let poller = std::thread::Builder::new()
            .name("govhub-intake".into())
            .spawn(move || {
                let mut last_error = None;
                while !stopping.load(Ordering::Relaxed) {
                    let message = match consumer.poll(Duration::from_millis(200)) {
                        None => continue,
                        Some(Ok(message)) => IntakeMessage {
                            partition: message.partition(),
                            offset: message.offset(),
                            key: message
                                .key()
                                .map(|k| String::from_utf8_lossy(k).into_owned()),
                            value: message.payload().unwrap_or_default().to_vec(),
                        },
                        // The broker went away for a moment: librdkafka reconnects.
                        Some(Err(e)) if super::read::is_transient(&e) => continue,
                        // Consumer errors are librdkafka's reports; it fetches on.
                        Some(Err(e)) => {
                            if last_error.as_ref() != Some(&e) {
                                tracing::warn!(topic = %topic, error = %e, "reading the intake topic");
                                last_error = Some(e);
                            }
                            continue;
                        }
                    };
                    if tx.blocking_send(message).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| StreamError::KafkaConfig(KafkaError::ClientCreation(e.to_string())))?;
        Ok((
            IntakeReader {
                stop,
                poller: Some(poller),
            },
            rx,
        ))
    }
}

impl Drop for IntakeReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}
