//! Read-modify-write of one value that never loses another writer's change: the write is
//! conditional on the entity tag read, and a conflict reads again and retries.

use std::time::Duration;

use s3kv_codec::PayloadKind;
use s3kv_store::{ErrorKind as StoreKind, PutMode};

use super::{Collection, Value};
use crate::error::{Error, ErrorKind, Result};

/// What [`Collection::update`] calls with the value read: the new value, or `None` for none.
type Change<'a> = dyn FnMut(Option<&Value>) -> Option<(PayloadKind, Vec<u8>)> + Send + 'a;

/// How many times [`Collection::update`] reads and tries again before it reports a conflict.
const ATTEMPTS: u32 = 32;

/// The longest pause between two attempts; pauses double from a millisecond up to this.
const MAX_PAUSE: Duration = Duration::from_millis(200);

impl Collection {
    /// Reads the value of `key` (`None` when it has none), gives it to `change`, and stores what
    /// `change` returns, only if nobody stored or deleted the value meanwhile. When somebody
    /// did, it reads the new value and calls `change` again, up to 32 times with growing pauses.
    /// Two processes incrementing one counter this way both count.
    ///
    /// `change` returning `None` stores nothing. Returns the value stored, or the value left
    /// as it was when `change` declined.
    ///
    /// # Errors
    ///
    /// `Unsupported` where the backend cannot write conditionally (some S3 servers ignore
    /// conditions); `Conflict` when other writers won 32 times in a row; as [`Collection::get`]
    /// for the reads and [`Collection::set`] for the write.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn update<F>(&self, key: &str, mut change: F) -> Result<Option<Value>>
    where
        F: FnMut(Option<&Value>) -> Option<(PayloadKind, Vec<u8>)> + Send,
    {
        self.update_with(key, &mut change).await.map_err(|error| self.context(error, "update", key))
    }

    async fn update_with(&self, key: &str, change: &mut Change<'_>) -> Result<Option<Value>> {
        let path = self.inner.names.value(key)?;
        let capabilities = self.inner.backend.capabilities();
        if !(capabilities.compare_and_swap && capabilities.conditional_create) {
            return Err(unsupported());
        }
        let mut pause = Duration::from_millis(1);
        for _ in 0..ATTEMPTS {
            let (current, mode) = match self.fetch(&path).await? {
                Some(object) => {
                    let Some(etag) = object.meta.etag.clone() else { return Err(unsupported()) };
                    (Some(self.decode(key, &object.bytes)?), PutMode::IfMatch(etag))
                }
                None => (None, PutMode::IfAbsent),
            };
            let Some((kind, data)) = change(current.as_ref()) else { return Ok(current) };
            let stored = self.encode(key, kind, &data)?;
            match self.inner.backend.put(&path, stored, mode).await {
                Ok(meta) => {
                    self.wrote(key, kind, &data, meta.etag);
                    return Ok(Some(Value { kind, data, legacy: false }));
                }
                Err(error) if error.kind() == StoreKind::ConditionFailed => {
                    self.forget(key);
                    tokio::time::sleep(pause + jitter(pause)).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(error) if error.kind() == StoreKind::Unsupported => {
                    return Err(unsupported().with_source(error));
                }
                Err(error) => {
                    self.forget(key);
                    return Err(error.into());
                }
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "other writers changed the value {ATTEMPTS} times in a row; nothing was stored"
            ),
        ))
    }
}

fn unsupported() -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "this backend ignores or refuses conditional writes, so update cannot be made safe: use \
         get and set, or a server that honours If-Match and If-None-Match",
    )
}

/// Up to `pause` more, different for every caller, so writers that collided do not collide
/// again in step.
fn jitter(pause: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let spread = u32::try_from(pause.as_micros()).unwrap_or(u32::MAX).max(1);
    Duration::from_micros(u64::from(nanos % spread))
}
