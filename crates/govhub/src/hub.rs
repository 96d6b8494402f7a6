//! A hub assembled from its config: the standard, the state store, the sink, and every
//! connector, run by [`crate::runtime`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use govhub_connect::{ConnectError, HttpSource};
use govhub_core::Classified;
use govhub_resolve::identity::{IdentityStats, ResolveError};
use govhub_resolve::{StateError, StateStore};
use govhub_schema::{SchemaError, Standard};
use govhub_stream::{Publisher, StreamError, Topics};
use tokio_util::sync::CancellationToken;

use crate::config::{HubConfig, Problem};
use crate::persons::PersonLookup;
use crate::pipeline::{Counts, PipelineError};
use crate::runtime::resolve::Core;
use crate::runtime::{self, Connector, Finished, Mode, Shared, Timings};
use crate::sink::HubSink;
use crate::state_topic::{Agreement, StateTopicError};
use crate::status::{SinkProbe, Status};
use crate::views::Views;

/// Why a hub could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The standard under `schemas/` does not load.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The config has problems; every one is listed.
    #[error("invalid config:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Config(Vec<Problem>),
    /// A connector could not be built.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The sink could not be built or prepared (e.g. no broker reachable).
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The state store under the data directory could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The state store and the Kafka state topic could not be brought to agree.
    #[error(transparent)]
    StateTopic(Box<StateTopicError>),
    /// The identity state or model could not be loaded.
    #[error(transparent)]
    Identity(#[from] ResolveError),
    /// Another process owns the data directory.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The data directory holds state in the files of an earlier govhub.
    #[error(
        "{0} holds state from an earlier govhub (cursors/, fingerprints/, identity/journal.jsonl); \
         this version keeps cursors, fingerprints and identity decisions in state/, committed together. \
         Move those three away to start afresh: every record is read again, and published again under the same event ids"
    )]
    OldState(String),
}

impl BuildError {
    /// Whether the broker failed the start for a while (unreachable, a request timed
    /// out) rather than for good: starting again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            BuildError::Stream(e) => e.retryable(),
            BuildError::StateTopic(e) => {
                matches!(&**e, StateTopicError::Stream(e) if e.retryable())
            }
            _ => false,
        }
    }
}

impl From<StateTopicError> for BuildError {
    fn from(e: StateTopicError) -> Self {
        BuildError::StateTopic(Box::new(e))
    }
}

/// The parts a run takes and gives back.
#[derive(Debug)]
struct Parts {
    connectors: Vec<Connector>,
    core: Core,
    sink: HubSink,
    store: StateStore,
}

/// The standard, the sink and the connectors of one config, ready to sync.
#[derive(Debug)]
pub struct Hub {
    /// `None` only while a run has them, or after a run ended fatally.
    parts: Option<Parts>,
    shared: Arc<Shared>,
    /// Why an earlier run ended for every connector; the hub does not run again.
    broken: Option<PipelineError>,
    /// With connectors spread over the instances: where a continuous run reads the
    /// pages they pull, instead of running the connectors itself.
    intake: Option<crate::runtime::intake::IntakeFeed>,
    /// Held while the hub lives: no other process writes this data directory's state.
    _lock: crate::lock::DataDirLock,
}

/// How far one connector's sync has got, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The connector.
    pub connector: &'a str,
    /// Records pulled from the source so far (counted as their batch commits).
    pub records: u64,
    /// Whether the connector has caught up: the last report of its sync.
    pub caught_up: bool,
}

/// A callback told about [`Progress`].
pub type ProgressFn = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

impl Hub {
    /// Validates `config` against `standard`, builds the sink and every connector, and
    /// prepares the sink (broker reachable, topics present). `${VAR}` secrets are read
    /// from the process environment.
    pub async fn build(config: &HubConfig, standard: Arc<Standard>) -> Result<Hub, BuildError> {
        Self::build_with_env(config, standard, &|var| std::env::var(var).ok()).await
    }

    /// What [`Hub::build`] checks before it connects to anything or touches the data
    /// directory: the config against `standard`, its `${VAR}` secrets in the process
    /// environment, its topics and views. Every problem is a [`BuildError::Config`]
    /// (exit 2): `govhub run` asks before it joins the other instances, so a
    /// misconfigured instance never takes the active role only to stop.
    pub fn check(config: &HubConfig, standard: &Standard) -> Result<(), BuildError> {
        Self::checked(config, standard, &|var| std::env::var(var).ok()).map(|_| ())
    }

