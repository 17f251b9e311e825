//! A connection: one backend chosen by the settings, and the data keys of the collections
//! opened through it, so a password's key derivation is paid once per connection.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use s3kv_codec::DataKey;
use s3kv_config::{Loader, Mode, Settings};
use s3kv_store::Backend;
use serde_json::{Map, Value as JsonValue};
use zeroize::Zeroizing;

use crate::collection::{Collection, ReadPolicy, ValueCache};
use crate::error::{Error, ErrorKind, Result};

/// The parameters a collection may set for itself; the rest belong to the connection.
const COLLECTION_PARAMETERS: &[&str] = &["password", "salt", "ttl", "allow_pickle"];

/// An open backend and the configuration it came from. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    loader: Loader,
    settings: Settings,
    /// Unlocked data keys by collection and the secrets that opened them. `None` records that
    /// the collection was checked and has no password.
    keys: Mutex<HashMap<KeyId, Option<Arc<DataKey>>>>,
    /// Read caches by collection and ttl. They live with the connection, not with a
    /// collection object, so an app that opens its collection again on every run (as a
    /// Streamlit script does) keeps its cache.
    caches: Mutex<HashMap<(String, Duration), Arc<ValueCache>>>,
}

/// What a cached data key was opened with. The password is already held by the settings of
/// this process; keeping it here adds no exposure, and it is zeroed when dropped.
struct KeyId {
    collection: String,
    password: Zeroizing<String>,
    salt: Zeroizing<String>,
}

impl KeyId {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.collection, self.password.as_str(), self.salt.as_str())
    }
}

impl PartialEq for KeyId {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for KeyId {}

impl std::hash::Hash for KeyId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("backend", &self.inner.backend.describe()).finish()
    }
}

impl Connection {
    /// Loads the settings, builds the backend they name and checks that it answers.
    ///
    /// # Errors
    ///
    /// `Config` for bad or missing settings; `Backend` when the backend cannot be reached
    /// (the message names the endpoint or folder).
    pub async fn open(loader: Loader) -> Result<Self> {
        let settings = loader.load()?;
        let backend = backend_for(&settings)?;
        Self::with_backend(loader, settings, backend).await
    }

