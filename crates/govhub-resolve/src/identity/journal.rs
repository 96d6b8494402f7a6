//! The identity state on disk: an append-only journal of decisions (this record belongs
//! to that person; these persons were merged), written after the sink confirmed the
//! events they caused. Loading replays the decisions without scoring anything again.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::observation::Observation;

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    /// The record (new, changed or moved) belongs to `person`.
    Record {
        /// The record's person fields.
        observation: Observation,
        /// Its unified person id.
        person: String,
        /// The person's golden-record version, written by compaction so that versions
        /// keep growing across it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u32>,
    },
    /// `from` was merged into `into`.
    Merge {
        /// The younger person id, retired.
        from: String,
        /// The older person id, kept.
        into: String,
    },
}

/// The identity journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("identity state at {path}: {message}")]
pub struct JournalError {
    /// The journal file.
    pub path: String,
    /// What went wrong (never record contents).
    pub message: String,
}

/// The journal file and the entries not yet committed.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    pending: Vec<u8>,
}

impl Journal {
    /// Opens `<dir>/journal.jsonl` and reads its entries, cutting off a line torn by a
    /// crash.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<Entry>), JournalError> {
        let path = dir.join("journal.jsonl");
        let err = |e: std::io::Error| JournalError {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let (entries, intact) = read(&path)?;
        if path.exists() {
            let file = OpenOptions::new().write(true).open(&path).map_err(err)?;
            if file.metadata().map_err(err)?.len() > intact {
                file.set_len(intact).map_err(err)?;
            }
        }
        Ok((
            Journal {
                path,
                pending: Vec::new(),
            },
            entries,
        ))
    }

    /// Queues an entry for the next commit.
    pub fn push(&mut self, entry: &Entry) {
        // Serializing plain data into a Vec cannot fail.
        if serde_json::to_writer(&mut self.pending, entry).is_ok() {
            self.pending.push(b'\n');
        }
    }

    /// Replaces the whole journal by `entries` (written to a temporary file, synced,
    /// then renamed over the journal, so a crash leaves the old or the new one).
    /// Entries queued and not yet committed are kept queued.
    pub fn rewrite(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<(), JournalError> {
        let err = |e: std::io::Error| JournalError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut out = Vec::new();
        for entry in entries {
            if serde_json::to_writer(&mut out, &entry).is_ok() {
                out.push(b'\n');
            }
        }
        let mut file = Self::options().truncate(true).open(&tmp).map_err(err)?;
        file.write_all(&out).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        }
        Ok(())
    }

    /// Options to create or open the journal: readable by the service's user only, as
    /// it holds personal data.
    fn options() -> OpenOptions {
        let mut options = OpenOptions::new();
        options.create(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
    }

    /// Appends the queued entries and syncs the file.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let err = |e: std::io::Error| JournalError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        let mut file = Self::options().append(true).open(&self.path).map_err(err)?;
        file.write_all(&self.pending).map_err(err)?;
        file.sync_data().map_err(err)?;
        self.pending.clear();
        Ok(())
    }
}

/// The complete entries of the journal at `path` (none when it does not exist) and the
/// length of the intact part; a torn last line is left out, the file left as it is.
fn read(path: &Path) -> Result<(Vec<Entry>, u64), JournalError> {
    let err = |message: String| JournalError {
        path: path.display().to_string(),
        message,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(err(e.to_string())),
    };
    let mut entries = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut intact = 0u64;
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| err(e.to_string()))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        number += 1;
        // serde's message may quote the line; say only where it is.
        let entry: Entry = serde_json::from_str(&line).map_err(|e| {
            err(format!(
                "line {number} is not a journal entry (column {})",
                e.column()
            ))
        })?;
        entries.push(entry);
        intact += n as u64;
    }
    Ok((entries, intact))
}

/// The latest version of every record resolved under `dir` (a hub's
/// `<data_dir>/identity`), read without changing anything, so it is safe beside a
/// running hub: what `govhub eval --train --data-dir` estimates a model from.
pub fn recorded_observations(dir: &Path) -> Result<Vec<Observation>, JournalError> {
    let path = dir.join("journal.jsonl");
    if !path.exists() {
        return Err(JournalError {
            path: path.display().to_string(),
            message: "no identity journal here (has a hub run with this data directory?)".into(),
        });
    }
    let (entries, _) = read(&path)?;
    let mut latest: std::collections::HashMap<super::observation::RecordRef, usize> =
        std::collections::HashMap::new();
    let mut out: Vec<Observation> = Vec::new();
    for entry in entries {
        if let Entry::Record { observation, .. } = entry {
            match latest.get(&observation.record) {
                Some(&at) => out[at] = observation,
                None => {
                    latest.insert(observation.record.clone(), out.len());
                    out.push(observation);
                }
            }
        }
    }
    Ok(out)
}
