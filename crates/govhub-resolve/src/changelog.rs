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
//! | `j/<write, 16 hex>/<n, 8 hex>` | an identity decision (keys never repeat: compaction keeps the journal whole) |
//! | `r/<dead-letter id>` | `true`: replayed |
//! | `m/identity_model` | the re-estimated identity model |
//! | `s/<subscriber>/<kind>/<day>` | a line of the sharing log |
//! | `w` | the write's number, the last record of every write |
//!
//! The local store remembers the number of the last write it committed; at start-up the
//! hub compares it with the topic's last `w` to know whether the store is current.

use std::collections::BTreeMap;

use fjall::{Keyspace, PersistMode};

use crate::state::{Commit, StateError, StateStore};

/// The key of the write-number record, last in every write.
pub const WRITE_KEY: &str = "w";

/// Where the local store keeps the number of the last write it committed.
pub(crate) const LOCAL_WRITE_KEY: &str = "changelog_write";

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

fn journal_key(write: u64, n: usize) -> String {
    format!("j/{write:016x}/{n:08x}")
}

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
        let value = self.meta.get(LOCAL_WRITE_KEY).map_err(|e| self.err(e))?;
        value
            .map(|v| {
                <[u8; 8]>::try_from(v.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| self.err("the changelog write number has the wrong length"))
            })
            .transpose()
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
        for (n, entry) in commit.journal.iter().enumerate() {
            // Serializing plain data into a Vec cannot fail.
            let json = serde_json::to_vec(entry).unwrap_or_default();
            out.push(ChangeRecord::put(journal_key(write, n), json));
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
        for (n, row) in self.journal.iter().enumerate() {
            let (_, v) = row.into_inner().map_err(|e| self.err(e))?;
            out.push(ChangeRecord::put(journal_key(write, n), v.to_vec()));
        }
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

    /// Replaces everything in this store by what `records`, the state topic's committed
    /// records in topic order, say: the latest value of each key, every identity
    /// decision in order, and the last write number. Returns that write number (`None`
    /// for an empty topic).
    ///
    /// The store is emptied first and the write number is written last, so a restore
    /// cut short leaves a store that does not claim to be current: the next start
    /// restores again.
    pub fn restore(
        &mut self,
        records: impl IntoIterator<Item = ChangeRecord>,
    ) -> Result<Option<u64>, StateError> {
        // A topic not yet compacted holds a key several times: keep the latest.
        let mut latest: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut journal: Vec<Vec<u8>> = Vec::new();
        let mut write = None;
        for record in records {
            if let Some(n) = record.write_number() {
                write = Some(n);
            } else if record.key.starts_with("j/") {
                journal.extend(record.value);
            } else {
                latest.insert(record.key, record.value);
            }
        }

        let keyspaces = [
            &self.cursors,
            &self.fingerprints,
            &self.journal,
            &self.replayed,
            &self.meta,
            &self.sharing,
        ];
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for keyspace in keyspaces {
            for row in keyspace.iter() {
                let key = row.key().map_err(|e| self.err(e))?;
                batch.remove(keyspace, key);
            }
        }
        batch.commit().map_err(|e| self.err(e))?;

        let mut rows: Vec<(&Keyspace, Vec<u8>, Vec<u8>)> = Vec::new();
        for (key, value) in &latest {
            let Some(value) = value else { continue };
            let Some((tag, rest)) = key.split_once('/') else {
                return Err(self.err(format!("state topic: unknown key form {key:?}")));
            };
            let row = match tag {
                "c" => (&self.cursors, rest.as_bytes().to_vec(), value.clone()),
                "f" => {
                    let parsed = rest.rsplit_once('/').and_then(|(connector, hash)| {
                        let hash = u64::from_str_radix(hash, 16).ok()?;
                        let id: String = serde_json::from_slice(value).ok()?;
                        let id = u128::from_str_radix(&id, 16).ok()?;
                        Some((connector, hash, id))
                    });
                    let Some((connector, hash, id)) = parsed else {
                        return Err(
                            self.err("state topic: a fingerprint record has the wrong form")
                        );
                    };
                    let mut k = connector.as_bytes().to_vec();
                    k.push(0);
                    k.extend_from_slice(&hash.to_be_bytes());
                    (&self.fingerprints, k, id.to_be_bytes().to_vec())
                }
                "r" => (&self.replayed, rest.as_bytes().to_vec(), Vec::new()),
                "m" => (&self.meta, rest.as_bytes().to_vec(), value.clone()),
                "s" => (
                    &self.sharing,
                    rest.replace('/', "\0").into_bytes(),
                    value.clone(),
                ),
                _ => return Err(self.err(format!("state topic: unknown key form {key:?}"))),
            };
            rows.push(row);
        }
        let count = journal.len() as u64;
        for (seq, entry) in journal.into_iter().enumerate() {
            rows.push((&self.journal, (seq as u64).to_be_bytes().to_vec(), entry));
        }
        for chunk in rows.chunks(RESTORE_CHUNK) {
            let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
            for (keyspace, key, value) in chunk {
                batch.insert(keyspace, key.as_slice(), value.as_slice());
            }
            batch.commit().map_err(|e| self.err(e))?;
        }
        if let Some(write) = write {
            let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
            batch.insert(&self.meta, LOCAL_WRITE_KEY, write.to_be_bytes());
            batch.commit().map_err(|e| self.err(e))?;
        }
        self.next_seq = count;
        Ok(write)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::identity::{Entry, Observation, RecordRef};

    fn entry(id: &str, person: &str) -> Entry {
        Entry::Record {
            observation: Box::new(Observation {
                record: RecordRef {
                    department: "health".into(),
                    connector: "health".into(),
                    source_record_id: id.into(),
                },
                at_ms: 0,
                name: None,
                resident_id: None,
                resident_id_unverified: None,
                sex: None,
                birth_date: None,
                phone: None,
                division_code: None,
            }),
            person: person.into(),
            version: None,
        }
    }

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
    fn an_unknown_key_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(dir.path()).unwrap();
        let err = store
            .restore([ChangeRecord::put("x/1".into(), "1")])
            .unwrap_err();
        assert!(err.message.contains("\"x/1\""), "{err}");
    }
}
