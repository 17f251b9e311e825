//! Entity tags on fs are kept in an extended attribute beside each file: a writer stores them,
//! readers use them without reading the value, and a file without a valid one is hashed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use s3kv_store::{Backend, ErrorKind, FsSettings, PutMode};

use crate::harness::kind_of;

/// The attribute that holds a file's tag, as `docs/backends.md` names it.
const ATTRIBUTE: &str = "user.s3kv.etag";

/// The tag that fs has always given a value: its XXH3-128 hash, 32 hex digits in quotes.
fn hashed_tag(bytes: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// A value of `size` bytes that depends on `seed`, so two seeds give two tags.
fn value(size: usize, seed: u8) -> Bytes {
    (0..size).map(|i| u8::try_from(i % 251).unwrap_or(0) ^ seed).collect()
}

/// A fresh fs backend in its own temporary folder.
struct Scratch {
    _folder: tempfile::TempDir,
    root: PathBuf,
    backend: Arc<dyn Backend>,
}

impl Scratch {
    fn new() -> Self {
        let folder = tempfile::tempdir().expect("temporary folder");
        let root = folder.path().join("root");
        let backend = s3kv_store::fs(FsSettings::new(&root)).expect("fs backend opens");
        Self { _folder: folder, root, backend }
    }

    fn file(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// Whether this folder's file system keeps user extended attributes at all.
    fn keeps_attributes(&self) -> bool {
        let probe = self.root.join("attribute-probe");
        std::fs::write(&probe, b"").expect("write a probe file");
        let kept = xattr::set(&probe, "user.s3kv.probe", b"1").is_ok();
        std::fs::remove_file(&probe).expect("remove the probe file");
        kept
    }

    /// The tag each way of reading reports: head, get, the streamed get.
    async fn tags_read(&self, path: &str) -> [Option<String>; 3] {
        let head = self.backend.head(path).await.expect("head").etag;
        let get = self.backend.get(path).await.expect("get").meta.etag;
        let (meta, body) = self.backend.get_stream(path).await.expect("get_stream");
        let _: Vec<Bytes> = body.try_collect().await.expect("read the stream");
        [head, get, meta.etag]
    }
}

fn stored_attribute(file: &Path) -> Option<Vec<u8>> {
    xattr::get(file, ATTRIBUTE).expect("read the attribute")
}

#[tokio::test]
async fn every_kind_of_write_stores_the_tag_that_reads_report() {
    let folder = Scratch::new();
    if !folder.keeps_attributes() {
        return;
    }
    let b = &folder.backend;
    let (plain, created, streamed) = (value(1000, 1), value(1000, 2), value(3_000_000, 3));

    let pieces: Vec<_> =
        streamed.chunks(700_001).map(|piece| Ok(Bytes::copy_from_slice(piece))).collect();

    let written = [
        ("plain", b.put("plain", plain.clone(), PutMode::Overwrite).await),
        ("created", b.put("created", created.clone(), PutMode::IfAbsent).await),
        (
            "streamed",
            b.put_stream("streamed", stream::iter(pieces).boxed(), PutMode::Overwrite).await,
        ),
    ];
    for ((path, meta), bytes) in written.into_iter().zip([&plain, &created, &streamed]) {
        let tag = meta.expect("write").etag.expect("a write reports its tag");
        assert_eq!(tag, hashed_tag(bytes), "{path}: the tag is the hash it always was");
        assert_eq!(stored_attribute(&folder.file(path)), Some(tag.clone().into_bytes()), "{path}");
        assert_eq!(folder.tags_read(path).await, [Some(tag.clone()), Some(tag.clone()), Some(tag)]);
    }

    // A compare-and-swap replaces the file, and the new file carries the new tag.
    let swapped = value(1000, 4);
    let old = hashed_tag(&plain);
    b.put("plain", swapped.clone(), PutMode::IfMatch(old)).await.expect("swap on the stored tag");
    assert_eq!(stored_attribute(&folder.file("plain")), Some(hashed_tag(&swapped).into_bytes()));
}

#[tokio::test]
async fn without_the_attribute_the_file_is_hashed_for_the_same_tag() {
    let folder = Scratch::new();
    let b = &folder.backend;
    let bytes = value(2_500_000, 5);
    let tag = b.put("k", bytes.clone(), PutMode::Overwrite).await.expect("put").etag;
    if folder.keeps_attributes() {
        xattr::remove(folder.file("k"), ATTRIBUTE).expect("remove the attribute");
    }

    assert_eq!(tag.as_deref(), Some(hashed_tag(&bytes).as_str()));
    assert_eq!(folder.tags_read("k").await, [tag.clone(), tag.clone(), tag.clone()]);
    let tag = tag.expect("a tag");
    assert!(b.get_if_none_match("k", &tag).await.expect("conditional get").is_none());
    let stale = hashed_tag(b"something else");
    let changed = b.get_if_none_match("k", &stale).await.expect("conditional get");
    assert_eq!(
        changed.map(|object| (object.bytes, object.meta.etag)),
        Some((bytes, Some(tag.clone())))
    );

    // Compare-and-swap compares against the hash too: a stale tag loses, the right one wins.
    let lost = b.put("k", value(10, 6), PutMode::IfMatch(stale)).await;
    assert_eq!(kind_of(lost), Some(ErrorKind::ConditionFailed));
    b.put("k", value(10, 7), PutMode::IfMatch(tag)).await.expect("swap on the hashed tag");
    assert_eq!(b.get("k").await.expect("get").bytes, value(10, 7));
}

#[tokio::test]
async fn a_file_put_there_by_another_program_has_the_hash_as_its_tag() {
    let folder = Scratch::new();
    let bytes = value(4096, 8);
    std::fs::write(folder.file("copied"), &bytes).expect("write a file directly");

    let tag = Some(hashed_tag(&bytes));
    assert_eq!(folder.tags_read("copied").await, [tag.clone(), tag.clone(), tag]);
}

#[tokio::test]
async fn a_malformed_attribute_is_ignored_and_the_file_hashed() {
    let folder = Scratch::new();
    if !folder.keeps_attributes() {
        return;
    }
    let b = &folder.backend;
    let bytes = value(1000, 9);
    b.put("k", bytes.clone(), PutMode::Overwrite).await.expect("put");
    let tag = hashed_tag(&bytes);
    let upper = tag.to_uppercase();
    let unquoted = tag.trim_matches('"').to_owned();
    let garbage: [&[u8]; 7] = [
        b"",
        b"garbage",
        b"\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"",
        upper.as_bytes(),
        unquoted.as_bytes(),
        b"\"0123456789abcdef0123456789abcdef0\"",
        b"\"\xff\xfe23456789abcdef0123456789abcdef\"",
    ];

    for stored in garbage {
        xattr::set(folder.file("k"), ATTRIBUTE, stored).expect("set the attribute");
        let shown = String::from_utf8_lossy(stored);
        assert_eq!(
            folder.tags_read("k").await,
            [Some(tag.clone()), Some(tag.clone()), Some(tag.clone())],
            "stored {shown}"
        );
        let unchanged = b.get_if_none_match("k", &tag).await.expect("conditional get");
        assert!(unchanged.is_none(), "stored {shown}");
    }
}

#[tokio::test]
async fn head_and_revalidation_use_the_stored_tag_without_reading_the_value() {
    let folder = Scratch::new();
    if !folder.keeps_attributes() {
        return;
    }
    let b = &folder.backend;
    let (old, new) = (value(4_000_000, 10), value(4_000_000, 11));
    let old_tag = b.put("k", old, PutMode::Overwrite).await.expect("put").etag.expect("a tag");

    // Change the bytes in place, as an editor that rewrites a file would: same inode, same
    // size, attribute untouched. Had `head` hashed the file, it would report the new bytes' tag.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(folder.file("k"))
        .expect("open the stored file in place");
    file.write_all(&new).expect("overwrite the bytes in place");
    file.sync_all().expect("sync");
    drop(file);

    assert_eq!(b.head("k").await.expect("head").etag.as_deref(), Some(old_tag.as_str()));
    assert!(b.get_if_none_match("k", &old_tag).await.expect("conditional get").is_none());
    // This is the documented caveat: the value read is the new one, under the stale tag.
    let object = b.get("k").await.expect("get");
    assert_eq!((object.bytes, object.meta.etag), (new.clone(), Some(old_tag)));

    // Replacing the file instead, as the documentation asks, gives the right tag again.
    let replacement = folder.root.join("k.new");
    std::fs::write(&replacement, &new).expect("write the replacement");
    std::fs::rename(&replacement, folder.file("k")).expect("rename it over the old file");
    assert_eq!(b.head("k").await.expect("head").etag, Some(hashed_tag(&new)));
}
