//! The dead-letter topic for operators: list and show rejections, and replay them
//! through the current mapping and schemas after a fix.

use std::collections::BTreeMap;
use std::time::Duration;

use govhub_core::{Sink, SourceRecord};
use govhub_resolve::identity::ResolveError;
use govhub_resolve::{Commit, StateError, StateStore};
use govhub_schema::Standard;
use govhub_schema::mapping::CompiledMapping;
use govhub_stream::{DeadLetter, EmbeddedLog, LogEntry, Publisher, StreamError, kafka};

use crate::config::HubConfig;
use crate::lock::{DataDirLock, LockError};
use crate::pipeline::{Prepared, Stages};
use crate::runtime::PreparedBatch;
use crate::runtime::resolve::Core;
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
    /// The state store (replayed dead letters, identity, fingerprints) could not be
    /// read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The config's topic prefix is invalid.
    #[error("{0}")]
    Config(String),
    /// A running hub owns the data directory (replay resolves persons with its state).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The identity state could not be opened or written.
    #[error(transparent)]
    Identity(#[from] ResolveError),
    /// The state store and the Kafka state topic could not be brought to agree.
    #[error(transparent)]
    StateTopic(#[from] crate::state_topic::StateTopicError),
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

/// Re-runs dead letters (of `connector`, or all) through the current mapping and
/// schemas. Those that pass are resolved to their person like any record and published
/// (keyed by person id, with identity decisions and golden records); the rest stay. Each
/// dead letter is published at most once: replayed ids are committed to the state
/// store with the identity decisions, after the write. Needs the data directory to
/// itself (no hub running on it): replay changes the identity state the hub owns.
pub async fn replay(
    config: &HubConfig,
    standard: &Standard,
    connector: Option<&str>,
) -> Result<ReplayReport, DlqError> {
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let mut store = StateStore::open(&config.data_dir)?;
    let topics = config
        .topics()
        .map_err(|p| DlqError::Config(p.to_string()))?;
    let mut sink = HubSink::from_config(config, &topics)?;
    // With exactly-once, the store agrees with the state topic before identity state is
    // read from it, and the replay's state goes in the replay's transaction.
    if sink.is_transactional() {
        sink.prepare(&[], &[]).await?;
        sink.open_state(&topics, &mut store).await?;
    }
    // A long journal is left for the hub's next start to compact.
    let (mut core, _) = Core::open(
        &store,
        config.connectors.keys().map(String::as_str),
        &config.identity,
    )?;
    let views = crate::views::Views::build(&config.views, standard, &topics, &|var| {
        std::env::var(var).ok()
    })
    .map_err(|found| {
        let found: Vec<String> = found.iter().map(|(p, m)| format!("{p}: {m}")).collect();
        DlqError::Config(found.join("; "))
    })?;
    let publisher = Publisher::new(topics);
    let max_event_bytes = usize::try_from(config.max_event_bytes.get()).unwrap_or(usize::MAX);
    let mut report = ReplayReport::default();
    let mut events = Vec::new();
    let mut commit = Commit::default();
    let mappings: BTreeMap<&str, CompiledMapping> = config
        .connectors
        .iter()
        .map(|(name, c)| (name.as_str(), c.mapping.compile()))
        .collect();
    for stored in read(config).await? {
        let letter = stored.letter;
        if connector.is_some_and(|c| c != letter.connector) {
            continue;
        }
        if store.replayed(&stored.id)? {
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
        let record = SourceRecord {
            connector: letter.connector,
            department: letter.department,
            kind: letter.kind,
            source_record_id: letter.source_record_id,
            payload: letter.payload,
            fetched_at: letter.fetched_at,
        };
        let (fetched_at, connector_name) = (record.fetched_at, record.connector.clone());
        match (Stages { mapping, schema }).prepare(record, &publisher) {
            accepted @ Prepared::Accepted { .. } => {
                let batch = PreparedBatch {
                    connector: connector_name.into(),
                    kind_version: schema.topic_suffix().into(),
                    schema_id: schema.id.as_str().into(),
                    items: vec![accepted],
                    cursor: None,
                    fetched_at: Some(fetched_at),
                    intake: None,
                };
                let sealed = core.seal(batch, &publisher, &views, max_event_bytes);
                events.extend(sealed.events);
                commit.append(sealed.commit);
                commit.replayed.push(stored.id);
                report.published += 1;
            }
            Prepared::Rejected { reasons, .. } => {
                // Still failing: its new dead letter is not published again.
                report.still_failing += 1;
                for reason in reasons {
                    *report.reasons.entry(reason).or_default() += 1;
                }
            }
        }
    }
    if !events.is_empty() {
        let mut topic_names: Vec<String> = events.iter().map(|e| e.topic.clone()).collect();
        topic_names.sort();
        topic_names.dedup();
        sink.prepare(&topic_names, &[publisher.topics().person()])
            .await?;
        sink.attach_state(&store, &mut commit, &mut events)?;
        sink.write(events).await?;
        store.commit(&commit)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
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
        // A view of the kind: replayed records reach it too.
        config.views = toml::from_str(
            r#"[school_app.kinds."education.enrollment"]
fields = { "/student_id" = "share", "/grade" = "share" }"#,
        )
        .unwrap();
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
        let events = log.read("govhub.education.enrollment.v2").unwrap();
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
        // And the view has every one of them, replayed or not, with the same ids.
        let ids = |events: &[govhub_stream::LogEntry]| -> BTreeSet<String> {
            events
                .iter()
                .filter_map(|e| e.header("ce_id").map(str::to_owned))
                .collect()
        };
        let viewed = log
            .read("govhub.view.school_app.education.enrollment.v2")
            .unwrap();
        assert_eq!(viewed.len(), 108);
        assert_eq!(ids(&viewed), ids(&events));
        assert!(
            viewed
                .iter()
                .all(|e| e.value.as_object().is_some_and(|m| m.len() == 2))
        );

        // A second replay publishes nothing again; the failing ones stay.
        let again = replay(&config, &standard, None).await.unwrap();
        assert_eq!(again.published, 0);
        assert_eq!(again.already_replayed, report.published);
        assert_eq!(again.still_failing, report.still_failing);
        assert_eq!(read(&config).await.unwrap().len(), letters.len());
    }
}
