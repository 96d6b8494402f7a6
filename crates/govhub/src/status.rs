//! What the hub is doing, shared between the hub, which writes it after every batch and
//! every connector sync, and the admin API, which reads it and asks for pause, resume
//! and backfill.
//!
//! Everything here lives in memory for the life of the process: counts start at zero
//! at start-up, as Prometheus counters do.

mod sink_probe;
mod throughput;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use govhub_connect::{CircuitState, PaginationConfig};
use serde_json::Value;
use tokio::sync::Notify;

pub use self::sink_probe::SinkProbe;
use self::sink_probe::writable;
use self::throughput::Throughput;
pub use self::throughput::{BUCKET_SECS, BUCKETS};
pub use self::view::{
    Bucket, ConnectorState, ConnectorView, CountsView, IdentityStats, LastError, Overview,
};
use crate::pipeline::{Counts, PipelineError};

/// Rejection reasons listed per connector.
pub const TOP_REASONS: usize = 5;

/// A backfill asked for through the API, applied by the hub at its next round.
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    /// The cursor to restart from; `None`: the beginning.
    pub cursor: Option<Value>,
    /// Forget what was published, so unchanged records go out again.
    pub republish: bool,
}

/// Why a request about a connector was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No connector of that name.
    #[error("no connector {0:?}")]
    Unknown(String),
    /// The request does not fit the connector (e.g. `since` without `updated_since`).
    #[error("{0}")]
    Invalid(String),
}

/// What the hub knows about itself; shared as `Arc<Status>`.
///
/// `lag_seconds` (and the `govhub_cursor_lag_seconds` gauge) is the age of the newest
/// committed record: now minus the time govhub fetched the newest record of the last
/// batch the sink acknowledged. It grows while nothing new arrives, so it is "how old
/// is the freshest data downstream has from this connector", not a delay inside the
/// department's system.
#[derive(Debug)]
pub struct Status {
    connectors: Mutex<BTreeMap<String, Entry>>,
    identity: Mutex<IdentityStats>,
    wake: Notify,
    data_dir: PathBuf,
    sink: SinkProbe,
    shutting_down: AtomicBool,
    /// Why the sink refuses writes right now (the broker is down, say); `None` while it
    /// takes them. Connectors with work in flight wait for it.
    sink_waiting: Mutex<Option<String>>,
}

#[derive(Debug)]
struct Entry {
    department: String,
    kind: String,
    pagination: PaginationConfig,
    cursor: Value,
    running: bool,
    failing: bool,
    paused: bool,
    circuit_open_until: Option<Instant>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<LastError>,
    counts: Counts,
    newest_committed: Option<DateTime<Utc>>,
    throughput: Throughput,
    backfill: Option<Backfill>,
}

impl Status {
    /// Status of a hub keeping its state under `data_dir` and writing to the sink
    /// `sink` probes; no connectors yet.
    pub fn new(data_dir: &Path, sink: SinkProbe) -> Self {
        Status {
            connectors: Mutex::new(BTreeMap::new()),
            identity: Mutex::new(IdentityStats::default()),
            wake: Notify::new(),
            data_dir: data_dir.to_owned(),
            sink,
            shutting_down: AtomicBool::new(false),
            sink_waiting: Mutex::new(None),
        }
    }

