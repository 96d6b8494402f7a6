use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use govhub_core::{OutEvent, Sink, Written};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaSinkConfig;
use crate::StreamError;

/// Writes events to Kafka and returns only when the broker has acknowledged all of them.
///
/// The producer is idempotent with `acks=all`, so librdkafka's own retries neither lose
/// nor duplicate a record within a session; across a crash, the deterministic `ce_id`
/// lets consumers drop a replayed record.
pub struct KafkaSink {
    producer: FutureProducer,
    config: KafkaSinkConfig,
    created: HashSet<String>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("bootstrap_servers", &self.config.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// Builds the producer. Connecting happens lazily; see [`KafkaSink::check_reachable`].
    pub fn new(config: KafkaSinkConfig) -> Result<Self, StreamError> {
        let problems = config.problems();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect();
            return Err(StreamError::KafkaConfig(KafkaError::ClientCreation(
                text.join("; "),
            )));
        }
        let producer: FutureProducer = config
            .client_config()
            .create()
            .map_err(StreamError::KafkaConfig)?;
        Ok(KafkaSink {
            producer,
            config,
            created: HashSet::new(),
        })
    }

    /// Asks the cluster for its metadata and fails if no broker answers within `timeout`.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<(), StreamError> {
        self.probe().check_reachable(timeout).await
    }

    /// A handle on this sink's producer for health checks and metrics, usable while the
    /// sink itself is busy writing.
    pub fn probe(&self) -> KafkaProbe {
        KafkaProbe {
            producer: self.producer.clone(),
            servers: self.config.bootstrap_servers.clone(),
        }
    }

    /// Creates those of `topics` that do not exist yet, with the broker's default
    /// partition count and replication factor (when `create_topics` is on); those also
    /// in `compacted` with `cleanup.policy=compact` (the latest value per key is kept).
    pub async fn ensure_topics(
        &mut self,
        topics: &[String],
        compacted: &[String],
    ) -> Result<(), StreamError> {
        let missing: Vec<&String> = topics
            .iter()
            .filter(|t| !self.created.contains(*t))
            .collect();
        if !self.config.create_topics || missing.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self
            .config
            .client_config()
            .create()
            .map_err(StreamError::KafkaConfig)?;
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| {
                let topic = NewTopic::new(t.as_str(), -1, TopicReplication::Fixed(-1));
                if compacted.contains(t) {
                    topic.set("cleanup.policy", "compact")
                } else {
                    topic
                }
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results =
            admin
                .create_topics(&new, &options)
                .await
                .map_err(|e| StreamError::CreateTopic {
                    topic: missing
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    message: e.to_string(),
                })?;
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    self.created.insert(topic);
                }
                Err((topic, code)) => {
                    return Err(StreamError::CreateTopic {
                        topic,
                        message: code.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Records waiting in the producer's queue or in flight to the broker.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

/// Shares a [`KafkaSink`]'s producer: whether a broker answers, and the producer's queue.
#[derive(Clone)]
pub struct KafkaProbe {
    producer: FutureProducer,
    servers: String,
}

impl std::fmt::Debug for KafkaProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProbe")
            .field("bootstrap_servers", &self.servers)
            .finish_non_exhaustive()
    }
}

impl KafkaProbe {
    /// Asks the cluster for its metadata and fails if no broker answers within `timeout`.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<(), StreamError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, timeout).map(|_| ())
        })
        .await
        .unwrap_or_else(|e| Err(KafkaError::ClientCreation(e.to_string())))
        .map_err(|source| StreamError::Unreachable {
            servers: self.servers.clone(),
            source,
        })
    }

    /// Records waiting in the producer's queue or in flight to the broker.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

/// Waits for one delivery report.
async fn settle(topic: String, delivery: DeliveryFuture) -> Result<(), StreamError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((source, _))) => Err(StreamError::Delivery { topic, source }),
        Err(_) => Err(StreamError::Canceled { topic }),
    }
}

impl Sink for KafkaSink {
    type Error = StreamError;

    async fn write(&mut self, events: Vec<OutEvent>) -> Result<Written, StreamError> {
        let count = events.len();
        let mut pending: VecDeque<(String, DeliveryFuture)> = VecDeque::with_capacity(count);
        for event in &events {
            let mut headers = OwnedHeaders::new_with_capacity(event.headers.len());
            for h in &event.headers {
                headers = headers.insert(Header {
                    key: &h.name,
                    value: Some(h.value.as_str()),
                });
            }
            let mut record = FutureRecord::to(&event.topic).headers(headers);
            // An empty value is a tombstone: no payload at all, so compaction drops the key.
            if !event.value.is_empty() {
                record = record.payload(&event.value);
            }
            if let Some(key) = &event.key {
                record = record.key(key.as_str());
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back((event.topic.clone(), delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue is full: the caller's batch waits for the broker
                        // instead of growing memory without bound.
                        record = back;
                        match pending.pop_front() {
                            Some((topic, delivery)) => settle(topic, delivery).await?,
                            None => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    Err((source, _)) => {
                        return Err(StreamError::Delivery {
                            topic: event.topic.clone(),
                            source,
                        });
                    }
                }
            }
        }
        for (topic, delivery) in pending {
            settle(topic, delivery).await?;
        }
        Ok(Written { events: count })
    }
}
