//! A hub assembled from its config: the standard, the sink, and every connector.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use govhub_connect::{ConnectError, HttpSource};
use govhub_core::{OutEvent, Sink, Written};
use govhub_resolve::identity::{IdentityStats, ResolveError, Resolver};
use govhub_resolve::{Fingerprints, FingerprintsError};
use govhub_schema::mapping::CompiledMapping;
use govhub_schema::{SchemaError, Standard};
use govhub_stream::{Publisher, StreamError};
use tokio_util::sync::CancellationToken;

use crate::config::{HubConfig, Problem};
use crate::pipeline::{Counts, PipelineError, Stages, sync};
use crate::sink::HubSink;
use crate::status::{Backfill, SinkProbe, Status};

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
    /// The dedup state under the data directory could not be opened.
    #[error(transparent)]
    Dedup(#[from] FingerprintsError),
    /// The identity state or model could not be loaded.
    #[error(transparent)]
    Identity(#[from] ResolveError),
    /// Another process owns the data directory.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

/// One connector with its source.
#[derive(Debug)]
struct Connector {
    name: String,
    source: HttpSource,
    kind: String,
    mapping: CompiledMapping,
    fingerprints: Fingerprints,
}

/// The standard, the sink and the connectors of one config, ready to sync.
#[derive(Debug)]
pub struct Hub {
    standard: Arc<Standard>,
    publisher: Publisher,
    sink: HubSink,
    connectors: Vec<Connector>,
    poll_interval: Duration,
    status: Arc<Status>,
    /// One resolver for every connector: a resident is one person across departments.
    resolver: Mutex<Resolver>,
    /// Held while the hub lives: no other process writes this data directory's state.
    _lock: crate::lock::DataDirLock,
}

impl Hub {
    /// Validates `config` against `standard`, builds the sink and every connector, and
    /// prepares the sink (broker reachable, topics present). `${VAR}` secrets are read
    /// from the process environment.
    pub async fn build(config: &HubConfig, standard: Arc<Standard>) -> Result<Hub, BuildError> {
        Self::build_with_env(config, standard, &|var| std::env::var(var).ok()).await
    }

    /// Like [`Hub::build`], but `${VAR}` secrets are looked up through `env` instead of
    /// the process environment (the demo hands over its simulators' credentials so).
    pub async fn build_with_env(
        config: &HubConfig,
        standard: Arc<Standard>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Hub, BuildError> {
        let problems = config.problems(&standard);
        if !problems.is_empty() {
            return Err(BuildError::Config(problems));
        }
        for warning in config.warnings() {
            tracing::warn!(setting = %warning.path, "{}", warning.message);
        }
        let topics = config.topics().map_err(|p| BuildError::Config(vec![p]))?;
        let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
        let mut sink = HubSink::from_config(config)?;
        let mut connectors = Vec::new();
        let mut topic_names = vec![topics.dlq()];
        for (name, connector) in &config.connectors {
            if let Some(schema) = standard.latest(&connector.kind) {
                topic_names.push(topics.kind(&schema.topic_suffix()));
            }
            connectors.push(Connector {
                name: name.clone(),
                source: HttpSource::with_env(name, connector.clone(), &config.data_dir, env)?,
                kind: connector.kind.clone(),
                mapping: connector.mapping.compile(),
                fingerprints: Fingerprints::open(&config.data_dir.join("fingerprints"), name)?,
            });
        }
        topic_names.push(topics.identity());
        topic_names.push(topics.person());
        sink.prepare(&topic_names, &[topics.person()]).await?;
        let resolver = Resolver::open(&config.data_dir.join("identity"), &config.identity)?;
        tracing::info!(sink = %sink.describe(), connectors = connectors.len(), "hub ready");
        Ok(Hub {
            standard,
            publisher: Publisher::new(topics),
            status: status_for(config, &sink, &connectors),
            sink,
            connectors,
            poll_interval: config.poll_interval(),
            resolver: Mutex::new(resolver),
            _lock: lock,
        })
    }

    /// Syncs every connector until it has caught up (or `stop` is set), one after the
    /// other, adding to `counts` per connector. A failing connector does not hold the
    /// others back: they still sync, and the first failure is returned afterwards — a
    /// permanent one in preference to a retryable one.
    pub async fn sync_all(
        &mut self,
        counts: &mut BTreeMap<String, Counts>,
        stop: &CancellationToken,
    ) -> Result<(), (String, PipelineError)> {
        self.sync_all_with_progress(counts, stop, &|_| {}).await
    }

    /// [`Hub::sync_all`], telling `progress` after every batch written and when each
    /// connector has caught up.
    pub async fn sync_all_with_progress(
        &mut self,
        counts: &mut BTreeMap<String, Counts>,
        stop: &CancellationToken,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<(), (String, PipelineError)> {
        let mut failure: Option<(String, PipelineError)> = None;
        for connector in &mut self.connectors {
            let status = &self.status;
            if status.is_paused(&connector.name) {
                continue;
            }
            if let Some(backfill) = status.take_backfill(&connector.name)
                && let Err(e) = apply_backfill(connector, backfill, status.data_dir()).await
            {
                record_failure(status, connector, &e, &mut failure);
                continue;
            }
            let Some(schema) = self.standard.latest(&connector.kind) else {
                continue; // ruled out by config validation in build()
            };
            let stages = Stages {
                mapping: &connector.mapping,
                schema,
                publisher: &self.publisher,
                fingerprints: None,
                resolver: Some(&self.resolver),
            };
            let entry = counts.entry(connector.name.clone()).or_default();
            let mut sink = Reporting {
                sink: &mut self.sink,
                connector: &connector.name,
                records: 0,
                progress,
            };
            status.sync_started(&connector.name);
            // Pausing takes effect between batches, like a stop.
            let stopped = || stop.is_cancelled() || status.is_paused(&connector.name);
            let result = crate::status::scope(
                status.clone(),
                sync(
                    &connector.name,
                    &mut connector.source,
                    &mut sink,
                    stages,
                    &mut connector.fingerprints,
                    entry,
                    stopped,
                ),
            )
            .await;
            status.set_identity(
                self.resolver
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .stats(),
            );
            match result {
                Ok(()) => {
                    let caught_up = !stopped();
                    let (cursor, circuit) = (
                        connector.source.committed_cursor(),
                        connector.source.circuit_state(),
                    );
                    status.sync_finished(&connector.name, Ok(caught_up), cursor, circuit);
                    progress(Progress {
                        connector: &connector.name,
                        records: sink.records,
                        caught_up,
                    });
                }
                Err(e) => record_failure(status, connector, &e, &mut failure),
            }
        }
        failure.map_or(Ok(()), Err)
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
                // An operator resumed a connector or asked for a backfill: now, not
                // after the poll interval.
                () = self.status.woken() => {}
            }
        }
        Ok(counts)
    }
}

impl Hub {
    /// The hub's status, shared with the admin API.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// What identity resolution has done so far (residents, links, merges, splits).
    pub fn identity_stats(&self) -> IdentityStats {
        self.resolver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats()
    }

    /// Persons whose records come from more than one department.
    pub fn unified_across_departments(&self) -> u64 {
        self.resolver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unified_across_departments()
    }
}

/// The status of a freshly built hub: every connector with its committed cursor.
fn status_for(config: &HubConfig, sink: &HubSink, connectors: &[Connector]) -> Arc<Status> {
    let status = Status::new(&config.data_dir, SinkProbe::of(sink));
    for connector in connectors {
        if let Some(settings) = config.connectors.get(&connector.name) {
            status.register(
                &connector.name,
                &settings.department,
                &connector.kind,
                settings.pagination.clone(),
                connector.source.committed_cursor().clone(),
            );
        }
    }
    Arc::new(status)
}

/// Notes a failed connector sync in the status, the metrics and the log, and keeps it
/// as the round's failure if it is the first, or the first permanent one.
fn record_failure(
    status: &Status,
    connector: &Connector,
    e: &PipelineError,
    failure: &mut Option<(String, PipelineError)>,
) {
    tracing::warn!(connector = %connector.name, class = e.class.as_str(), error = %e, "connector sync failed; continuing with the others");
    crate::admin::metrics::connector_error(&connector.name, e.stage);
    status.sync_finished(
        &connector.name,
        Err(e),
        connector.source.committed_cursor(),
        connector.source.circuit_state(),
    );
    let replace = failure
        .as_ref()
        .is_none_or(|(_, first)| first.retryable && !e.retryable);
    if replace {
        *failure = Some((connector.name.clone(), e.clone()));
    }
}

/// Applies a backfill asked for through the admin API: moves the committed cursor back
/// and, to republish, forgets what the connector published. The next sync re-reads.
async fn apply_backfill(
    connector: &mut Connector,
    backfill: Backfill,
    data_dir: &Path,
) -> Result<(), PipelineError> {
    let failed = |message: String| PipelineError {
        stage: "backfill",
        message,
        class: govhub_core::ErrorClass::Internal,
        retryable: false,
    };
    connector
        .source
        .reset(backfill.cursor)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if backfill.republish {
        let dir = data_dir.join("fingerprints");
        let file = dir.join(format!("{}.fp", connector.name));
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(failed(format!("removing {}: {e}", file.display())));
            }
            _ => {}
        }
        connector.fingerprints =
            Fingerprints::open(&dir, &connector.name).map_err(|e| failed(e.to_string()))?;
    }
    tracing::info!(connector = %connector.name, republish = backfill.republish, "backfill applied; re-reading");
    Ok(())
}