    /// Adds a connector with its committed cursor.
    pub fn register(
        &self,
        name: &str,
        department: &str,
        kind: &str,
        pagination: PaginationConfig,
        cursor: Value,
    ) {
        crate::admin::metrics::register_connector(name);
        self.lock().insert(
            name.to_owned(),
            Entry {
                department: department.to_owned(),
                kind: kind.to_owned(),
                pagination,
                cursor,
                running: false,
                failing: false,
                paused: false,
                circuit_open_until: None,
                last_success: None,
                last_error: None,
                counts: Counts::default(),
                newest_committed: None,
                throughput: Throughput::default(),
                backfill: None,
            },
        );
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // The data stays consistent field by field; a panic elsewhere must not take
        // the admin API down with it.
        self.connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every connector and identity resolution, as of now.
    pub fn overview(&self) -> Overview {
        let now = Utc::now();
        let waiting = self.sink_waiting().is_some();
        let connectors = self
            .lock()
            .iter()
            .map(|(name, e)| e.view(name, now, Instant::now(), waiting))
            .collect();
        Overview {
            connectors,
            identity: self.identity(),
        }
    }

    /// One connector as of now.
    pub fn connector(&self, name: &str) -> Result<ConnectorView, RequestError> {
        let waiting = self.sink_waiting().is_some();
        self.lock()
            .get(name)
            .map(|e| e.view(name, Utc::now(), Instant::now(), waiting))
            .ok_or_else(|| RequestError::Unknown(name.to_owned()))
    }

    fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut Entry) -> Result<(), RequestError>,
    ) -> Result<ConnectorView, RequestError> {
        let waiting = self.sink_waiting().is_some();
        let mut connectors = self.lock();
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| RequestError::Unknown(name.to_owned()))?;
        change(entry)?;
        Ok(entry.view(name, Utc::now(), Instant::now(), waiting))
    }

    /// Pauses a connector: the hub skips it from its next batch on.
    pub fn pause(&self, name: &str) -> Result<ConnectorView, RequestError> {
        let view = self.update(name, |e| {
            e.paused = true;
            Ok(())
        })?;
        tracing::info!(connector = name, "connector paused");
        Ok(view)
    }

    /// Resumes a paused connector and wakes the hub to sync it now.
    pub fn resume(&self, name: &str) -> Result<ConnectorView, RequestError> {
        let view = self.update(name, |e| {
            e.paused = false;
            Ok(())
        })?;
        tracing::info!(connector = name, "connector resumed");
        self.wake.notify_waiters();
        Ok(view)
    }

    /// Asks the hub to re-read a connector's history from the beginning, or with
    /// `since` from that time (updated_since connectors only), and wakes it. Like
    /// `govhub backfill`: with `republish`, unchanged records are published again.
    pub fn request_backfill(
        &self,
        name: &str,
        since: Option<&str>,
        republish: bool,
    ) -> Result<ConnectorView, RequestError> {
        let view = self.update(name, |e| {
            let cursor = since
                .map(|t| e.pagination.since(t))
                .transpose()
                .map_err(RequestError::Invalid)?;
            e.backfill = Some(Backfill { cursor, republish });
            Ok(())
        })?;
        tracing::info!(
            connector = name,
            since = since.unwrap_or("the beginning"),
            republish,
            "backfill requested"
        );
        self.wake.notify_waiters();
        Ok(view)
    }

    /// Whether the connector is paused (unknown ones are not).
    pub fn is_paused(&self, name: &str) -> bool {
        self.lock().get(name).is_some_and(|e| e.paused)
    }

    /// The pending backfill of a connector, taken: the hub applies it once.
    pub fn take_backfill(&self, name: &str) -> Option<Backfill> {
        self.lock().get_mut(name).and_then(|e| e.backfill.take())
    }

    /// Waits until an operator resumes a connector or asks for a backfill. Every
    /// waiting connector wakes and checks whether the request is for it.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The hub starts syncing a connector.
    pub fn sync_started(&self, name: &str) {
        if let Some(e) = self.lock().get_mut(name) {
            e.running = true;
        }
    }

    /// The hub finished syncing a connector: whether it caught up or why it failed,
    /// and what its circuit breaker says.
    pub fn sync_finished(
        &self,
        name: &str,
        result: Result<bool, &PipelineError>,
        circuit: CircuitState,
    ) {
        let mut connectors = self.lock();
        let Some(e) = connectors.get_mut(name) else {
            return;
        };
        e.running = false;
        e.circuit_open_until = match circuit {
            CircuitState::Open { remaining_secs } => {
                Some(Instant::now() + Duration::from_secs(remaining_secs))
            }
            CircuitState::Closed { .. } | CircuitState::HalfOpen => None,
        };
        let now = Utc::now();
        match result {
            Ok(caught_up) => {
                e.failing = false;
                if caught_up {
                    e.last_success = Some(now);
                }
            }
            Err(error) => {
                e.failing = true;
                e.last_error = Some(LastError {
                    at: now,
                    message: error.to_string(),
                });
            }
        }
    }

    /// A batch of `name` was written and committed: counts, its cursor, lag and
    /// throughput, and its metrics. `fetched_at` is when its records were fetched.
    pub fn batch_acked(
        &self,
        name: &str,
        counts: &Counts,
        cursor: Option<&Value>,
        fetched_at: Option<DateTime<Utc>>,
    ) {
        crate::admin::metrics::record_batch(name, counts, fetched_at);
        let now = Utc::now();
        let mut connectors = self.lock();
        let Some(e) = connectors.get_mut(name) else {
            return;
        };
        e.counts.add(counts);
        if let Some(cursor) = cursor {
            e.cursor = cursor.clone();
        }
        e.last_success = Some(now);
        if let Some(newest) = fetched_at {
            e.newest_committed = Some(e.newest_committed.map_or(newest, |n| n.max(newest)));
        }
        e.throughput.add(now, counts.published + counts.rejected);
    }

    /// Sets identity resolution's numbers (totals) and its metrics.
    pub fn set_identity(&self, stats: IdentityStats) {
        crate::admin::metrics::record_identity(&stats);
        *self.identity.lock().unwrap_or_else(PoisonError::into_inner) = stats;
    }

    /// Identity resolution's numbers.
    pub fn identity(&self) -> IdentityStats {
        *self.identity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sink refused a write and the batch waits to be retried (`Some(why)`), or it
    /// took one again (`None`). Logged once per change.
    pub fn set_sink_waiting(&self, reason: Option<String>) {
        let mut waiting = self
            .sink_waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match (&*waiting, &reason) {
            (None, Some(why)) => {
                tracing::warn!(error = %why, "sink refused a write; connectors wait for it and the batch is retried")
            }
            (Some(_), None) => tracing::info!("sink takes writes again"),
            _ => {}
        }
        crate::admin::metrics::sink_waiting(reason.is_some());
        *waiting = reason;
    }

    /// Why the sink refuses writes right now, if it does.
    pub fn sink_waiting(&self) -> Option<String> {
        self.sink_waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The hub is shutting down: not ready for more.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// The directory holding cursors and dedup state.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The sink's probe.
    pub fn sink(&self) -> &SinkProbe {
        &self.sink
    }

    /// Why the hub is not ready to work (empty: ready): shutting down, sink not
    /// reachable, state directory not writable, a connector's circuit open.
    pub async fn unready_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.shutting_down.load(Ordering::Relaxed) {
            reasons.push("shutting down".to_owned());
        }
        if let Err(e) = self.sink.check().await {
            reasons.push(format!("sink: {e}"));
        }
        if let Err(e) = writable(&self.data_dir) {
            reasons.push(format!("state store: {e}"));
        }
        let now = Instant::now();
        for (name, e) in self.lock().iter() {
            if let Some(secs) = e.circuit_open_secs(now) {
                reasons.push(format!(
                    "connector {name}: circuit open, next trial in {secs} s"
                ));
            }
        }
        reasons
    }

    /// Per connector: whether paused, whether its circuit is open, and its lag, for the
    /// gauges refreshed at each scrape.
    pub fn gauges(&self) -> Vec<(String, bool, bool, Option<f64>)> {
        let (now, instant) = (Utc::now(), Instant::now());
        self.lock()
            .iter()
            .map(|(name, e)| {
                (
                    name.clone(),
                    e.paused,
                    e.circuit_open_secs(instant).is_some(),
                    e.lag(now),
                )
            })
            .collect()
    }
}

