//! The `Backend` trait: what s3kv needs from a place that stores objects, and what it gets back.
//!
//! The facade depends on this trait alone, so a new kind of storage is one new implementation,
//! tested by running the crate's behaviour suite against it.

use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::Error;

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
}
