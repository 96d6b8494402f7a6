//! A hub assembled from its config: the standard, the sink, and every connector.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use govhub_connect::{ConnectError, HttpSource};
use govhub_schema::mapping::CompiledMapping;
use govhub_schema::{SchemaError, Standard};
use govhub_stream::{Publisher, StreamError};
use tokio_util::sync::CancellationToken;

use crate::config::{HubConfig, Problem};
use crate::pipeline::{Counts, PipelineError, Stages, sync};
use crate::sink::HubSink;

/// Why a hub could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The standard under `schemas/` does not load.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The config has problems; every one is listed.
    #[error("invalid config:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Config(Vec<Problem>),
    /// A connector could not be built (e.g. an unreadable cursor file).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The sink could not be built or prepared (e.g. no broker reachable).
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// One connector with its source.
#[derive(Debug)]
struct Connector {
    name: String,
    source: HttpSource,
    kind: String,
    mapping: CompiledMapping,
}

/// The standard, the sink and the connectors of one config, ready to sync.
#[derive(Debug)]
pub struct Hub {
    standard: Arc<Standard>,
    publisher: Publisher,
    sink: HubSink,
    connectors: Vec<Connector>,
    poll_interval: Duration,
}

impl Hub {
    /// Validates `config` against `standard`, builds the sink and every connector, and
    /// prepares the sink (broker reachable, topics present).
    pub async fn build(config: &HubConfig, standard: Arc<Standard>) -> Result<Hub, BuildError> {
        let problems = config.problems(&standard);
        if !problems.is_empty() {
            return Err(BuildError::Config(problems));
        }
        let topics = config.topics().map_err(|p| BuildError::Config(vec![p]))?;
        let mut sink = HubSink::from_config(config)?;
        let mut connectors = Vec::new();
        let mut topic_names = vec![topics.dlq()];
        for (name, connector) in &config.connectors {
            if let Some(schema) = standard.latest(&connector.kind) {
                topic_names.push(topics.kind(&schema.topic_suffix()));
            }
            connectors.push(Connector {
                name: name.clone(),
                source: HttpSource::new(name, connector.clone(), &config.data_dir)?,
                kind: connector.kind.clone(),
                mapping: connector.mapping.compile(),
            });
        }
        sink.prepare(&topic_names).await?;
        tracing::info!(sink = %sink.describe(), connectors = connectors.len(), "hub ready");
        Ok(Hub {
            standard,
            publisher: Publisher::new(topics),
            sink,
            connectors,
            poll_interval: config.poll_interval(),
        })
    }

    /// Syncs every connector until it has caught up (or `stop` is set), one after the
    /// other, adding to `counts` per connector. Stops at the first error.
    pub async fn sync_all(
        &mut self,
        counts: &mut BTreeMap<String, Counts>,
        stop: &CancellationToken,
    ) -> Result<(), (String, PipelineError)> {
        for connector in &mut self.connectors {
            let Some(schema) = self.standard.latest(&connector.kind) else {
                continue; // ruled out by config validation in build()
            };
            let stages = Stages {
                mapping: &connector.mapping,
                schema,
                publisher: &self.publisher,
            };
            let entry = counts.entry(connector.name.clone()).or_default();
            sync(
                &connector.name,
                &mut connector.source,
                &mut self.sink,
                stages,
                entry,
                || stop.is_cancelled(),
            )
            .await
            .map_err(|e| (connector.name.clone(), e))?;
        }
        Ok(())
    }

    /// Syncs forever: every connector until caught up, then waits the poll interval.
    /// Retryable errors back off exponentially (1 s up to the poll interval); other errors
    /// end the run. Returns when `stop` is set.
    pub async fn run(
        &mut self,
        stop: &CancellationToken,
    ) -> Result<BTreeMap<String, Counts>, (String, PipelineError)> {
        let mut counts = BTreeMap::new();
        let mut backoff = Duration::from_secs(1);
        while !stop.is_cancelled() {
            let wait = match self.sync_all(&mut counts, stop).await {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    self.poll_interval
                }
                Err((connector, e)) if e.retryable => {
                    tracing::warn!(connector, class = e.class.as_str(), error = %e, retry_in_ms = backoff.as_millis() as u64, "sync failed; will retry");
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.poll_interval.max(Duration::from_secs(1)));
                    wait
                }
                Err(failure) => return Err(failure),
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => {}
            }
        }
        Ok(counts)
    }
}
