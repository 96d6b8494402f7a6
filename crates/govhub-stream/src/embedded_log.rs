use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use govhub_core::fs::{create_private_dir, private_file};
use govhub_core::{OutEvent, Sink, Written};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::StreamError;

/// One stored event: a JSON line of the embedded log (`<dir>/<topic>.jsonl`), or a
/// message read back from Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Partition (always 0 in the embedded log, which has one per topic).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub partition: i32,
    /// Position in the partition, from 0.
    pub offset: u64,
    /// The event key.
    pub key: Option<String>,
    /// Headers in order, as `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The value, as JSON (every govhub value is JSON).
    pub value: Value,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl LogEntry {
    /// The first header of this name, if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A durable append-only log per topic under a directory: the single-machine sink.
///
/// `write` appends each event as one JSON line and fsyncs every file it touched before
/// returning, so an acked batch survives a power cut. A line torn by a crash is cut off
/// when the log is opened again.
#[derive(Debug)]
pub struct EmbeddedLog {
    dir: PathBuf,
    next_offset: HashMap<String, u64>,
}

impl EmbeddedLog {
    /// Opens (creating if needed, mode 0700) the log under `dir`.
    pub fn open(dir: &Path) -> Result<Self, StreamError> {
        create_private_dir(dir).map_err(|e| log_err(dir, e))?;
        Ok(EmbeddedLog {
            dir: dir.to_owned(),
            next_offset: HashMap::new(),
        })
    }

    /// The directory holding the topic files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, topic: &str) -> PathBuf {
        self.dir.join(format!("{topic}.jsonl"))
    }

    /// Every topic that has a file, sorted.
    pub fn topics(&self) -> Result<Vec<String>, StreamError> {
        let mut topics = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| log_err(&self.dir, e))? {
            let name = entry.map_err(|e| log_err(&self.dir, e))?.file_name();
            if let Some(topic) = name.to_string_lossy().strip_suffix(".jsonl") {
                topics.push(topic.to_owned());
            }
        }
        topics.sort();
        Ok(topics)
    }

    /// Every entry of `topic`, in offset order (empty if the topic has none).
    pub fn read(&self, topic: &str) -> Result<Vec<LogEntry>, StreamError> {
        let path = self.path(topic);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(log_err(&path, e)),
        };
        let mut entries = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| log_err(&path, e))?;
            match serde_json::from_str(&line) {
                Ok(entry) => entries.push(entry),
                // A torn final line from a crash: everything before it is intact.
                Err(_) => break,
            }
        }
        Ok(entries)
    }

    /// Next offset of `topic`, repairing a torn tail on first use.
    fn offset_for(&mut self, topic: &str) -> Result<u64, StreamError> {
        if let Some(next) = self.next_offset.get(topic) {
            return Ok(*next);
        }
        let path = self.path(topic);
        let next = match std::fs::read(&path) {
            Ok(bytes) => {
                let intact = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                if intact < bytes.len() {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| log_err(&path, e))?;
                    file.set_len(intact as u64).map_err(|e| log_err(&path, e))?;
                    file.sync_all().map_err(|e| log_err(&path, e))?;
                }
                bytes[..intact].iter().filter(|b| **b == b'\n').count() as u64
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(log_err(&path, e)),
        };
        self.next_offset.insert(topic.to_owned(), next);
        Ok(next)
    }

    /// Appends `events` (each topic's in order) and syncs every file touched.
    pub fn append(&mut self, events: &[OutEvent]) -> Result<Written, StreamError> {
        let mut by_topic: BTreeMap<&str, Vec<&OutEvent>> = BTreeMap::new();
        for event in events {
            by_topic.entry(&event.topic).or_default().push(event);
        }
        for (topic, events) in by_topic {
            let mut offset = self.offset_for(topic)?;
            let path = self.path(topic);
            let mut buf = Vec::new();
            for event in events {
                line(&mut buf, offset, event).map_err(|e| log_err(&path, e.into()))?;
                offset += 1;
            }
            // Readable by the service's user only: events carry personal data.
            let mut file = private_file()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| log_err(&path, e))?;
            file.write_all(&buf).map_err(|e| log_err(&path, e))?;
            file.sync_data().map_err(|e| log_err(&path, e))?;
            self.next_offset.insert(topic.to_owned(), offset);
        }
        // A new file is durable only once its directory entry is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| log_err(&self.dir, e))?;
        Ok(Written {
            events: events.len(),
        })
    }

    /// How many entries `topic` holds, read line by line (the log can be far larger
    /// than memory).
    pub fn count(&self, topic: &str) -> Result<usize, StreamError> {
        let path = self.path(topic);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(log_err(&path, e)),
        };
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut count = 0;
        loop {
            let buf = reader.fill_buf().map_err(|e| log_err(&path, e))?;
            if buf.is_empty() {
                return Ok(count);
            }
            count += buf.iter().filter(|b| **b == b'\n').count();
            let n = buf.len();
            reader.consume(n);
        }
    }
}