/// How far one connector's sync has got, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The connector.
    pub connector: &'a str,
    /// Records written to the sink (events and dead letters) by this sync so far.
    pub records: u64,
    /// Whether the connector has caught up: the last report of its sync.
    pub caught_up: bool,
}

/// The hub's sink, reporting every written batch to a progress callback.
struct Reporting<'a, K> {
    sink: &'a mut K,
    connector: &'a str,
    records: u64,
    progress: &'a (dyn Fn(Progress<'_>) + Sync),
}

impl<K: Sink + Send> Sink for Reporting<'_, K> {
    type Error = K::Error;

    async fn write(&mut self, events: Vec<OutEvent>) -> Result<Written, K::Error> {
        let written = self.sink.write(events).await?;
        self.records += written.events as u64;
        (self.progress)(Progress {
            connector: self.connector,
            records: self.records,
            caught_up: false,
        });
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use govhub_sim::education::EducationSim;

    use super::*;
    use crate::testing::{Registry, registry};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_connector_does_not_hold_the_others_back() {
        let sim = EducationSim {
            seed: 4,
            students: 40,
            invalid_every: 0,
        };
        let Registry {
            server,
            dir: _dir,
            mut config,
        } = registry(&sim).await;
        let healthy = config.connectors["education"].clone();
        let mut broken = healthy.clone();
        broken.url = server.url("/no/such/endpoint");
        broken.reliability.max_retries = 0;
        // Alphabetical order: the broken one is synced first.
        config.connectors.insert("a_broken".into(), broken);
        config.connectors.insert("education".into(), healthy);
        let standard = Arc::new(Standard::embedded().unwrap());
        let mut hub = Hub::build(&config, standard).await.unwrap();
        let mut counts = BTreeMap::new();
        let (name, err) = hub
            .sync_all(&mut counts, &CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(name, "a_broken");
        assert!(err.message.contains("HTTP 404"), "{err}");
        assert_eq!(counts["education"].published, 40);
    }
}
