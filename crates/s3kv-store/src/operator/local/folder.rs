//! The fs half of local versioning: atomic writes through a synced temporary file, and a file
//! lock per key that holds between processes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use xxhash_rust::xxh3::Xxh3Default;

use super::{etag_of, etag_of_hash, same_etag};
use crate::{ObjectMeta, PutMode};

/// How many lock files the keys of a folder share; a key's lock is chosen by its hash.
const LOCK_STRIPES: u64 = 64;

/// Folder for lock files, inside the reserved temporary folder.
const LOCK_FOLDER: &str = "locks";

/// Why a local operation failed: a lost condition, or an operating-system error.
#[derive(Debug)]
pub(crate) enum LocalError {
    /// The condition of the write did not hold.
    Condition(&'static str),
    /// The file system refused.
    Io(io::Error),
}

impl From<io::Error> for LocalError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Reads a whole file through one handle, so the bytes and the time are of one version.
pub(crate) fn read_file(file: &Path) -> io::Result<(Bytes, ObjectMeta)> {
    let mut file = File::open(file)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    let meta = ObjectMeta {
        size: bytes.len() as u64,
        etag: Some(etag_of(&bytes)),
        last_modified: metadata.modified().ok(),
    };
    Ok((Bytes::from(bytes), meta))
}

/// Writes a file as `mode` allows, atomically, under the key's lock.
pub(crate) fn write_file(
    root: &Path,
    temporary: &Path,
    path: &str,
    bytes: &[u8],
    mode: &PutMode,
) -> Result<ObjectMeta, LocalError> {
    let mut staged = Staged::create(temporary)?;
    staged.append(bytes)?;
    staged.publish(root, temporary, path, mode)
}

/// A value being written to a temporary file before it is moved into place.
///
/// The file is removed when this is dropped, so a write that fails or is abandoned halfway
/// leaves nothing behind; after a successful publish its name is already gone.
pub(crate) struct Staged {
    path: PathBuf,
    file: File,
    hasher: Xxh3Default,
    size: u64,
}

impl Staged {
    /// Creates a new, empty temporary file in the reserved folder.
    pub(crate) fn create(temporary: &Path) -> io::Result<Self> {
        let (path, file) = create_temporary(temporary)?;
        Ok(Self { path, file, hasher: Xxh3Default::new(), size: 0 })
    }

    /// Appends bytes to the file and to the running hash that becomes the entity tag.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the file and moves it into place as `mode` allows, under the key's lock.
    pub(crate) fn publish(
        self,
        root: &Path,
        temporary: &Path,
        path: &str,
        mode: &PutMode,
    ) -> Result<ObjectMeta, LocalError> {
        // The slow part, syncing the bytes, happens before the lock is taken.
        self.file.sync_all()?;
        let target = root.join(path);
        let parent = target.parent().unwrap_or(root);
        fs::create_dir_all(parent)?;
        publish(temporary, path, &target, &self.path, mode)?;

        // The rename or link is durable once the folder holding the new entry is synced.
        File::open(parent)?.sync_all()?;
        Ok(ObjectMeta {
            size: self.size,
            etag: Some(etag_of_hash(self.hasher.digest128())),
            last_modified: Some(SystemTime::now()),
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After a rename the name is gone; after a link or a failure it is removed here.
        let _ = fs::remove_file(&self.path);
    }
}

/// Moves a staged file into place under the key's lock, checking `mode` first.
fn publish(
    temporary: &Path,
    path: &str,
    target: &Path,
    staged: &Path,
    mode: &PutMode,
) -> Result<(), LocalError> {
    let _lock = lock_key(temporary, path)?;
    match mode {
        PutMode::Overwrite => fs::rename(staged, target)?,
        // A link fails if anything is at the target, even from a writer that takes no lock.
        PutMode::IfAbsent => match fs::hard_link(staged, target) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                if target.is_dir() {
                    return Err(LocalError::Io(io::Error::from(io::ErrorKind::IsADirectory)));
                }
                return Err(LocalError::Condition("an object already exists at this path"));
            }
            Err(error) => return Err(error.into()),
        },
        PutMode::IfMatch(etag) => {
            let current = match read_file(target) {
                Ok((_, meta)) => meta.etag.unwrap_or_default(),
                Err(error) if is_absent(&error) => {
                    return Err(LocalError::Condition("no object is stored at this path"));
                }
                Err(error) => return Err(error.into()),
            };
            if !same_etag(etag, &current) {
                return Err(LocalError::Condition("the stored object has another entity tag"));
            }
            fs::rename(staged, target)?;
        }
    }
    Ok(())
}

/// Removes a file under the key's lock; a missing file is not an error.
pub(crate) fn delete_file(root: &Path, temporary: &Path, path: &str) -> io::Result<()> {
    let _lock = lock_key(temporary, path)?;
    match fs::remove_file(root.join(path)) {
        Err(error) if !is_absent(&error) => Err(error),
        _ => Ok(()),
    }
}

/// Whether an error means there is no object: nothing there, a folder, or a file in the way.
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory
    )
}

