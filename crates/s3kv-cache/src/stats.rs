//! What the cache has done since it was built: counters kept as atomics, read as one snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a cache's counters and size.
///
/// Every lookup counts exactly once, as a hit, a stale read or a miss, so
/// `hits + stale_reads + misses` is the number of lookups.
/// A stale read ends either in a revalidation (the value had not changed) or, usually, in a
/// new insert of the value fetched again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered [`Fresh`](crate::Lookup::Fresh): served with no request.
    pub hits: u64,
    /// Lookups answered [`Miss`](crate::Lookup::Miss), stale entries without an entity tag
    /// included.
    pub misses: u64,
    /// Lookups answered [`Stale`](crate::Lookup::Stale): the caller must revalidate.
    pub stale_reads: u64,
    /// "Not modified" answers that made an entry fresh again with no transfer.
    pub revalidations: u64,
    /// Values stored.
    pub inserts: u64,
    /// Values not stored because they weigh more than `max_entry_bytes`.
    pub bypassed: u64,
    /// Entries dropped to make room within `max_bytes` or after `max_idle`; entries replaced
    /// or invalidated do not count.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes the entries held now weigh together, never more than `max_bytes`.
    pub bytes: u64,
}

/// The live counters behind [`CacheStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale_reads: AtomicU64,
    pub(crate) revalidations: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) bypassed: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

impl Counters {
    /// Adds one to a counter; counters are statistics, so no ordering with other memory is
    /// needed.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, with the size figures the caller measured.
    pub(crate) fn snapshot(&self, entries: u64, bytes: u64) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale_reads: self.stale_reads.load(Ordering::Relaxed),
            revalidations: self.revalidations.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}
