use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Committed cursors, one small JSON file per connector under `<data_dir>/cursors/`.
///
/// A write goes to a temporary file that is fsynced and then renamed over the old one,
/// so after a crash the file holds either the old or the new cursor, never a torn one.
#[derive(Debug, Clone)]
pub struct CursorStore {
    dir: PathBuf,
}

impl CursorStore {
    /// A store under `data_dir` (created on first write).
    pub fn new(data_dir: &Path) -> Self {
        CursorStore {
            dir: data_dir.join("cursors"),
        }
    }

    /// The file holding `connector`'s cursor.
    pub fn path(&self, connector: &str) -> PathBuf {
        self.dir.join(format!("{connector}.json"))
    }

    /// The committed cursor of `connector`, `None` if it never committed one.
    pub fn load(&self, connector: &str) -> std::io::Result<Option<Value>> {
        match std::fs::read(self.path(connector)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Durably replaces `connector`'s cursor.
    pub fn store(&self, connector: &str, cursor: &Value) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(connector);
        let tmp = self.dir.join(format!(".{connector}.json.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(cursor.to_string().as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        // The rename itself is durable only once the directory is synced.
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Forgets `connector`'s cursor, so it starts from the beginning (backfill).
    pub fn remove(&self, connector: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(connector)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stores_loads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store = CursorStore::new(dir.path());
        assert_eq!(store.load("edu").unwrap(), None);
        store.store("edu", &json!({"page": 2, "skip": 0})).unwrap();
        store.store("edu", &json!({"page": 3, "skip": 1})).unwrap();
        assert_eq!(
            store.load("edu").unwrap(),
            Some(json!({"page": 3, "skip": 1}))
        );
        assert_eq!(
            CursorStore::new(dir.path()).load("edu").unwrap(),
            Some(json!({"page": 3, "skip": 1}))
        );
        store.remove("edu").unwrap();
        store.remove("edu").unwrap();
        assert_eq!(store.load("edu").unwrap(), None);
    }

    #[test]
    fn a_corrupt_cursor_is_an_error_not_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = CursorStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("cursors")).unwrap();
        std::fs::write(store.path("edu"), b"{not json").unwrap();
        assert!(store.load("edu").is_err());
    }
}
