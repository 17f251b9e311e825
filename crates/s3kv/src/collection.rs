//! A collection: a dict of string keys to values, stored one object per key, encoded by the
//! codec (compressed, and encrypted when the collection has a password).

mod opened;
mod streaming;
mod update;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use s3kv_cache::{CacheStats, Lookup};
use s3kv_codec::{CompressionAlgorithm, DataKey, EncodeOptions, Identity, PayloadKind, legacy};
use s3kv_config::{Mode, Settings};
use s3kv_store::{Backend, ErrorKind as StoreKind, PutMode};

use crate::error::{Error, ErrorKind, Result};
use crate::names::Names;

/// Why a value of the original library is not read where pickles need `allow_pickle`.
const UNTRUSTED_LEGACY: &str = "refusing to unpickle this value: it is in the original \
    library's format, which nothing authenticates, and the collection lives on S3, where anyone \
    who can write to the bucket could have planted it, and unpickling runs code. Open the \
    collection with allow_pickle=True if you trust every writer";

/// Why a pickle of an unencrypted collection on S3 is not read without `allow_pickle`.
const UNTRUSTED_PICKLE: &str = "refusing to unpickle this value: the collection is not \
    encrypted and lives on S3, where anyone who can write to the bucket could have planted it, \
    and unpickling runs code. Open the collection with allow_pickle=True if you trust every \
    writer, or use a password for new data";

pub use opened::{AHEAD_RATIO, Opened, READ_WINDOW, ValueReader};
pub use streaming::{STREAMED_SET_ATTEMPTS, STREAMED_SET_BYTES, Streamed};

/// The read cache of a collection: decoded values by key.
pub(crate) type ValueCache = s3kv_cache::Cache<Arc<Value>>;

/// How a collection treats what it reads: which pickles it lets through, and its cache.
pub(crate) struct ReadPolicy {
    /// See [`Collection::pickle_allowed`].
    pub(crate) allow_pickle: bool,
    /// The read cache, when the collection has a ttl.
    pub(crate) cache: Option<Arc<ValueCache>>,
}

/// A value as stored: what kind of payload it is, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// How the bytes are to be read: raw bytes, UTF-8 text, CBOR or a Python pickle.
    pub kind: PayloadKind,
    /// The payload, decrypted and decompressed.
    pub data: Vec<u8>,
    /// Whether the value was written by the original `st_s3kv_connection` library.
    pub legacy: bool,
}

/// A key found by [`Collection::list`], with what the listing says about its stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The key.
    pub key: String,
    /// The stored (encoded) size in bytes.
    pub size: u64,
    /// When the value was last written, where the backend reports it.
    pub last_modified: Option<SystemTime>,
}

/// What is known about a stored value without decoding its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// The stored (encoded) size in bytes.
    pub stored_size: u64,
    /// The plaintext size the header claims; `None` for a value of the original library.
    pub plain_size: Option<u64>,
    /// When the value was last written, where the backend reports it.
    pub last_modified: Option<SystemTime>,
    /// The entity tag, where the backend has one.
    pub etag: Option<String>,
    /// What the payload is.
    pub kind: PayloadKind,
    /// How the value's chunks are compressed; `None` for a value of the original library
    /// (zlib, applied whole).
    pub compression: Option<CompressionAlgorithm>,
    /// Whether the value is encrypted.
    pub encrypted: bool,
    /// Whether the value was written by the original `st_s3kv_connection` library.
    pub legacy: bool,
}

/// A dict of string keys to values on one backend. Cheap to clone.
#[derive(Clone)]
pub struct Collection {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    names: Names,
    backend: Arc<dyn Backend>,
    key: Option<Arc<DataKey>>,
    legacy_key: Option<legacy::LegacyKey>,
    options: EncodeOptions,
    /// The most requests a batch call has in flight at once.
    max_in_flight: usize,
    /// Whether pickles may be unpickled although nothing authenticates them (see
    /// [`Collection::pickle_allowed`]).
    allow_pickle: bool,
    /// Whether the data is on S3, where others may write to the same bucket.
    shared_storage: bool,
    /// Decoded values read or written recently, when the collection has a ttl.
    cache: Option<Arc<ValueCache>>,
    /// Counts this process's writes and deletes, so a read that raced one does not cache
    /// what it read (it may be older than what the write left).
    writes: AtomicU64,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.inner.name)
            .field("encrypted", &self.is_encrypted())
            .field("backend", &self.inner.backend.describe())
            .finish_non_exhaustive()
    }
}

