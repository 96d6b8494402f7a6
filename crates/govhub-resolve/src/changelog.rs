//! The state store as a changelog: each commit as records of a compacted Kafka topic
//! (`<prefix>state.v1`), written in the same Kafka transaction as the events it
//! commits. The topic then holds, at every committed transaction, exactly the state
//! those events left behind, and a hub whose data directory is empty or behind (it
//! died between the broker's commit and its own) rebuilds its store from the topic
//! ([`StateStore::restore`]) and resumes where the last committed write ended.
//!
//! Keys are text and values JSON, so `kcat` shows what is there; a record without a
//! value deletes its key (a tombstone, which compaction removes in time):
//!
//! | key | value |
//! |---|---|
//! | `c/<connector>` | the committed cursor |
//! | `f/<connector>/<key hash, 16 hex>` | the event id last published, 32 hex |
//! | `j/<position, 16 hex>` | an identity decision, by its position in the journal |
//! | `j` | `{"start": S, "end": E}`: the journal is the decisions at positions S to E − 1 |
//! | `r/<dead-letter id>` | `true`: replayed |
//! | `m/identity_model` | the re-estimated identity model |
//! | `s/<subscriber>/<kind>/<day>` | a line of the sharing log |
//! | `w` | the write's number, the last record of every write |
//!
//! The local store remembers the number of the last write it committed; at start-up the
//! hub compares it with the topic's last `w` to know whether the store is current.
//!
//! The identity journal only grows, a decision per change of a record, so the hub
//! compacts it now and then ([`StateStore::journal_compaction`]): the decisions that
//! still matter are written again at the next free positions, the `j` record moves the
//! journal's start past the old ones, and tombstones let Kafka's compaction remove
//! them. Positions are never reused, so a reader that takes every record in topic order
//! and keeps the positions within the last `j` has the journal of the last committed
//! write, however far a compaction had got when the writer died.

use std::collections::BTreeMap;

use fjall::{Keyspace, PersistMode};

use crate::state::{Commit, StateError, StateStore, encode, fingerprint_row};

/// The key of the write-number record, last in every write.
pub const WRITE_KEY: &str = "w";

/// Where the local store keeps the number of the last write it committed.
pub(crate) const LOCAL_WRITE_KEY: &str = "changelog_write";

/// Where the local store keeps the state topic's offset it has read up to, when it
/// was last restored or caught up from the topic.
const LOCAL_OFFSET_KEY: &str = "changelog_offset";

/// Rows written per local batch while restoring.
const RESTORE_CHUNK: usize = 100_000;

/// One record of the state topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    /// The key (see the module's table).
    pub key: String,
    /// JSON; `None` deletes the key.
    pub value: Option<Vec<u8>>,
}

impl ChangeRecord {
    fn put(key: String, value: impl Into<Vec<u8>>) -> Self {
        ChangeRecord {
            key,
            value: Some(value.into()),
        }
    }

    /// The write number this record carries, if it is the `w` record.
    pub fn write_number(&self) -> Option<u64> {
        if self.key != WRITE_KEY {
            return None;
        }
        serde_json::from_slice(self.value.as_deref()?).ok()
    }
}

fn fingerprint_key(connector: &str, hash: u64) -> String {
    format!("f/{connector}/{hash:016x}")
}

fn journal_key(position: u64) -> String {
    format!("j/{position:016x}")
}

/// The key of the record with the journal's bounds.
const BOUNDS_KEY: &str = "j";

fn bounds_record(start: u64, end: u64) -> ChangeRecord {
    ChangeRecord::put(
        BOUNDS_KEY.to_owned(),
        format!("{{\"start\":{start},\"end\":{end}}}"),
    )
}

/// Identity decisions written per transaction by a compaction.
pub const COMPACTION_CHUNK: usize = 50_000;

fn quoted_hex(id: u128) -> String {
    format!("\"{id:032x}\"")
}

fn write_record(write: u64) -> ChangeRecord {
    ChangeRecord::put(WRITE_KEY.to_owned(), write.to_string())
}

impl StateStore {
    /// The number of the last write to the state topic this store committed; `None`
    /// when it committed none (a new store, or one that never ran with the topic).
    pub fn changelog_write(&self) -> Result<Option<u64>, StateError> {
        Ok(self
            .meta_8(LOCAL_WRITE_KEY, "changelog write number")?
            .map(u64::from_be_bytes))
    }

