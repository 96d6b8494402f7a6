//! The sink a hub writes to: Kafka when configured, otherwise the embedded log.

use std::time::Duration;

use govhub_core::{OutEvent, Sink, Written};
use govhub_stream::{EmbeddedLog, KafkaSink, StreamError};

use crate::config::HubConfig;

/// Either of govhub's sinks, chosen by configuration.
#[derive(Debug)]
pub enum HubSink {
    /// The production sink.
    Kafka(KafkaSink),
    /// Durable files under the data directory.
    Log(EmbeddedLog),
}

impl HubSink {
    /// The sink `config` asks for: Kafka with `[kafka]`, else the embedded log under
    /// `<data_dir>/log`.
    pub fn from_config(config: &HubConfig) -> Result<Self, StreamError> {
        Ok(match &config.kafka {
            Some(kafka) => HubSink::Kafka(KafkaSink::new(kafka.clone())?),
            None => HubSink::Log(EmbeddedLog::open(&config.data_dir.join("log"))?),
        })
    }

    /// Makes sure the sink can take `topics`: checks that a broker answers and creates
    /// missing topics. The embedded log needs nothing.
    pub async fn prepare(
        &mut self,
        topics: &[String],
        compacted: &[String],
    ) -> Result<(), StreamError> {
        match self {
            HubSink::Kafka(kafka) => {
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
            HubSink::Kafka(kafka) => kafka.write_each(events).await,
            HubSink::Log(log) => {
                tokio::task::block_in_place(|| log.append(events))?;
                Ok(vec![None; events.len()])
            }
        }
    }

    /// A short description for start-up logs.
    pub fn describe(&self) -> String {
        match self {
            HubSink::Kafka(k) => format!("{k:?}"),
            HubSink::Log(l) => format!("embedded log at {}", l.dir().display()),
        }
    }
}

impl Sink for HubSink {
    type Error = StreamError;

    async fn write(&mut self, events: Vec<OutEvent>) -> Result<Written, StreamError> {
        match self {
            HubSink::Kafka(kafka) => kafka.write(events).await,
            HubSink::Log(log) => log.write(events).await,
        }
    }
}
