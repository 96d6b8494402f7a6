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
        let err = |message: String| JournalError {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let mut entries = Vec::new();
        match File::open(&path) {
            Ok(file) => {
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
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| err(e.to_string()))?;
                if file.metadata().map_err(|e| err(e.to_string()))?.len() > intact {
                    file.set_len(intact).map_err(|e| err(e.to_string()))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e.to_string())),
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

    /// Appends the queued entries and syncs the file.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let err = |e: std::io::Error| JournalError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            // Personal data: readable by the service's user only.
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.path).map_err(err)?;
        file.write_all(&self.pending).map_err(err)?;
        file.sync_data().map_err(err)?;
        self.pending.clear();
        Ok(())
    }
}
