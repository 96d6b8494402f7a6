//! Exactly-once with Kafka: the state store's changes travel in the same Kafka
//! transaction as the events they belong to, as records of the compacted state topic
//! `<prefix>state.v1` ([`govhub_resolve::changelog`]).
//!
//! A write is one transaction: its departmental events, dead letters, identity
//! decisions, golden records, view events and the state records (cursors,
//! fingerprints, decisions, the write's number last). Only once the broker committed
//! it does the local store commit the same changes. So the topic is never behind the
//! events, and the local store is at most one write behind the topic: a hub that died
//! in between, or starts with an empty data directory, rebuilds its store from the
//! topic before it reads a cursor ([`StateTopic::open`]), and resumes exactly after the
//! last committed write. A transaction the hub did not commit is aborted by the next
//! start's `init_transactions`; `read_committed` consumers never see it.
//!
//! The transactional id is `<prefix>hub`: a second hub on the same topics fences the
//! first, whose next commit fails and stops it (never two writers).

use std::collections::BTreeMap;
use std::time::Duration;

use govhub_core::OutEvent;
use govhub_resolve::changelog::{Restore, WRITE_KEY};
use govhub_resolve::identity::Entry;
use govhub_resolve::{ChangeRecord, Commit, StateError, StateStore};
use govhub_stream::{KafkaSink, KafkaSinkConfig, LogEntry, StreamError, Topics, kafka};

/// How long reading the state topic may take at start-up.
const READ_TIMEOUT: Duration = Duration::from_secs(600);
/// How long `init_transactions` may wait for the transaction coordinator.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Records read from the topic's end to find its last write number.
const TAIL: i64 = 64;
/// State records per transaction when filling an empty topic from a store.
const SEED_CHUNK: usize = 5_000;

/// The transactional id of the hub writing the topics of `topics`.
pub fn transactional_id(topics: &Topics) -> String {
    format!("{}hub", topics.prefix())
}

/// Why the store and the state topic could not be brought to agree.
#[derive(Debug, thiserror::Error)]
pub enum StateTopicError {
    /// The broker could not be read or written.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The local store could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The local store holds writes the topic does not.
    #[error(
        "the state store in this data directory is at write {local}, ahead of the state topic {topic} ({remote}): \
         the topic was deleted or belongs to another hub. Point `topic_prefix` at this hub's topics, or move \
         the data directory's state/ away to start from the topic"
    )]
    Ahead {
        /// The state topic.
        topic: String,
        /// The local store's last write.
        local: u64,
        /// The topic's last write, in words.
        remote: String,
    },
}

/// How the store came to agree with the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// Both at the same write (`None`: both empty).
    Current(Option<u64>),
    /// The store was behind and read the records written since it was last read from
    /// the topic, up to write `write`.
    CaughtUp {
        /// The topic's last write.
        write: Option<u64>,
        /// Records read.
        records: usize,
    },
    /// The store was rebuilt from the topic's records, up to write `write`.
    Restored {
        /// The topic's last write.
        write: Option<u64>,
        /// Records read.
        records: usize,
    },
    /// The empty topic was filled from a store that ran without it.
    Seeded {
        /// Records written.
        records: usize,
    },
}

/// The state topic of a running hub: where each write's state records go.
#[derive(Debug)]
pub struct StateTopic {
    topic: String,
    /// The number the next write gets.
    next_write: u64,
    /// What [`StateTopic::open`] found and did.
    pub agreement: Agreement,
}

impl StateTopic {
    /// With a transactional Kafka sink: creates the state topic if missing, fences any
    /// earlier producer of this hub (aborting its open transaction), and makes `store`
    /// agree with the topic ([`agree_with`]). `None` for other sinks.
    pub async fn open(
        kafka: &mut KafkaSink,
        topics: &Topics,
        store: &mut StateStore,
    ) -> Result<Option<StateTopic>, StateTopicError> {
        if !kafka.is_transactional() {
            return Ok(None);
        }
        let topic = topics.state();
        kafka.ensure_single_partition_topic(&topic).await?;
        kafka.init_transactions(INIT_TIMEOUT).await?;
        let config = kafka.config().clone();
        let agreement = agree_with(&config, &topic, store, Some(kafka)).await?;
        let next_write = store.changelog_write()?.map_or(1, |w| w + 1);
        Ok(Some(StateTopic {
            topic,
            next_write,
            agreement,
        }))
    }

