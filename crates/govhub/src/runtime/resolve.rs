//! The resolve stage, one task for every connector: drops what was published already,
//! resolves each record's person, and renders every event once, keyed by the person.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use govhub_core::OutEvent;
use govhub_resolve::identity::{
    Entry, IdentityConfig, IdentityStats, PersonView, ResolveError, Resolver,
};
use govhub_resolve::state::fingerprint_key;
use govhub_resolve::{Commit, StateStore};
use govhub_stream::{DEAD_LETTER_TYPE, Publisher};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc;

use super::{PreparedBatch, Sealed, Shared, Stage, Work};
use crate::pipeline::{Counts, Prepared};
use crate::views::Views;
use crate::views::log::Sent;

/// Identity resolution and exact dedup: the state the resolve stage alone writes.
#[derive(Debug)]
pub(crate) struct Core {
    resolver: Resolver,
    /// Per connector: fingerprint key → the event id last published for it.
    published: BTreeMap<String, FxHashMap<u64, u128>>,
}

impl Core {
    /// The state committed in `store` for `connectors`: their fingerprints and every
    /// identity decision (replayed, not re-scored).
    /// The stage over what `store` holds; with the compacted identity journal when the
    /// journal has grown long ([`Resolver::load`]), for the caller to write.
    pub(crate) fn open<'a>(
        store: &StateStore,
        connectors: impl IntoIterator<Item = &'a str>,
        identity: &IdentityConfig,
    ) -> Result<(Core, Option<Vec<Entry>>), ResolveError> {
        let mut published = BTreeMap::new();
        for connector in connectors {
            published.insert(connector.to_owned(), store.fingerprints(connector)?);
        }
        let (resolver, compaction) = Resolver::load(store, identity)?;
        tracing::info!(trained_on = %resolver.model().trained_on, "identity model in use");
        let core = Core {
            resolver,
            published,
        };
        Ok((core, compaction))
    }

    /// What identity resolution has done so far.
    pub(crate) fn stats(&self) -> IdentityStats {
        self.resolver.stats()
    }

    /// Persons whose records come from more than one department.
    pub(crate) fn unified_across_departments(&self) -> u64 {
        self.resolver.unified_across_departments()
    }

    /// The person with id `id`, a retired id followed to where it went.
    pub(crate) fn person(&self, id: &str) -> Option<PersonView> {
        self.resolver.person(id)
    }

    /// Takes a batch through dedup and resolution and renders its events: each new or
    /// changed record's (keyed by its person), the identity decisions it caused, and the
    /// golden records of the persons that changed. Each record's event is followed by
    /// its events on the topics of the `views` of its kind, so they commit with it.
    /// Returns the events and the state change that commits once they are written.
    pub(crate) fn seal(
        &mut self,
        batch: PreparedBatch,
        publisher: &Publisher,
        views: &Views,
        max_event_bytes: usize,
    ) -> SealedParts {
        let connector = batch.connector.to_string();
        let published = self.published.entry(connector.clone()).or_default();
        let record_type = format!("govhub.{}", batch.kind_version);
        let mut counts = Counts::default();
        let mut commit = Commit::default();
        let mut events = Vec::with_capacity(batch.items.len());
        let mut fingerprints = Vec::with_capacity(batch.items.len());
        let mut decisions = Vec::new();
        let mut changed = BTreeSet::new();
        let mut retired = BTreeSet::new();
        // Retired id → the id it was merged into.
        let mut merged_into = BTreeMap::new();
        let mut sent = Vec::new();
        let mut view_events = Vec::new();
        for item in batch.items {
            counts.pulled += 1;
            let (ty, source_record_id, id) = match &item {
                Prepared::Accepted { record, id, .. } => {
                    (record_type.as_str(), record.source_record_id.as_str(), *id)
                }
                Prepared::Rejected {
                    source_record_id,
                    id,
                    ..
                } => (DEAD_LETTER_TYPE, source_record_id.as_str(), *id),
            };
            let key = fingerprint_key(ty, source_record_id);
            let id_number = u128::from_be_bytes(id);
            if published.insert(key, id_number) == Some(id_number) {
                counts.duplicates += 1;
                continue;
            }
            fingerprints.push((key, id_number));
            match item {
                Prepared::Accepted {
                    record,
                    canonical,
                    id,
                    observation,
                    set_aside,
                } => {
                    for field in &set_aside {
                        counts
                            .set_aside
                            .entry(field.clone())
                            .or_default()
                            .add(&record.source_record_id);
                    }
                    let mut person = None;
                    if let Some(observation) = observation {
                        let outcome = self.resolver.observe(&observation);
                        for decision in outcome.events {
                            let data = serde_json::to_value(&decision).unwrap_or_default();
                            decisions.push(publisher.identity(
                                &decision.person_id,
                                data,
                                record.fetched_at,
                                id,
                            ));
                        }
                        changed.extend(outcome.changed);
                        retired.extend(outcome.retired);
                        merged_into.extend(outcome.merged_into);
                        person = Some(outcome.person_id);
                    }
                    counts.published += 1;
                    let viewed = views.render(&batch.kind_version, &canonical);
                    let event = publisher.accepted(
                        &record,
                        canonical,
                        &batch.kind_version,
                        &batch.schema_id,
                        id,
                        person.as_deref(),
                        &set_aside,
                    );
                    for rendered in viewed {
                        let (view_event, what) = rendered.into_event(&event);
                        sent.push(what);
                        view_events.push(view_event);
                    }
                    events.push(event);
                    events.append(&mut view_events);
                }
                Prepared::Rejected { event, reasons, .. } => {
                    counts.rejected += 1;
                    for reason in reasons {
                        *counts.reasons.entry(reason).or_default() += 1;
                    }
                    events.push(event);
                }
            }
        }
        events.append(&mut decisions);
        let time = batch.fetched_at.unwrap_or_default();
        for person_id in retired {
            events.push(publisher.person_retired(&person_id, time));
            if let Some(into) = merged_into.get(&person_id) {
                events.push(publisher.person_merged(&person_id, into, time));
            }
        }
        for person in changed {
            if let Some((person_id, golden)) = self.resolver.golden(person) {
                events.push(publisher.person(&person_id, golden, time));
            }
        }
        for event in &mut events {
            cap_size(event, publisher, max_event_bytes);
        }
        if self.resolver.retrain_due() {
            commit.model = self.retrain();
        }
        commit.journal = self.resolver.take_journal();
        if let Some(cursor) = batch.cursor {
            commit.cursors.insert(connector.clone(), cursor);
        }
        if let Some((partition, next)) = batch.intake {
            commit
                .cursors
                .insert(super::intake::position_key(partition), next.into());
        }
        commit.fingerprints.push((connector, fingerprints));
        counts.batches = 1;
        SealedParts {
            events,
            commit,
            counts,
            sent,
        }
    }

    /// Re-estimates the identity model from the records resolved so far and logs what
    /// changed (weights only: nothing about any record); returns the model to commit.
    fn retrain(&mut self) -> Option<String> {
        let started = Instant::now();
        match self.resolver.retrain() {
            Ok(r) => {
                tracing::info!(
                    records = r.report.records,
                    candidate_pairs = r.report.candidate_pairs,
                    labelled_matches = r.report.matches,
                    seconds = started.elapsed().as_secs_f64(),
                    "identity model re-estimated from the records resolved so far; it resolves every record from now on"
                );
                for (comparison, level, before, after) in r.before.weight_changes(&r.after) {
                    tracing::info!(
                        comparison,
                        level,
                        before = before.map(|w| (w * 100.0).round() / 100.0),
                        after = (after * 100.0).round() / 100.0,
                        "identity model weight (bits)"
                    );
                }
                serde_json::to_string(&r.after).ok()
            }
            Err(e) => {
                tracing::warn!(error = %e, "identity model could not be re-estimated; the model in use stays");
                None
            }
        }
    }

    /// A backfill: forgets what the connector published when it is to republish.
    fn reset(&mut self, connector: &str, republish: bool) {
        if republish {
            self.published.remove(connector);
        }
    }
}