    /// The state topic's offset this store was last restored or caught up to (the next
    /// offset to read), if ever. Writes committed since may lie after it: reading on
    /// from there is safe, as [`Restore::resume`] skips what the store holds.
    pub fn changelog_offset(&self) -> Result<Option<i64>, StateError> {
        Ok(self
            .meta_8(LOCAL_OFFSET_KEY, "changelog offset")?
            .map(i64::from_be_bytes))
    }

    /// `commit`, to be committed as write number `write` (its `changelog_write`), as
    /// records of the state topic, the `w` record last. Connectors whose fingerprints
    /// `commit` forgets get a tombstone for each fingerprint this store holds.
    pub fn changelog(&self, commit: &Commit, write: u64) -> Result<Vec<ChangeRecord>, StateError> {
        let mut out = Vec::new();
        for (connector, cursor) in &commit.cursors {
            out.push(ChangeRecord::put(
                format!("c/{connector}"),
                cursor.to_string(),
            ));
        }
        for connector in &commit.forget {
            for hash in self.fingerprints(connector)?.into_keys() {
                out.push(ChangeRecord {
                    key: fingerprint_key(connector, hash),
                    value: None,
                });
            }
        }
        for (connector, published) in &commit.fingerprints {
            for (hash, id) in published {
                out.push(ChangeRecord::put(
                    fingerprint_key(connector, *hash),
                    quoted_hex(*id),
                ));
            }
        }
        if !commit.journal.is_empty() {
            let (start, end) = self.journal_bounds()?;
            for (n, row) in encode(&commit.journal).into_iter().enumerate() {
                out.push(ChangeRecord::put(journal_key(end + n as u64), row));
            }
            out.push(bounds_record(start, end + commit.journal.len() as u64));
        }
        for id in &commit.replayed {
            out.push(ChangeRecord::put(format!("r/{id}"), "true"));
        }
        if let Some(model) = &commit.model {
            out.push(ChangeRecord::put(
                format!("m/{}", crate::state::MODEL_KEY),
                model.as_str(),
            ));
        }
        for (key, line) in &commit.sharing {
            out.push(ChangeRecord::put(
                format!("s/{}", key.replace('\0', "/")),
                line.as_str(),
            ));
        }
        out.push(write_record(write));
        Ok(out)
    }

    /// Everything this store holds, as the records of write number `write`, the `w`
    /// record last: what fills an empty state topic from a store that ran without it.
    pub fn export(&self, write: u64) -> Result<Vec<ChangeRecord>, StateError> {
        let mut out = Vec::new();
        for row in self.cursors.iter() {
            let (k, v) = row.into_inner().map_err(|e| self.err(e))?;
            out.push(ChangeRecord::put(
                format!("c/{}", String::from_utf8_lossy(&k)),
                v.to_vec(),
            ));
        }
        for row in self.fingerprints.iter() {
            let (k, v) = row.into_inner().map_err(|e| self.err(e))?;
            let split = k.iter().position(|&b| b == 0);
            let (Some(split), Ok(id)) = (split, <[u8; 16]>::try_from(v.as_ref())) else {
                return Err(self.err("a fingerprint entry has the wrong form"));
            };
            let Ok(hash) = <[u8; 8]>::try_from(&k[split + 1..]) else {
                return Err(self.err("a fingerprint entry has the wrong form"));
            };
            out.push(ChangeRecord::put(
                fingerprint_key(
                    &String::from_utf8_lossy(&k[..split]),
                    u64::from_be_bytes(hash),
                ),
                quoted_hex(u128::from_be_bytes(id)),
            ));
        }
        for row in self.journal.iter() {
            let (k, v) = row.into_inner().map_err(|e| self.err(e))?;
            out.push(ChangeRecord::put(
                journal_key(crate::state::seq_of(&k)),
                v.to_vec(),
            ));
        }
        let (start, end) = self.journal_bounds()?;
        out.push(bounds_record(start, end));
        for row in self.replayed.iter() {
            let k = row.key().map_err(|e| self.err(e))?;
            out.push(ChangeRecord::put(
                format!("r/{}", String::from_utf8_lossy(&k)),
                "true",
            ));
        }
        if let Some(model) = self.trained_model()? {
            out.push(ChangeRecord::put(
                format!("m/{}", crate::state::MODEL_KEY),
                model,
            ));
        }
        for row in self.sharing.iter() {
            let (k, v) = row.into_inner().map_err(|e| self.err(e))?;
            out.push(ChangeRecord::put(
                format!("s/{}", String::from_utf8_lossy(&k).replace('\0', "/")),
                v.to_vec(),
            ));
        }
        out.push(write_record(write));
        Ok(out)
    }