    /// Numbers `commit` as the next write and appends its state records to `events`,
    /// the `w` record last: the transaction that writes `events` then commits both.
    pub fn attach(
        &mut self,
        store: &StateStore,
        commit: &mut Commit,
        events: &mut Vec<OutEvent>,
    ) -> Result<(), StateError> {
        let write = self.next_write;
        commit.changelog_write = Some(write);
        let records = store.changelog(commit, write)?;
        events.extend(records.into_iter().map(|r| event_of(&self.topic, r)));
        self.next_write += 1;
        Ok(())
    }

    /// Compacts the identity journal to `entries`: first in the topic, as the next write
    /// ([`StateStore::journal_compaction`]: the decisions kept at new positions, the
    /// journal's bounds moved to them, tombstones for the old ones, a transaction per
    /// chunk), then in `store`. A crash in between leaves the store behind the topic,
    /// which the next start reads; one before the bounds moved leaves the old journal,
    /// and the next start compacts again.
    pub async fn compact_journal(
        &mut self,
        kafka: &mut KafkaSink,
        store: &mut StateStore,
        entries: &[Entry],
    ) -> Result<(), StateTopicError> {
        let write = self.next_write;
        for transaction in store.journal_compaction(entries, write)? {
            let events: Vec<OutEvent> = transaction
                .into_iter()
                .map(|r| event_of(&self.topic, r))
                .collect();
            write_state(kafka, &self.topic, &events).await?;
        }
        store.rewrite_journal(entries)?;
        store.commit(&Commit {
            changelog_write: Some(write),
            ..Commit::default()
        })?;
        self.next_write += 1;
        Ok(())
    }
}

/// Brings `store` to agree with the state topic: nothing when current; caught up from
/// the offset it was last read to, or rebuilt whole, when behind; the empty topic filled
/// from it (with `seed`, the hub's fenced-in producer) when it ran without the topic.
async fn agree_with(
    config: &KafkaSinkConfig,
    topic: &str,
    store: &mut StateStore,
    seed: Option<&mut KafkaSink>,
) -> Result<Agreement, StateTopicError> {
    let tail = read_tail(config, topic).await?;
    let mut remote = last_write(&tail);
    if remote.is_none() && !tail.is_empty() {
        // The last records were all of aborted writes: look through the whole topic.
        remote = whole_topic_last_write(config, topic).await?;
    }
    let local = store.changelog_write()?;
    Ok(match (local, remote) {
        (local, remote) if local == remote && (local.is_some() || store.is_empty()) => {
            Agreement::Current(local)
        }
        (None, None) => {
            let Some(kafka) = seed else {
                // A standby does not write: the active instance fills the topic.
                return Ok(Agreement::Current(None));
            };
            let events: Vec<OutEvent> = store
                .export(1)?
                .into_iter()
                .map(|r| event_of(topic, r))
                .collect();
            for chunk in events.chunks(SEED_CHUNK) {
                write_state(kafka, topic, chunk).await?;
            }
            let count = events.len();
            store.commit(&Commit {
                changelog_write: Some(1),
                ..Commit::default()
            })?;
            Agreement::Seeded { records: count }
        }
        (Some(local), remote) if remote.is_none_or(|r| r < local) => {
            return Err(StateTopicError::Ahead {
                topic: topic.to_owned(),
                local,
                remote: remote.map_or_else(|| "empty".to_owned(), |r| format!("write {r}")),
            });
        }
        (local, _) => {
            let from = match local {
                Some(_) => store.changelog_offset()?,
                None => None,
            };
            let (write, records) = restore(config, topic, store, from)?;
            match from {
                Some(_) => Agreement::CaughtUp { write, records },
                None => Agreement::Restored { write, records },
            }
        }
    })
}

