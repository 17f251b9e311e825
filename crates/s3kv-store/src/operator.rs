//! One `Backend` implementation over an `OpenDAL` operator, shared by the memory, fs and s3
//! backends.
//!
//! The services differ in a few places only (directories in listings, conditional writes, path
//! limits); those differences are data in [`Flavor`] and [`Capabilities`], so every backend runs
//! the same code and the behaviour suite tests it once per service.

use std::panic::AssertUnwindSafe;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::FutureExt;
use futures::stream::{self, BoxStream, StreamExt};
use opendal::Operator;
use tokio::sync::OnceCell;

pub(crate) use self::local::Local;
#[cfg(feature = "fs")]
use self::local::LocalError;
#[cfg(feature = "fs")]
use crate::error::from_io;
use crate::error::{Access, from_opendal};
#[cfg(any(feature = "memory", feature = "fs"))]
use crate::path::folder_of;
use crate::path::{check_object_path, check_prefix, is_under};
use crate::{
    Backend, BodyStream, Capabilities, Entry, Error, ErrorKind, Object, ObjectMeta, PutMode,
    ValueStream,
};

mod landing;
mod local;
mod transfer;

use self::transfer::Condition;
pub(crate) use self::transfer::Transfer;

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
    operator: Operator,
    flavor: Flavor,
    description: String,
    capabilities: Capabilities,
    /// A folder under the root that the backend uses for itself: never listed, never writable.
    reserved: Option<&'static str>,
    /// How memory and fs version and lock keys themselves; `None` on S3, where the server does.
    local: Option<Local>,
    /// What the probe found about the server's conditional writes, once it has run (S3 only).
    conditions: OnceCell<Conditions>,
    /// What a second probe found about conditions on multipart uploads (S3 only): a server may
    /// honour them on `PutObject` and ignore them on `CompleteMultipartUpload`.
    multipart_conditions: OnceCell<Conditions>,
    /// Part size and parts in flight of streamed transfers.
    transfer: Transfer,
    /// Large uploads abandoned by their callers that may still complete (S3 only).
    landing: std::sync::Arc<landing::Landing>,
}

/// Whether a server honoured the conditions of the probe's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Conditions {
    create: bool,
    swap: bool,
}

impl OpendalBackend {
    pub(crate) fn new(
        operator: Operator,
        flavor: Flavor,
        description: String,
        capabilities: Capabilities,
        reserved: Option<&'static str>,
        local: Option<Local>,
    ) -> Self {
        Self {
            operator,
            flavor,
            description,
            capabilities,
            reserved,
            local,
            conditions: OnceCell::new(),
            multipart_conditions: OnceCell::new(),
            transfer: Transfer::DEFAULT,
            landing: std::sync::Arc::default(),
        }
    }

