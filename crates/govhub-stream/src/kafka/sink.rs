use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use govhub_core::{OutEvent, Sink, Written};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaSinkConfig;
use super::context::{BrokerState, KafkaContext};
use crate::StreamError;
use crate::error::refuses_record;

/// Writes events to Kafka and returns only when the broker has acknowledged all of them.
///
/// The producer is idempotent with `acks=all`, so librdkafka's own retries neither lose
/// nor duplicate a record within a session; across a crash, the deterministic `ce_id`
/// lets consumers drop a replayed record.
pub struct KafkaSink {
    producer: FutureProducer<KafkaContext>,
    /// The producer's context (a clone sharing its state): broker state and log limits.
    context: KafkaContext,
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
        let context = KafkaContext::new(&config.bootstrap_servers);
        let producer: FutureProducer<KafkaContext> = config
            .client_config()
            .create_with_context(context.clone())
            .map_err(StreamError::KafkaConfig)?;
        Ok(KafkaSink {
            producer,
            context,
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
            context: self.context.clone(),
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
        let missing = missing_topics(topics, &self.created);
        if !self.config.create_topics || missing.is_empty() {
            return Ok(());
        }
        // Connection settings only: the producer's idempotence would make this short-lived
        // client ask the broker for a producer id it never uses.
        let admin: AdminClient<KafkaContext> = self
            .config
            .connection_config()
            .create_with_context(self.context.clone())
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
        self.context.mark_up();
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

    /// Writes `events` and reports each one's fate, in order: `None` when the broker
    /// acknowledged it, `Some(reason)` when the broker or librdkafka refused that record
    /// for what it is (too large, invalid), which no retry changes. `reason` is the
    /// error code and its message, never the record's content.
    ///
    /// Any other failure (timeout, broker down, authorization) fails the whole call; the
    /// caller then retries all of `events`, and records delivered meanwhile arrive twice
    /// with the same `ce_id`. Nothing is kept between calls.
    pub async fn write_each(
        &mut self,
        events: &[OutEvent],
    ) -> Result<Vec<Option<String>>, StreamError> {
        let mut outcomes = self.produce(events, 0..events.len()).await?;
        if events.len() > 1 {
            // The broker refuses a whole batch when one of its records is too large or
            // invalid (or, with per-record errors, fails the others as "a different
            // record"): a refusal does not say which record it is about. Each refused
            // record is sent again alone, so the answer is about that record; they were
            // not stored the first time, so none is duplicated. A resent record lands
            // after later records of its key that were in other batches: the price of
            // not failing the whole call for good because of one record.
            for (index, outcome) in outcomes.iter_mut().enumerate() {
                if let Outcome::Refused { local: false, .. } = outcome {
                    let again = self.produce(events, index..index + 1).await?;
                    if let Some(alone) = again.into_iter().next() {
                        *outcome = alone;
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .zip(events)
            .map(|(outcome, event)| match outcome {
                Outcome::Delivered => Ok(None),
                Outcome::Refused { code, .. } if refuses_record(code) => {
                    Ok(Some(format!("{code:?}: {code}")))
                }
                // A record alone reported as failing for another record's sake.
                Outcome::Refused { code, .. } => Err(StreamError::Delivery {
                    topic: event.topic.clone(),
                    source: KafkaError::MessageProduction(code),
                }),
            })
            .collect()
    }

    /// Sends `events[range]` and waits for every delivery report, keeping the local
    /// queue bounded; `Err` on the first failure that is not a refusal of one record.
    async fn produce(
        &self,
        events: &[OutEvent],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Outcome>, StreamError> {
        let offset = range.start;
        let mut outcomes = vec![Outcome::Delivered; range.len()];
        let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::with_capacity(range.len());
        // librdkafka fails a queued record after `message.timeout.ms`: a queue still full
        // that long with none of ours in it will not drain in time.
        let queue_patience = Duration::from_millis(u64::from(self.config.delivery_timeout_ms));
        for index in range {
            let Some(event) = events.get(index) else {
                continue;
            };
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
            let mut full_since: Option<Instant> = None;
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back((index, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue is full: the caller's batch waits for the broker
                        // instead of growing memory without bound.
                        record = back;
                        match pending.pop_front() {
                            Some((done, delivery)) => {
                                outcomes[done - offset] =
                                    self.settle(&events[done].topic, delivery).await?;
                            }
                            None => {
                                let since = *full_since.get_or_insert_with(Instant::now);
                                if since.elapsed() > queue_patience {
                                    return Err(StreamError::Delivery {
                                        topic: event.topic.clone(),
                                        source: KafkaError::MessageProduction(
                                            RDKafkaErrorCode::QueueFull,
                                        ),
                                    });
                                }
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                    // librdkafka's own check against `message.max.bytes`: about this
                    // record alone, it never reached a batch.
                    Err((KafkaError::MessageProduction(code), _)) if refuses_record(code) => {
                        outcomes[index - offset] = Outcome::Refused { code, local: true };
                        break;
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
        for (index, delivery) in pending {
            outcomes[index - offset] = self.settle(&events[index].topic, delivery).await?;
        }
        Ok(outcomes)
    }

    /// Waits for one delivery report.
    async fn settle(&self, topic: &str, delivery: DeliveryFuture) -> Result<Outcome, StreamError> {
        match delivery.await {
            Ok(Ok(_)) => {
                self.context.mark_up();
                Ok(Outcome::Delivered)
            }
            Ok(Err((source, _))) => match source.rdkafka_error_code() {
                Some(code)
                    if refuses_record(code) || code == RDKafkaErrorCode::InvalidDifferentRecord =>
                {
                    // The broker answered, if only to refuse.
                    self.context.mark_up();
                    Ok(Outcome::Refused { code, local: false })
                }
                _ => Err(StreamError::Delivery {
                    topic: topic.to_owned(),
                    source,
                }),
            },
            Err(_) => Err(StreamError::Canceled {
                topic: topic.to_owned(),
            }),
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The broker acknowledged it.
    Delivered,
    /// Refused with `code`; `local` when librdkafka refused it before it joined a batch.
    Refused { code: RDKafkaErrorCode, local: bool },
}

/// Those of `topics` not in `created`, each once, in their first order: two connectors of
/// one kind name the same topic, and librdkafka fails (or crashes) when one CreateTopics
/// request names a topic twice.
fn missing_topics<'a>(topics: &'a [String], created: &HashSet<String>) -> Vec<&'a String> {
    let mut seen = HashSet::new();
    topics
        .iter()
        .filter(|t| !created.contains(*t) && seen.insert(t.as_str()))
        .collect()
}

/// Shares a [`KafkaSink`]'s producer: whether a broker answers, and the producer's queue.
#[derive(Clone)]
pub struct KafkaProbe {
    producer: FutureProducer<KafkaContext>,
    context: KafkaContext,
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
        })?;
        self.context.mark_up();
        Ok(())
    }

    /// Whether the brokers answer, as the producer last saw it: cheap, no request.
    pub fn broker_state(&self) -> BrokerState {
        self.context.broker_state()
    }

    /// Records waiting in the producer's queue or in flight to the broker.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

impl Sink for KafkaSink {
    type Error = StreamError;

    async fn write(&mut self, events: Vec<OutEvent>) -> Result<Written, StreamError> {
        let outcomes = self.write_each(&events).await?;
        // A `Sink` writes all or nothing: a refused record fails the batch for good.
        if let Some((event, reason)) = events
            .iter()
            .zip(outcomes)
            .find_map(|(event, outcome)| outcome.map(|reason| (event, reason)))
        {
            return Err(StreamError::Rejected {
                topic: event.topic.clone(),
                reason,
            });
        }
        Ok(Written {
            events: events.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_topics_names_each_topic_once_and_skips_created_ones() {
        let topics: Vec<String> = ["a", "b", "a", "c", "b"].map(String::from).to_vec();
        let created = HashSet::from(["c".to_owned()]);
        assert_eq!(missing_topics(&topics, &created), vec!["a", "b"]);
    }
}