    /// The journal compacted to `entries` ([`crate::identity::Resolver::load`]) as the
    /// state topic's transactions, to be committed in order as write number `write`
    /// (the next one), and then in this store by [`StateStore::rewrite_journal`] and a
    /// commit of `write`:
    /// - `entries` at the positions after the journal's end, [`COMPACTION_CHUNK`] a
    ///   transaction; outside the journal's bounds still, so a reader ignores them;
    /// - the bounds moved to them, with `write`: from here the journal is `entries`;
    /// - tombstones for the positions of the old journal, [`COMPACTION_CHUNK`] a
    ///   transaction, so that Kafka's compaction removes them.
    ///
    /// Every transaction ends with a `w` record: the write number the store has after it.
    pub fn journal_compaction(
        &self,
        entries: &[crate::identity::Entry],
        write: u64,
    ) -> Result<Vec<Vec<ChangeRecord>>, StateError> {
        let (start, end) = self.journal_bounds()?;
        let before = self.changelog_write()?;
        let restate = |mut records: Vec<ChangeRecord>, w: Option<u64>| {
            records.extend(w.map(write_record));
            records
        };
        let mut transactions = Vec::new();
        let rows: Vec<ChangeRecord> = encode(entries)
            .into_iter()
            .enumerate()
            .map(|(n, row)| ChangeRecord::put(journal_key(end + n as u64), row))
            .collect();
        for chunk in rows.chunks(COMPACTION_CHUNK) {
            transactions.push(restate(chunk.to_vec(), before));
        }
        let moved = vec![bounds_record(end, end + entries.len() as u64)];
        transactions.push(restate(moved, Some(write)));
        let tombstones: Vec<ChangeRecord> = (start..end)
            .map(|position| ChangeRecord {
                key: journal_key(position),
                value: None,
            })
            .collect();
        for chunk in tombstones.chunks(COMPACTION_CHUNK) {
            transactions.push(restate(chunk.to_vec(), Some(write)));
        }
        Ok(transactions)
    }

    /// Replaces everything in this store by what `records`, the state topic's committed
    /// records in topic order, say: the latest value of each key, every identity
    /// decision in order, and the last write number. Returns that write number (`None`
    /// for an empty topic). See [`Restore`] to feed records as they are read.
    pub fn restore(
        &mut self,
        records: impl IntoIterator<Item = ChangeRecord>,
    ) -> Result<Option<u64>, StateError> {
        let mut restore = Restore::begin(self)?;
        for record in records {
            restore.add(record)?;
        }
        restore.finish(None)
    }
}

/// A restore from the state topic under way: the store was emptied, and records are
/// added in topic order, written a chunk at a time, so memory stays bounded however
/// long the topic is. The write number goes in last ([`Restore::finish`]): a restore
/// cut short leaves a store that does not claim to be current, and the next start
/// restores again.
#[derive(Debug)]
pub struct Restore<'a> {
    store: &'a mut StateStore,
    /// Keys of the chunk with their latest value (`None`: deleted); a topic not yet
    /// compacted holds a key several times.
    chunk: BTreeMap<String, Option<Vec<u8>>>,
    /// Identity decisions of the chunk by position (`None`: deleted).
    journal: BTreeMap<u64, Option<Vec<u8>>>,
    /// The last write number seen.
    write: Option<u64>,
    /// The journal's last bounds seen.
    bounds: Option<(u64, u64)>,
}

