//! A collection: a dict of string keys to values, stored one object per key, encoded by the
//! codec (compressed, and encrypted when the collection has a password).

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use s3kv_codec::{DataKey, EncodeOptions, Identity, PayloadKind, legacy, manifest};
use s3kv_config::Settings;
use s3kv_store::{Backend, ErrorKind as StoreKind, PutMode};

use crate::error::{Error, ErrorKind, Result};
use crate::names::Names;

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
        _settings: &Settings,
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
    /// another key); `WrongPassword` when it was encrypted with another key; `InvalidKey`,
    /// `Backend`.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn get(&self, key: &str) -> Result<Option<Value>> {
        self.read(key).await.map_err(|error| self.context(error, "get", key))
    }

    async fn read(&self, key: &str) -> Result<Option<Value>> {
        let path = self.inner.names.value(key)?;
        let object = match self.inner.backend.get(&path).await {
            Ok(object) => object,
            Err(error) if error.kind() == StoreKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let identity = Identity { collection: &self.inner.name, key };
        let value = if s3kv_codec::is_s3kv_object(&object.bytes) {
            let decoded = s3kv_codec::decode(&object.bytes, self.inner.key.as_deref(), identity)?;
            Value { kind: decoded.kind, data: decoded.plaintext, legacy: false }
        } else {
            if self.inner.key.is_some() && self.inner.legacy_key.is_none() {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    "stored value is not in the s3kv format, and the collection's salt is not \
                     the hex salt the original library needed to encrypt it",
                ));
            }
            let pickle = legacy::decode(&object.bytes, self.inner.legacy_key.as_ref())?;
            Value { kind: PayloadKind::Pickle, data: pickle, legacy: true }
        };
        tracing::debug!(size = value.data.len(), legacy = value.legacy, "value read");
        Ok(Some(value))
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
        let options = EncodeOptions { kind, ..self.inner.options.clone() };
        let identity = Identity { collection: &self.inner.name, key };
        let stored = s3kv_codec::encode(data, &options, self.inner.key.as_deref(), identity)?;
        self.inner.backend.put(&path, Bytes::from(stored), PutMode::Overwrite).await?;
        Ok(())
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
            if !self.exists(&path).await? {
                return Ok(false);
            }
            self.inner.backend.delete(&path).await?;
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
        let names = &self.inner.names;
        let listing = self.inner.backend.list(names.directory());
        let mut keys: Vec<String> = listing
            .try_filter_map(|entry| async move { Ok(names.key_of(&entry.path)) })
            .try_collect()
            .await
            .map_err(|error| self.context(error.into(), "keys", ""))?;
        keys.sort_unstable();
        Ok(keys)
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

    fn context(&self, error: Error, operation: &'static str, key: &str) -> Error {
        let error = error.during(operation).in_collection(&self.inner.name);
        let error = if key.is_empty() { error } else { error.for_key(key) };
        error.on_backend(self.inner.backend.describe())
    }
}

/// Opens the data key of `collection`: with a password, unlocks its manifest, creating the
/// manifest on first use; without one, checks that the collection has no manifest.
///
/// # Errors
///
/// `WrongPassword` when the password does not open the manifest, or when a manifest exists and
/// no password was given; `Corrupt` when the manifest is damaged; `Backend`.
pub(crate) async fn unlock(
    backend: &dyn Backend,
    collection: &str,
    password: Option<&str>,
    salt: &str,
) -> Result<Option<DataKey>> {
    let names = Names::new(collection, &backend.capabilities())?;
    let path = names.manifest();
    let existing = match backend.get(&path).await {
        Ok(object) => Some(object.bytes),
        Err(error) if error.kind() == StoreKind::NotFound => None,
        Err(error) => return Err(error.into()),
    };
    let Some(password) = password else {
        if existing.is_some() {
            return Err(Error::new(
                ErrorKind::WrongPassword,
                "this collection is protected by a password: open it with password=...",
            ));
        }
        return Ok(None);
    };
    if let Some(bytes) = existing {
        return open_manifest(&bytes, password, salt, collection).map(Some);
    }

    // First use: create the manifest, but only if nobody else did in the meantime, so that
    // two apps opening a new collection at once agree on one data key.
    let (created, key) = manifest::Manifest::create(
        password.as_bytes(),
        salt.as_bytes(),
        collection,
        manifest::KdfParams::default(),
    )?;
    match backend.put(&path, Bytes::from(created.to_bytes()), PutMode::IfAbsent).await {
        Ok(_) => Ok(Some(key)),
        Err(error) if error.kind() == StoreKind::ConditionFailed => {
            let winner = backend.get(&path).await?;
            open_manifest(&winner.bytes, password, salt, collection).map(Some)
        }
        Err(error) if error.kind() == StoreKind::Unsupported => {
            backend.put(&path, Bytes::from(created.to_bytes()), PutMode::Overwrite).await?;
            Ok(Some(key))
        }
        Err(error) => Err(error.into()),
    }
}

fn open_manifest(bytes: &[u8], password: &str, salt: &str, collection: &str) -> Result<DataKey> {
    let manifest = manifest::Manifest::from_bytes(bytes)?;
    manifest.unlock(password.as_bytes(), salt.as_bytes(), collection).map_err(|error| match error {
        s3kv_codec::Error::WrongKey => Error::new(
            ErrorKind::WrongPassword,
            "wrong password for this collection (or a different salt than it was created with)",
        ),
        other => other.into(),
    })
}