    fn checked(
        config: &HubConfig,
        standard: &Standard,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<(Topics, Views), BuildError> {
        let mut problems = config.problems(standard);
        // Secrets before any connection: an unset variable is a config error (exit 2).
        problems.extend(config.unresolved_secrets(env));
        if !problems.is_empty() {
            return Err(BuildError::Config(problems));
        }
        let topics = config.topics().map_err(|p| BuildError::Config(vec![p]))?;
        let views = Views::build(&config.views, standard, &topics, env).map_err(|found| {
            BuildError::Config(
                found
                    .into_iter()
                    .map(|(path, message)| Problem { path, message })
                    .collect(),
            )
        })?;
        Ok((topics, views))
    }

    /// Like [`Hub::build`], but `${VAR}` secrets are looked up through `env` instead of
    /// the process environment (the demo hands over its simulators' credentials so).
    pub async fn build_with_env(
        config: &HubConfig,
        standard: Arc<Standard>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Hub, BuildError> {
        let (topics, views) = Self::checked(config, &standard, env)?;
        for warning in config.warnings() {
            tracing::warn!(setting = %warning.path, "{}", warning.message);
        }
        let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
        refuse_old_state(&config.data_dir)?;
        let mut store = StateStore::open(&config.data_dir)?;
        let mut sink = HubSink::from_config(config, &topics)?;
        let mut topic_names = vec![topics.dlq(), topics.identity(), topics.person()];
        for connector in config.connectors.values() {
            if let Some(schema) = standard.latest(&connector.kind) {
                topic_names.push(topics.kind(&schema.topic_suffix()));
            }
        }
        topic_names.extend(views.topics());
        // Two connectors of one kind share a topic: ask for it once.
        topic_names.sort();
        topic_names.dedup();
        sink.prepare(&topic_names, &[topics.person()]).await?;
        // Before any cursor is read: with exactly-once, the store may be rebuilt.
        match sink.open_state(&topics, &mut store).await? {
            None => {}
            Some(Agreement::Current(write)) => {
                tracing::info!(state_topic = %topics.state(), write, "exactly-once: the state store is current with the state topic");
            }
            Some(Agreement::CaughtUp { write, records }) => {
                tracing::info!(state_topic = %topics.state(), write, records, "exactly-once: the state store was behind the state topic and caught up with it");
            }
            Some(Agreement::Restored { write, records }) => {
                tracing::warn!(state_topic = %topics.state(), write, records, "exactly-once: the state store was behind the state topic and was rebuilt from it");
            }
            Some(Agreement::Seeded { records }) => {
                tracing::info!(state_topic = %topics.state(), records, "exactly-once: the empty state topic was filled from this data directory");
            }
        }
        let lines = store.sharing_log()?;
        views
            .log()
            .load(lines.iter().map(String::as_str))
            .map_err(|e| StateError {
                path: store.path().display().to_string(),
                message: e.to_string(),
            })?;
        let mut connectors = Vec::new();
        for (name, connector) in &config.connectors {
            let cursor = store.cursor(name)?;
            let source = HttpSource::with_env(name, connector.clone(), cursor, env)?;
            connectors.push(Connector::new(
                name,
                source,
                connector.mapping.compile(),
                standard.clone(),
                &connector.kind,
            ));
        }
        let (core, compaction) = Core::open(
            &store,
            config.connectors.keys().map(String::as_str),
            &config.identity,
        )?;
        if let Some(entries) = compaction {
            let (start, end) = store.journal_bounds()?;
            sink.compact_journal(&mut store, &entries).await?;
            tracing::info!(
                decisions = end - start,
                kept = entries.len(),
                "the identity journal was compacted"
            );
        }
        tracing::info!(sink = %sink.describe(), connectors = connectors.len(), "hub ready");
        let status = status_for(config, &sink, &connectors);
        status.set_identity(core.stats());
        let max_event_bytes = usize::try_from(config.max_event_bytes.get()).unwrap_or(usize::MAX);
        let intake = config
            .kafka
            .as_ref()
            .filter(|k| k.exactly_once && config.cluster.spread_connectors)
            .map(|kafka| crate::runtime::intake::IntakeFeed {
                kafka: kafka.clone(),
                topic: topics.intake(),
            });
        Ok(Hub {
            shared: Arc::new(Shared {
                publisher: Publisher::new(topics),
                status,
                poll_interval: config.poll_interval(),
                max_event_bytes,
                timings: Timings::default(),
                progress: std::sync::Mutex::new(None),
                persons: PersonLookup::default(),
                views,
            }),
            parts: Some(Parts {
                connectors,
                core,
                sink,
                store,
            }),
            broken: None,
            intake,
            _lock: lock,
        })
    }

    /// Syncs every connector until it has caught up (or `stop` is set), all at once,
    /// adding to `counts` per connector. A failing connector does not hold the others
    /// back: they sync to the end, and the first failure is returned afterwards — a
    /// permanent one in preference to a retryable one.
    pub async fn sync_all(
        &mut self,
        counts: &mut BTreeMap<String, Counts>,
        stop: &CancellationToken,
    ) -> Result<(), (String, PipelineError)> {
        self.run_mode(Mode::Once, counts, stop, None).await
    }

    /// [`Hub::sync_all`], telling `progress` after every batch committed and when each
    /// connector has caught up.
    pub async fn sync_all_with_progress(
        &mut self,
        counts: &mut BTreeMap<String, Counts>,
        stop: &CancellationToken,
        progress: ProgressFn,
    ) -> Result<(), (String, PipelineError)> {
        self.run_mode(Mode::Once, counts, stop, Some(progress))
            .await
    }

    /// Syncs until `stop` is set: every connector on its own, again after the poll
    /// interval once caught up, retried with backoff when failing. Only a failure of
    /// the hub itself (its state store) ends the run early.
    pub async fn run(
        &mut self,
        stop: &CancellationToken,
    ) -> Result<BTreeMap<String, Counts>, (String, PipelineError)> {
        let mut counts = BTreeMap::new();
        self.run_mode(Mode::Continuous, &mut counts, stop, None)
            .await
            .map(|()| counts)
    }

    async fn run_mode(
        &mut self,
        mode: Mode,
        counts: &mut BTreeMap<String, Counts>,
        stop: &CancellationToken,
        progress: Option<ProgressFn>,
    ) -> Result<(), (String, PipelineError)> {
        let Some(parts) = self.parts.take() else {
            let e = self.broken.clone().unwrap_or_else(|| PipelineError {
                stage: "hub",
                message: "the hub is not runnable".into(),
                class: govhub_core::ErrorClass::Internal,
                retryable: false,
            });
            return Err((HUB.into(), e));
        };
        *self
            .shared
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = progress;
        let Finished {
            connectors,
            core,
            sink,
            store,
            counts: done,
            failure,
            fatal,
        } = runtime::run(
            parts.connectors,
            parts.core,
            parts.sink,
            parts.store,
            self.shared.clone(),
            mode,
            self.intake.clone().filter(|_| mode == Mode::Continuous),
            stop,
        )
        .await;
        // Every connector that synced has counts, if only zeros; a paused one none.
        for connector in &connectors {
            if !self.shared.status.is_paused(connector.name()) {
                counts.entry(connector.name().to_owned()).or_default();
            }
        }
        for (name, c) in done {
            counts.entry(name).or_default().add(&c);
        }
        if let Some(e) = fatal {
            // The store refused a commit: the in-memory state is ahead of it, so this
            // hub must not run again; a restart resumes from what was committed.
            self.broken = Some(e.clone());
            return Err((HUB.into(), e));
        }
        self.parts = Some(Parts {
            connectors,
            core,
            sink,
            store,
        });
        failure.map_or(Ok(()), Err)
    }

    /// The hub's status, shared with the admin API.
    pub fn status(&self) -> Arc<Status> {
        self.shared.status.clone()
    }

    /// Asks the resolve stage about a person while the hub runs, for the admin API.
    pub fn persons(&self) -> PersonLookup {
        self.shared.persons.clone()
    }

    /// What the data-sharing views have sent, for the admin API.
    pub fn sharing_log(&self) -> Arc<crate::views::SharingLog> {
        self.shared.views.log()
    }

    /// Busy time per stage and record so far, one line (`stages: …`).
    pub fn stage_summary(&self, records: u64) -> String {
        self.shared.timings.summary(records)
    }

    /// What identity resolution has done so far (residents, links, merges, splits).
    pub fn identity_stats(&self) -> IdentityStats {
        self.shared.status.identity()
    }

    /// Persons whose records come from more than one department.
    pub fn unified_across_departments(&self) -> u64 {
        self.parts
            .as_ref()
            .map_or(0, |p| p.core.unified_across_departments())
    }
}

/// The name failures of the hub itself (not of one connector) are reported under.
pub const HUB: &str = "hub";

/// Refuses a data directory whose state is still in the files of an earlier govhub,
/// rather than silently starting from nothing beside them.
fn refuse_old_state(data_dir: &Path) -> Result<(), BuildError> {
    let old = ["cursors", "fingerprints", "identity/journal.jsonl"];
    if old.iter().any(|p| data_dir.join(p).exists()) {
        return Err(BuildError::OldState(data_dir.display().to_string()));
    }
    Ok(())
}

/// The status of a freshly built hub: every connector with its committed cursor.
fn status_for(config: &HubConfig, sink: &HubSink, connectors: &[Connector]) -> Arc<Status> {
    let status = Status::new(&config.data_dir, SinkProbe::of(sink));
    for connector in connectors {
        if let Some(settings) = config.connectors.get(connector.name()) {
            status.register(
                connector.name(),
                &settings.department,
                &settings.kind,
                settings.pagination.clone(),
                connector.committed_cursor().clone(),
            );
        }
    }
    Arc::new(status)
}

#[cfg(test)]
mod tests {
    use govhub_sim::education::EducationSim;

    use super::*;
    use crate::testing::{Registry, registry};

    #[test]
    fn only_the_brokers_passing_trouble_is_transient() {
        let ahead = BuildError::from(StateTopicError::Ahead {
            topic: "govhub.state.v1".into(),
            local: 7,
            remote: "write 5".into(),
        });
        assert!(!ahead.is_transient());
        let old = BuildError::OldState("/var/lib/govhub".into());
        assert!(!old.is_transient());
        let timed_out = StreamError::Canceled {
            topic: "govhub.state.v1".into(),
        };
        assert!(BuildError::from(StateTopicError::Stream(timed_out)).is_transient());
    }

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