impl Entry {
    fn circuit_open_secs(&self, now: Instant) -> Option<u64> {
        let left = self.circuit_open_until?.checked_duration_since(now)?;
        (!left.is_zero()).then(|| left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    fn lag(&self, now: DateTime<Utc>) -> Option<f64> {
        self.newest_committed
            .map(|t| (now - t).to_std().unwrap_or_default().as_secs_f64())
    }

    fn state(&self, now: Instant, sink_waiting: bool) -> ConnectorState {
        if self.paused {
            ConnectorState::Paused
        } else if sink_waiting && self.running {
            ConnectorState::WaitingForSink
        } else if self.circuit_open_secs(now).is_some() {
            ConnectorState::CircuitOpen
        } else if self.running {
            ConnectorState::Running
        } else if self.failing {
            ConnectorState::Failing
        } else {
            ConnectorState::Idle
        }
    }

    fn view(
        &self,
        name: &str,
        now: DateTime<Utc>,
        instant: Instant,
        sink_waiting: bool,
    ) -> ConnectorView {
        let c = &self.counts;
        let mut reasons: Vec<(String, u64)> =
            c.reasons.iter().map(|(r, n)| (r.clone(), *n)).collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        reasons.truncate(TOP_REASONS);
        ConnectorView {
            name: name.to_owned(),
            department: self.department.clone(),
            kind: self.kind.clone(),
            state: self.state(instant, sink_waiting),
            cursor: self.cursor.clone(),
            last_success: self.last_success,
            last_error: self.last_error.clone(),
            counts: CountsView {
                pulled: c.pulled,
                published: c.published,
                rejected: c.rejected,
                duplicates: c.duplicates,
                batches: c.batches,
            },
            top_reasons: reasons,
            data_quality: c.set_aside.clone(),
            lag_seconds: self.lag(now),
            throughput: self.throughput.series(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_prefers_the_most_pressing() {
        let status = Status::new(Path::new("/nonexistent"), SinkProbe::Log("/x".into()));
        let pagination: PaginationConfig =
            serde_json::from_value(serde_json::json!({"style": "page_number"})).unwrap();
        status.register(
            "a",
            "education",
            "education.enrollment",
            pagination,
            Value::Null,
        );
        let state = || status.connector("a").unwrap().state;
        assert_eq!(state(), ConnectorState::Idle);
        status.sync_started("a");
        assert_eq!(state(), ConnectorState::Running);
        let error = PipelineError {
            stage: "source",
            message: "HTTP 503".into(),
            class: govhub_core::ErrorClass::External,
            retryable: true,
        };
        let open = CircuitState::Open { remaining_secs: 60 };
        status.sync_finished("a", Err(&error), open);
        assert_eq!(state(), ConnectorState::CircuitOpen);
        status.pause("a").unwrap();
        assert_eq!(state(), ConnectorState::Paused);
        status.resume("a").unwrap();
        let closed = CircuitState::Closed {
            consecutive_failures: 1,
        };
        status.sync_finished("a", Err(&error), closed);
        assert_eq!(state(), ConnectorState::Failing);
        let view = status.connector("a").unwrap();
        assert_eq!(view.last_error.unwrap().message, "source: HTTP 503");
        assert_eq!(view.last_success, None);
        assert_eq!(
            status.connector("b"),
            Err(RequestError::Unknown("b".into()))
        );
    }

    #[test]
    fn a_batch_without_a_cursor_counts_and_keeps_the_cursor() {
        let status = Status::new(Path::new("/nonexistent"), SinkProbe::Log("/x".into()));
        let pagination: PaginationConfig =
            serde_json::from_value(serde_json::json!({"style": "page_number"})).unwrap();
        status.register("a", "health", "health.encounter", pagination, Value::Null);
        let counts = |n| Counts {
            pulled: n,
            published: n,
            ..Counts::default()
        };
        // A page through the intake in two parts: the first has no cursor.
        status.batch_acked("a", &counts(3), None, None);
        status.batch_acked("a", &counts(2), Some(&serde_json::json!({"page": 2})), None);
        status.batch_acked("a", &counts(1), None, None);
        let view = status.connector("a").unwrap();
        assert_eq!((view.counts.pulled, view.counts.published), (6, 6));
        assert_eq!(view.cursor, serde_json::json!({"page": 2}));
    }
}
