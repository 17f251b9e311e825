//! The `Backend` trait: what s3kv needs from a place that stores objects, and what it gets back.
//!
//! The facade depends on this trait alone, so a new kind of storage is one new implementation,
//! tested by running the crate's behaviour suite against it.

use std::ops::Range;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};

use crate::{Error, ErrorKind};

/// A stream of the pieces of a value, as [`Backend::put_stream`] takes it.
///
/// The pieces may have any sizes; an error ends the upload, which is then abandoned.
pub type BodyStream = BoxStream<'static, std::io::Result<Bytes>>;

/// A stream of the pieces of a stored value, as [`Backend::get_stream`] gives it.
pub type ValueStream = BoxStream<'static, Result<Bytes, Error>>;

/// What is known about a stored object without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub size: u64,
    /// Entity tag as the service sent it (S3 quotes it); `None` where the backend has none.
    pub etag: Option<String>,
    /// When the object was last written, where the backend reports it.
    pub last_modified: Option<SystemTime>,
}

/// A whole object read into memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The stored bytes.
    pub bytes: Bytes,
    /// Its metadata, observed by the same read.
    pub meta: ObjectMeta,
}

/// One object found by [`Backend::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path as given to [`Backend::put`], relative to the backend root.
    pub path: String,
    /// Its metadata as the listing reported it.
    pub meta: ObjectMeta,
}

/// When a [`Backend::put`] may replace what is stored.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutMode {
    /// Always write.
    Overwrite,
    /// Write only if no object exists at the path; else [`crate::ErrorKind::ConditionFailed`].
    IfAbsent,
    /// Write only if the stored object still has this entity tag (quoted or not); else
    /// [`crate::ErrorKind::ConditionFailed`], including when the object is gone.
    IfMatch(String),
}

/// What a backend can do, so callers choose a strategy instead of discovering failures.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent yes-or-no facts about a service, not states of one machine"
)]
pub struct Capabilities {
    /// [`PutMode::IfAbsent`] is honoured atomically.
    pub conditional_create: bool,
    /// [`PutMode::IfMatch`] is honoured atomically.
    pub compare_and_swap: bool,
    /// Byte ranges of an object can be read without fetching the rest.
    pub ranged_read: bool,
    /// Large objects are written in concurrent parts.
    pub multipart: bool,
    /// [`Backend::put_stream`] writes as the body arrives, holding a bounded part of it, rather
    /// than collecting it first: true with [`Capabilities::multipart`], and for a folder, which
    /// writes into its temporary file.
    pub streamed_write: bool,
    /// Longest path accepted, in bytes of UTF-8, after any root prefix the backend adds.
    pub max_path_bytes: usize,
    /// Longest `/`-separated part of a path, in bytes, where the backend limits it.
    pub max_component_bytes: Option<usize>,
}

impl Capabilities {
    /// Capabilities of a backend that can do nothing optional, with the given path limit.
    ///
    /// Backends outside this crate start here and switch on what they support.
    pub fn new(max_path_bytes: usize) -> Self {
        Self {
            conditional_create: false,
            compare_and_swap: false,
            ranged_read: false,
            multipart: false,
            streamed_write: false,
            max_path_bytes,
            max_component_bytes: None,
        }
    }
}

