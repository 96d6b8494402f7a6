//! Files and directories only the service's user can open.
//!
//! Everything govhub keeps under its data directory holds personal data or is derived
//! from it: the embedded log (whole records), the state store (cursors, fingerprints,
//! identity decisions), the lock file. So every directory govhub creates there is mode
//! 0700 and every file 0600, set when it is created (never loosened and tightened
//! afterwards, which would leave a window). On other platforms these are the plain
//! calls.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every file govhub creates under its data directory: owner read and write.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory govhub creates under its data directory: owner only.
pub const DIR_MODE: u32 = 0o700;

/// Creates `path` and any missing parent with mode 0700. Directories that exist already
/// keep their mode.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(path)
}

/// Open options that create a missing file with mode 0600; set `create` (or
/// `create_new`) and the access mode on them as usual.
pub fn private_file() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options
}

/// Narrows this process's umask to leave group and others no access (`| 077`), so
/// files that a library creates by itself, with the default 0644 and 0755, come out
/// 0600 and 0700. For the state store's engine, which offers no mode of its own. The
/// umask is process-wide: call it only in a process that owns a data directory.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        use rustix::fs::Mode;
        use rustix::process::umask;
        let others = Mode::from_bits_truncate(0o077);
        // umask can only be read by setting it: set, then add back any stricter bits.
        let old = umask(others);
        if !others.contains(old) {
            umask(old | others);
        }
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        create_private_dir(&nested).unwrap();
        for path in [dir.path().join("a"), dir.path().join("a/b"), nested.clone()] {
            assert_eq!(mode(&path), DIR_MODE, "{}", path.display());
        }
        // Again: an existing directory is fine.
        create_private_dir(&nested).unwrap();

        let file = nested.join("f");
        let mut handle = private_file()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap();
        handle.write_all(b"x").unwrap();
        assert_eq!(mode(&file), FILE_MODE);
    }

    #[test]
    fn a_restricted_umask_makes_plain_creations_private() {
        restrict_umask();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
        // Called again (a second store in the process), it changes nothing.
        restrict_umask();
        std::fs::write(dir.path().join("again"), "x").unwrap();
        assert_eq!(mode(&dir.path().join("again")), 0o600);
    }
}
