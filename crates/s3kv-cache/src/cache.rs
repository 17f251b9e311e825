//! The cache itself: entries with an entity tag and the instant they were last validated, judged
//! fresh or stale on each lookup, inside a byte-bounded moka cache.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tracing::debug;

use crate::{CacheConfig, CacheStats, Clock, Error, SystemClock, stats::Counters};

/// How many maintenance rounds an insert runs at most to bring the weighted size back within
/// the budget; one round normally suffices, the rest cover rounds cut short by other threads'
/// writes arriving meanwhile.
const SETTLE_ROUNDS: usize = 8;

/// What a lookup found, and what the caller must do next.
///
/// Its `Debug` output names the variant and the entity tag, never the value.
#[must_use = "a lookup says whether to serve, revalidate or read the value"]
pub enum Lookup<V> {
    /// Validated within the ttl: serve the value, send no request.
    Fresh(V),
    /// Older than the ttl (or a read that must revalidate): send a conditional read with this
    /// entity tag; on "not modified" call [`Cache::revalidated`] and serve `value`, otherwise store
    /// what the read returned with [`Cache::insert`].
    Stale {
        /// The value as last stored.
        value: V,
        /// The entity tag of the object the value was read from or written as.
        etag: String,
    },
    /// Nothing servable: read the object and store it with [`Cache::insert`].
    Miss,
}

impl<V> fmt::Debug for Lookup<V> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fresh(_) => formatter.write_str("Fresh(..)"),
            Self::Stale { etag, .. } => {
                formatter.debug_struct("Stale").field("etag", etag).finish_non_exhaustive()
            }
            Self::Miss => formatter.write_str("Miss"),
        }
    }
}

/// One cached value with what freshness needs to know about it.
struct Entry<V> {
    value: V,
    etag: Option<Box<str>>,
    /// The weight the budget counts, at most `max_entry_bytes`.
    weight: u32,
    /// When the value was stored or last revalidated, in nanoseconds after the cache's epoch.
    validated: AtomicU64,
}

/// What every clone of a cache shares besides the moka cache.
struct Shared {
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    /// The instant `Entry::validated` counts from.
    epoch: Instant,
    counters: Arc<Counters>,
}

/// An in-process cache of decoded values, bounded by bytes, fresh within a ttl and revalidated
/// by entity tag; the crate documentation states its consistency rules.
///
/// Clones share the same entries and statistics.
/// `Debug` prints the configuration and statistics, never a value.
pub struct Cache<V> {
    entries: moka::sync::Cache<String, Arc<Entry<V>>>,
    shared: Arc<Shared>,
}

impl<V> Clone for Cache<V> {
    fn clone(&self) -> Self {
        Self { entries: self.entries.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<V> fmt::Debug for Cache<V> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats =
            self.shared.counters.snapshot(self.entries.entry_count(), self.entries.weighted_size());
        formatter
            .debug_struct("Cache")
            .field("config", &self.shared.config)
            .field("stats", &stats)
            .finish_non_exhaustive()
    }
}

impl<V: Clone + Send + Sync + 'static> Cache<V> {
    /// An empty cache that tells time with the system's monotonic clock.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the configuration is out of range, as
    /// [`CacheConfig::validate`] says.
    pub fn new(config: CacheConfig) -> Result<Self, Error> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An empty cache that judges freshness by the given clock, so tests can move time.
    ///
    /// Idle expiry (`max_idle`) still follows the system clock.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the configuration is out of range, as
    /// [`CacheConfig::validate`] says.
    pub fn with_clock(config: CacheConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        config.validate()?;

        let counters = Arc::new(Counters::default());
        let evicted = Arc::clone(&counters);
        // No time to live on purpose: a stale entry must outlive the ttl so that it can be
        // revalidated with no transfer. Bytes and idle time bound its life instead.
        let mut builder = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_key: &String, entry: &Arc<Entry<V>>| entry.weight)
            .eviction_listener(move |_key, _entry, cause| {
                if cause.was_evicted() {
                    Counters::bump(&evicted.evictions);
                }
            });
        if let Some(idle) = config.effective_idle() {
            builder = builder.time_to_idle(idle);
        }

