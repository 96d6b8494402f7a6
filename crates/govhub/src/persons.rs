//! Asking the resolve stage about a person (`GET /api/persons/{id}`).
//!
//! The resolver belongs to the resolve task alone, so the admin server does not read
//! it: it sends the task the id and waits for the answer. The task answers between
//! batches, and while a sealed batch waits for the commit stage (the sink refuses
//! writes, say); a lookup costs one golden record, so the pipeline hardly notices. The
//! answer is the resolver's state at that moment: it can be ahead of the person topic
//! by the batches still on their way to the sink.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use govhub_resolve::identity::PersonView;
use tokio::sync::{mpsc, oneshot};

use crate::runtime::resolve::Core;

/// Lookups waiting for the resolve task; one more is refused as busy.
const QUEUE: usize = 16;
/// How long a lookup waits for its answer: the task answers between batches, and a
/// batch takes milliseconds.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a lookup got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No run is active (before the first, between two, or after the last).
    #[error("identity resolution is not running; ask again while the hub runs")]
    NotRunning,
    /// Too many lookups are waiting, or the answer took too long.
    #[error("identity resolution is busy; ask again shortly")]
    Busy,
}

/// Asks the resolve stage of the hub's current run about a person; cloned into the
/// admin server's state ([`crate::hub::Hub::persons`]).
#[derive(Debug, Clone, Default)]
pub struct PersonLookup {
    /// Where the current run's resolve task takes lookups; `None` before the first run.
    requests: Arc<Mutex<Option<mpsc::Sender<Request>>>>,
}

impl PersonLookup {
    /// The person with id `id`, a retired id followed to the live person it went into
    /// ([`govhub_resolve::identity::Resolver::person`]); `Ok(None)` for an id never given.
    pub async fn person(&self, id: &str) -> Result<Option<PersonView>, LookupError> {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(LookupError::NotRunning)?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            id: id.to_owned(),
            reply,
        };
        requests.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LookupError::Busy,
            // The run that took lookups there has ended.
            mpsc::error::TrySendError::Closed(_) => LookupError::NotRunning,
        })?;
        match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(view)) => Ok(view),
            // The run ended with the lookup still queued.
            Ok(Err(_)) => Err(LookupError::NotRunning),
            Err(_) => Err(LookupError::Busy),
        }
    }

    /// The lookups of a run, for its resolve task: sent there until the next run's
    /// task takes them; once these are dropped (the run has ended), lookups answer
    /// [`LookupError::NotRunning`].
    pub(crate) fn serve(&self) -> Requests {
        let (tx, rx) = mpsc::channel(QUEUE);
        *self.requests.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        Requests(rx)
    }
}

/// One lookup: the person id and where its answer goes.
#[derive(Debug)]
pub(crate) struct Request {
    id: String,
    reply: oneshot::Sender<Option<PersonView>>,
}

impl Request {
    /// Answers from `core` (an asker who gave up is not waited for).
    pub(crate) fn answer(self, core: &Core) {
        let _ = self.reply.send(core.person(&self.id));
    }
}

/// The lookups a resolve task answers.
#[derive(Debug)]
pub(crate) struct Requests(mpsc::Receiver<Request>);

impl Requests {
    /// The next lookup, when one comes; `None` only once a later run has taken the
    /// lookups over.
    pub(crate) async fn next(&mut self) -> Option<Request> {
        self.0.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "p0123456789abcdef";

    #[tokio::test]
    async fn without_a_run_to_answer_a_lookup_is_refused() {
        let lookup = PersonLookup::default();
        assert_eq!(lookup.person(ID).await, Err(LookupError::NotRunning));
        let requests = lookup.serve();
        let asking = tokio::spawn({
            let lookup = lookup.clone();
            async move { lookup.person(ID).await }
        });
        tokio::task::yield_now().await;
        // The run ends: a lookup still queued and one asked afterwards get no answer.
        drop(requests);
        assert_eq!(asking.await.unwrap(), Err(LookupError::NotRunning));
        assert_eq!(lookup.person(ID).await, Err(LookupError::NotRunning));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_not_answered_in_time_is_busy() {
        let lookup = PersonLookup::default();
        let _requests = lookup.serve();
        assert_eq!(lookup.person(ID).await, Err(LookupError::Busy));
    }
}