/// Writes `event` at `offset` as one JSON line, in [`LogEntry`]'s layout. The value is
/// copied as it is: every govhub value is JSON already, so it is not parsed again; an
/// empty value is a tombstone (`null`), as on Kafka, and a value that is not JSON is
/// kept as a string.
fn line(buf: &mut Vec<u8>, offset: u64, event: &OutEvent) -> serde_json::Result<()> {
    #[derive(Serialize)]
    struct Head<'a> {
        offset: u64,
        key: Option<&'a str>,
        headers: Vec<(&'a str, &'a str)>,
    }
    let head = Head {
        offset,
        key: event.key.as_deref(),
        headers: event
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect(),
    };
    serde_json::to_writer(&mut *buf, &head)?;
    // Replace the closing brace by the value member.
    buf.pop();
    buf.extend_from_slice(b",\"value\":");
    if event.value.is_empty() {
        buf.extend_from_slice(b"null");
    } else if is_json(&event.value) {
        buf.extend_from_slice(&event.value);
    } else {
        serde_json::to_writer(&mut *buf, &String::from_utf8_lossy(&event.value))?;
    }
    buf.extend_from_slice(b"}\n");
    Ok(())
}

/// Whether `bytes` is one JSON value on one line. Objects and arrays (every govhub
/// value) are checked without building a tree.
fn is_json(bytes: &[u8]) -> bool {
    !bytes.contains(&b'\n') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

impl Sink for EmbeddedLog {
    type Error = StreamError;

    async fn write(&mut self, events: Vec<OutEvent>) -> Result<Written, StreamError> {
        // Appends and fsyncs to local files: done in place on this worker thread rather
        // than moving the log to a blocking thread and back for every batch.
        tokio::task::block_in_place(|| self.append(&events))
    }
}

fn log_err(path: &Path, source: std::io::Error) -> StreamError {
    StreamError::Log {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govhub_core::Header;

    fn event(topic: &str, n: u64) -> OutEvent {
        OutEvent {
            topic: topic.into(),
            key: Some(format!("k{n}")),
            headers: vec![Header {
                name: "ce_id".into(),
                value: format!("id{n}"),
            }],
            value: format!("{{\"n\":{n}}}").into_bytes(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn appends_durably_and_continues_offsets_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EmbeddedLog::open(dir.path()).unwrap();
        let written = log
            .write(vec![event("a", 0), event("b", 0), event("a", 1)])
            .await
            .unwrap();
        assert_eq!(written.events, 3);
        drop(log);
        let mut log = EmbeddedLog::open(dir.path()).unwrap();
        log.write(vec![event("a", 2)]).await.unwrap();
        let a = log.read("a").unwrap();
        assert_eq!(
            a.iter().map(|e| e.offset).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(a[2].value, serde_json::json!({"n": 2}));
        assert_eq!(a[1].header("ce_id"), Some("id1"));
        assert_eq!(log.topics().unwrap(), vec!["a".to_owned(), "b".to_owned()]);
        assert!(log.read("none").unwrap().is_empty());
    }

    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_log_directory_and_its_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("data/log");
        let mut log = EmbeddedLog::open(&log_dir).unwrap();
        log.write(vec![event("a", 0), event("b", 0)]).await.unwrap();
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        assert_eq!(mode(&log_dir), 0o700);
        for topic in ["a", "b"] {
            assert_eq!(mode(&log_dir.join(format!("{topic}.jsonl"))), 0o600);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_torn_tail_is_cut_off_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EmbeddedLog::open(dir.path()).unwrap();
        log.write(vec![event("a", 0)]).await.unwrap();
        drop(log);
        let path = dir.path().join("a.jsonl");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"offset":1,"key":"#).unwrap();
        let mut log = EmbeddedLog::open(dir.path()).unwrap();
        assert_eq!(log.read("a").unwrap().len(), 1);
        log.write(vec![event("a", 1)]).await.unwrap();
        let entries = log.read("a").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].offset, 1);
    }
}
