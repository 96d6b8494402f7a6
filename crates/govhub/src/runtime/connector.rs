//! One connector's task: pull a page, map and validate it, hand it on; between pages,
//! heed pause, backfill and stop; after a sync, wait the poll interval, or after a
//! failure, back off and try again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use govhub_connect::HttpSource;
use govhub_core::Source;
use govhub_schema::Standard;
use govhub_schema::mapping::CompiledMapping;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::intake::IntakeWriter;
use super::{Mode, PreparedBatch, Shared, Stage, Work};
use crate::pipeline::{PipelineError, Stages};

/// Where a connector's pages go.
#[derive(Debug)]
pub(super) enum Downstream {
    /// Prepared, to this process's resolve stage.
    Local(mpsc::Sender<Work>),
    /// As pulled, to the connector's partition of the intake topic, for the active
    /// instance to resolve (connectors spread over instances).
    Intake(Box<IntakeWriter>),
}

impl Downstream {
    /// Whether no page can go anywhere any more: the run is ending, or another
    /// instance took the connector over.
    fn is_closed(&self) -> bool {
        match self {
            Downstream::Local(tx) => tx.is_closed(),
            Downstream::Intake(writer) => writer.is_fenced(),
        }
    }
}

/// The longest wait between retries of a failing connector.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A connector: its source and the stages its records pass before the resolve stage.
#[derive(Debug)]
pub(crate) struct Connector {
    name: Arc<str>,
    source: HttpSource,
    mapping: CompiledMapping,
    standard: Arc<Standard>,
    kind: String,
}

impl Connector {
    /// A connector named `name` reading `kind` records from `source`.
    pub(crate) fn new(
        name: &str,
        source: HttpSource,
        mapping: CompiledMapping,
        standard: Arc<Standard>,
        kind: &str,
    ) -> Connector {
        Connector {
            name: name.into(),
            source,
            mapping,
            standard,
            kind: kind.to_owned(),
        }
    }

    /// The connector's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The source's committed cursor.
    pub(crate) fn committed_cursor(&self) -> &serde_json::Value {
        self.source.committed_cursor()
    }

    /// Maps and validates `records`, a page of this connector's that ends at `cursor`.
    pub(crate) fn prepare(
        &self,
        records: Vec<govhub_core::SourceRecord>,
        cursor: Option<serde_json::Value>,
        shared: &Shared,
    ) -> Result<PreparedBatch, PipelineError> {
        let Some(schema) = self.standard.latest(&self.kind) else {
            return Err(PipelineError {
                stage: "config",
                message: format!("no schema for kind {:?}", self.kind),
                class: govhub_core::ErrorClass::User,
                retryable: false,
            });
        };
        let started = Instant::now();
        let stages = Stages {
            mapping: &self.mapping,
            schema,
        };
        let fetched_at = records.iter().map(|r| r.fetched_at).max();
        let items = records
            .into_iter()
            .map(|record| stages.prepare(record, &shared.publisher))
            .collect();
        shared.timings.add(Stage::Prepare, started);
        Ok(PreparedBatch {
            connector: self.name.clone(),
            kind_version: schema.topic_suffix().into(),
            schema_id: schema.id.as_str().into(),
            items,
            cursor,
            fetched_at,
            intake: None,
        })
    }
}