        let epoch = clock.now();
        Ok(Self {
            entries: builder.build(),
            shared: Arc::new(Shared { config, clock, epoch, counters }),
        })
    }

    /// The configuration the cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// Looks a key up and says whether its value may be served as is, must be revalidated, or
    /// must be read.
    pub fn lookup(&self, key: &str) -> Lookup<V> {
        self.find(key, false)
    }

    /// Looks a key up as [`lookup`](Self::lookup) does, but treats every entry as stale, so
    /// the caller revalidates even a value validated a moment ago.
    pub fn lookup_revalidating(&self, key: &str) -> Lookup<V> {
        self.find(key, true)
    }

    /// Stores a value read or written just now, replacing any entry of the key.
    ///
    /// `weight` is what the value costs in bytes; the cache adds the lengths of the key and
    /// the entity tag. A value that weighs more than `max_entry_bytes` is not stored, and any older
    /// entry of the key is removed so it can never be served. An entry without an entity tag is
    /// served while fresh and read again afterwards.
    /// When this returns, the entries weigh at most `max_bytes` together: the cache evicts the
    /// least valuable entries, possibly the new one, before returning.
    pub fn insert(&self, key: &str, value: V, etag: Option<String>, weight: u64) {
        let etag_len = etag.as_deref().map_or(0, byte_len);
        let total = weight.saturating_add(byte_len(key)).saturating_add(etag_len);
        let weight = match u32::try_from(total) {
            Ok(weight) if total <= self.shared.config.max_entry_bytes => weight,
            _ => {
                self.entries.invalidate(key);
                self.entries.run_pending_tasks();
                Counters::bump(&self.shared.counters.bypassed);
                debug!(key, weight = total, "cache bypass: value larger than max_entry_bytes");
                return;
            }
        };

        let validated = AtomicU64::new(self.now());
        let etag = etag.map(String::into_boxed_str);
        self.entries.insert(key.to_owned(), Arc::new(Entry { value, etag, weight, validated }));
        Counters::bump(&self.shared.counters.inserts);
        self.settle();
        debug!(key, weight, "cache insert");
    }

    /// Records a "not modified" answer to a conditional read with `etag`: the entry is fresh
    /// again for a ttl, and its value was not transferred.
    ///
    /// Returns false, changing nothing, when the key's entry is gone or now holds another
    /// entity tag (another write replaced it meanwhile); the caller then serves what it has and the
    /// next lookup decides again.
    pub fn revalidated(&self, key: &str, etag: &str) -> bool {
        let Some(entry) = self.entries.get(key) else {
            debug!(key, "cache revalidation ignored: entry gone");
            return false;
        };
        if entry.etag.as_deref() != Some(etag) {
            debug!(key, "cache revalidation ignored: entry replaced");
            return false;
        }

        // The latest validation wins, whatever order concurrent revalidations finish in.
        entry.validated.fetch_max(self.now(), Ordering::AcqRel);
        Counters::bump(&self.shared.counters.revalidations);
        debug!(key, "cache revalidated");
        true
    }

    /// Removes a key's entry, for a delete or a write whose result is not cached.
    ///
    /// A lookup that starts after this returns does not find the entry.
    pub fn invalidate(&self, key: &str) {
        self.entries.invalidate(key);
        self.entries.run_pending_tasks();
        debug!(key, "cache invalidate");
    }

    /// Records that a value of `key` too large for the cache was read past it, as [`Cache::insert`]
    /// records one too heavy to store, and removes any older entry of the key.
    pub fn bypass(&self, key: &str) {
        self.entries.invalidate(key);
        self.entries.run_pending_tasks();
        Counters::bump(&self.shared.counters.bypassed);
        debug!(key, "cache bypass: value read past the cache");
    }

    /// Removes every entry.
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
        self.entries.run_pending_tasks();
        debug!("cache invalidate all");
    }

    /// The counters, and the entries and bytes held as of the last maintenance.
    ///
    /// Every insert and invalidation runs maintenance before it returns, so the figures are
    /// exact unless an entry expired since (`max_idle`), and taking them takes no lock.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot(self.entries.entry_count(), self.entries.weighted_size())
    }

    /// The lookup behind [`lookup`](Self::lookup) and
    /// [`lookup_revalidating`](Self::lookup_revalidating).
    fn find(&self, key: &str, revalidate: bool) -> Lookup<V> {
        let counters = &self.shared.counters;
        let Some(entry) = self.entries.get(key) else {
            Counters::bump(&counters.misses);
            debug!(key, outcome = "miss", "cache lookup");
            return Lookup::Miss;
        };

        if !revalidate && self.is_fresh(&entry) {
            Counters::bump(&counters.hits);
            debug!(key, outcome = "fresh", "cache lookup");
            return Lookup::Fresh(entry.value.clone());
        }

        // A stale entry without an entity tag cannot be revalidated, so it is as good as absent.
        if let Some(etag) = &entry.etag {
            Counters::bump(&counters.stale_reads);
            debug!(key, outcome = "stale", "cache lookup");
            Lookup::Stale { value: entry.value.clone(), etag: etag.to_string() }
        } else {
            Counters::bump(&counters.misses);
            debug!(key, outcome = "miss", reason = "stale without etag", "cache lookup");
            Lookup::Miss
        }
    }

    /// Whether an entry was validated less than a ttl ago; with a zero ttl, never.
    fn is_fresh(&self, entry: &Entry<V>) -> bool {
        let age = self.now().saturating_sub(entry.validated.load(Ordering::Acquire));
        Duration::from_nanos(age) < self.shared.config.ttl
    }

    /// Now, in nanoseconds after the cache's epoch (saturating after 584 years).
    fn now(&self) -> u64 {
        let elapsed = self.shared.clock.now().saturating_duration_since(self.shared.epoch);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Runs the maintenance that applies pending writes and evicts down to the budget, so
    /// the bound holds when an insert returns.
    fn settle(&self) {
        for _ in 0..SETTLE_ROUNDS {
            self.entries.run_pending_tasks();
            if self.entries.weighted_size() <= self.shared.config.max_bytes {
                break;
            }
        }
    }
}

/// A string's length in bytes, as the budget counts.
fn byte_len(text: &str) -> u64 {
    u64::try_from(text.len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