impl Collection {
    pub(crate) fn new(
        name: &str,
        backend: Arc<dyn Backend>,
        key: Option<Arc<DataKey>>,
        password: Option<&str>,
        salt: &str,
        settings: &Settings,
        policy: ReadPolicy,
    ) -> Result<Self> {
        let names = Names::new(name, &backend.capabilities())?;
        // The original library derived one key from password and a hex salt; values it wrote
        // are read with that key. A salt that is not hex could not have been used there.
        let legacy_key =
            password.and_then(|password| legacy::LegacyKey::derive(password, salt).ok());
        let inner = Inner {
            name: name.to_owned(),
            names,
            backend,
            key,
            legacy_key,
            options: EncodeOptions::default(),
            max_in_flight: settings.max_in_flight.max(1),
            allow_pickle: policy.allow_pickle,
            shared_storage: settings.mode == Mode::S3,
            cache: policy.cache,
            writes: AtomicU64::new(0),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether values are encrypted (the collection was opened with a password).
    pub fn is_encrypted(&self) -> bool {
        self.inner.key.is_some()
    }

    /// The longest key, in UTF-8 bytes, this collection accepts on its backend.
    pub fn max_key_bytes(&self) -> usize {
        self.inner.names.max_key_bytes()
    }

    /// Reads the value of `key`, or `None` when there is none.
    ///
    /// # Errors
    ///
    /// `Corrupt` when the stored value fails its checks (damaged, tampered with, or moved from
    /// another key or collection); `WrongPassword` when it is encrypted and the collection was
    /// opened without a password; `Unsupported` for a pickle that may not be unpickled (see
    /// [`Collection::pickle_allowed`]); `InvalidKey`, `Backend`.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn get(&self, key: &str) -> Result<Option<Value>> {
        self.read(key, false).await.map_err(|error| self.context(error, "get", key))
    }

    /// Reads the value of `key` as [`Collection::get`] does, but a cached value is first
    /// revalidated with the backend (a conditional read, which transfers nothing when the value
    /// is unchanged), whatever its age. Without a cache this is [`Collection::get`].
    ///
    /// # Errors
    ///
    /// As [`Collection::get`].
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn get_revalidated(&self, key: &str) -> Result<Option<Value>> {
        self.read(key, true).await.map_err(|error| self.context(error, "get", key))
    }

    async fn read(&self, key: &str, revalidate: bool) -> Result<Option<Value>> {
        let mut attempt = 1;
        loop {
            let reader = match self.open(key, revalidate).await? {
                None => return Ok(None),
                Some(Opened::Whole(value)) => return Ok(Some(value)),
                Some(Opened::Stream(reader)) => reader,
            };
            // Decoded into one buffer of the value's length, so a large value is held once
            // plus the chunks in flight, not as the stored object and the decoded copy.
            let kind = reader.kind();
            let decoding = tokio::task::spawn_blocking(move || reader.into_vec());
            let decoded = decoding.await.map_err(|error| crate::transfer::joined(&error))?;
            match ReadOutcome::of(decoded, attempt) {
                ReadOutcome::Done(data) => {
                    return Ok(data.map(|data| Value { kind, data, legacy: false }));
                }
                ReadOutcome::Again => attempt += 1,
                ReadOutcome::Failed(error) => return Err(error),
            }
        }
    }

    /// How many writes and deletes this process made so far; a read compares it before and
    /// after, see [`Collection::keep`].
    fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Acquire)
    }

    /// What the read cache says about `key`: a fresh or revalidated value, a changed object
    /// read by the revalidation, or nothing.
    async fn look_up(
        &self,
        cache: &ValueCache,
        key: &str,
        path: &str,
        revalidate: bool,
    ) -> Result<Looked> {
        let lookup = if revalidate { cache.lookup_revalidating(key) } else { cache.lookup(key) };
        match lookup {
            Lookup::Fresh(value) => Ok(Looked::Done(Some(Value::clone(&value)))),
            Lookup::Stale { value, etag } => {
                match self.inner.backend.get_if_none_match(path, &etag).await {
                    Ok(None) => {
                        cache.revalidated(key, &etag);
                        Ok(Looked::Done(Some(Value::clone(&value))))
                    }
                    Ok(Some(object)) => Ok(Looked::Changed(object)),
                    Err(error) if error.kind() == StoreKind::NotFound => {
                        cache.invalidate(key);
                        Ok(Looked::Done(None))
                    }
                    Err(error) => Err(error.into()),
                }
            }
            Lookup::Miss => Ok(Looked::Miss),
        }
    }

    /// Decodes an object read whole and, with a cache, caches it: unless a write or delete of
    /// this process ran since `writes` was taken, since it may have left a newer value than the
    /// one read, and caching the read could serve it for a whole ttl.
    fn keep(&self, key: &str, writes: u64, stored: &[u8], etag: Option<String>) -> Result<Value> {
        let Some(cache) = &self.inner.cache else { return self.decode(key, stored) };
        let value = Arc::new(self.decode(key, stored)?);
        if self.writes() == writes {
            cache.insert(key, Arc::clone(&value), etag, weight(&value));
        } else {
            cache.invalidate(key);
        }
        Ok(Value::clone(&value))
    }

    /// Decodes a stored object of `key`, in the s3kv format or the original library's.
    fn decode(&self, key: &str, stored: &[u8]) -> Result<Value> {
        let identity = Identity { collection: &self.inner.name, key };
        let value = if s3kv_codec::is_s3kv_object(stored) {
            // The header is read again by the decoder; only where a pickle may be refused.
            if !self.trusts(false)
                && let Ok(header) = s3kv_codec::read_header(stored)
            {
                self.refuse_untrusted(header.kind, false)?;
            }
            let decoded = s3kv_codec::decode(stored, self.inner.key.as_deref(), identity)
                .map_err(value_error)?;
            Value { kind: decoded.kind, data: decoded.plaintext, legacy: false }
        } else if !self.trusts(true) {
            // Every value of the original library is a pickle, so one that will be refused is
            // refused before it is inflated (a few megabytes can inflate to gigabytes), once a
            // bounded probe has told a damaged s3kv object from a real legacy value.
            self.probe_legacy(stored)?;
            return Err(Error::new(ErrorKind::Unsupported, UNTRUSTED_LEGACY));
        } else {
            Value { kind: PayloadKind::Pickle, data: self.decode_legacy(stored)?, legacy: true }
        };
        tracing::debug!(size = value.data.len(), legacy = value.legacy, "value read");
        Ok(value)
    }

    /// Refuses a pickle this collection may not hand out (see [`Collection::pickle_allowed`]):
    /// one whose header says so, before any of it is decoded (a value planted to be refused
    /// costs its header, not its size), and one found in the read cache, which every opening
    /// of the collection with the same ttl shares, whatever its `allow_pickle`.
    fn refuse_untrusted(&self, kind: PayloadKind, legacy: bool) -> Result<()> {
        if kind == PayloadKind::Pickle && !self.trusts(legacy) {
            let why = if legacy { UNTRUSTED_LEGACY } else { UNTRUSTED_PICKLE };
            return Err(Error::new(ErrorKind::Unsupported, why));
        }
        Ok(())
    }

    /// The pickle inside a value the original library wrote.
    fn decode_legacy(&self, stored: &[u8]) -> Result<Vec<u8>> {
        self.legacy_readable()?;
        legacy::decode(stored, self.inner.legacy_key.as_ref()).map_err(value_error)
    }

    /// Checks, without inflating it, that a value the original library wrote reads as one
    /// (see [`legacy::probe`]); damage that hid an s3kv header reads as damage.
    fn probe_legacy(&self, stored: &[u8]) -> Result<()> {
        self.legacy_readable()?;
        legacy::probe(stored, self.inner.legacy_key.as_ref()).map_err(value_error)
    }

    /// Whether this collection could read the original library's values at all.
    fn legacy_readable(&self) -> Result<()> {
        if self.inner.key.is_some() && self.inner.legacy_key.is_none() {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "stored value is not in the s3kv format, and the collection's salt is not the hex \
                 salt the original library needed to encrypt it",
            ));
        }
        Ok(())
    }

    /// What this process wrote to `key` just now: cached as it is (write-through) when it fits
    /// the cache, else forgotten so an older cached value is never served.
    fn wrote(&self, key: &str, kind: PayloadKind, data: &[u8], etag: Option<String>) {
        self.inner.writes.fetch_add(1, Ordering::AcqRel);
        let Some(cache) = &self.inner.cache else { return };
        if data.len() as u64 >= cache.config().max_entry_bytes {
            cache.invalidate(key);
            return;
        }
        let value = Arc::new(Value { kind, data: data.to_vec(), legacy: false });
        let weight = weight(&value);
        cache.insert(key, value, etag, weight);
    }

    /// Forgets `key`'s cached value after a delete, or a write whose value is not kept.
    fn forget(&self, key: &str) {
        self.inner.writes.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(key);
        }
    }

    /// The read cache's counters, or `None` when the collection has no ttl and so no cache.
    ///
    /// The cache is shared by every opening of this collection with the same ttl on one
    /// connection.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(|cache| cache.stats())
    }

    /// Stores `data` as the value of `key`, replacing any value it had.
    ///
    /// # Errors
    ///
    /// `InvalidKey` when the key is empty or too long for the backend (nothing is sent);
    /// `Backend` when the write fails.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key, size = data.len()))]
    pub async fn set(&self, key: &str, kind: PayloadKind, data: &[u8]) -> Result<()> {
        self.write(key, kind, data).await.map_err(|error| self.context(error, "set", key))
    }

    async fn write(&self, key: &str, kind: PayloadKind, data: &[u8]) -> Result<()> {
        let path = self.inner.names.value(key)?;
        let stored = self.encode(key, kind, data)?;
        match self.inner.backend.put(&path, stored, PutMode::Overwrite).await {
            Ok(meta) => {
                self.wrote(key, kind, data, meta.etag);
                Ok(())
            }
            Err(error) => {
                // The write may have landed before it failed: what is cached is in doubt.
                self.forget(key);
                Err(error.into())
            }
        }
    }

    /// Deletes `key`'s value; returns whether there was one.
    ///
    /// # Errors
    ///
    /// `InvalidKey`, `Backend`.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let result = async {
            let path = self.inner.names.value(key)?;
            let existed = self.exists(&path).await;
            self.forget(key);
            if !existed? {
                return Ok(false);
            }
            let deleted = self.inner.backend.delete(&path).await;
            self.forget(key);
            deleted?;
            Ok(true)
        };
        result.await.map_err(|error| self.context(error, "delete", key))
    }

    /// Whether `key` has a value, without reading it.
    ///
    /// # Errors
    ///
    /// `InvalidKey`, `Backend`.
    pub async fn contains(&self, key: &str) -> Result<bool> {
        let result = async {
            let path = self.inner.names.value(key)?;
            self.exists(&path).await
        };
        result.await.map_err(|error| self.context(error, "contains", key))
    }

    async fn exists(&self, path: &str) -> Result<bool> {
        match self.inner.backend.head(path).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == StoreKind::NotFound => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Every key of the collection, in UTF-8 byte order, read through every page of the
    /// backend's listing.
    ///
    /// # Errors
    ///
    /// `Backend` when the listing fails.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name))]
    pub async fn keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("").await
    }

    /// How many keys the collection holds, counted from the listing without reading values.
    ///
    /// # Errors
    ///
    /// `Backend` when the listing fails.
    pub async fn len(&self) -> Result<usize> {
        Ok(self.keys().await?.len())
    }

    /// Whether the collection holds no keys.
    ///
    /// # Errors
    ///
    /// `Backend` when the listing fails.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Whether a pickle payload of this collection may be unpickled by the caller.
    ///
    /// Unpickling runs code, so a pickle must come from someone the reader trusts. Values of an
    /// encrypted collection are authenticated by its key, and local folders and memory belong to
    /// the user; an S3 bucket may be shared, so there unauthenticated pickles (those of an
    /// unencrypted collection, and every value of the original library, whose encryption is
    /// not authenticated) are read only when the collection was opened with `allow_pickle`.
    /// Reads refuse any other pickle with `Unsupported`, from its header, before decoding it.
    pub fn pickle_allowed(&self, value: &Value) -> bool {
        self.trusts(value.legacy)
    }

    /// See [`Collection::pickle_allowed`].
    fn trusts(&self, legacy: bool) -> bool {
        let authenticated = self.is_encrypted() && !legacy;
        self.inner.allow_pickle || !self.inner.shared_storage || authenticated
    }

    /// Reads the values of `keys`, in the same order, with at most `max_in_flight` requests
    /// at once; `None` where a key has no value.
    ///
    /// # Errors
    ///
    /// The first error of any read, as [`Collection::get`] reports it.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, count = keys.len()))]
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Value>>> {
        // Collected first: a stream over a lazy map of borrowing closures is not provably
        // `Send` for every lifetime, and callers run this on multi-threaded runtimes.
        let reads: Vec<_> =
            keys.iter().enumerate().map(|(index, key)| self.get_at(index, key)).collect();
        let mut found: Vec<Option<Value>> = vec![None; keys.len()];
        let mut results = futures::stream::iter(reads).buffer_unordered(self.inner.max_in_flight);
        while let Some((index, value)) = results.try_next().await? {
            found[index] = value;
        }
        Ok(found)
    }

    async fn get_at(&self, index: usize, key: &str) -> Result<(usize, Option<Value>)> {
        Ok((index, self.get(key).await?))
    }

    /// Stores every `(key, kind, data)` of `items`, with at most `max_in_flight` requests at
    /// once. Not atomic: on error, some values may be written and others not.
    ///
    /// # Errors
    ///
    /// The first error of any write, as [`Collection::set`] reports it.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, count = items.len()))]
    pub async fn set_many(&self, items: &[(&str, PayloadKind, &[u8])]) -> Result<()> {
        let writes: Vec<_> =
            items.iter().map(|&(key, kind, data)| self.set(key, kind, data)).collect();
        futures::stream::iter(writes)
            .buffer_unordered(self.inner.max_in_flight)
            .try_for_each(|()| async { Ok(()) })
            .await
    }

    /// Deletes the values of `keys`; returns how many distinct keys had a value.
    ///
    /// Which keys have a value is asked with at most `max_in_flight` requests at once; those
    /// are then removed with the backend's batch delete (on S3, one request per 1000 keys).
    ///
    /// # Errors
    ///
    /// `InvalidKey` for any bad key (then nothing is deleted); `Backend`. When the batch delete
    /// fails, some of the values may be gone.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, count = keys.len()))]
    pub async fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        let result = async {
            let mut unique: Vec<&str> = keys.to_vec();
            unique.sort_unstable();
            unique.dedup();
            let paths =
                unique.iter().map(|key| self.inner.names.value(key)).collect::<Result<Vec<_>>>()?;
            let checks: Vec<_> = paths.iter().map(|path| self.exists(path)).collect();
            let found: Vec<bool> = futures::stream::iter(checks)
                .buffered(self.inner.max_in_flight)
                .try_collect()
                .await?;
            let existing: Vec<String> = paths
                .into_iter()
                .zip(&found)
                .filter_map(|(path, &exists)| exists.then_some(path))
                .collect();
            let deleted = self.inner.backend.delete_many(&existing).await;
            for key in &unique {
                self.forget(key);
            }
            deleted?;
            Ok(existing.len())
        };
        result.await.map_err(|error| self.context(error, "delete_many", ""))
    }

    /// Stores `data` as the value of `key` only if `key` has no value; returns whether it
    /// wrote. Two writers racing on one key never both win.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the backend cannot create an object only if it is absent (some S3
    /// servers ignore conditional writes); `InvalidKey`, `Backend`.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key, size = data.len()))]
    pub async fn set_if_absent(&self, key: &str, kind: PayloadKind, data: &[u8]) -> Result<bool> {
        let result = async {
            let path = self.inner.names.value(key)?;
            let stored = self.encode(key, kind, data)?;
            match self.inner.backend.put(&path, stored, PutMode::IfAbsent).await {
                Ok(meta) => {
                    self.wrote(key, kind, data, meta.etag);
                    Ok(true)
                }
                Err(error) if error.kind() == StoreKind::ConditionFailed => Ok(false),
                Err(error) if error.kind() == StoreKind::Unsupported => Err(Error::new(
                    ErrorKind::Unsupported,
                    "this backend ignores or refuses conditional writes, so set_if_absent \
                     cannot be made safe: use a plain set, or a server that honours If-None-Match",
                )
                .with_source(error)),
                Err(error) => Err(error.into()),
            }
        };
        result.await.map_err(|error| self.context(error, "set_if_absent", key))
    }

    /// Every key that starts with `prefix` (every key for `""`), with its stored size and
    /// modification time, in no particular order, read through every page of the listing.
    ///
    /// # Errors
    ///
    /// `Backend` when the listing fails.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name))]
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        let names = &self.inner.names;
        // Hex encodes byte by byte, so the keys that start with `prefix` are exactly the names
        // that start with its hex.
        let start = format!("{}{}", names.directory(), hex::encode(prefix.as_bytes()));
        self.inner
            .backend
            .list(&start)
            .try_filter_map(|entry| async move {
                Ok(names.key_of(&entry.path).map(|key| Listed {
                    key,
                    size: entry.meta.size,
                    last_modified: entry.meta.last_modified,
                }))
            })
            .try_collect()
            .await
            .map_err(|error| self.context(error.into(), "keys", ""))
    }

    /// Every key that starts with `prefix`, in UTF-8 byte order.
    ///
    /// # Errors
    ///
    /// `Backend` when the listing fails.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> =
            self.list(prefix).await?.into_iter().map(|listed| listed.key).collect();
        keys.sort_unstable();
        Ok(keys)
    }

    /// What is stored at `key` (sizes, time, entity tag, payload kind, compression), read from
    /// the object's metadata and header without decoding the payload; `None` when the key has no
    /// value.
    ///
    /// # Errors
    ///
    /// `Corrupt` or `Unsupported` when the header cannot be read; `InvalidKey`, `Backend`.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn info(&self, key: &str) -> Result<Option<Info>> {
        self.read_info(key).await.map_err(|error| self.context(error, "info", key))
    }

    async fn read_info(&self, key: &str) -> Result<Option<Info>> {
        let path = self.inner.names.value(key)?;
        let meta = match self.inner.backend.head(&path).await {
            Ok(meta) => meta,
            Err(error) if error.kind() == StoreKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        // The header is all that is needed, whatever the value's size.
        let header_len = s3kv_codec::MAX_HEADER_LEN as u64;
        let start = match self.inner.backend.get_range(&path, 0..header_len).await {
            Ok(start) => start,
            // Deleted between the two requests.
            Err(error) if error.kind() == StoreKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if !s3kv_codec::is_s3kv_object(&start) {
            return Ok(Some(Info {
                stored_size: meta.size,
                plain_size: None,
                last_modified: meta.last_modified,
                etag: meta.etag,
                kind: PayloadKind::Pickle,
                compression: None,
                encrypted: !looks_like_zlib(&start),
                legacy: true,
            }));
        }
        let header = s3kv_codec::read_header(&start)?;
        Ok(Some(Info {
            stored_size: meta.size,
            plain_size: header.plaintext_len,
            last_modified: meta.last_modified,
            etag: meta.etag,
            kind: header.kind,
            compression: Some(header.compression),
            encrypted: header.encrypted,
            legacy: false,
        }))
    }

    fn encode(&self, key: &str, kind: PayloadKind, data: &[u8]) -> Result<Bytes> {
        let options = EncodeOptions { kind, ..self.inner.options.clone() };
        let identity = Identity { collection: &self.inner.name, key };
        let mut stored = s3kv_codec::encode(data, &options, self.inner.key.as_deref(), identity)
            .map_err(refused_value)?;
        // The encoder reserves room for whole chunks; a small value would otherwise keep a
        // chunk's worth of memory for as long as a memory backend holds it.
        if stored.capacity() - stored.len() > stored.len() / 8 {
            stored.shrink_to_fit();
        }
        Ok(Bytes::from(stored))
    }

    /// The stored object at `path`, or `None` when there is none.
    async fn fetch(&self, path: &str) -> Result<Option<s3kv_store::Object>> {
        match self.inner.backend.get(path).await {
            Ok(object) => Ok(Some(object)),
            Err(error) if error.kind() == StoreKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn context(&self, error: Error, operation: &'static str, key: &str) -> Error {
        let error = error.during(operation).in_collection(&self.inner.name);
        let error = if key.is_empty() { error } else { error.for_key(key) };
        error.on_backend(self.inner.backend.describe())
    }
}

/// What the read cache said about a key.
enum Looked {
    /// The answer, served from the cache or found gone by its revalidation.
    Done(Option<Value>),
    /// The revalidation found the value changed, and read it whole.
    Changed(s3kv_store::Object),
    /// Nothing cached: the value must be read.
    Miss,
}

/// What a cached value costs in memory, in bytes.
fn weight(value: &Value) -> u64 {
    (value.data.len() + size_of::<Value>()) as u64
}

/// How many times a large value replaced while it streams in is read again.
pub const STREAMED_READ_ATTEMPTS: u32 = 3;

/// What to make of a streamed read that ended.
#[derive(Debug)]
pub enum ReadOutcome<T> {
    /// The value, or `None` when it was deleted while it streamed in.
    Done(Option<T>),
    /// It was replaced while it streamed in: read it again.
    Again,
    /// Any other failure.
    Failed(Error),
}

impl<T> ReadOutcome<T> {
    /// Sorts the result of attempt `attempt` (from 1) of a streamed read: a value deleted
    /// meanwhile is no value, as if the read had come a moment later; one replaced meanwhile
    /// (the backend refuses parts of another version, so nothing was mixed) is read again, up
    /// to [`STREAMED_READ_ATTEMPTS`] times.
    pub fn of(result: Result<T>, attempt: u32) -> Self {
        match result {
            Ok(data) => Self::Done(Some(data)),
            Err(error) if error.kind() == ErrorKind::NotFound => Self::Done(None),
            Err(error)
                if error.kind() == ErrorKind::Conflict && attempt < STREAMED_READ_ATTEMPTS =>
            {
                Self::Again
            }
            Err(error) => Self::Failed(error),
        }
    }
}

/// The error for a value the codec refuses to encode (text that is not UTF-8): the caller's
/// value, not the codec, is at fault.
fn refused_value(error: s3kv_codec::Error) -> Error {
    match error {
        s3kv_codec::Error::InvalidInput { what } => refused(&what),
        other => other.into(),
    }
}

/// The error for a value refused before it is stored, saying why.
pub(crate) fn refused(why: &str) -> Error {
    Error::new(ErrorKind::Unsupported, format!("the value cannot be stored: {why}"))
}

/// The error for a value the collection's key does not open. The key was checked against the
/// manifest when the collection opened, so such a value was written for another collection
/// (copied here) or is damaged: never a wrong password.
fn value_error(error: s3kv_codec::Error) -> Error {
    match error {
        s3kv_codec::Error::WrongKey => Error::new(
            ErrorKind::Corrupt,
            "stored value was not written with this collection's key: it was copied from another \
             collection, or it is damaged",
        )
        .with_source(error),
        other => other.into(),
    }
}

/// Whether stored bytes start with a zlib header: the original library's unencrypted values do,
/// and its encrypted ones (AES output) almost never.
fn looks_like_zlib(stored: &[u8]) -> bool {
    match stored {
        [method, flags, ..] => {
            method & 0x0f == 8 && (u16::from(*method) << 8 | u16::from(*flags)) % 31 == 0
        }
        _ => false,
    }
}
