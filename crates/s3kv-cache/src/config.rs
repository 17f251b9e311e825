//! How long entries stay fresh and how many bytes the cache may hold, with the checks that
//! reject settings the cache cannot honour.

use std::time::Duration;

use crate::Error;

/// The default budget of a cache, 256 MiB.
///
/// Streamlit apps typically run in containers of one to a few GiB shared with the interpreter,
/// the app's own data and the page being rendered, so a quarter GiB leaves most memory to the
/// app, while it still holds a working set of thousands of typical values (the read loop of
/// 100 values of 100 KB that the cache is measured with takes 10 MB of it).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The default largest entry, an eighth of [`DEFAULT_MAX_BYTES`] (32 MiB).
///
/// One large file read once would otherwise push out many small values that are read again
/// and again; with this share, no single entry takes more than an eighth of the budget, and
/// values too large to cache are better read as streams anyway.
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = DEFAULT_MAX_BYTES / 8;

/// The default time after which an entry that nobody reads or writes is dropped, one hour.
///
/// A stale entry is kept on purpose, so that it can be revalidated with no transfer; this
/// bounds how long an entry that is never read again holds memory in a quiet process.
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_hours(1);

/// The largest entry the cache can weigh, 4 GiB less one byte (its weights are 32-bit).
pub const MAX_ENTRY_BYTES_LIMIT: u64 = u32::MAX as u64;

/// How long entries stay fresh and how many bytes the cache may hold.
///
/// Build one with [`CacheConfig::new`] and change the fields you need;
/// [`Cache::new`](crate::Cache::new) checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// How long after it was stored or revalidated an entry is served with no request.
    ///
    /// Zero means every read revalidates (see the crate documentation).
    pub ttl: Duration,
    /// The most bytes all entries may weigh together; at least 1.
    pub max_bytes: u64,
    /// The most one entry may weigh; heavier values bypass the cache.
    ///
    /// At least 1, at most `max_bytes` and at most [`MAX_ENTRY_BYTES_LIMIT`].
    pub max_entry_bytes: u64,
    /// An entry that nobody reads, writes or revalidates for this long is dropped, stale or
    /// not; `None` keeps entries until the byte budget needs their room.
    ///
    /// A value shorter than `ttl` counts as `ttl`, so an entry in use never expires before it
    /// goes stale.
    pub max_idle: Option<Duration>,
}

impl CacheConfig {
    /// A configuration with the given time to live and the default budgets.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            max_idle: Some(DEFAULT_MAX_IDLE),
        }
    }

    /// Checks that the cache can honour this configuration.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `max_bytes` is zero, or `max_entry_bytes` is zero, larger
    /// than `max_bytes` or larger than [`MAX_ENTRY_BYTES_LIMIT`].
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_bytes == 0 {
            return Err(Error::InvalidConfig {
                parameter: "max_bytes",
                value: 0,
                allowed: "the cache budget must be at least 1 byte \
                          (to turn the cache off, leave ttl unset)"
                    .to_owned(),
            });
        }

        let ceiling = self.max_bytes.min(MAX_ENTRY_BYTES_LIMIT);
        if self.max_entry_bytes == 0 || self.max_entry_bytes > ceiling {
            return Err(Error::InvalidConfig {
                parameter: "max_entry_bytes",
                value: self.max_entry_bytes,
                allowed: format!(
                    "the largest entry must be between 1 and {ceiling} bytes \
                     (max_bytes is {}, and no entry may weigh 4 GiB or more)",
                    self.max_bytes
                ),
            });
        }
        Ok(())
    }

    /// The idle time handed to the underlying cache: at least the ttl, and none when it is so
    /// long that it would never matter.
    pub(crate) fn effective_idle(&self) -> Option<Duration> {
        // Past about a century idle expiry is indistinguishable from none, and the underlying
        // cache refuses durations beyond a thousand years.
        const NEVER: Duration = Duration::from_hours(100 * 365 * 24);

        let idle = self.max_idle?.max(self.ttl);
        (idle < NEVER).then_some(idle)
    }
}
