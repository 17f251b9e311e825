//! One `Backend` implementation over an `OpenDAL` operator, shared by the memory, fs and s3
//! backends.
//!
//! The services differ in a few places only (directories in listings, conditional writes, path
//! limits); those differences are data in [`Flavor`] and [`Capabilities`], so every backend runs
//! the same code and the behaviour suite tests it once per service.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use opendal::Operator;

use crate::error::{Access, from_opendal};
#[cfg(any(feature = "memory", feature = "fs"))]
use crate::path::folder_of;
use crate::path::{check_object_path, check_prefix, is_under};
use crate::{Backend, Capabilities, Entry, Error, ErrorKind, Object, ObjectMeta, PutMode};

/// Which `OpenDAL` service an [`OpendalBackend`] wraps, where their behaviour differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `services-memory`: no entity tags, atomic create-only writes.
    #[cfg(feature = "memory")]
    Memory,
    /// `services-fs`: no entity tags, create-only writes via `O_EXCL`, atomic overwrites via a
    /// temporary file.
    #[cfg(feature = "fs")]
    Fs,
    /// `services-s3`: entity tags, `If-None-Match: *` and `If-Match` sent to the server.
    #[cfg(feature = "s3")]
    S3,
}

/// A [`Backend`] over `OpenDAL` operators.
#[derive(Debug)]
pub(crate) struct OpendalBackend {
    /// Used for every operation but create-only writes.
    operator: Operator,
    /// Used for [`PutMode::IfAbsent`] writes; differs from `operator` only on fs, where the
    /// atomic-rename writer would check existence and rename in two steps, letting two creators
    /// both win.
    create_operator: Operator,
    flavor: Flavor,
    description: String,
    capabilities: Capabilities,
    /// A folder under the root that the backend uses for itself: never listed, never writable.
    reserved: Option<&'static str>,
}

impl OpendalBackend {
    pub(crate) fn new(
        operator: Operator,
        create_operator: Operator,
        flavor: Flavor,
        description: String,
        capabilities: Capabilities,
        reserved: Option<&'static str>,
    ) -> Self {
        Self { operator, create_operator, flavor, description, capabilities, reserved }
    }

    fn check_path(&self, path: &str, operation: &'static str) -> Result<(), Error> {
        check_object_path(path, &self.capabilities, self.reserved, operation, &self.description)
    }

    fn wrap(
        &self,
        error: opendal::Error,
        operation: &'static str,
        access: Access,
        path: &str,
    ) -> Error {
        from_opendal(error, operation, access, path, &self.description)
    }

    fn error(&self, kind: ErrorKind, operation: &'static str, path: &str, message: &str) -> Error {
        Error::new(kind, operation, path, self.description.as_str(), message)
    }

    /// Sends a write with the `OpenDAL` options that `mode` asks for.
    async fn write(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error> {
        let size = bytes.len() as u64;
        let written = match mode {
            PutMode::Overwrite => self.operator.write_with(path, bytes).await,
            PutMode::IfAbsent => {
                if !self.capabilities.conditional_create {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "put",
                        path,
                        "this backend cannot create an object only if it is absent",
                    ));
                }
                self.create_operator.write_with(path, bytes).if_not_exists(true).await
            }
            PutMode::IfMatch(etag) => {
                if !self.capabilities.compare_and_swap {
                    // TODO: local folders and memory have no ETags in OpenDAL; s3kv must
                    // version and lock keys itself there. Until then compare-and-swap is
                    // refused on them, so read-modify-write loops cannot run on fs or memory.
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "put",
                        path,
                        "this backend cannot compare and swap on an entity tag yet",
                    ));
                }
                let Some(etag) = quoted_etag(&etag) else {
                    return Err(self.error(
                        ErrorKind::ConditionFailed,
                        "put",
                        path,
                        "an empty entity tag matches no object",
                    ));
                };
                self.operator.write_with(path, bytes).if_match(&etag).await
            }
        };

        let metadata = written.map_err(|e| self.wrap(e, "put", Access::Write, path))?;
        Ok(meta_of(&metadata, size))
    }
}

