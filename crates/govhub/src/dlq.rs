//! The dead-letter topic for operators: list and show rejections, and replay them
//! through the current mapping and schemas after a fix.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use govhub_connect::CursorStore;
use govhub_core::{Batch, Sink, SourceRecord};
use govhub_resolve::identity::{ResolveError, Resolver};
use govhub_schema::Standard;
use govhub_schema::mapping::CompiledMapping;
use govhub_stream::{DeadLetter, EmbeddedLog, LogEntry, Publisher, StreamError, kafka};
use serde_json::Value;

use crate::config::HubConfig;
use crate::lock::{DataDirLock, LockError};
use crate::pipeline::{Counts, Stages};
use crate::sink::HubSink;

/// One dead letter as stored, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Partition (0 in the embedded log).
    pub partition: i32,
    /// Offset within the partition.
    pub offset: u64,
    /// The dead letter's event id (`ce_id`).
    pub id: String,
    /// The dead letter.
    pub letter: DeadLetter,
}

/// Why a dead-letter command failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The topic could not be read or written.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The record of replayed dead letters could not be read or written.
    #[error("replay state under {path}: {source}")]
    State {
        /// Where the state lives.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config's topic prefix is invalid.
    #[error("{0}")]
    Config(String),
    /// A running hub owns the data directory (replay resolves persons with its state).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The identity state could not be opened or written.
    #[error(transparent)]
    Identity(#[from] ResolveError),
}

/// Every dead letter in the configured sink's dead-letter topic, oldest first. Entries
/// that are not dead letters (written by something else) are skipped with a warning.
pub async fn read(config: &HubConfig) -> Result<Vec<Stored>, DlqError> {
    let topic = config
        .topics()
        .map_err(|p| DlqError::Config(p.to_string()))?
        .dlq();
    let entries: Vec<LogEntry> = match &config.kafka {
        Some(kafka) => {
            let kafka = kafka.clone();
            tokio::task::spawn_blocking(move || {
                kafka::read_topic(&kafka, &topic, &BTreeMap::new(), Duration::from_secs(60))
            })
            .await
            .map_err(|e| DlqError::Config(format!("reader task failed: {e}")))??
        }
        None => EmbeddedLog::open(&config.data_dir.join("log"))?.read(&topic)?,
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = entry.header("ce_id").unwrap_or_default().to_owned();
        match serde_json::from_value::<DeadLetter>(entry.value) {
            Ok(letter) => out.push(Stored {
                partition: entry.partition,
                offset: entry.offset,
                id,
                letter,
            }),
            // serde's message can quote the entry's values: log only where it is.
            Err(_) => tracing::warn!(
                partition = entry.partition,
                offset = entry.offset,
                "skipping an entry of the dead-letter topic that is not a dead letter"
            ),
        }
    }
    Ok(out)
}

/// Outcome of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters that now pass and were published to their kind's topic.
    pub published: u64,
    /// Dead letters that still fail; they stay in the dead-letter topic.
    pub still_failing: u64,
    /// Dead letters replayed by an earlier run, left alone.
    pub already_replayed: u64,
    /// Dead letters of connectors the config no longer has, left alone.
    pub unknown_connector: u64,
    /// Still-failing reasons (`stage: keyword at path`), counted.
    pub reasons: BTreeMap<String, u64>,
}

/// Where replayed dead-letter ids are remembered, so a letter is published once.
fn replay_state(config: &HubConfig) -> (CursorStore, &'static str) {
    (CursorStore::new(&config.data_dir.join("dlq")), "replayed")
}