/// Runs `connector` until `mode` says it is done (once: caught up or failed) or `stop`
/// (or `halt`) is cancelled. Returns the connector and, in `Once` mode, its failure.
pub(crate) async fn run(
    mut connector: Connector,
    shared: &Shared,
    mut out: Downstream,
    mode: Mode,
    stop: &CancellationToken,
    halt: &CancellationToken,
) -> (Connector, Result<(), PipelineError>) {
    let status = &shared.status;
    let name = connector.name.clone();
    let mut backoff = Duration::from_secs(1);
    loop {
        if stop.is_cancelled() || halt.is_cancelled() {
            return (connector, Ok(()));
        }
        if status.is_paused(&name) {
            if mode == Mode::Once {
                return (connector, Ok(()));
            }
            wait(status, Duration::from_secs(1), stop, halt).await;
            continue;
        }
        if let Downstream::Local(tx) = &out
            && let Some(backfill) = status.take_backfill(&name)
        {
            let cursor = connector.source.reset(backfill.cursor);
            tracing::info!(connector = %name, republish = backfill.republish, "backfill: re-reading from the new cursor");
            let reset = Work::Reset {
                connector: name.clone(),
                cursor,
                republish: backfill.republish,
            };
            if tx.send(reset).await.is_err() {
                return (connector, Ok(()));
            }
        }
        status.sync_started(&name);
        let started = Instant::now();
        let result = sync(&mut connector, shared, &mut out, stop, halt).await;
        let circuit = connector.source.circuit_state();
        match result {
            Ok(Synced { caught_up, records }) => {
                if caught_up {
                    log_caught_up(&name, records, started.elapsed());
                }
                status.sync_finished(&name, Ok(caught_up), circuit);
                backoff = Duration::from_secs(1);
                if mode == Mode::Once || out.is_closed() {
                    return (connector, Ok(()));
                }
                wait(status, shared.poll_interval, stop, halt).await;
            }
            Err(e) => {
                tracing::warn!(connector = %name, stage = e.stage, class = e.class.as_str(), error = %e, retry_in_s = backoff.as_secs(), "connector sync failed; the others go on");
                crate::admin::metrics::connector_error(&name, e.stage);
                status.sync_finished(&name, Err(&e), circuit);
                if mode == Mode::Once {
                    return (connector, Err(e));
                }
                wait(status, backoff, stop, halt).await;
                backoff = (backoff * 2).min(MAX_BACKOFF.max(shared.poll_interval));
            }
        }
    }
}

/// Says that a sync caught up: at INFO when it pulled records, at DEBUG when the poll
/// found nothing new (not news).
fn log_caught_up(name: &str, records: u64, took: Duration) {
    let secs = format!("{:.1}", took.as_secs_f64());
    if records > 0 {
        tracing::info!(connector = %name, records, secs, "sync finished: caught up with the source");
    } else {
        tracing::debug!(connector = %name, secs, "sync finished: nothing new");
    }
}

/// How a sync ended.
struct Synced {
    /// The source had nothing more (else: stopped or paused between pages).
    caught_up: bool,
    /// Records pulled in this sync.
    records: u64,
}

/// One sync: pages until the source has nothing more, or until stopped or paused
/// between pages.
async fn sync(
    connector: &mut Connector,
    shared: &Shared,
    out: &mut Downstream,
    stop: &CancellationToken,
    halt: &CancellationToken,
) -> Result<Synced, PipelineError> {
    connector.source.begin_sync();
    let mut records = 0;
    let stopped = |records| Synced {
        caught_up: false,
        records,
    };
    loop {
        if stop.is_cancelled() || halt.is_cancelled() || shared.status.is_paused(&connector.name) {
            return Ok(stopped(records));
        }
        let started = Instant::now();
        let polled = tokio::select! {
            polled = connector.source.poll() => polled,
            () = halt.cancelled() => return Ok(stopped(records)),
        };
        shared.timings.add(Stage::Fetch, started);
        let batch = match polled {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                return Ok(Synced {
                    caught_up: true,
                    records,
                });
            }
            Err(e) => return Err(PipelineError::from("source", &e)),
        };
        records += batch.records.len() as u64;
        let handed = match out {
            // The batch now belongs to the stages after this one: its cursor commits
            // with its events. The source reads on from where the batch ended.
            Downstream::Local(tx) => {
                let prepared = connector.prepare(batch.records, Some(batch.cursor), shared)?;
                tx.send(Work::Batch(prepared)).await.is_ok()
            }
            // Committed to the intake topic with its cursor: the source's own.
            Downstream::Intake(writer) => {
                let written = writer.write(&batch, stop).await;
                if written {
                    connector.source.ack(&batch).await.ok();
                }
                written
            }
        };
        if !handed {
            // The stages after this one are gone (the run is ending), or another
            // instance runs the connector now.
            return Ok(stopped(records));
        }
    }
}

/// Waits `duration`, or less when stopped or when an operator resumes a connector or
/// asks for a backfill.
async fn wait(
    status: &crate::status::Status,
    duration: Duration,
    stop: &CancellationToken,
    halt: &CancellationToken,
) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = stop.cancelled() => {}
        () = halt.cancelled() => {}
        () = status.woken() => {}
    }
}
