use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use govhub_core::{OutEvent, Sink, Written};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use super::KafkaSinkConfig;
use super::context::{BrokerState, KafkaContext, LOG_TARGET};
use crate::StreamError;
use crate::error::{ends_producer, refuses_record};

/// Writes events to Kafka and returns only when the broker has acknowledged all of them.
///
/// The producer is idempotent with `acks=all`, so librdkafka's own retries neither lose
/// nor duplicate a record within a session; across a crash, the deterministic `ce_id`
/// lets consumers drop a replayed record.
///
/// With a `transactional_id` in its config the sink is transactional: every
/// [`write_each`](KafkaSink::write_each) is one transaction, which read_committed
/// consumers see whole or not at all, and [`init_transactions`](KafkaSink::init_transactions)
/// fences off any older producer with the same id, so two hub instances never both
/// write as one.
pub struct KafkaSink {
    producer: FutureProducer<KafkaContext>,
    /// The producer's context (a clone sharing its state): broker state and log limits.
    context: KafkaContext,
    config: KafkaSinkConfig,
    created: HashSet<String>,
    /// Where the transactions stand between calls; unused without a transactional id.
    txn: TxnState,
    /// A topic whose records all go to one partition ([`KafkaSink::pin`]).
    pinned: Option<(String, i32)>,
}

