//! The fs backend: objects as files under a root folder.
//!
//! Every write goes to a temporary file in a reserved folder under the root and is synced; then,
//! under a file lock of the key that holds between processes, it is renamed over the target
//! (or hard-linked into place for a create-only write, so of several racing creators exactly
//! one wins). A crash never leaves a torn object, and compare-and-swap on the value's entity tag
//! is atomic between threads and processes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opendal::Operator;
use opendal::services::Fs;

use crate::operator::{Flavor, Local, OpendalBackend};
use crate::{Backend, Capabilities, Error, ErrorKind};

/// Folder under the root for temporary files of atomic writes; never listed, never writable.
pub(crate) const TEMPORARY_FOLDER: &str = ".s3kv-tmp";

/// Longest file name on the file systems s3kv targets (ext4, xfs, btrfs, apfs, ntfs).
const MAX_NAME_BYTES: usize = 255;

/// Bytes kept free in each file name for a temporary suffix, so the limits callers were given
/// stay valid whichever way temporary files are named.
const TEMPORARY_SUFFIX_BYTES: usize = 9;

/// Longest absolute path Linux accepts in one system call, the terminating NUL included.
const MAX_ABSOLUTE_PATH_BYTES: usize = 4096;

/// Settings of the fs backend.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsSettings {
    /// The folder that holds the objects; created if missing.
    pub root: PathBuf,
}

impl FsSettings {
    /// Settings for objects under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

/// Opens the folder backend, creating its root folder if missing.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when the root is not valid UTF-8 or cannot be created or used.
pub fn fs(settings: FsSettings) -> Result<Arc<dyn Backend>, Error> {
    let FsSettings { root } = settings;
    let description = format!("folder {}", root.display());
    let invalid = |message: &str| {
        Error::new(ErrorKind::InvalidConfig, "open", "", description.as_str(), message)
    };

    let root = root.to_str().ok_or_else(|| invalid("the folder path is not valid UTF-8"))?;
    if root.is_empty() {
        return Err(invalid("the folder path is empty"));
    }
    std::fs::create_dir_all(root)
        .map_err(|e| invalid("cannot create the folder").with_source(e))?;
    let root = Path::new(root)
        .canonicalize()
        .map_err(|e| invalid("cannot resolve the folder").with_source(e))?;
    let root_text = root.to_str().ok_or_else(|| invalid("the folder path is not valid UTF-8"))?;
    let temporary = root.join(TEMPORARY_FOLDER);
    sweep(&temporary, LEFTOVER_AGE);

    // OpenDAL lists the folder; s3kv reads and writes the files itself, because the fs service
    // has no entity tags and no compare-and-swap, and its create-only write is not atomic.
    let operator = Operator::new(Fs::default().root(root_text))
        .map_err(|e| invalid("cannot open the folder").with_source(e))?;

    let capabilities = fs_capabilities(root_text.len());
    let description = format!("folder {root_text}");
    let local = Local::Folder { root: root.clone(), temporary };
    let backend = OpendalBackend::new(
        operator,
        Flavor::Fs,
        description,
        capabilities,
        Some(TEMPORARY_FOLDER),
        Some(local),
    );
    Ok(Arc::new(backend))
}

/// How old a temporary file must be before opening the folder removes it. A write in progress
/// touches its file as it goes; one untouched this long was left by a process that died.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_hours(24);

/// Removes the temporary files that writes of crashed processes left behind, those untouched
/// for `age`; what cannot be read or removed is left for the next time.
fn sweep(temporary: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(temporary) else { return };
    let now = std::time::SystemTime::now();
    let mut removed = 0_u64;
    for entry in entries.flatten() {
        let Ok(metadata) = entry.metadata() else { continue };
        let stale = metadata
            .modified()
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|untouched| untouched >= age);
        // Staged writes only (`<pid>-<count>-<nanos>.tmp`); the lock files live in a folder
        // of their own and are never removed.
        let staged = Path::new(&entry.file_name()).extension().is_some_and(|ext| ext == "tmp");
        if metadata.is_file() && staged && stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::debug!(removed, folder = %temporary.display(), "removed leftover temporary files");
    }
}

/// Limits of a folder whose absolute path is `root_bytes` long.
fn fs_capabilities(root_bytes: usize) -> Capabilities {
    // The absolute path is root, `/`, path, NUL. The temporary file of an atomic write is named
    // after the last part plus a suffix, so every part must leave room for that suffix.
    let mut capabilities =
        Capabilities::new(MAX_ABSOLUTE_PATH_BYTES.saturating_sub(root_bytes + 2));
    capabilities.max_component_bytes = Some(MAX_NAME_BYTES - TEMPORARY_SUFFIX_BYTES);
    capabilities.conditional_create = true;
    capabilities.compare_and_swap = true;
    // A range is read from the file alone; streamed writes go to one temporary file, not parts.
    capabilities.ranged_read = true;
    capabilities.streamed_write = true;
    capabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_folder_removes_only_old_leftovers_of_crashed_writes() -> Result<(), Error> {
        let folder = tempfile::tempdir()
            .map_err(|e| Error::new(ErrorKind::Other, "t", "", "", e.to_string()))?;
        let temporary = folder.path().join(TEMPORARY_FOLDER);
        std::fs::create_dir_all(temporary.join("locks")).expect("folders");
        let old = temporary.join("41-0-123.tmp");
        let fresh = temporary.join("42-0-456.tmp");
        let other = temporary.join("notes.txt");
        let lock = temporary.join("locks").join("07.lock");
        for file in [&old, &fresh, &other, &lock] {
            std::fs::write(file, b"x").expect("write");
        }
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_hours(48);
        for file in [&old, &other, &lock] {
            std::fs::File::options()
                .write(true)
                .open(file)
                .and_then(|handle| handle.set_modified(two_days_ago))
                .expect("age the file");
        }
        fs(FsSettings::new(folder.path()))?;
        assert!(!old.exists(), "an old staged write stays");
        assert!(fresh.exists() && other.exists() && lock.exists());
        Ok(())
    }

    #[test]
    fn path_limits_leave_room_for_root_and_temporary_suffix() {
        let capabilities = fs_capabilities(10);
        assert_eq!(capabilities.max_path_bytes, 4084);
        assert_eq!(capabilities.max_component_bytes, Some(246));
    }
}
