//! The sink a hub writes to: Kafka when configured, otherwise the embedded log.

use std::time::Duration;

use govhub_core::{OutEvent, Sink, Written};
use govhub_resolve::identity::Entry;
use govhub_resolve::{Commit, StateError, StateStore};
use govhub_stream::{EmbeddedLog, KafkaSink, StreamError, Topics};

use crate::config::HubConfig;
use crate::state_topic::{Agreement, StateTopic, StateTopicError, transactional_id};

/// Either of govhub's sinks, chosen by configuration.
#[derive(Debug)]
pub enum HubSink {
    /// The production sink, and with exactly-once the state topic its writes carry
    /// (once [`HubSink::open_state`] opened it).
    Kafka(KafkaSink, Option<StateTopic>),
    /// Durable files under the data directory.
    Log(EmbeddedLog),
}

impl HubSink {
    /// The sink `config` asks for: Kafka with `[kafka]` (transactional unless
    /// `exactly_once = false`, under the transactional id of the hub writing `topics`),
    /// else the embedded log under `<data_dir>/log`.
    pub fn from_config(config: &HubConfig, topics: &Topics) -> Result<Self, StreamError> {
        Ok(match &config.kafka {
            Some(kafka) => {
                let mut kafka = kafka.clone();
                if kafka.exactly_once {
                    kafka.transactional_id = Some(transactional_id(topics));
                }
                HubSink::Kafka(KafkaSink::new(kafka)?, None)
            }
            None => HubSink::Log(EmbeddedLog::open(&config.data_dir.join("log"))?),
        })
    }

    /// With exactly-once: fences earlier producers of this hub and makes `store` agree
    /// with the state topic ([`StateTopic::open`]); every write then carries its state.
    /// `None` for a sink without transactions.
    pub async fn open_state(
        &mut self,
        topics: &Topics,
        store: &mut StateStore,
    ) -> Result<Option<Agreement>, StateTopicError> {
        let HubSink::Kafka(kafka, state) = self else {
            return Ok(None);
        };
        *state = StateTopic::open(kafka, topics, store).await?;
        Ok(state.as_ref().map(|s| s.agreement))
    }

    /// Numbers `commit` as the state topic's next write and appends its records to
    /// `events`, when the sink has a state topic; otherwise does nothing.
    pub fn attach_state(
        &mut self,
        store: &StateStore,
        commit: &mut Commit,
        events: &mut Vec<OutEvent>,
    ) -> Result<(), StateError> {
        match self {
            HubSink::Kafka(_, Some(state)) => state.attach(store, commit, events),
            _ => Ok(()),
        }
    }

    /// Replaces the identity journal in `store` by `entries`, its compaction; with a
    /// state topic, there first ([`StateTopic::compact_journal`]).
    pub async fn compact_journal(
        &mut self,
        store: &mut StateStore,
        entries: &[Entry],
    ) -> Result<(), StateTopicError> {
        match self {
            HubSink::Kafka(kafka, Some(state)) => {
                state.compact_journal(kafka, store, entries).await
            }
            _ => Ok(store.rewrite_journal(entries)?),
        }
    }

    /// Whether a write is one transaction: all of it is written, or none.
    pub fn is_transactional(&self) -> bool {
        matches!(self, HubSink::Kafka(kafka, _) if kafka.is_transactional())
    }

    /// Makes sure the sink can take `topics`: checks that a broker answers and creates
    /// missing topics. The embedded log needs nothing.
    pub async fn prepare(
        &mut self,
        topics: &[String],
        compacted: &[String],
    ) -> Result<(), StreamError> {
        match self {
            HubSink::Kafka(kafka, _) => {
                kafka.check_reachable(Duration::from_secs(10)).await?;
                kafka.ensure_topics(topics, compacted).await
            }
            HubSink::Log(_) => Ok(()),
        }
    }

    /// Writes `events` and waits until every one is durable. `Ok` holds one entry per
    /// event: `None` when written, `Some(reason)` when the sink refused that event alone
    /// (the broker's size limit, say); `Err` means the write as a whole failed and is to
    /// be retried.
    pub async fn write_each(
        &mut self,
        events: &[OutEvent],
    ) -> Result<Vec<Option<String>>, StreamError> {
        match self {
            HubSink::Kafka(kafka, _) => kafka.write_each(events).await,
            HubSink::Log(log) => {
                tokio::task::block_in_place(|| log.append(events))?;
                Ok(vec![None; events.len()])
            }
        }
    }

    /// A short description for start-up logs.
    pub fn describe(&self) -> String {
        match self {
            HubSink::Kafka(k, _) => format!("{k:?}"),
            HubSink::Log(l) => format!("embedded log at {}", l.dir().display()),
        }
    }
}

impl Sink for HubSink {
    type Error = StreamError;

    async fn write(&mut self, events: Vec<OutEvent>) -> Result<Written, StreamError> {
        match self {
            HubSink::Kafka(kafka, _) => kafka.write(events).await,
            HubSink::Log(log) => log.write(events).await,
        }
    }
}