/// A place that stores whole objects under `/`-separated paths.
///
/// Paths are relative to the backend's root. They are non-empty UTF-8, do not start or end with
/// `/`, and have no empty, `.` or `..` part; backends return [`crate::ErrorKind::InvalidPath`]
/// for any other, and for paths past [`Capabilities`] limits, before sending anything.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Names the backend for people and error messages, for example
    /// ``s3 bucket `b` at http://127.0.0.1:9000``, `folder /x/y` or `memory`.
    fn describe(&self) -> String;

    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// Probes that the backend is reachable and usable, cheaply; called when a connection opens.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::Unavailable`] for an unreachable service,
    /// [`crate::ErrorKind::InvalidConfig`] for an unknown bucket,
    /// [`crate::ErrorKind::PermissionDenied`] for refused credentials.
    async fn check(&self) -> Result<(), Error>;

    /// Reads a whole object.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::NotFound`] when nothing is stored at the path.
    async fn get(&self, path: &str) -> Result<Object, Error>;

    /// Reads an object's metadata.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::NotFound`] when nothing is stored at the path.
    async fn head(&self, path: &str) -> Result<ObjectMeta, Error>;

    /// Stores an object whole, replacing any object at the path as `mode` allows.
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::ConditionFailed`] when the condition of `mode` does not hold;
    /// [`crate::ErrorKind::Unsupported`] when the backend cannot honour `mode`.
    async fn put(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error>;

    /// Removes an object; removing a missing object succeeds.
    ///
    /// # Errors
    ///
    /// Failures of the backend itself, never a missing object.
    async fn delete(&self, path: &str) -> Result<(), Error>;

    /// Every object whose path starts with `prefix` (recursive, every page), as a stream.
    ///
    /// The prefix is a plain string prefix: `a/b` finds `a/b`, `a/bc` and `a/b/c`. Directories
    /// are never returned. The order is unspecified.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, Error>>;

    /// Reads an object unless it still has the entity tag `etag` (quoted or bare).
    ///
    /// `Ok(None)` means "not modified": the stored object has that tag, and no body was
    /// transferred where the backend can avoid it (on S3 this is one `GET` with
    /// `If-None-Match` answered `304`). `Ok(Some(object))` carries the current value and the
    /// entity tag of that same value. An empty tag matches nothing.
    ///
    /// The default sends a `head`, compares the tags and then a `get`; a write in between
    /// makes it return the newer object, never a mix.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when nothing is stored at the path.
    async fn get_if_none_match(&self, path: &str, etag: &str) -> Result<Option<Object>, Error> {
        let meta = self.head(path).await?;
        if meta.etag.as_deref().is_some_and(|stored| same_etag(etag, stored)) {
            return Ok(None);
        }
        let object = self.get(path).await?;
        if object.meta.etag.as_deref().is_some_and(|stored| same_etag(etag, stored)) {
            return Ok(None);
        }
        Ok(Some(object))
    }

    /// Reads the bytes of an object in `range`, clamped at the end of the object.
    ///
    /// A range that overlaps the end returns the bytes up to the end; a range that starts at or
    /// past the end, or is empty (`start >= end`), returns no bytes. Either way the object must
    /// exist. Where [`Capabilities::ranged_read`] holds, the rest of the object is not fetched
    /// (on S3 a `HEAD` gives the size to clamp to, and the ranged `GET` is pinned with `If-Match`
    /// to that version); the default reads the whole object and slices it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when nothing is stored at the path.
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, Error> {
        let bytes = self.get(path).await?.bytes;
        Ok(slice_clamped(&bytes, &range))
    }

    /// Removes every object in `paths`; missing objects are not errors.
    ///
    /// Every path is checked before anything is removed, where the backend checks paths. The
    /// S3 backend sends one multi-object delete per 1000 paths; the default removes one object
    /// after another. When it fails, some of the objects may already be gone.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPath`] for a malformed path (then nothing was removed), and failures
    /// of the backend itself.
    async fn delete_many(&self, paths: &[String]) -> Result<(), Error> {
        for path in paths {
            self.delete(path).await?;
        }
        Ok(())
    }

    /// Stores a value that arrives as a stream of pieces, replacing any object as `mode` allows.
    ///
    /// Where [`Capabilities::multipart`] holds, the value goes up in equal parts, several at a
    /// time, so memory stays bounded by part size times concurrency whatever the value's size;
    /// when anything fails (the body, the server, the condition) the upload is aborted and no
    /// part is left behind. The default collects the whole body in memory and calls
    /// [`Backend::put`].
    ///
    /// # Errors
    ///
    /// As [`Backend::put`]; a body that yields an error gives [`ErrorKind::Other`] with that
    /// error as the source, and nothing is stored. A conditional write of a value larger than one
    /// part can be [`ErrorKind::Unsupported`] where [`Capabilities`] promise the condition: some
    /// servers honour conditions on single writes and ignore them on multipart uploads (the S3
    /// backend probes for that before the first such write, and refuses rather than pretends).
    async fn put_stream(
        &self,
        path: &str,
        body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        let bytes = collect_body(body, "put_stream", path, &self.describe()).await?;
        self.put(path, bytes, mode).await
    }

    /// Reads an object as a stream of pieces, with the metadata of the version it reads.
    ///
    /// Where [`Capabilities::multipart`] holds, parts are fetched by concurrent ranged reads,
    /// each pinned to the version seen first: if the object is replaced meanwhile, the stream
    /// ends with [`ErrorKind::ConditionFailed`] rather than mixing two values. The default
    /// reads the whole object and yields it as one piece.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] when nothing is stored at the path; errors while streaming come
    /// as items of the stream.
    async fn get_stream(&self, path: &str) -> Result<(ObjectMeta, ValueStream), Error> {
        let Object { bytes, meta } = self.get(path).await?;
        Ok((meta, stream::once(async move { Ok(bytes) }).boxed()))
    }
}