impl<'a> Restore<'a> {
    /// Empties `store` and starts restoring into it.
    pub fn begin(store: &'a mut StateStore) -> Result<Restore<'a>, StateError> {
        let mut batch = store.db.batch().durability(Some(PersistMode::SyncAll));
        for keyspace in store.keyspaces() {
            for row in keyspace.iter() {
                let key = row.key().map_err(|e| store.err(e))?;
                batch.remove(keyspace, key);
            }
        }
        batch.commit().map_err(|e| store.err(e))?;
        store.next_seq = 0;
        Ok(Restore {
            store,
            chunk: BTreeMap::new(),
            journal: BTreeMap::new(),
            write: None,
            bounds: None,
        })
    }

    /// Goes on from what `store` holds, for records read from some offset up to which
    /// it was current (or earlier): keys, identity decisions' positions among them, take
    /// their values again in topic order, which ends at the latest.
    pub fn resume(store: &'a mut StateStore) -> Result<Restore<'a>, StateError> {
        let held = store.changelog_write()?;
        // The store's own bounds until the topic moves them: decisions a compaction
        // wrote beyond them, read before its bounds record is, stay out.
        let bounds = store.journal_bounds()?;
        Ok(Restore {
            store,
            chunk: BTreeMap::new(),
            journal: BTreeMap::new(),
            write: held,
            bounds: Some(bounds),
        })
    }

    /// Adds the next record of the topic.
    pub fn add(&mut self, record: ChangeRecord) -> Result<(), StateError> {
        if let Some(n) = record.write_number() {
            self.write = Some(n);
        } else if record.key == BOUNDS_KEY {
            let bounds = record
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                .and_then(|v| Some((v["start"].as_u64()?, v["end"].as_u64()?)));
            let Some(bounds) = bounds else {
                return Err(self
                    .store
                    .err("state topic: the journal's bounds do not parse"));
            };
            self.bounds = Some(bounds);
        } else if let Some(rest) = record.key.strip_prefix("j/") {
            let Ok(position) = u64::from_str_radix(rest, 16) else {
                return Err(self
                    .store
                    .err(format!("state topic: unknown key form {:?}", record.key)));
            };
            self.journal.insert(position, record.value);
        } else {
            self.chunk.insert(record.key, record.value);
        }
        if self.chunk.len() + self.journal.len() >= RESTORE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the restored store's write number (it is current) and, when given, the
    /// topic's offset it was read up to (the next to read).
    pub fn finish(mut self, next_offset: Option<i64>) -> Result<Option<u64>, StateError> {
        self.flush()?;
        let store = &mut *self.store;
        let mut batch = store.db.batch().durability(Some(PersistMode::SyncAll));
        // The journal is what lies within its bounds: a compaction's decisions not yet
        // moved into them, and the decisions it moved out of them, are not.
        if let Some((start, end)) = self.bounds {
            let outside = store
                .journal
                .range(..start.to_be_bytes())
                .chain(store.journal.range(end.to_be_bytes()..));
            for row in outside {
                batch.remove(&store.journal, row.key().map_err(|e| store.err(e))?);
            }
            store.next_seq = end;
        }
        if let Some(write) = self.write {
            batch.insert(&store.meta, LOCAL_WRITE_KEY, write.to_be_bytes());
        }
        if let Some(offset) = next_offset {
            batch.insert(&store.meta, LOCAL_OFFSET_KEY, offset.to_be_bytes());
        }
        batch.commit().map_err(|e| store.err(e))?;
        Ok(self.write)
    }

    /// Writes the chunk; later chunks overwrite what earlier ones wrote.
    fn flush(&mut self) -> Result<(), StateError> {
        let store = &mut *self.store;
        let mut batch = store.db.batch().durability(Some(PersistMode::SyncAll));
        for (key, value) in std::mem::take(&mut self.chunk) {
            let Some((tag, rest)) = key.split_once('/') else {
                return Err(store.err(format!("state topic: unknown key form {key:?}")));
            };
            let (keyspace, k, v): (&Keyspace, Vec<u8>, Option<Vec<u8>>) = match tag {
                "c" => (&store.cursors, rest.as_bytes().to_vec(), value),
                "f" => {
                    let Some((connector, hash)) = rest
                        .rsplit_once('/')
                        .and_then(|(c, h)| Some((c, u64::from_str_radix(h, 16).ok()?)))
                    else {
                        return Err(store.err("state topic: a fingerprint key has the wrong form"));
                    };
                    let k = fingerprint_row(connector, hash);
                    let id = match value {
                        None => None,
                        Some(value) => {
                            let id = serde_json::from_slice::<String>(&value)
                                .ok()
                                .and_then(|id| u128::from_str_radix(&id, 16).ok());
                            let Some(id) = id else {
                                return Err(store
                                    .err("state topic: a fingerprint value has the wrong form"));
                            };
                            Some(id.to_be_bytes().to_vec())
                        }
                    };
                    (&store.fingerprints, k, id)
                }
                "r" => (
                    &store.replayed,
                    rest.as_bytes().to_vec(),
                    value.map(|_| Vec::new()),
                ),
                "m" => (&store.meta, rest.as_bytes().to_vec(), value),
                "s" => (&store.sharing, rest.replace('/', "\0").into_bytes(), value),
                _ => return Err(store.err(format!("state topic: unknown key form {key:?}"))),
            };
            match v {
                Some(v) => batch.insert(keyspace, k, v),
                None => batch.remove(keyspace, k),
            }
        }
        for (position, entry) in std::mem::take(&mut self.journal) {
            match entry {
                Some(entry) => {
                    batch.insert(&store.journal, position.to_be_bytes(), entry);
                    store.next_seq = store.next_seq.max(position + 1);
                }
                None => batch.remove(&store.journal, position.to_be_bytes()),
            }
        }
        batch.commit().map_err(|e| store.err(e))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::tests::entry;

    /// What a store holds, in comparable form.
    fn contents(store: &StateStore) -> impl PartialEq + std::fmt::Debug {
        (
            store.cursor("edu").unwrap(),
            store.cursor("health").unwrap(),
            store
                .fingerprints("edu")
                .unwrap()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            store
                .fingerprints("health")
                .unwrap()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            store.journal().unwrap(),
            store.replayed("dl1").unwrap(),
            store.replayed("dl2").unwrap(),
            store.trained_model().unwrap(),
            store.sharing_log().unwrap(),
        )
    }

    /// Commits `commits` to `store` as writes 1, 2, …, returning the state topic's records.
    fn commit_all(store: &mut StateStore, commits: Vec<Commit>) -> Vec<ChangeRecord> {
        let mut topic = Vec::new();
        for (n, mut commit) in commits.into_iter().enumerate() {
            let write = n as u64 + 1;
            commit.changelog_write = Some(write);
            topic.extend(store.changelog(&commit, write).unwrap());
            store.commit(&commit).unwrap();
        }
        topic
    }

    fn history() -> Vec<Commit> {
        let mut first = Commit::default();
        first.cursors.insert("edu".into(), json!({"page": 3}));
        first
            .fingerprints
            .push(("edu".into(), vec![(7, 99), (8, 100)]));
        first.fingerprints.push(("health".into(), vec![(7, 5)]));
        first.journal = vec![entry("H1", "p1"), entry("H2", "p1")];
        first.sharing.push((
            "app\0health.encounter\x002026-12-02".into(),
            "{\"events\":1}".into(),
        ));
        let mut second = Commit::default();
        second.cursors.insert("edu".into(), json!({"page": 4}));
        second
            .cursors
            .insert("health".into(), json!({"since": "2026-12-01"}));
        second.forget.push("health".into());
        second.fingerprints.push(("health".into(), vec![(9, 6)]));
        second.fingerprints.push(("edu".into(), vec![(7, 101)]));
        second.journal = vec![entry("H3", "p2")];
        second.replayed.push("dl1".into());
        second.model = Some("{\"model\":true}".into());
        second.sharing.push((
            "app\0health.encounter\x002026-12-02".into(),
            "{\"events\":2}".into(),
        ));
        vec![first, second]
    }

    #[test]
    fn a_store_restored_from_the_changelog_equals_the_one_that_wrote_it() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut source = StateStore::open(a.path()).unwrap();
        let topic = commit_all(&mut source, history());
        assert_eq!(topic.last().unwrap().write_number(), Some(2));
        assert!(
            topic
                .iter()
                .any(|r| r.key == "f/health/0000000000000007" && r.value.is_none()),
            "the forgotten fingerprint is deleted"
        );
        assert_eq!(source.changelog_write().unwrap(), Some(2));

        let mut restored = StateStore::open(b.path()).unwrap();
        // Stale contents are replaced, not merged.
        restored
            .commit(&Commit {
                replayed: vec!["dl2".into()],
                ..Commit::default()
            })
            .unwrap();
        assert_eq!(restored.restore(topic).unwrap(), Some(2));
        assert_eq!(contents(&restored), contents(&source));
        assert_eq!(restored.changelog_write().unwrap(), Some(2));
        // New decisions follow the restored ones.
        let next = Commit {
            journal: vec![entry("H4", "p3")],
            ..Commit::default()
        };
        restored.commit(&next).unwrap();
        assert_eq!(restored.journal().unwrap().len(), 4);
        drop(restored);
        let reopened = StateStore::open(b.path()).unwrap();
        assert_eq!(reopened.journal().unwrap().last(), Some(&entry("H4", "p3")));
    }

    #[test]
    fn an_export_restores_to_the_same_store_and_an_empty_topic_to_an_empty_one() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut source = StateStore::open(a.path()).unwrap();
        for commit in history() {
            source.commit(&commit).unwrap();
        }
        assert_eq!(source.changelog_write().unwrap(), None);
        let exported = source.export(1).unwrap();
        let mut restored = StateStore::open(b.path()).unwrap();
        assert_eq!(restored.restore(exported).unwrap(), Some(1));
        assert_eq!(contents(&restored), contents(&source));
        assert_eq!(restored.restore(Vec::new()).unwrap(), None);
        assert_eq!(restored.cursor("edu").unwrap(), None);
        assert_eq!(restored.changelog_write().unwrap(), None);
    }

    #[test]
    fn a_restore_longer_than_a_chunk_keeps_the_latest_value_of_each_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        let fingerprint =
            |hash: u64, id: u128| ChangeRecord::put(fingerprint_key("edu", hash), quoted_hex(id));
        let mut topic: Vec<ChangeRecord> = (0..RESTORE_CHUNK as u64)
            .map(|h| fingerprint(h, 1))
            .collect();
        // In the next chunk: one key changed, one deleted, decisions on both sides.
        topic.insert(
            10,
            ChangeRecord::put(
                journal_key(0),
                serde_json::to_vec(&entry("H1", "p1")).unwrap(),
            ),
        );
        topic.push(fingerprint(7, 2));
        topic.push(ChangeRecord {
            key: fingerprint_key("edu", 8),
            value: None,
        });
        topic.push(ChangeRecord::put(
            journal_key(1),
            serde_json::to_vec(&entry("H2", "p1")).unwrap(),
        ));
        topic.push(write_record(2));
        assert_eq!(store.restore(topic).unwrap(), Some(2));
        let fingerprints = store.fingerprints("edu").unwrap();
        assert_eq!(fingerprints.len(), RESTORE_CHUNK - 1);
        assert_eq!(
            (fingerprints[&7], fingerprints.get(&8), fingerprints[&9]),
            (2, None, 1)
        );
        assert_eq!(
            store.journal().unwrap(),
            vec![entry("H1", "p1"), entry("H2", "p1")]
        );
    }

    #[test]
    fn resuming_from_an_earlier_offset_applies_no_decision_twice() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut source = StateStore::open(a.path()).unwrap();
        let topic = commit_all(&mut source, history());
        // A follower restored the first write alone, then the topic grew.
        let first_write_ends = topic
            .iter()
            .position(|r| r.write_number() == Some(1))
            .unwrap();
        let mut follower = StateStore::open(b.path()).unwrap();
        let mut restore = Restore::begin(&mut follower).unwrap();
        for record in topic[..=first_write_ends].iter().cloned() {
            restore.add(record).unwrap();
        }
        restore.finish(Some(3)).unwrap();
        assert_eq!(follower.changelog_offset().unwrap(), Some(3));
        // Catching up from an offset before where it stood: the whole topic again.
        let mut resume = Restore::resume(&mut follower).unwrap();
        for record in topic {
            resume.add(record).unwrap();
        }
        assert_eq!(resume.finish(Some(9)).unwrap(), Some(2));
        assert_eq!(contents(&follower), contents(&source));
        assert_eq!(follower.journal().unwrap().len(), 3, "no decision twice");
        assert_eq!(follower.changelog_offset().unwrap(), Some(9));
    }

