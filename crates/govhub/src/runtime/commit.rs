//! The commit stage: writes sealed batches of every connector to the sink together,
//! waits until the sink confirmed every event, then commits what they change to the
//! state store in one transaction and tells the status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use govhub_core::{Classified, ErrorClass, OutEvent};
use govhub_resolve::{Commit, StateStore};
use govhub_stream::StreamError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Mode, Sealed, Shared, Stage};
use crate::pipeline::{Counts, PipelineError};
use crate::sink::HubSink;

/// Sealed batches written at most at once.
const MAX_BATCHES_PER_WRITE: usize = 64;
/// Events written at most at once (a write may pass it by one sealed batch).
const MAX_WRITE_EVENTS: usize = 20_000;
/// The longest wait between retries of a refused write.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// In `Once` mode, refused writes tried at most before the run gives up.
const ONCE_ATTEMPTS: u32 = 3;

/// What the commit stage leaves behind.
#[derive(Debug)]
pub(super) struct Done {
    pub sink: HubSink,
    pub store: StateStore,
    pub counts: BTreeMap<String, Counts>,
    /// Why the stage stopped before its input ended, if it did.
    pub fatal: Option<PipelineError>,
}

/// Runs until the resolve stage stops sending, or a write cannot be done (a broken
/// store; in `Once` mode, a sink that keeps refusing), or `stop` is cancelled while a
/// write is being retried: what was not written is not committed either, and is read
/// again by the next run.
pub(super) async fn run(
    mut sink: HubSink,
    mut store: StateStore,
    mut rx: mpsc::Receiver<Sealed>,
    shared: Arc<Shared>,
    mode: Mode,
    stop: CancellationToken,
    halt: CancellationToken,
) -> Done {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut fatal = None;
    while let Some(first) = rx.recv().await {
        let mut sealed = vec![first];
        let mut events = sealed[0].events.len();
        while sealed.len() < MAX_BATCHES_PER_WRITE && events < MAX_WRITE_EVENTS {
            match rx.try_recv() {
                Ok(next) => {
                    events += next.events.len();
                    sealed.push(next);
                }
                Err(_) => break,
            }
        }
        let mut batch: Vec<OutEvent> = Vec::with_capacity(events);
        let mut commit = Commit::default();
        for s in &mut sealed {
            batch.append(&mut s.events);
            commit.append(std::mem::take(&mut s.commit));
        }
        // The sharing log's lines change with the cursors that say these events went out.
        let day = chrono::Utc::now().date_naive();
        let sharing = shared
            .views
            .log()
            .count(sealed.iter().flat_map(|s| &s.sent), day);
        commit.sharing = sharing.rows();
        // With exactly-once, the state changes go in the same transaction as the events.
        if let Err(e) = sink.attach_state(&store, &mut commit, &mut batch) {
            fatal = Some(state_error(&e));
            break;
        }
        match write(&mut sink, batch, &shared, mode, &stop).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                fatal = Some(e);
                break;
            }
        }
        let started = Instant::now();
        let committed = tokio::task::spawn_blocking(move || {
            let result = store.commit(&commit);
            (store, result)
        })
        .await;
        let result = match committed {
            Ok((back, result)) => {
                store = back;
                result
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        shared.timings.add(Stage::Commit, started);
        if let Err(e) = result {
            fatal = Some(state_error(&e));
            break;
        }
        shared.views.log().apply(sharing);
        for s in &sealed {
            let total = counts.entry(s.connector.to_string()).or_default();
            total.add(&s.counts);
            shared.progress(&s.connector, total, false);
            // A batch without a cursor (a page's first parts, through the intake) counts
            // all the same; the cursor moves with the page's last part.
            shared
                .status
                .batch_acked(&s.connector, &s.counts, s.cursor.as_ref(), s.fetched_at);
            if s.counts.rejected > 0 {
                tracing::warn!(connector = %s.connector, rejected = s.counts.rejected, reasons = ?s.counts.reasons, "records rejected to the dead-letter topic");
            }
        }
    }
    if let Some(e) = &fatal {
        tracing::error!(stage = e.stage, error = %e, "the hub cannot go on; every connector stops");
        halt.cancel();
    }
    Done {
        sink,
        store,
        counts,
        fatal,
    }
}

pub(super) fn state_error(e: &govhub_resolve::StateError) -> PipelineError {
    PipelineError {
        stage: "state",
        message: e.to_string(),
        class: ErrorClass::Internal,
        retryable: false,
    }
}

/// Writes `events` until the sink has confirmed every one. An event the sink refuses
/// for itself alone (too large, say) is replaced by its dead letter; a write refused as
/// a whole (the broker is down) is retried as it was — the same events, ids and person
/// ids — with growing waits, for ever (`Continuous`) or a few times (`Once`); a sink
/// fenced by a newer instance fails at once. Returns `Ok(false)` when stopped while
/// waiting.
async fn write(
    sink: &mut HubSink,
    mut events: Vec<OutEvent>,
    shared: &Shared,
    mode: Mode,
    stop: &CancellationToken,
) -> Result<bool, PipelineError> {
    let mut wait = Duration::from_millis(500);
    let mut attempts = 0;
    // Which events are dead letters standing in for refused events already.
    let mut stand_ins = vec![false; events.len()];
    while !events.is_empty() {
        let started = Instant::now();
        let result = sink.write_each(&events).await;
        shared.timings.add(Stage::Write, started);
        match result {
            Ok(refused) => {
                shared.status.set_sink_waiting(None);
                wait = Duration::from_millis(500);
                attempts = 0;
                if refused.iter().all(Option::is_none) {
                    break;
                }
                // What was not refused is written, unless the write was one transaction,
                // which a refusal aborts whole: then it goes again.
                let again_accepted = sink.is_transactional();
                let (mut again, mut marks) = (Vec::new(), Vec::new());
                for ((event, reason), stand_in) in events.into_iter().zip(refused).zip(stand_ins) {
                    match reason {
                        None if again_accepted => {
                            again.push(event);
                            marks.push(stand_in);
                        }
                        None => {}
                        Some(reason) if stand_in => {
                            // Even the small dead letter is refused: nothing more can
                            // be written for it, and retrying would never end.
                            tracing::error!(topic = %event.topic, reason = %reason, "the sink refused a dead letter too; it is lost");
                        }
                        Some(reason) => {
                            tracing::warn!(topic = %event.topic, reason = %reason, "the sink refused one event; its dead letter goes instead");
                            let letter = format!("refused by the sink: {reason}");
                            again.push(shared.publisher.refused(&event, &letter));
                            marks.push(true);
                        }
                    }
                }
                (events, stand_ins) = (again, marks);
            }
            Err(e) => {
                attempts += 1;
                let error = PipelineError::from("sink", &e);
                // Fenced, the sink can never write again: another instance took over.
                let fenced = matches!(e, StreamError::Fenced { .. });
                if fenced || (mode == Mode::Once && (attempts >= ONCE_ATTEMPTS || !e.retryable())) {
                    return Err(error);
                }
                shared.status.set_sink_waiting(Some(error.message.clone()));
                tracing::warn!(class = e.class().as_str(), error = %error, retry_in_ms = wait.as_millis() as u64, events = events.len(), "sink write failed; retrying the same batch");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => return Ok(false),
                }
                wait = (wait * 2).min(MAX_RETRY_WAIT);
            }
        }
    }
    Ok(true)
}
