//! One process per data directory: cursors, fingerprints and the identity journal are
//! each written by one owner, so a second hub (or a `backfill` or `dlq replay` beside a
//! running hub) on the same directory is refused rather than left to interleave writes.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use govhub_core::fs::{create_private_dir, private_file};

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "govhub.lock";

/// An exclusive lock on `<data_dir>/govhub.lock`, held until dropped (the operating
/// system releases it when the process ends, however it ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// The data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "{dir} is in use by another govhub process (a running hub?); one process owns a data \
         directory's cursors and identity state: stop it first (a running hub takes a \
         backfill through its admin API, POST /api/connectors/NAME/backfill; a dead-letter \
         replay needs it stopped)"
    )]
    Busy {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory or its lock file could not be created or locked.
    #[error(
        "data_dir {dir}: cannot create or lock {LOCK_FILE} in it: {source}; give the user \
         that runs govhub write access to it, or set data_dir in the config to a directory \
         it owns"
    )]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl DataDirLock {
    /// Locks `data_dir` (creating it if needed), or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io {
            dir: data_dir.to_owned(),
            source,
        };
        create_private_dir(data_dir).map_err(io)?;
        warn_if_shared(data_dir);
        let file = private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Busy {
                dir: data_dir.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// Logs a warning when other users may enter `data_dir`: govhub creates everything in
/// it private, but a directory that existed already (made by hand, by an older govhub,
/// by systemd's `StateDirectoryMode=0755`) keeps its mode; changing it is left to
/// whoever made it that way.
fn warn_if_shared(data_dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(data_dir) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    data_dir = %data_dir.display(),
                    mode = %format_args!("{mode:04o}"),
                    "other users may enter the data directory, which holds personal data: make \
                     it mode 0700, or set data_dir to a directory govhub creates (it creates \
                     every directory 0700 and every file 0600)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = DataDirLock::acquire(dir.path());
        assert!(first.is_ok());
        let second = DataDirLock::acquire(dir.path());
        assert!(matches!(second, Err(LockError::Busy { .. })), "{second:?}");
        drop(first);
        assert!(DataDirLock::acquire(dir.path()).is_ok());
    }

    #[test]
    fn an_unusable_directory_is_named_as_data_dir_with_a_fix() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A file where the directory should be fails for root too.
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, "").unwrap_or_else(|e| panic!("{e}"));
        let err = DataDirLock::acquire(&not_a_dir.join("data")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("data_dir "), "{text}");
        assert!(text.contains("set data_dir in the config"), "{text}");
        assert_eq!(text.matches("os error").count(), 1, "{text}");
    }
}