    /// The topic as Kafka's compaction leaves it at the latest: the last record of each
    /// key, in topic order, deleted keys gone.
    fn compacted(topic: &[ChangeRecord]) -> Vec<ChangeRecord> {
        let last: BTreeMap<&str, usize> = topic
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.as_str(), i))
            .collect();
        topic
            .iter()
            .enumerate()
            .filter(|(i, r)| last[r.key.as_str()] == *i && r.value.is_some())
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn restored(dir: &std::path::Path, topic: &[ChangeRecord]) -> StateStore {
        let mut store = StateStore::open(dir).unwrap();
        store.restore(topic.to_vec()).unwrap();
        store
    }

    #[test]
    fn a_compacted_journal_restores_whole_wherever_the_compaction_stopped() {
        let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut source = StateStore::open(dirs[0].path()).unwrap();
        let mut topic = commit_all(&mut source, history());
        let before = source.journal().unwrap();
        let kept = vec![entry("H2", "p1"), entry("H3", "p2")];
        let transactions = source.journal_compaction(&kept, 3).unwrap();
        // Decisions, the bounds moved, the old positions' tombstones.
        assert_eq!(transactions.len(), 3);
        assert!(
            transactions
                .iter()
                .all(|t| t.last().unwrap().key == WRITE_KEY)
        );
        assert_eq!(transactions[0].last().unwrap().write_number(), Some(2));
        assert_eq!(transactions[1].last().unwrap().write_number(), Some(3));

        // Cut after the new decisions: they are beyond the bounds, the old journal holds.
        let mut cut = topic.clone();
        cut.extend(transactions[0].iter().cloned());
        let early = restored(dirs[1].path(), &cut);
        assert_eq!(early.journal().unwrap(), before);
        assert_eq!(early.changelog_write().unwrap(), Some(2));
        // A follower that had read the first two writes and reads that much.
        let mut follower = restored(dirs[2].path(), &topic);
        let mut resume = Restore::resume(&mut follower).unwrap();
        for record in transactions[0].iter().cloned() {
            resume.add(record).unwrap();
        }
        resume.finish(None).unwrap();
        assert_eq!(follower.journal().unwrap(), before);

        // Cut after the bounds moved: the compacted journal, old decisions not deleted yet.
        cut.extend(transactions[1].iter().cloned());
        let moved = restored(dirs[3].path(), &cut);
        assert_eq!(moved.journal().unwrap(), kept);

        // Whole, and committed by the writer: the same store, and new decisions follow.
        for t in &transactions {
            topic.extend(t.iter().cloned());
        }
        source.rewrite_journal(&kept).unwrap();
        source
            .commit(&Commit {
                changelog_write: Some(3),
                ..Commit::default()
            })
            .unwrap();
        let mut next = Commit {
            journal: vec![entry("H4", "p3")],
            changelog_write: Some(4),
            ..Commit::default()
        };
        topic.extend(source.changelog(&next, 4).unwrap());
        source.commit(&next).unwrap();
        let whole = restored(dirs[4].path(), &topic);
        assert_eq!(contents(&whole), contents(&source));
        assert_eq!(
            whole.journal_bounds().unwrap(),
            source.journal_bounds().unwrap()
        );
        // The follower reads on: it has the writer's store.
        let mut resume = Restore::resume(&mut follower).unwrap();
        for record in topic.iter().cloned() {
            resume.add(record).unwrap();
        }
        resume.finish(None).unwrap();
        assert_eq!(contents(&follower), contents(&source));

        // Kafka compacts the topic: the old decisions are gone, the state is the same.
        let small = compacted(&topic);
        let journal_records =
            |t: &[ChangeRecord]| t.iter().filter(|r| r.key.starts_with("j/")).count();
        assert_eq!(
            journal_records(&small),
            3,
            "H2, H3 and H4 at their new positions"
        );
        let mut last = restored(dirs[5].path(), &small);
        assert_eq!(contents(&last), contents(&source));
        next.journal = vec![entry("H5", "p3")];
        next.changelog_write = Some(5);
        assert_eq!(
            last.changelog(&next, 5).unwrap(),
            source.changelog(&next, 5).unwrap()
        );
        last.commit(&next).unwrap();
        assert_eq!(last.journal().unwrap().len(), 4);
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        let err = store
            .restore([ChangeRecord::put("x/1".into(), "1")])
            .unwrap_err();
        assert!(err.message.contains("\"x/1\""), "{err}");
    }
}