/// Where a transactional producer stands between two writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnState {
    /// `init_transactions` has not succeeded yet: writing is refused.
    Uninitialized,
    /// No transaction open: the next write begins one.
    Ready,
    /// An abort timed out: the next write finishes it.
    AbortPending,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("bootstrap_servers", &self.config.bootstrap_servers)
            .field("transactional_id", &self.config.transactional_id)
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
            txn: TxnState::Uninitialized,
            pinned: None,
        })
    }

    /// Writes every record for `topic` to its partition `partition`, whatever its key
    /// (a connector's pages to its own partition of the intake topic).
    #[must_use]
    pub fn pin(mut self, topic: &str, partition: i32) -> Self {
        self.pinned = Some((topic.to_owned(), partition));
        self
    }

    /// The sink's settings.
    pub fn config(&self) -> &KafkaSinkConfig {
        &self.config
    }

    /// Whether each write is one transaction (the config has a `transactional_id`).
    pub fn is_transactional(&self) -> bool {
        self.config.transactional_id.is_some()
    }

    /// Registers the transactional id with the cluster's transaction coordinator, waiting
    /// at most `timeout`. This fences off every older producer with the same id (its
    /// next transactional call fails for good) and aborts the transaction it left open,
    /// so what a crashed or replaced instance had half written never becomes visible.
    ///
    /// A transactional sink must call it once before its first write; after success,
    /// later calls do nothing. A non-transactional sink has nothing to initialise. On a
    /// retryable error the call may simply be repeated.
    pub async fn init_transactions(&mut self, timeout: Duration) -> Result<(), StreamError> {
        if !self.is_transactional() || self.txn != TxnState::Uninitialized {
            return Ok(());
        }
        // Blocks until the coordinator answered: not on an async worker thread.
        match self
            .blocking(move |producer| producer.init_transactions(timeout))
            .await
        {
            Ok(()) => {
                self.context.mark_up();
                self.txn = TxnState::Ready;
                Ok(())
            }
            Err(error) => Err(self.txn_failure("init", error)),
        }
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

    /// Makes sure `topic`, one of govhub's own topics (the state topic, the instances'
    /// coordination topic), exists with exactly one partition: one partition keeps
    /// every record of the state topic in the order it was written, which the state
    /// read back at start-up depends on, and gives the election one thing to assign. A missing topic is created compacted
    /// (`cleanup.policy=compact`) when `create_topics` is on; missing with
    /// `create_topics` off, or existing with more than one partition, is an error
    /// naming the topic, for the operator to provision or recreate it.
    pub async fn ensure_single_partition_topic(&mut self, topic: &str) -> Result<(), StreamError> {
        let admin = self.admin()?;
        let (admin, partitions) = self.partition_count(admin, topic).await?;
        if let Some(count) = partitions {
            one_partition(topic, count)?;
            self.created.insert(topic.to_owned());
            return Ok(());
        }
        if !self.config.create_topics {
            return Err(StreamError::StateTopic {
                topic: topic.to_owned(),
                message: "does not exist and create_topics is off: create it with one \
                          partition and cleanup.policy=compact"
                    .to_owned(),
            });
        }
        let new =
            NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let create_failed = |message: String| StreamError::CreateTopic {
            topic: topic.to_owned(),
            message,
        };
        let results = admin
            .create_topics([&new], &options)
            .await
            .map_err(|e| create_failed(e.to_string()))?;
        self.context.mark_up();
        for result in results {
            match result {
                Ok(_) => {}
                // Created meanwhile by another instance, maybe otherwise.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    let (_, partitions) = self.partition_count(admin, topic).await?;
                    one_partition(topic, partitions.unwrap_or(1))?;
                    break;
                }
                Err((_, code)) => return Err(create_failed(code.to_string())),
            }
        }
        self.created.insert(topic.to_owned());
        Ok(())
    }

    /// Makes sure `topic`, one of govhub's own topics with a partition per connector
    /// (the intake and the connectors' coordination topic), exists with at least
    /// `partitions` partitions: created with `settings` when missing (with
    /// `create_topics` on), given more partitions when it has fewer (connectors were
    /// added). Missing with `create_topics` off is an error naming the topic.
    pub async fn ensure_partitioned_topic(
        &mut self,
        topic: &str,
        partitions: usize,
        settings: &[(&str, &str)],
    ) -> Result<(), StreamError> {
        let admin = self.admin()?;
        let (admin, count) = self.partition_count(admin, topic).await?;
        let failed = |message: String| StreamError::CreateTopic {
            topic: topic.to_owned(),
            message,
        };
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let wanted = i32::try_from(partitions.max(1)).map_err(|e| failed(e.to_string()))?;
        match count {
            Some(count) if count >= partitions => {}
            Some(_) => {
                let more = NewPartitions::new(topic, partitions.max(1));
                let results = admin.create_partitions([&more], &options).await;
                // Grown meanwhile by another instance: as good.
                settled(results, RDKafkaErrorCode::InvalidPartitions).map_err(failed)?;
            }
            None if !self.config.create_topics => {
                return Err(failed(format!(
                    "does not exist and create_topics is off: create it with {partitions} partitions"
                )));
            }
            None => {
                let mut new = NewTopic::new(topic, wanted, TopicReplication::Fixed(-1));
                for (name, value) in settings {
                    new = new.set(name, value);
                }
                let results = admin.create_topics([&new], &options).await;
                // Created meanwhile by another instance: as good.
                settled(results, RDKafkaErrorCode::TopicAlreadyExists).map_err(failed)?;
            }
        }
        self.context.mark_up();
        self.created.insert(topic.to_owned());
        Ok(())
    }

    /// An admin client on the connection settings only: the producer's idempotence
    /// would make a short-lived client ask the broker for a producer id it never uses.
    /// Asking it for a topic's metadata never creates the topic.
    fn admin(&self) -> Result<AdminClient<KafkaContext>, StreamError> {
        let mut config = self.config.connection_config();
        config.set("allow.auto.create.topics", "false");
        config
            .create_with_context(self.context.clone())
            .map_err(StreamError::KafkaConfig)
    }

    /// How many partitions `topic` has, `None` if it does not exist; `admin` comes back
    /// for further use.
    async fn partition_count(
        &self,
        admin: AdminClient<KafkaContext>,
        topic: &str,
    ) -> Result<(AdminClient<KafkaContext>, Option<usize>), StreamError> {
        let name = topic.to_owned();
        // A blocking request: not on an async worker thread.
        let (admin, metadata) = tokio::task::spawn_blocking(move || {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&name), Duration::from_secs(30));
            (admin, metadata)
        })
        .await
        .map_err(|e| StreamError::CreateTopic {
            topic: topic.to_owned(),
            message: e.to_string(),
        })?;
        let metadata = metadata.map_err(|source| StreamError::Unreachable {
            servers: self.config.bootstrap_servers.clone(),
            source,
        })?;
        self.context.mark_up();
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok((admin, None));
        };
        match found.error().map(RDKafkaErrorCode::from) {
            None => Ok((admin, Some(found.partitions().len()))),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => Ok((admin, None)),
            // A leader still being elected, say: the partitions listed may not be all.
            Some(code) => Err(StreamError::CreateTopic {
                topic: topic.to_owned(),
                message: format!("cannot read its metadata: {code}"),
            }),
        }
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
    ///
    /// # Transactional sinks
    ///
    /// When [`is_transactional`](KafkaSink::is_transactional), the call is one
    /// transaction and is all or nothing:
    ///
    /// - `Ok` with every outcome `None`: the transaction is committed, every event is
    ///   stored once.
    /// - `Ok` with any `Some(reason)`: **nothing was written** — the transaction was
    ///   aborted, the events marked `None` included. The caller must write the whole
    ///   batch again, with the refused events replaced (by their dead letters). Finding
    ///   which record the broker refused costs one aborted transaction per record of
    ///   the refused broker batch.
    /// - [`StreamError::Fenced`]: another producer with the same transactional id took
    ///   over; nothing of this call is visible, and the sink cannot write again.
    /// - Any other error: the transaction was aborted; the next call begins a new one.
    ///
    /// Writing before [`init_transactions`](KafkaSink::init_transactions) succeeded
    /// fails with [`StreamError::Uninitialized`].
    pub async fn write_each(
        &mut self,
        events: &[OutEvent],
    ) -> Result<Vec<Option<String>>, StreamError> {
        if self.is_transactional() {
            return self.write_transaction(events).await;
        }
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
                Outcome::Refused { code, .. } | Outcome::Dropped { code } => {
                    Err(StreamError::Delivery {
                        topic: event.topic.clone(),
                        source: KafkaError::MessageProduction(code),
                    })
                }
            })
            .collect()
    }

    /// [`KafkaSink::write_each`] of a transactional sink: one transaction, committed when
    /// every record was delivered, aborted otherwise.
    async fn write_transaction(
        &mut self,
        events: &[OutEvent],
    ) -> Result<Vec<Option<String>>, StreamError> {
        match self.txn {
            TxnState::Uninitialized => {
                return Err(StreamError::Uninitialized {
                    transactional_id: self.transactional_id().to_owned(),
                });
            }
            TxnState::AbortPending => self.abort().await?,
            TxnState::Ready => {}
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = self.in_transaction(events, 0..events.len()).await?;
        if outcomes.iter().all(|o| *o == Outcome::Delivered) {
            self.commit().await?;
            return Ok(vec![None; events.len()]);
        }
        // A refusal (or a purge that followed one) failed the transaction: none of the
        // batch may be stored.
        self.abort().await?;
        let mut verdicts = vec![None; events.len()];
        let mut first_failure = None;
        for (index, outcome) in outcomes.into_iter().enumerate() {
            let verdict = match outcome {
                Outcome::Delivered => continue,
                // librdkafka's own size check names the record itself.
                Outcome::Refused { local: true, .. } => outcome,
                // The broker refuses a whole batch for one of its records, and the
                // transaction admits nothing after a refusal: each record is tried alone,
                // in a transaction of its own that is always aborted.
                Outcome::Refused { local: false, .. } => {
                    let alone = self.in_transaction(events, index..index + 1).await?;
                    self.abort().await?;
                    alone.into_iter().next().unwrap_or(Outcome::Delivered)
                }
                // Purged or never sent because the transaction had failed already.
                Outcome::Dropped { code } => {
                    first_failure.get_or_insert((index, code));
                    continue;
                }
            };
            match verdict {
                Outcome::Delivered => {}
                Outcome::Refused { code, .. } if refuses_record(code) => {
                    verdicts[index] = Some(format!("{code:?}: {code}"));
                }
                Outcome::Refused { code, .. } | Outcome::Dropped { code } => {
                    first_failure.get_or_insert((index, code));
                }
            }
        }
        if verdicts.iter().any(Option::is_some) {
            return Ok(verdicts);
        }
        // No record is refused alone: the broker refused them together (a batch above the
        // topic's `max.message.bytes`, which only a producer setting fixes), or the
        // transaction failed for a reason no record carries. Either way nothing is stored.
        let (index, code) = first_failure.unwrap_or((0, RDKafkaErrorCode::Fail));
        Err(StreamError::Delivery {
            topic: events[index].topic.clone(),
            source: KafkaError::MessageProduction(code),
        })
    }

    /// Begins a transaction and sends `events[range]` in it, waiting for every delivery
    /// report; on failure the transaction is aborted (unless the producer was fenced).
    async fn in_transaction(
        &mut self,
        events: &[OutEvent],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Outcome>, StreamError> {
        if let Err(error) = self.producer.begin_transaction() {
            let failure = self.txn_failure("begin", error);
            // Whatever kept the transaction from beginning, an abort leaves none open.
            return Err(self.abandon(failure).await);
        }
        match self.produce(events, range).await {
            Ok(outcomes) => Ok(outcomes),
            Err(error) => Err(self.abandon(error).await),
        }
    }

    /// Commits the open transaction. A commit that timed out is resumed until it has an
    /// outcome — committed, or aborted (by an error that requires it, or by the broker
    /// once the transaction's timeout passed) — never left in doubt: a caller that
    /// wrote the batch again after a commit in doubt would store it twice.
    async fn commit(&mut self) -> Result<(), StreamError> {
        loop {
            // -1: the transaction's remaining time, as librdkafka recommends.
            let result = self
                .blocking(|producer| producer.commit_transaction(Timeout::Never))
                .await;
            let Err(error) = result else {
                self.txn = TxnState::Ready;
                return Ok(());
            };
            let (retriable, requires_abort) = match &error {
                KafkaError::Transaction(e) => (e.is_retriable(), e.txn_requires_abort()),
                _ => (false, false),
            };
            let failure = self.txn_failure("commit", error);
            if matches!(failure, StreamError::Fenced { .. }) {
                return Err(failure);
            }
            if requires_abort {
                return Err(self.abandon(failure).await);
            }
            if retriable {
                tracing::warn!(target: LOG_TARGET, error = %failure, "the transaction's commit timed out; resuming it");
                continue;
            }
            // Neither retriable nor abortable: a new `begin` reveals the state.
            self.txn = TxnState::Ready;
            return Err(failure);
        }
    }

    /// Aborts the open transaction: its records, sent or not, never become visible.
    async fn abort(&mut self) -> Result<(), StreamError> {
        let result = self
            .blocking(|producer| producer.abort_transaction(Timeout::Never))
            .await;
        let Err(error) = result else {
            self.txn = TxnState::Ready;
            return Ok(());
        };
        let retriable = matches!(&error, KafkaError::Transaction(e) if e.is_retriable());
        let failure = self.txn_failure("abort", error);
        if !matches!(failure, StreamError::Fenced { .. }) {
            self.txn = if retriable {
                TxnState::AbortPending
            } else {
                TxnState::Ready
            };
        }
        Err(failure)
    }

    /// After `error` inside a transaction: `Fenced` if the producer was fenced or failed
    /// for good, else `error` once the transaction is aborted (an abort that fails is
    /// logged and, if it may succeed later, retried by the next write).
    async fn abandon(&mut self, error: StreamError) -> StreamError {
        if matches!(error, StreamError::Fenced { .. }) {
            return error;
        }
        if let Some(fenced) = self.fenced() {
            return fenced;
        }
        match self.abort().await {
            Ok(()) => error,
            Err(fenced @ StreamError::Fenced { .. }) => fenced,
            Err(abort) => {
                tracing::warn!(
                    target: LOG_TARGET,
                    servers = self.config.bootstrap_servers.as_str(),
                    "kafka: aborting the transaction after a failed write failed too: {abort}"
                );
                error
            }
        }
    }

    /// `error` of transactional call `step` as a [`StreamError`]: `Fenced` when it, or
    /// the producer's state, is fatal.
    fn txn_failure(&self, step: &'static str, error: KafkaError) -> StreamError {
        if let Some(fenced) = self.fenced() {
            return fenced;
        }
        let fatal = matches!(&error, KafkaError::Transaction(e) if e.is_fatal())
            || error.rdkafka_error_code().is_some_and(ends_producer);
        if fatal {
            return StreamError::Fenced {
                transactional_id: self.transactional_id().to_owned(),
                message: error.to_string(),
            };
        }
        StreamError::Transaction {
            transactional_id: self.transactional_id().to_owned(),
            step,
            source: error,
        }
    }

    /// `Fenced` if librdkafka raised a fatal error: the producer cannot write again.
    fn fenced(&self) -> Option<StreamError> {
        let (code, reason) = self.producer.client().fatal_error()?;
        Some(StreamError::Fenced {
            transactional_id: self.transactional_id().to_owned(),
            message: format!("{code:?}: {reason}"),
        })
    }

    fn transactional_id(&self) -> &str {
        self.config.transactional_id.as_deref().unwrap_or_default()
    }

    /// Runs a blocking producer call on a blocking thread.
    async fn blocking<F>(&self, call: F) -> Result<(), KafkaError>
    where
        F: FnOnce(&FutureProducer<KafkaContext>) -> Result<(), KafkaError> + Send + 'static,
    {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || call(&producer))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
    }

    /// Sends `events[range]` and waits for every delivery report, keeping the local
    /// queue bounded; `Err` on the first failure that is not a refusal of one record.
    async fn produce(
        &self,
        events: &[OutEvent],
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Outcome>, StreamError> {
        let offset = range.start;
        let end = range.end;
        let mut outcomes = vec![Outcome::Delivered; range.len()];
        let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::with_capacity(range.len());
        // librdkafka fails a queued record after `message.timeout.ms`: a queue still full
        // that long with none of ours in it will not drain in time.
        let queue_patience =
            Duration::from_millis(u64::from(self.config.effective_delivery_timeout_ms()));
        'events: for index in range {
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
            if let Some((topic, partition)) = &self.pinned
                && *topic == event.topic
            {
                record = record.partition(*partition);
            }
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
                    // The transaction failed meanwhile (a refusal whose report is among
                    // those awaited below): it admits no more records.
                    Err((KafkaError::MessageProduction(code @ RDKafkaErrorCode::State), _))
                        if self.is_transactional() =>
                    {
                        for rest in index..end {
                            outcomes[rest - offset] = Outcome::Dropped { code };
                        }
                        break 'events;
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
                // A failed transaction purges the records not yet stored: what failed it
                // is another record's report.
                Some(code @ (RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight))
                    if self.is_transactional() =>
                {
                    Ok(Outcome::Dropped { code })
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
    /// Transactional only: not stored because the transaction had already failed
    /// (purged from the queue, or refused by a transaction that admits no more).
    Dropped { code: RDKafkaErrorCode },
}

/// `Ok` if the state topic `topic` has one partition (`count`), else why it may not.
/// The outcome of an admin request about one topic: `Ok` when it was done, or refused
/// with `already` (someone else did it first); otherwise why not.
fn settled(
    results: rdkafka::error::KafkaResult<Vec<rdkafka::admin::TopicResult>>,
    already: RDKafkaErrorCode,
) -> Result<(), String> {
    for result in results.map_err(|e| e.to_string())? {
        match result {
            Ok(_) => {}
            Err((_, code)) if code == already => {}
            Err((_, code)) => return Err(code.to_string()),
        }
    }
    Ok(())
}

fn one_partition(topic: &str, count: usize) -> Result<(), StreamError> {
    if count == 1 {
        return Ok(());
    }
    Err(StreamError::StateTopic {
        topic: topic.to_owned(),
        message: format!(
            "has {count} partitions, but govhub's state topic must have exactly one so that \
             its records keep their order; recreate it with one partition"
        ),
    })
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