/// Creates a new temporary file in the reserved folder; returns its path and handle.
fn create_temporary(temporary: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(temporary)?;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();

    // Process, counter and time make names unique; `create_new` proves it, and a clash (a
    // leftover of a process that had the same id) just takes the next name.
    let mut last_error = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..8 {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let staged = temporary.join(format!("{}-{count}-{nanos}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&staged) {
            Ok(file) => return Ok((staged, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last_error = error,
            Err(error) => return Err(error),
        }
    }
    Err(last_error)
}

/// Removes files under their keys' locks, one after another; missing files are not errors.
pub(crate) fn delete_files(root: &Path, temporary: &Path, paths: &[String]) -> io::Result<()> {
    for path in paths {
        delete_file(root, temporary, path)?;
    }
    Ok(())
}

/// Reads the bytes of `range` of a file, clamped at its end.
pub(crate) fn read_range(file: &Path, range: &Range<u64>) -> io::Result<Bytes> {
    let mut file = File::open(file)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    let end = range.end.min(metadata.len());
    if range.start >= end {
        return Ok(Bytes::new());
    }
    let length = end - range.start;
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.take(length).read_to_end(&mut bytes)?;
    Ok(Bytes::from(bytes))
}

/// Opens a file for streaming and hashes it for its entity tag, then rewinds it.
///
/// Writers replace a file by renaming a new one over it, never by changing it in place, so this
/// handle keeps reading the version it opened however the key changes meanwhile.
pub(crate) fn open_pinned(file: &Path, block: usize) -> io::Result<(File, ObjectMeta)> {
    let mut file = File::open(file)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    let mut hasher = Xxh3Default::new();
    let mut buffer = vec![0u8; block];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    file.seek(SeekFrom::Start(0))?;
    let meta = ObjectMeta {
        size,
        etag: Some(etag_of_hash(hasher.digest128())),
        last_modified: metadata.modified().ok(),
    };
    Ok((file, meta))
}

/// Reads the next block of at most `block` bytes; empty at the end of the file.
pub(crate) fn read_block(file: &mut File, block: usize) -> io::Result<Bytes> {
    let mut bytes = Vec::with_capacity(block);
    file.take(block as u64).read_to_end(&mut bytes)?;
    Ok(Bytes::from(bytes))
}

/// Takes the exclusive lock of a key's stripe; it is released when the file is dropped.
///
/// Each call opens its own handle, and the lock belongs to the handle, so two threads of one
/// process exclude each other as two processes do.
fn lock_key(temporary: &Path, path: &str) -> io::Result<File> {
    let stripe = xxhash_rust::xxh3::xxh3_64(path.as_bytes()) % LOCK_STRIPES;
    let folder = temporary.join(LOCK_FOLDER);
    fs::create_dir_all(&folder)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(folder.join(format!("{stripe:02}.lock")))?;
    file.lock()?;
    Ok(file)
}