    /// Uses `backend` instead of the one the settings name (for backends that live outside
    /// this crate, such as a caller's own mapping).
    ///
    /// # Errors
    ///
    /// `Backend` when the backend's reachability check fails.
    pub async fn with_backend(
        loader: Loader,
        settings: Settings,
        backend: Arc<dyn Backend>,
    ) -> Result<Self> {
        backend.check().await.map_err(|error| Error::from(error).during("connect"))?;
        tracing::debug!(backend = %backend.describe(), "connection open");
        let inner = Inner {
            backend,
            loader,
            settings,
            keys: Mutex::new(HashMap::new()),
            caches: Mutex::new(HashMap::new()),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The backend, as its own description names it.
    pub fn describe(&self) -> String {
        self.inner.backend.describe()
    }

    /// The backend itself.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The connection's settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Opens the collection `name`, with `options` (`password`, `salt`, `ttl`) overriding the
    /// connection's settings for it, and `allow_pickle` (a bool, default false) letting the
    /// caller unpickle values nothing authenticates (see [`Collection::pickle_allowed`]).
    ///
    /// With a password, the collection's manifest is read (or created on first use) and the
    /// password checked against it now, so a wrong password fails here, not at the first read.
    ///
    /// # Errors
    ///
    /// `WrongPassword` when the password does not open the collection, or when the collection
    /// has a password and none was given; `Config` for an unknown or connection-level option;
    /// `InvalidKey` for an empty or over-long name; `Backend` when the manifest cannot be read.
    #[tracing::instrument(skip_all, fields(collection = name))]
    pub async fn collection(
        &self,
        name: &str,
        options: Map<String, JsonValue>,
    ) -> Result<Collection> {
        self.open_collection(name, options).await.map_err(|error| {
            error.during("open collection").in_collection(name).on_backend(self.describe())
        })
    }

    async fn open_collection(
        &self,
        name: &str,
        options: Map<String, JsonValue>,
    ) -> Result<Collection> {
        if let Some(misplaced) =
            options.keys().find(|option| !COLLECTION_PARAMETERS.contains(&option.as_str()))
        {
            let known = s3kv_config::PARAMETERS.contains(&misplaced.as_str());
            let message = if known {
                format!(
                    "{misplaced} is a connection parameter: set it on the connection, not on a \
                     collection; a collection takes {}",
                    COLLECTION_PARAMETERS.join(", ")
                )
            } else {
                format!(
                    "unknown collection parameter {misplaced}; a collection takes {}",
                    COLLECTION_PARAMETERS.join(", ")
                )
            };
            return Err(Error::new(ErrorKind::Config, message));
        }
        let settings = self.inner.loader.load_with(options)?;
        let password = settings.password.as_ref().map(|secret| secret.expose().to_owned());
        let salt = settings.salt.as_ref().map(|secret| secret.expose().to_owned());
        let id = KeyId {
            collection: name.to_owned(),
            password: Zeroizing::new(password.clone().unwrap_or_default()),
            salt: Zeroizing::new(salt.clone().unwrap_or_default()),
        };
        let cached = self.lock_keys().get(&id).cloned();
        let key = if let Some(key) = cached {
            key
        } else {
            let key = crate::password::unlock(
                self.inner.backend.as_ref(),
                name,
                password.as_deref(),
                salt.as_deref().unwrap_or(""),
            )
            .await?
            .map(Arc::new);
            self.lock_keys().insert(id, key.clone());
            key
        };
        let cache = self.cache_for(name, &settings)?;
        Collection::new(
            name,
            Arc::clone(&self.inner.backend),
            key,
            password.as_deref(),
            salt.as_deref().unwrap_or(""),
            &settings,
            ReadPolicy { allow_pickle: settings.allow_pickle, cache },
        )
    }

    /// The read cache of collection `name` for its ttl, made on first use; `None` when no ttl
    /// is set.
    fn cache_for(&self, name: &str, settings: &Settings) -> Result<Option<Arc<ValueCache>>> {
        let Some(ttl) = settings.ttl else { return Ok(None) };
        let mut caches = self.inner.caches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = caches.get(&(name.to_owned(), ttl)) {
            return Ok(Some(Arc::clone(cache)));
        }
        let mut config = s3kv_cache::CacheConfig::new(ttl);
        config.max_bytes = settings.cache_size;
        // By default one value may take an eighth of the budget: a cache that one value fills
        // serves nothing else.
        config.max_entry_bytes = settings
            .cache_max_value
            .unwrap_or(settings.cache_size / 8)
            .min(s3kv_cache::MAX_ENTRY_BYTES_LIMIT);
        let cache = s3kv_cache::Cache::new(config).map_err(|error| {
            Error::new(
                ErrorKind::Config,
                "the read cache cannot be built with these settings: cache_max_value must be \
                 at most cache_size",
            )
            .with_source(error)
        })?;
        let cache = Arc::new(cache);
        caches.insert((name.to_owned(), ttl), Arc::clone(&cache));
        Ok(Some(cache))
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, Option<Arc<DataKey>>>> {
        // A panic while holding the lock cannot leave the map half-written (single inserts),
        // so a poisoned lock is still sound to use.
        self.inner.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds the backend that `settings` name.
fn backend_for(settings: &Settings) -> Result<Arc<dyn Backend>> {
    let backend = match settings.mode {
        Mode::Dict => s3kv_store::memory()?,
        Mode::Local => {
            let root = if settings.path.as_os_str().is_empty() {
                std::env::current_dir().map_err(|error| {
                    Error::new(
                        ErrorKind::Config,
                        "cannot read the current directory for mode local",
                    )
                    .with_source(error)
                })?
            } else {
                absolute(&settings.path)?
            };
            s3kv_store::fs(s3kv_store::FsSettings::new(root))?
        }
        Mode::S3 => s3kv_store::s3(s3_settings(settings)?)?,
    };
    Ok(backend)
}

fn absolute(path: &std::path::Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|error| {
        Error::new(ErrorKind::Config, format!("cannot resolve path {}", path.display()))
            .with_source(error)
    })
}

fn s3_settings(settings: &Settings) -> Result<s3kv_store::S3Settings> {
    let Some(bucket) = settings.bucket.clone() else {
        return Err(Error::new(ErrorKind::Config, "mode s3 needs a bucket"));
    };
    let mut s3 = s3kv_store::S3Settings::new(bucket);
    s3.endpoint.clone_from(&settings.endpoint);
    s3.region.clone_from(&settings.region);
    s3.addressing = match settings.addressing {
        s3kv_config::Addressing::Path => s3kv_store::Addressing::Path,
        s3kv_config::Addressing::Virtual => s3kv_store::Addressing::Virtual,
        s3kv_config::Addressing::Auto => s3kv_store::Addressing::Auto,
    };
    s3.access_key.clone_from(&settings.access_key);
    s3.secret_key = settings.secret_key.as_ref().map(|secret| secret.expose().to_owned());
    s3.session_token = settings.session_token.as_ref().map(|secret| secret.expose().to_owned());
    s3.root.clone_from(&settings.prefix);
    s3.timeout = settings.timeout;
    s3.connect_timeout = settings.connect_timeout;
    s3.retries = settings.retries;
    s3.max_in_flight = settings.max_in_flight;
    Ok(s3)
}
