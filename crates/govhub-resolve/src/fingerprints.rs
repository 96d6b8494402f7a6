use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The fingerprint store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("fingerprints at {path}: {source}")]
pub struct FingerprintsError {
    /// The store's file.
    pub path: String,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The last published fingerprint of every source record of one connector, kept in
/// memory and in an append-only file (`<dir>/<connector>.fp`, one `id<TAB>fingerprint`
/// line per change, fsynced on commit; the last line of an id wins).
///
/// The pipeline asks [`Fingerprints::is_unchanged`] before publishing and calls
/// [`Fingerprints::commit`] only after the sink confirmed the write — the same rule as
/// for cursors — so a crash in between republishes (with the same event ids) rather
/// than loses.
#[derive(Debug)]
pub struct Fingerprints {
    path: PathBuf,
    latest: HashMap<String, String>,
}

impl Fingerprints {
    /// Opens (or creates) `connector`'s store under `dir`, cutting off a line torn by a
    /// crash.
    pub fn open(dir: &Path, connector: &str) -> Result<Self, FingerprintsError> {
        let path = dir.join(format!("{connector}.fp"));
        let err = |source| FingerprintsError {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut latest = HashMap::new();
        match File::open(&path) {
            Ok(file) => {
                let mut intact = 0u64;
                let mut reader = BufReader::new(file);
                let mut line = String::new();
                loop {
                    line.clear();
                    let n = reader.read_line(&mut line).map_err(err)?;
                    if n == 0 || !line.ends_with('\n') {
                        break;
                    }
                    intact += n as u64;
                    if let Some((id, fingerprint)) = line.trim_end_matches('\n').split_once('\t') {
                        latest.insert(unescape(id), fingerprint.to_owned());
                    }
                }
                let file = OpenOptions::new().write(true).open(&path).map_err(err)?;
                if file.metadata().map_err(err)?.len() > intact {
                    file.set_len(intact).map_err(err)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        Ok(Fingerprints { path, latest })
    }

    /// Whether `source_record_id` was last published with exactly this fingerprint.
    pub fn is_unchanged(&self, source_record_id: &str, fingerprint: &str) -> bool {
        self.latest.get(source_record_id).map(String::as_str) == Some(fingerprint)
    }

    /// Records of this connector known so far.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// Whether no record is known yet.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Durably remembers published fingerprints (after the sink confirmed them).
    pub fn commit<'a>(
        &mut self,
        published: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), FingerprintsError> {
        let mut buf = String::new();
        let mut changes = Vec::new();
        for (id, fingerprint) in published {
            if !self.is_unchanged(id, fingerprint) {
                buf.push_str(&escape(id));
                buf.push('\t');
                buf.push_str(fingerprint);
                buf.push('\n');
                changes.push((id.to_owned(), fingerprint.to_owned()));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let err = |source| FingerprintsError {
            path: self.path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        file.write_all(buf.as_bytes()).map_err(err)?;
        file.sync_data().map_err(err)?;
        self.latest.extend(changes);
        Ok(())
    }
}

/// Source record ids may contain anything; tabs, newlines and backslashes are escaped
/// so one line stays one record.
fn escape(id: &str) -> String {
    id.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut chars = id.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_records_are_recognised_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut fp = Fingerprints::open(dir.path(), "edu").unwrap();
        assert!(!fp.is_unchanged("S1", "aa"));
        fp.commit([("S1", "aa"), ("S\t2\n", "bb")]).unwrap();
        assert!(fp.is_unchanged("S1", "aa"));
        fp.commit([("S1", "cc")]).unwrap();
        drop(fp);
        let fp = Fingerprints::open(dir.path(), "edu").unwrap();
        assert!(fp.is_unchanged("S1", "cc"), "the last version wins");
        assert!(!fp.is_unchanged("S1", "aa"));
        assert!(fp.is_unchanged("S\t2\n", "bb"));
        assert_eq!(fp.len(), 2);
    }

    #[test]
    fn a_torn_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut fp = Fingerprints::open(dir.path(), "edu").unwrap();
        fp.commit([("S1", "aa")]).unwrap();
        let path = dir.path().join("edu.fp");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"S2\tb").unwrap();
        drop(file);
        let mut fp = Fingerprints::open(dir.path(), "edu").unwrap();
        assert_eq!(fp.len(), 1);
        fp.commit([("S3", "cc")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "S1\taa\nS3\tcc\n");
    }
}