/// What [`Core::seal`] makes of a batch.
#[derive(Debug)]
pub(crate) struct SealedParts {
    /// Events in order.
    pub events: Vec<OutEvent>,
    /// The state change to commit once they are written.
    pub commit: Commit,
    /// What happened to the batch's records.
    pub counts: Counts,
    /// What the views sent, for the sharing log once the events are written.
    pub sent: Vec<Sent>,
}

/// Replaces an event larger than `limit` by its dead letter: no sink is handed an event
/// it would refuse, and nothing goes missing.
fn cap_size(event: &mut OutEvent, publisher: &Publisher, limit: usize) {
    let size = event.value.len()
        + event.key.as_ref().map_or(0, String::len)
        + event
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum::<usize>();
    if size > limit {
        let reason = format!("event of {size} bytes exceeds max_event_bytes ({limit})");
        tracing::warn!(topic = %event.topic, bytes = size, limit, "event too large for the sink; sent to the dead-letter topic");
        *event = publisher.refused(event, &reason);
    }
}

/// The resolve stage: takes work from every connector in arrival order and hands sealed
/// batches on, until every connector has stopped; returns the state for another run.
/// Between batches, and while a sealed batch waits for the commit stage, it answers the
/// admin API's person lookups ([`crate::persons`]).
pub(super) async fn run(
    mut core: Core,
    mut rx: mpsc::Receiver<Work>,
    tx: mpsc::Sender<Sealed>,
    shared: Arc<Shared>,
) -> Core {
    let mut lookups = shared.persons.serve();
    loop {
        let work = tokio::select! {
            work = rx.recv() => match work {
                Some(work) => work,
                None => break,
            },
            Some(lookup) = lookups.next() => {
                lookup.answer(&core);
                continue;
            }
        };
        let sealed = match work {
            Work::Batch(batch) => {
                let started = Instant::now();
                let (connector, cursor, fetched_at) = (
                    batch.connector.clone(),
                    batch.cursor.clone(),
                    batch.fetched_at,
                );
                let parts = core.seal(
                    batch,
                    &shared.publisher,
                    &shared.views,
                    shared.max_event_bytes,
                );
                shared.timings.add(Stage::Resolve, started);
                shared.status.set_identity(core.stats());
                Sealed {
                    connector,
                    events: parts.events,
                    commit: parts.commit,
                    counts: parts.counts,
                    sent: parts.sent,
                    cursor,
                    fetched_at,
                }
            }
            Work::Reset {
                connector,
                cursor,
                republish,
            } => {
                core.reset(&connector, republish);
                let mut commit = Commit::default();
                commit.cursors.insert(connector.to_string(), cursor.clone());
                if republish {
                    commit.forget.push(connector.to_string());
                }
                Sealed {
                    connector,
                    events: Vec::new(),
                    commit,
                    counts: Counts::default(),
                    sent: Vec::new(),
                    cursor: Some(cursor),
                    fetched_at: None,
                }
            }
        };
        let send = tx.send(sealed);
        tokio::pin!(send);
        let sent = loop {
            tokio::select! {
                sent = &mut send => break sent.is_ok(),
                Some(lookup) = lookups.next() => lookup.answer(&core),
            }
        };
        if !sent {
            // The commit stage has stopped (a fatal error): nothing more can be written.
            break;
        }
    }
    core
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use govhub_core::SourceRecord;
    use govhub_schema::Standard;
    use govhub_stream::Topics;
    use serde_json::{Value, json};

    use super::*;
    use crate::views::{Action, DefaultAction, KindView, ViewConfig};

    #[test]
    fn a_record_and_its_view_events_are_sealed_in_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let (mut core, _) = Core::open(&store, ["health"], &IdentityConfig::default()).unwrap();
        let standard = Standard::embedded().unwrap();
        let topics = Topics::default();
        let view = ViewConfig {
            hash_key: None,
            kinds: BTreeMap::from([(
                "health.encounter".to_owned(),
                KindView {
                    default: DefaultAction::Drop,
                    fields: BTreeMap::from([("/encounter_id".to_owned(), Action::Share)]),
                },
            )]),
        };
        let config = BTreeMap::from([("app".to_owned(), view)]);
        let views = Views::build(&config, &standard, &topics, &|_| None).unwrap();
        let item = |n: u8| {
            let canonical = json!({"encounter_id": format!("ENC{n:04}"), "department": "儿科"});
            Prepared::Accepted {
                record: SourceRecord {
                    connector: "health".into(),
                    department: "health".into(),
                    kind: "health.encounter".into(),
                    source_record_id: format!("ENC{n:04}"),
                    payload: canonical.clone(),
                    fetched_at: chrono::Utc::now(),
                },
                canonical,
                id: [n; 16],
                observation: None,
                set_aside: Vec::new(),
            }
        };
        let batch = PreparedBatch {
            connector: "health".into(),
            kind_version: "health.encounter.v1".into(),
            schema_id: "urn:s".into(),
            items: vec![item(1), item(2)],
            cursor: None,
            fetched_at: None,
            intake: None,
        };
        let parts = core.seal(batch, &Publisher::new(topics), &views, 1_000_000);
        let topics: Vec<(&str, Option<&str>)> = parts
            .events
            .iter()
            .map(|e| (e.topic.as_str(), e.header("ce_id")))
            .collect();
        let (one, two) = (hex::encode([1u8; 16]), hex::encode([2u8; 16]));
        assert_eq!(
            topics,
            [
                ("govhub.health.encounter.v1", Some(one.as_str())),
                ("govhub.view.app.health.encounter.v1", Some(one.as_str())),
                ("govhub.health.encounter.v1", Some(two.as_str())),
                ("govhub.view.app.health.encounter.v1", Some(two.as_str())),
            ]
        );
        let viewed: Value = serde_json::from_slice(&parts.events[1].value).unwrap();
        assert_eq!(viewed, json!({"encounter_id": "ENC0001"}));
        assert_eq!(parts.sent.len(), 2);
        assert_eq!(parts.counts.published, 2, "views do not count as records");
    }
}