    /// Sets how streamed transfers split values.
    #[cfg(feature = "s3")]
    pub(crate) fn with_transfer(mut self, transfer: Transfer) -> Self {
        self.transfer = transfer;
        self
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

    /// An operating system error of a folder backend, with our context.
    ///
    /// A write that finds a file where a folder should be has met another key's file (see
    /// `kind_of_io`), unless the root itself is no longer a folder: then the store is gone, which
    /// no other key would mend, and that is what the error says.
    #[cfg(feature = "fs")]
    fn io_error(
        &self,
        error: std::io::Error,
        operation: &'static str,
        access: Access,
        path: &str,
    ) -> Error {
        use std::io::ErrorKind as Io;

        if access == Access::Write
            && matches!(error.kind(), Io::NotADirectory | Io::AlreadyExists | Io::IsADirectory)
            && let Some(Local::Folder { root, .. }) = &self.local
            && !root.is_dir()
        {
            let message = format!("the store's folder {} is no longer a folder", root.display());
            return self.error(ErrorKind::Other, operation, path, &message).with_source(error);
        }
        from_io(error, operation, access, path, &self.description)
    }

    /// A listing of a local folder, read in one blocking call (see `local::list_files`).
    #[cfg(feature = "fs")]
    fn list_folder<'a>(
        &'a self,
        root: std::path::PathBuf,
        prefix: &'a str,
    ) -> BoxStream<'a, Result<Entry, Error>> {
        let listing = async move {
            let mut probe = ListProbe { prefix, started: Instant::now(), count: 0, outcome: "ok" };
            let (owned, reserved) = (prefix.to_owned(), self.reserved);
            match blocking(move || local::list_files(&root, &owned, reserved)).await {
                Ok(entries) => {
                    probe.count = entries.len() as u64;
                    entries.into_iter().map(Ok).collect::<Vec<_>>()
                }
                Err(error) => {
                    let error = self.io_error(error, "list", Access::Read, prefix);
                    probe.outcome = error.kind().as_str();
                    vec![Err(error)]
                }
            }
        };
        stream::once(listing).flat_map(stream::iter).boxed()
    }

    #[cfg(feature = "fs")]
    fn local_error(&self, error: LocalError, path: &str) -> Error {
        match error {
            LocalError::Condition(message) => {
                self.error(ErrorKind::ConditionFailed, "put", path, message)
            }
            LocalError::Abandoned => self.error(
                ErrorKind::Other,
                "put",
                path,
                "the caller stopped waiting before the value was published; nothing was stored",
            ),
            LocalError::Io(error) => self.io_error(error, "put", Access::Write, path),
        }
    }

    /// Sends a write with the `OpenDAL` options that `mode` asks for.
    async fn write(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error> {
        #[cfg(feature = "memory")]
        if let Some(Local::Memory(lock)) = &self.local {
            return self.write_memory(lock, path, bytes, mode).await;
        }
        #[cfg(feature = "fs")]
        if let Some(Local::Folder { root, temporary }) = &self.local {
            let (root, temporary, owned) = (root.clone(), temporary.clone(), path.to_owned());
            // Dropped with this future if the caller gives up; the write then does not publish.
            let (_waiting, abandonment) = local::Waiting::new();
            let written = blocking(move || {
                local::write_file(&root, &temporary, &owned, &bytes, &mode, &abandonment)
            })
            .await;
            return written.map_err(|error| self.local_error(error, path));
        }

        self.landing.settle(path).await;
        let size = bytes.len() as u64;
        let write = self.operator.write_with(path, bytes);
        let written = match self.condition_of(mode, "put", path).await? {
            Condition::None => write.await,
            Condition::Absent => write.if_not_exists(true).await,
            Condition::Match(etag) => write.if_match(&etag).await,
        };

        let metadata = written.map_err(|e| self.wrap(e, "put", Access::Write, path))?;
        Ok(meta_of(&metadata, size))
    }

    #[cfg(feature = "memory")]
    /// A write to the memory service, its condition checked under the backend's write lock.
    async fn write_memory(
        &self,
        lock: &tokio::sync::Mutex<()>,
        path: &str,
        bytes: Bytes,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        let _guard = lock.lock().await;
        let condition = |message| Err(self.error(ErrorKind::ConditionFailed, "put", path, message));
        let current = match mode {
            PutMode::Overwrite => None,
            PutMode::IfAbsent | PutMode::IfMatch(_) => match self.operator.read(path).await {
                Ok(buffer) => Some(local::etag_of(&buffer.to_bytes())),
                Err(e) => match self.wrap(e, "put", Access::Read, path) {
                    error if error.kind() == ErrorKind::NotFound => None,
                    error => return Err(error),
                },
            },
        };
        match (&mode, current) {
            (PutMode::IfAbsent, Some(_)) => return condition("an object already exists here"),
            (PutMode::IfMatch(_), None) => return condition("no object is stored at this path"),
            (PutMode::IfMatch(given), Some(stored)) if !local::same_etag(given, &stored) => {
                return condition("the stored object has another entity tag");
            }
            _ => {}
        }

        let etag = local::etag_of(&bytes);
        let size = bytes.len() as u64;
        let metadata = self
            .operator
            .write(path, bytes)
            .await
            .map_err(|e| self.wrap(e, "put", Access::Write, path))?;
        Ok(ObjectMeta {
            size,
            etag: Some(etag),
            last_modified: metadata.last_modified().map(SystemTime::from),
        })
    }

    /// Reads a whole object; `get` and, on local backends, `head`.
    async fn read_object(&self, path: &str, operation: &'static str) -> Result<Object, Error> {
        self.check_path(path, operation)?;
        let wrap = |e| self.wrap(e, operation, Access::Read, path);
        #[cfg(feature = "fs")]
        if let Some(Local::Folder { root, .. }) = &self.local {
            let file = root.join(path);
            let (bytes, meta) = blocking(move || local::read_file(&file))
                .await
                .map_err(|e| self.io_error(e, operation, Access::Read, path))?;
            return Ok(Object { bytes, meta });
        }

        // A reader keeps the metadata of the response it read, so the ETag comes from the
        // same GET as the bytes: a separate HEAD could describe a newer object.
        let reader = self.operator.reader(path).await.map_err(wrap)?;
        let bytes = reader.read(..).await.map_err(wrap)?.to_bytes();
        let size = bytes.len() as u64;
        let mut meta = match reader.metadata() {
            Some(metadata) => meta_of(metadata, size),
            None => ObjectMeta { size, etag: None, last_modified: None },
        };
        if self.local.is_some() {
            meta.etag = Some(local::etag_of(&bytes));
        }
        Ok(Object { bytes, meta })
    }

    /// What the server does with conditional writes, probed once per backend.
    ///
    /// `OpenDAL` declares conditional writes for every S3 server, but some (Garage 2.5, and
    /// some hosted providers) ignore the headers and overwrite. A create-only write that
    /// succeeds twice, or a swap on a made-up entity tag that succeeds, gives such a server
    /// away. The probe writes a scratch object in the reserved folder and removes it again.
    async fn conditions(&self, operation: &'static str, path: &str) -> Result<Conditions, Error> {
        let probe = || async {
            let result = self.probe_conditions().await.map_err(|error| {
                self.error(
                    error.kind(),
                    operation,
                    path,
                    &format!("probing conditional writes failed: {}", error.message()),
                )
                .with_source(error)
            });
            if let Ok(found) = &result {
                tracing::debug!(
                    backend = %self.description,
                    conditional_create = found.create,
                    compare_and_swap = found.swap,
                    "probed conditional writes"
                );
            }
            result
        };
        self.conditions.get_or_try_init(probe).await.copied()
    }

    async fn probe_conditions(&self) -> Result<Conditions, Error> {
        let path = format!("{PROBE_FOLDER}/probe-{}", unique_name());
        let wrap = |e, access| self.wrap(e, "probe", access, &path);
        let lost = |result: opendal::Result<opendal::Metadata>| match result {
            Ok(_) => Ok(false),
            Err(e) => match wrap(e, Access::Write) {
                error if error.kind() == ErrorKind::ConditionFailed => Ok(true),
                error => Err(error),
            },
        };

        let first = self.operator.write_with(&path, Bytes::from_static(b"1")).if_not_exists(true);
        first.await.map_err(|e| wrap(e, Access::Write))?;
        let result = async {
            let again = self.operator.write_with(&path, Bytes::from_static(b"2"));
            let create = lost(again.if_not_exists(true).await)?;
            let swap = self.operator.write_with(&path, Bytes::from_static(b"3"));
            let swap = lost(swap.if_match("\"s3kv-probe-matches-nothing\"").await)?;
            Ok(Conditions { create, swap })
        }
        .await;
        let deleted = self.operator.delete(&path).await.map_err(|e| wrap(e, Access::Delete));
        let conditions = result?;
        deleted?;
        Ok(conditions)
    }
}

