//! Entity tags and conditional writes for the backends `OpenDAL` gives neither: memory and fs.
//!
//! A value's entity tag is a 128-bit hash of its bytes, as S3's is of a single-part object, so
//! `put`, `head` and `get` agree without any version counter. Memory hashes the value it holds
//! when asked; fs keeps the hash the writer computed beside the file (see `folder`). Every write and delete of a key
//! happens under a lock, and a compare-and-swap reads, compares and replaces inside it, so no
//! other s3kv writer can slip in between. On memory the lock is a mutex of the backend; on fs
//! it is an operating-system file lock, which also holds between processes.
//!
//! On fs a value is written to a temporary file in the reserved folder, its tag stored in an
//! extended attribute of that file, and synced before the lock is taken; inside the lock it is
//! renamed over the target (or hard-linked into place for a create-only write, which fails if
//! anything is there), and the folder is synced. A reader or a crash therefore sees the old
//! value or the new one with its own tag, never part of one. Readers hash a file only when it
//! carries no tag.

#[cfg(feature = "fs")]
use std::path::PathBuf;

/// How a local backend versions and locks its keys.
#[derive(Debug)]
pub(crate) enum Local {
    /// Values live in `OpenDAL`'s memory service; writes take this mutex.
    #[cfg(feature = "memory")]
    Memory(tokio::sync::Mutex<()>),
    /// Values are files under `root`; temporary and lock files live in `root/<temporary>`.
    #[cfg(feature = "fs")]
    Folder { root: PathBuf, temporary: PathBuf },
}

/// The entity tag of a value: the 128-bit XXH3 hash of its bytes, quoted as HTTP has it.
pub(crate) fn etag_of(bytes: &[u8]) -> String {
    etag_of_hash(xxhash_rust::xxh3::xxh3_128(bytes))
}

/// The entity tag of a value whose XXH3-128 hash is already known, as when it was streamed.
pub(crate) fn etag_of_hash(hash: u128) -> String {
    format!("\"{hash:032x}\"")
}

#[cfg(any(feature = "memory", feature = "fs"))]
pub(crate) use crate::backend::same_etag;

#[cfg(feature = "fs")]
pub(crate) use self::folder::{
    LocalError, Staged, Waiting, delete_file, delete_files, head_file, list_files, open_pinned,
    read_block, read_file, read_file_if_none_match, read_range, write_file,
};

#[cfg(feature = "fs")]
mod folder;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_depends_on_the_bytes_only() {
        assert_eq!(etag_of(b"a"), etag_of(b"a"));
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"").len(), 34);
    }

    #[test]
    fn streamed_hash_gives_the_same_etag_as_the_whole_value() {
        let value: Vec<u8> = (0..100_000u32).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        for piece in value.chunks(7919) {
            hasher.update(piece);
        }
        assert_eq!(etag_of_hash(hasher.digest128()), etag_of(&value));
    }

    #[cfg(any(feature = "memory", feature = "fs"))]
    #[test]
    fn etags_match_quoted_bare_or_weak_but_never_empty() {
        let stored = etag_of(b"v");
        let bare = stored.trim_matches('"');
        assert!(same_etag(&stored, &stored));
        assert!(same_etag(bare, &stored));
        assert!(same_etag(&format!("W/{stored}"), &stored));
        assert!(!same_etag(&etag_of(b"w"), &stored));
        assert!(!same_etag("", &stored));
        assert!(!same_etag("\"\"", "\"\""));
    }
}