/// Puts an entity tag in the quoted form HTTP requires, accepting it quoted or bare.
///
/// Some S3 providers hand out bare entity tags and some clients strip the quotes; the `If-Match`
/// header needs `"..."` (or a weak `W/"..."`). Returns `None` for an empty tag.
pub(crate) fn quoted_etag(etag: &str) -> Option<String> {
    let etag = etag.trim();
    let bare = etag.trim_matches('"');
    if bare.is_empty() {
        None
    } else if etag.starts_with("W/\"")
        || (etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"'))
    {
        Some(etag.to_owned())
    } else {
        Some(format!("\"{bare}\""))
    }
}

/// Converts `OpenDAL` metadata into ours; `size` is passed in where the caller knows better.
fn meta_of(metadata: &opendal::Metadata, size: u64) -> ObjectMeta {
    ObjectMeta {
        size,
        etag: metadata.etag().map(str::to_owned),
        last_modified: metadata.last_modified().map(SystemTime::from),
    }
}

/// Emits the one debug event that every backend operation gets.
///
/// Only the operation, path, byte count, time and outcome are logged: never a value, and never
/// a credential (none reaches this layer).
fn trace_operation<T>(
    operation: &'static str,
    path: &str,
    size: Option<u64>,
    started: Instant,
    result: &Result<T, Error>,
) {
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let outcome = match result {
        Ok(_) => "ok",
        Err(error) => error.kind().as_str(),
    };
    tracing::debug!(operation, path, size, elapsed_ms, outcome, "backend operation");
}

#[async_trait::async_trait]
impl Backend for OpendalBackend {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities.clone()
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description))]
    async fn check(&self) -> Result<(), Error> {
        let started = Instant::now();
        let result = async {
            // One page of at most one entry: the cheapest request that proves the service
            // answers, the bucket exists and the credentials may list it.
            let mut lister = self
                .operator
                .lister_with("")
                .limit(1)
                .await
                .map_err(|e| self.wrap(e, "check", Access::Read, ""))?;
            match lister.next().await {
                None | Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(self.wrap(e, "check", Access::Read, "")),
            }
        }
        .await;
        trace_operation("check", "", None, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn get(&self, path: &str) -> Result<Object, Error> {
        let started = Instant::now();
        let result = async {
            self.check_path(path, "get")?;
            let wrap = |e| self.wrap(e, "get", Access::Read, path);

            // A reader keeps the metadata of the response it read, so the ETag comes from the
            // same GET as the bytes: a separate HEAD could describe a newer object.
            let reader = self.operator.reader(path).await.map_err(wrap)?;
            let bytes = reader.read(..).await.map_err(wrap)?.to_bytes();
            let size = bytes.len() as u64;
            let meta = match reader.metadata() {
                Some(metadata) => meta_of(metadata, size),
                None => ObjectMeta { size, etag: None, last_modified: None },
            };
            Ok(Object { bytes, meta })
        }
        .await;
        let size = result.as_ref().ok().map(|object| object.meta.size);
        trace_operation("get", path, size, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn head(&self, path: &str) -> Result<ObjectMeta, Error> {
        let started = Instant::now();
        let result = async {
            self.check_path(path, "head")?;
            let metadata = self
                .operator
                .stat(path)
                .await
                .map_err(|e| self.wrap(e, "head", Access::Read, path))?;

            // On a folder, `a` is a directory when `a/b` exists; that is not an object.
            if metadata.is_dir() {
                return Err(self.error(
                    ErrorKind::NotFound,
                    "head",
                    path,
                    "no object at this path",
                ));
            }
            Ok(meta_of(&metadata, metadata.content_length()))
        }
        .await;
        let size = result.as_ref().ok().map(|meta| meta.size);
        trace_operation("head", path, size, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path, size = bytes.len()))]
    async fn put(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error> {
        let started = Instant::now();
        let size = bytes.len() as u64;
        let result = async {
            self.check_path(path, "put")?;
            self.write(path, bytes, mode).await
        }
        .await;
        trace_operation("put", path, Some(size), started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn delete(&self, path: &str) -> Result<(), Error> {
        let started = Instant::now();
        let result = async {
            self.check_path(path, "delete")?;
            match self.operator.delete(path).await {
                Ok(()) => Ok(()),
                Err(e) => match self.wrap(e, "delete", Access::Delete, path) {
                    // Deleting what is not there is the outcome the caller wanted.
                    error if error.kind() == ErrorKind::NotFound => Ok(()),
                    error => Err(error),
                },
            }
        }
        .await;
        trace_operation("delete", path, None, started, &result);
        result
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, Error>> {
        if let Err(error) = check_prefix(prefix, &self.description) {
            return stream::once(async move { Err(error) }).boxed();
        }

        // S3 filters by any string prefix itself. A folder lists by directory, so list the
        // folder part of the prefix and filter the rest here.
        let listed = match self.flavor {
            #[cfg(feature = "s3")]
            Flavor::S3 => prefix,
            #[cfg(feature = "memory")]
            Flavor::Memory => folder_of(prefix),
            #[cfg(feature = "fs")]
            Flavor::Fs => folder_of(prefix),
        };
        let probe = ListProbe { prefix, started: Instant::now(), count: 0, outcome: "ok" };
        let state = ListState::Start { listed, probe };
        stream::unfold(state, move |state| self.next_entry(state)).boxed()
    }
}

/// Where a listing stream is; it owns the probe that logs the listing once it ends.
enum ListState<'a> {
    Start { listed: &'a str, probe: ListProbe<'a> },
    Open { lister: opendal::Lister, probe: ListProbe<'a> },
    Done,
}

/// Logs one debug event per listing when the stream ends, is dropped early, or fails.
struct ListProbe<'a> {
    prefix: &'a str,
    started: Instant,
    count: u64,
    outcome: &'static str,
}

impl Drop for ListProbe<'_> {
    fn drop(&mut self) {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(
            operation = "list",
            path = self.prefix,
            size = self.count,
            elapsed_ms,
            outcome = self.outcome,
            "backend operation"
        );
    }
}

impl OpendalBackend {
    /// Advances a listing by one entry, skipping directories and what the prefix excludes.
    async fn next_entry<'a>(
        &'a self,
        state: ListState<'a>,
    ) -> Option<(Result<Entry, Error>, ListState<'a>)> {
        let (mut lister, mut probe) = match state {
            ListState::Done => return None,
            ListState::Open { lister, probe } => (lister, probe),
            ListState::Start { listed, mut probe } => {
                match self.operator.lister_with(listed).recursive(true).await {
                    Ok(lister) => (lister, probe),
                    Err(e) => {
                        let error = self.wrap(e, "list", Access::Read, probe.prefix);
                        probe.outcome = error.kind().as_str();
                        return Some((Err(error), ListState::Done));
                    }
                }
            }
        };

        loop {
            let entry = match lister.next().await {
                None => return None,
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    let error = self.wrap(e, "list", Access::Read, probe.prefix);
                    probe.outcome = error.kind().as_str();
                    return Some((Err(error), ListState::Done));
                }
            };
            if let Some(entry) = self.accept(&entry, probe.prefix) {
                probe.count += 1;
                return Some((Ok(entry), ListState::Open { lister, probe }));
            }
        }
    }

    /// Turns a listed `OpenDAL` entry into ours, or `None` for what a listing must not return.
    fn accept(&self, entry: &opendal::Entry, prefix: &str) -> Option<Entry> {
        let metadata = entry.metadata();
        let path = entry.path();
        let excluded = metadata.is_dir()
            || path.ends_with('/')
            || !path.starts_with(prefix)
            || self.reserved.is_some_and(|reserved| is_under(path, reserved));
        if excluded {
            return None;
        }
        Some(Entry { path: path.to_owned(), meta: meta_of(metadata, metadata.content_length()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_etag_is_quoted() {
        assert_eq!(quoted_etag("abc").as_deref(), Some("\"abc\""));
    }

    #[test]
    fn quoted_and_weak_etags_are_kept() {
        assert_eq!(quoted_etag("\"abc\"").as_deref(), Some("\"abc\""));
        assert_eq!(quoted_etag(" \"abc\" ").as_deref(), Some("\"abc\""));
        assert_eq!(quoted_etag("W/\"abc\"").as_deref(), Some("W/\"abc\""));
    }

    #[test]
    fn half_quoted_etag_is_requoted() {
        assert_eq!(quoted_etag("\"abc").as_deref(), Some("\"abc\""));
    }

    #[test]
    fn empty_etag_is_rejected() {
        assert_eq!(quoted_etag(""), None);
        assert_eq!(quoted_etag("\"\""), None);
    }
}