/// Why a create-only write is refused on a server that ignores the condition.
const IGNORED_CREATE: &str = "this server ignored `If-None-Match: *` when probed (a create-only \
    write succeeded twice), so create-only writes cannot be honoured on it";

/// Why a compare-and-swap is refused on a server that ignores the condition.
const IGNORED_SWAP: &str = "this server ignored `If-Match` when probed (a write on a made-up \
    entity tag succeeded), so compare-and-swap cannot be honoured on it";

/// Folder under an S3 root where the probe writes its scratch object; reserved like fs's.
pub(crate) const PROBE_FOLDER: &str = ".s3kv-tmp";

#[cfg(feature = "fs")]
/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static, E: From<std::io::Error> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => Err(E::from(std::io::Error::other(error))),
    }
}

/// A name no other probe picks: time, process and a counter, hashed with a random key.
fn unique_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
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
        let mut capabilities = self.capabilities.clone();
        if let Some(found) = self.conditions.get() {
            capabilities.conditional_create &= found.create;
            capabilities.compare_and_swap &= found.swap;
        }
        capabilities
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description))]
    async fn check(&self) -> Result<(), Error> {
        let started = Instant::now();
        let result = async {
            // One page of at most one entry: the cheapest request that proves the service
            // answers, the bucket exists and the credentials may list it. It lists the reserved
            // folder, not the root: an object key that starts with `/` (the original library
            // wrote them) would be listed at the root, and OpenDAL panics on such a name.
            let mut lister = self
                .operator
                .lister_with(&format!("{PROBE_FOLDER}/"))
                .limit(1)
                .await
                .map_err(|e| self.check_error(e))?;
            match next_listed(&mut lister).await {
                Ok(None | Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return Err(self.check_error(e)),
                Err(()) => return Err(self.error(ErrorKind::Other, "check", "", UNLISTABLE)),
            }

            // Learn now whether the server honours conditional writes, so `capabilities` tells
            // the truth from here on. Read-only credentials cannot probe; the first conditional
            // write will, and fail as it would have anyway.
            if self.local.is_none() && self.capabilities.conditional_create {
                match self.conditions("check", "").await {
                    Err(error) if error.kind() != ErrorKind::PermissionDenied => return Err(error),
                    _ => {}
                }
            }
            Ok(())
        }
        .await;
        trace_operation("check", "", None, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn get(&self, path: &str) -> Result<Object, Error> {
        let started = Instant::now();
        let result = self.read_object(path, "get").await;
        let size = result.as_ref().ok().map(|object| object.meta.size);
        trace_operation("get", path, size, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn head(&self, path: &str) -> Result<ObjectMeta, Error> {
        let started = Instant::now();
        let result = async {
            self.check_path(path, "head")?;
            // A folder keeps each file's tag beside it, so only the metadata is read.
            #[cfg(feature = "fs")]
            if let Some(Local::Folder { root, .. }) = &self.local {
                let file = root.join(path);
                return blocking(move || local::head_file(&file))
                    .await
                    .map_err(|e| self.io_error(e, "head", Access::Read, path));
            }
            // Memory keeps no tag beside a value; it hashes the value it already holds, which
            // costs no read.
            if self.local.is_some() {
                return self.read_object(path, "head").await.map(|object| object.meta);
            }
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
            #[cfg(feature = "fs")]
            if let Some(Local::Folder { root, temporary }) = &self.local {
                let (root, temporary, owned) = (root.clone(), temporary.clone(), path.to_owned());
                return blocking(move || local::delete_file(&root, &temporary, &owned))
                    .await
                    .map_err(|e| self.io_error(e, "delete", Access::Delete, path));
            }
            // Deletes take the write lock too, so a compare-and-swap never revives a deleted key.
            #[cfg(feature = "memory")]
            let _guard = match &self.local {
                Some(Local::Memory(lock)) => Some(lock.lock().await),
                _ => None,
            };
            self.landing.settle(path).await;
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

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn get_if_none_match(&self, path: &str, etag: &str) -> Result<Option<Object>, Error> {
        let started = Instant::now();
        let result = self.read_if_none_match(path, etag).await;
        let size = match &result {
            Ok(Some(object)) => Some(object.meta.size),
            Ok(None) => Some(0),
            Err(_) => None,
        };
        trace_operation("get_if_none_match", path, size, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn get_range(&self, path: &str, range: std::ops::Range<u64>) -> Result<Bytes, Error> {
        let started = Instant::now();
        let result = self.read_range(path, range).await;
        let size = result.as_ref().ok().map(|bytes| bytes.len() as u64);
        trace_operation("get_range", path, size, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, count = paths.len()))]
    async fn delete_many(&self, paths: &[String]) -> Result<(), Error> {
        let started = Instant::now();
        let result = self.delete_paths(paths).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let outcome = result.as_ref().err().map_or("ok", |error| error.kind().as_str());
        let count = paths.len();
        tracing::debug!(operation = "delete_many", count, elapsed_ms, outcome, "backend operation");
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn put_stream(
        &self,
        path: &str,
        body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        let started = Instant::now();
        let result = self.write_stream(path, body, mode).await;
        let size = result.as_ref().ok().map(|meta| meta.size);
        trace_operation("put_stream", path, size, started, &result);
        result
    }

    #[tracing::instrument(skip_all, fields(backend = %self.description, path = %path))]
    async fn get_stream(&self, path: &str) -> Result<(ObjectMeta, ValueStream), Error> {
        let started = Instant::now();
        let result = self.read_stream(path).await;
        let size = result.as_ref().ok().map(|(meta, _)| meta.size);
        trace_operation("get_stream", path, size, started, &result);
        result
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, Error>> {
        if let Err(error) = check_prefix(prefix, &self.description) {
            return stream::once(async move { Err(error) }).boxed();
        }
        #[cfg(feature = "fs")]
        if let Some(Local::Folder { root, temporary: _ }) = &self.local {
            return self.list_folder(root.clone(), prefix);
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

/// Why a listing stopped when `OpenDAL` could not represent a name the server listed.
const UNLISTABLE: &str = "the server listed an object whose name this client cannot \
    represent: a key that starts with `/`, as the original library wrote them without a \
    prefix (list a narrower prefix, or copy such objects with \
    examples/adopt_original_objects.py), or a name outside the prefix it was asked for, which \
    only a broken server or proxy sends";

/// The next entry of an `OpenDAL` listing, or `Err` when `OpenDAL` panicked on it: it does on
/// a listed name that starts with `/` under an empty root, and a panic must not cross into the
/// caller (a Python app would see it as a crash).
async fn next_listed(
    lister: &mut opendal::Lister,
) -> Result<Option<opendal::Result<opendal::Entry>>, ()> {
    AssertUnwindSafe(lister.next()).catch_unwind().await.map_err(|_| ())
}

/// Where a listing stream is; it owns the probe that logs the listing once it ends.
enum ListState<'a> {
    Start { listed: &'a str, probe: ListProbe<'a> },
    Open { lister: opendal::Lister, probe: ListProbe<'a>, repeats: Repeats },
    Done,
}

/// Notices a listing that comes back to a name it listed before, as one does from a server
/// whose pages do not advance (a continuation token repeated, or missing from a page marked
/// truncated): such a listing would never end.
///
/// S3 lists in ascending order, which rules out repeats at the cost of one comparison a name.
/// A server that lists in another order (S3 Express directory buckets do) is followed with a
/// set of hashes of the names seen since the order first broke: a listing that goes round in
/// circles comes back to them on its next round.
#[derive(Default)]
struct Repeats {
    last: String,
    seen: Option<(std::hash::RandomState, std::collections::HashSet<u64>)>,
}

impl Repeats {
    /// Whether `path` was listed before (on the listing's current round, for one out of order).
    fn again(&mut self, path: &str) -> bool {
        use std::hash::BuildHasher;

        let ascending = self.last.is_empty() || path > self.last.as_str();
        self.last.clear();
        self.last.push_str(path);
        if ascending && self.seen.is_none() {
            return false;
        }
        let (hasher, seen) = self.seen.get_or_insert_with(Default::default);
        !seen.insert(hasher.hash_one(path))
    }
}

/// Why a listing stopped when it came back to a name it had listed.
const REPEATED: &str = "the server's listing came back to a name it had already listed: its \
    pages do not advance (a continuation token that repeats, or a page marked truncated that \
    gives none), so the listing would never end";

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
    /// The error of the first request a connection makes, saying in plain words what the S3
    /// error code of a missing bucket means.
    fn check_error(&self, error: opendal::Error) -> Error {
        let missing = error.to_string().contains("NoSuchBucket");
        let error = self.wrap(error, "check", Access::Read, "");
        if !missing {
            return error;
        }
        let message = "the bucket does not exist: create it first (s3kv does not create \
                       buckets), or check the bucket's name, the endpoint and the region";
        self.error(ErrorKind::InvalidConfig, "check", "", message).with_source(error)
    }

    /// Advances a listing by one entry, skipping directories and what the prefix excludes.
    async fn next_entry<'a>(
        &'a self,
        state: ListState<'a>,
    ) -> Option<(Result<Entry, Error>, ListState<'a>)> {
        let (mut lister, mut probe, mut repeats) = match state {
            ListState::Done => return None,
            ListState::Open { lister, probe, repeats } => (lister, probe, repeats),
            ListState::Start { listed, mut probe } => {
                match self.operator.lister_with(listed).recursive(true).await {
                    Ok(lister) => (lister, probe, Repeats::default()),
                    Err(e) => {
                        let error = self.wrap(e, "list", Access::Read, probe.prefix);
                        probe.outcome = error.kind().as_str();
                        return Some((Err(error), ListState::Done));
                    }
                }
            }
        };

        loop {
            let Ok(next) = next_listed(&mut lister).await else {
                let error = self.error(ErrorKind::Other, "list", probe.prefix, UNLISTABLE);
                probe.outcome = error.kind().as_str();
                return Some((Err(error), ListState::Done));
            };
            let entry = match next {
                None => return None,
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    let error = self.wrap(e, "list", Access::Read, probe.prefix);
                    probe.outcome = error.kind().as_str();
                    return Some((Err(error), ListState::Done));
                }
            };
            if repeats.again(entry.path()) {
                let error = self.error(ErrorKind::Other, "list", probe.prefix, REPEATED);
                probe.outcome = error.kind().as_str();
                return Some((Err(error), ListState::Done));
            }
            if let Some(entry) = self.accept(&entry, probe.prefix) {
                probe.count += 1;
                return Some((Ok(entry), ListState::Open { lister, probe, repeats }));
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
    fn a_listing_that_comes_round_again_is_noticed_in_any_order() {
        let mut ascending = Repeats::default();
        let names = ["a", "b", "c"];
        assert!(names.iter().all(|name| !ascending.again(name)));
        // The server starts over: out of order at once, the repeat on the next round.
        assert!(names.iter().chain(&names).any(|name| ascending.again(name)));

        let mut unordered = Repeats::default();
        let names = ["m", "b", "z", "a", "c"];
        assert!(names.iter().all(|name| !unordered.again(name)), "no name twice, no repeat");
        assert!(unordered.again("z"));
    }

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