/// Re-runs dead letters (of `connector`, or all) through the current mapping and
/// schemas. Those that pass are resolved to their person like any record and published
/// (keyed by person id, with identity decisions and golden records); the rest stay. Each
/// dead letter is published at most once: replayed ids are remembered under the data
/// directory, after the write. Needs the data directory to itself (no hub running on
/// it): replay changes the identity state the hub owns.
pub async fn replay(
    config: &HubConfig,
    standard: &Standard,
    connector: Option<&str>,
) -> Result<ReplayReport, DlqError> {
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let resolver = Mutex::new(Resolver::open(
        &config.data_dir.join("identity"),
        &config.identity,
    )?);
    let (store, key) = replay_state(config);
    let state_path = store.path(key).display().to_string();
    let state_err = |source| DlqError::State {
        path: state_path.clone(),
        source,
    };
    let done: BTreeSet<String> = store
        .load(key)
        .map_err(state_err)?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let topics = config
        .topics()
        .map_err(|p| DlqError::Config(p.to_string()))?;
    let publisher = Publisher::new(topics);
    let mut report = ReplayReport::default();
    let mut events = Vec::new();
    let mut newly_done = Vec::new();
    let mappings: BTreeMap<&str, CompiledMapping> = config
        .connectors
        .iter()
        .map(|(name, c)| (name.as_str(), c.mapping.compile()))
        .collect();
    for stored in read(config).await? {
        let letter = &stored.letter;
        if connector.is_some_and(|c| c != letter.connector) {
            continue;
        }
        if done.contains(&stored.id) {
            report.already_replayed += 1;
            continue;
        }
        let Some((mapping, schema)) = config
            .connectors
            .get(&letter.connector)
            .and_then(|c| standard.latest(&c.kind))
            .and_then(|s| mappings.get(letter.connector.as_str()).map(|m| (m, s)))
        else {
            report.unknown_connector += 1;
            continue;
        };
        let stages = Stages {
            mapping,
            schema,
            publisher: &publisher,
            fingerprints: None,
            resolver: Some(&resolver),
        };
        let batch = Batch {
            records: vec![SourceRecord {
                connector: letter.connector.clone(),
                department: letter.department.clone(),
                kind: letter.kind.clone(),
                source_record_id: letter.source_record_id.clone(),
                payload: letter.payload.clone(),
                fetched_at: letter.fetched_at,
            }],
            cursor: Value::Null,
        };
        let mut counts = Counts::default();
        let out = stages.process(&batch, &mut counts);
        if counts.published == 1 {
            events.extend(out);
            newly_done.push(stored.id.clone());
            report.published += 1;
        } else {
            // Still failing: its new dead letter is not published again.
            report.still_failing += 1;
            for (reason, n) in counts.reasons {
                *report.reasons.entry(reason).or_default() += n;
            }
        }
    }
    if !events.is_empty() {
        let mut sink = HubSink::from_config(config)?;
        let mut topic_names: Vec<String> = events.iter().map(|e| e.topic.clone()).collect();
        topic_names.sort();
        topic_names.dedup();
        sink.prepare(&topic_names, &[publisher.topics().person()])
            .await?;
        sink.write(events).await?;
        resolver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .commit()?;
        let all: BTreeSet<String> = done.into_iter().chain(newly_done).collect();
        let state = Value::from(all.into_iter().collect::<Vec<_>>());
        let write = tokio::task::spawn_blocking(move || store.store(key, &state)).await;
        write
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(state_err)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use govhub_sim::education::EducationSim;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::hub::Hub;
    use crate::testing::{Registry, registry};

    /// A field-by-field mapping of the simulator's records whose sex table lacks
    /// "female": every girl is rejected by the map stage until it is fixed.
    fn mapping(sex_table: &str) -> govhub_schema::mapping::Mapping {
        let text = format!(
            r#"
"/student_id" = {{ from = "/student_id" }}
"/student/name" = {{ from = "/student/name", normalize = "name" }}
"/student/resident_id" = {{ from = "/student/resident_id", optional = true }}
"/student/sex" = {{ from = "/student/sex", codes = {sex_table} }}
"/student/birth_date" = {{ from = "/student/birth_date" }}
"/school/code" = {{ from = "/school/code" }}
"/school/name" = {{ from = "/school/name", optional = true }}
"/grade" = {{ from = "/grade" }}
"/enrolled_on" = {{ from = "/enrolled_on" }}
"#
        );
        toml::from_str(&text).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_publishes_what_the_fix_admits_once_and_leaves_the_rest() {
        let sim = EducationSim {
            seed: 5,
            students: 120,
            invalid_every: 10,
        };
        let Registry {
            server: _server,
            dir,
            mut config,
        } = registry(&sim).await;
        config.connectors.get_mut("education").unwrap().mapping = mapping(r#"{ "male" = "male" }"#);
        let standard = Arc::new(Standard::embedded().unwrap());
        let mut hub = Hub::build(&config, standard.clone()).await.unwrap();
        let mut counts = BTreeMap::new();
        hub.sync_all(&mut counts, &CancellationToken::new())
            .await
            .unwrap();
        let first = &counts["education"];
        let letters = read(&config).await.unwrap();
        assert_eq!(letters.len() as u64, first.rejected);
        let by_map = letters.iter().filter(|s| s.letter.stage == "map").count() as u64;
        assert!(by_map > 20, "girls rejected by the map stage: {by_map}");

        // Fix the mapping and replay: not while the hub owns the data directory.
        config.connectors.get_mut("education").unwrap().mapping =
            mapping(r#"{ "male" = "male", "female" = "female" }"#);
        let busy = replay(&config, &standard, None).await.unwrap_err();
        assert!(
            matches!(busy, DlqError::Lock(LockError::Busy { .. })),
            "{busy}"
        );
        drop(hub);
        let report = replay(&config, &standard, None).await.unwrap();
        let valid_girls = sim
            .all()
            .filter(|s| s.defect.is_none() && s.value["student"]["sex"] == "female")
            .count() as u64;
        assert_eq!(report.published, valid_girls);
        assert_eq!(report.published + report.still_failing, first.rejected);
        assert_eq!(
            first.published + report.published,
            108,
            "every valid record, once"
        );
        assert!(report.reasons.contains_key("validate: maximum at /grade"));

        // The enrollment topic now holds every valid record exactly once.
        let log = EmbeddedLog::open(&dir.path().join("log")).unwrap();
        let events = log.read("govhub.education.enrollment.v1").unwrap();
        let keys: BTreeSet<Option<String>> = events.iter().map(|e| e.key.clone()).collect();
        assert_eq!((events.len(), keys.len()), (108, 108));
        // Replayed records are resolved like the others: keyed by person id, with a
        // link decision each.
        for e in &events {
            let person = e
                .headers
                .iter()
                .find(|(name, _)| name == "ce_govhubpersonid");
            assert_eq!(person.map(|(_, v)| Some(v.clone())), Some(e.key.clone()));
        }
        let links = log.read("govhub.identity.v1").unwrap();
        assert_eq!(links.len(), 108, "one decision per published record");

        // A second replay publishes nothing again; the failing ones stay.
        let again = replay(&config, &standard, None).await.unwrap();
        assert_eq!(again.published, 0);
        assert_eq!(again.already_replayed, report.published);
        assert_eq!(again.still_failing, report.still_failing);
        assert_eq!(read(&config).await.unwrap().len(), letters.len());
    }
}