/// Whether two entity tags name the same version, each quoted, bare or weak; empty matches none.
pub(crate) fn same_etag(given: &str, stored: &str) -> bool {
    let bare = |etag: &str| {
        let etag = etag.trim();
        etag.strip_prefix("W/").unwrap_or(etag).trim_matches('"').to_owned()
    };
    let given = bare(given);
    !given.is_empty() && given == bare(stored)
}

/// The bytes of `range` within `bytes`, clamped at the end; empty when the range is.
pub(crate) fn slice_clamped(bytes: &Bytes, range: &Range<u64>) -> Bytes {
    let length = bytes.len();
    let clamp = |offset: u64| usize::try_from(offset).map_or(length, |offset| offset.min(length));
    let (start, end) = (clamp(range.start), clamp(range.end));
    if start >= end { Bytes::new() } else { bytes.slice(start..end) }
}

/// Collects a body stream into one buffer; a failed piece becomes an [`ErrorKind::Other`].
pub(crate) async fn collect_body(
    mut body: BodyStream,
    operation: &'static str,
    path: &str,
    backend: &str,
) -> Result<Bytes, Error> {
    let mut collected = BytesMut::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|error| body_error(error, operation, path, backend))?;
        collected.extend_from_slice(&piece);
    }
    Ok(collected.freeze())
}

/// The error of a body that failed while it was being stored.
pub(crate) fn body_error(
    error: std::io::Error,
    operation: &'static str,
    path: &str,
    backend: &str,
) -> Error {
    let message = "the value's body failed while it was read; nothing was stored";
    Error::new(ErrorKind::Other, operation, path, backend, message).with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_clamped_at_the_end() {
        let bytes = Bytes::from_static(b"0123456789");
        assert_eq!(&slice_clamped(&bytes, &(2..5))[..], b"234");
        assert_eq!(&slice_clamped(&bytes, &(8..20))[..], b"89");
        assert!(slice_clamped(&bytes, &(10..20)).is_empty());
        assert!(slice_clamped(&bytes, &(4..4)).is_empty());
        assert!(slice_clamped(&bytes, &Range { start: 6, end: 2 }).is_empty());
        assert_eq!(&slice_clamped(&bytes, &(0..u64::MAX))[..], b"0123456789");
    }

    #[test]
    fn etags_match_quoted_bare_or_weak_but_never_empty() {
        assert!(same_etag("\"a\"", "a"));
        assert!(same_etag("W/\"a\"", "\"a\""));
        assert!(!same_etag("\"b\"", "\"a\""));
        assert!(!same_etag("", "\"\""));
    }
}