/// Brings a standby's `store` up to the state topic of the hub writing `topics`, so
/// that it has little to read when it takes over. Writes nothing to Kafka.
pub async fn catch_up(
    config: &KafkaSinkConfig,
    topics: &Topics,
    store: &mut StateStore,
) -> Result<Agreement, StateTopicError> {
    agree_with(config, &topics.state(), store, None).await
}

/// Writes the state records `events` alone in one transaction.
async fn write_state(
    kafka: &mut KafkaSink,
    topic: &str,
    events: &[OutEvent],
) -> Result<(), StreamError> {
    let refused = kafka.write_each(events).await?;
    if let Some(reason) = refused.into_iter().flatten().next() {
        return Err(StreamError::Rejected {
            topic: topic.to_owned(),
            reason,
        });
    }
    Ok(())
}

/// A state record as an event of the state topic (no value: a tombstone).
fn event_of(topic: &str, record: ChangeRecord) -> OutEvent {
    OutEvent {
        topic: topic.to_owned(),
        key: Some(record.key),
        headers: Vec::new(),
        value: record.value.unwrap_or_default(),
    }
}

/// A record read back from the state topic, its value as written.
fn record_of(key: Option<&[u8]>, value: Option<&[u8]>) -> ChangeRecord {
    ChangeRecord {
        key: String::from_utf8_lossy(key.unwrap_or_default()).into_owned(),
        value: value.map(<[u8]>::to_vec),
    }
}

/// The write number `entry` carries, if it is the `w` record.
fn write_of(entry: &LogEntry) -> Option<u64> {
    (entry.key.as_deref() == Some(WRITE_KEY))
        .then(|| entry.value.as_u64())
        .flatten()
}

fn last_write(entries: &[LogEntry]) -> Option<u64> {
    entries.iter().rev().find_map(write_of)
}

/// The last records of the state topic (committed ones only).
async fn read_tail(config: &KafkaSinkConfig, topic: &str) -> Result<Vec<LogEntry>, StreamError> {
    let (config, topic) = (config.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || kafka::read_topic_tail(&config, &topic, TAIL, READ_TIMEOUT))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The last write number in the whole state topic.
async fn whole_topic_last_write(
    config: &KafkaSinkConfig,
    topic: &str,
) -> Result<Option<u64>, StreamError> {
    let (config, topic) = (config.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut last = None;
        kafka::read_topic_each(
            &config,
            &topic,
            &BTreeMap::new(),
            READ_TIMEOUT,
            &mut |key, value| {
                if key == Some(WRITE_KEY.as_bytes()) {
                    last = record_of(key, value).write_number().or(last);
                }
            },
        )
        .map(|_| last)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Rebuilds `store` from the state topic, or with `from` goes on from that offset
/// ([`Restore::resume`]), reading and writing a chunk at a time: the write number
/// reached and the records read. Blocks, on a thread that may.
fn restore(
    config: &KafkaSinkConfig,
    topic: &str,
    store: &mut StateStore,
    from: Option<i64>,
) -> Result<(Option<u64>, usize), StateTopicError> {
    let mut run = || {
        let mut restore = match from {
            Some(_) => Restore::resume(store)?,
            None => Restore::begin(store)?,
        };
        let start: BTreeMap<i32, i64> = from.map(|o| (0, o)).into_iter().collect();
        let (mut records, mut failed) = (0, None);
        let ends =
            kafka::read_topic_each(config, topic, &start, READ_TIMEOUT, &mut |key, value| {
                records += 1;
                if failed.is_none() {
                    failed = restore.add(record_of(key, value)).err();
                }
            })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        // One partition: where the next catch-up goes on.
        Ok((restore.finish(ends.get(&0).copied())?, records))
    };
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}
