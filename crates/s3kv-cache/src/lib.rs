//! An in-process cache of decoded s3kv values: bounded by bytes, fresh within a time to live,
//! and revalidated by entity tag, so a read of an unchanged value transfers nothing.
//!
//! The cache knows nothing of the format, the stores or the configuration: it holds values of
//! any cheaply cloned type `V` (the facade stores an `Arc` of a decoded payload) under string
//! keys, with the entity tag of the object each came from and the instant it was last validated.
//! It is built on [moka](https://docs.rs/moka), whose eviction keeps the entries' total weight
//! within the budget.
//!
//! # Consistency rules
//!
//! - **Fresh**: an entry stored or revalidated less than `ttl` ago is served with no request.
//!   Within the ttl, a write made by another process is therefore not seen; after it, it is.
//! - **Stale**: an entry validated `ttl` or longer ago is not served as is.
//!   The lookup returns its value and entity tag, and the caller sends a conditional read
//!   ("if none match" that entity tag): "not modified" makes the entry fresh again with no
//!   transfer ([`Cache::revalidated`]), and a new object replaces it ([`Cache::insert`]).
//! - **ttl = 0** means every read revalidates: no entry is ever fresh, and each read costs
//!   one conditional request but transfers a value only when it changed.
//! - **Revalidating reads**: [`Cache::lookup_revalidating`] treats every entry as stale, for a
//!   read that must see the latest value whatever the ttl.
//! - **No entity tag, no revalidation**: a stale entry without an entity tag is a miss, and
//!   the value is read again.
//! - **Writes and deletes** in this process update the cache at once: a write stores the
//!   value it wrote with its new entity tag ([`Cache::insert`], write-through); a delete
//!   removes the entry ([`Cache::invalidate`]).
//!   A value heavier than `max_entry_bytes` is not stored, and storing it removes the key's
//!   older entry, so a value too large to cache never leaves an older one to be served.
//! - **Bounded staleness**: whatever happens between processes, a served value was the
//!   object's value no more than `ttl` before (plus the duration of the read that fetched
//!   it), because every entry is revalidated against the store once its ttl has passed.
//! - **Memory**: the entries' weights (the caller's byte count plus the key and entity tag)
//!   add up to at most `max_bytes` when an insert returns.
//!   While other threads insert at the same time, their entries can exceed the budget until
//!   their own inserts return.
//!   Stale entries are kept so they can be revalidated; they leave when the budget needs
//!   their room, or after `max_idle` with no use.
//! - Whether to cache at all is the caller's choice: an unset ttl means no cache is built.
//!
//! # Example
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//!
//! use s3kv_cache::{Cache, CacheConfig, Lookup};
//!
//! let cache: Cache<Arc<Vec<u8>>> = Cache::new(CacheConfig::new(Duration::from_secs(60)))?;
//! let value = Arc::new(b"decoded payload".to_vec());
//! cache.insert("photos/cat.jpg", Arc::clone(&value), Some("\"etag-1\"".to_owned()), 15);
//!
//! match cache.lookup("photos/cat.jpg") {
//!     Lookup::Fresh(hit) => assert_eq!(hit, value),
//!     Lookup::Stale { etag, .. } => {
//!         // Send a conditional read with `etag`; on "not modified":
//!         cache.revalidated("photos/cat.jpg", &etag);
//!     }
//!     Lookup::Miss => { /* read the object, then `cache.insert(...)` */ }
//! }
//! assert_eq!(cache.stats().hits, 1);
//! # Ok::<(), s3kv_cache::Error>(())
//! ```
//!
//! # Logging
//!
//! One `tracing` event at debug level per lookup (its outcome: fresh, stale or miss), insert,
//! bypass, revalidation and invalidation, with the key; never a value or an entity tag.

#![forbid(unsafe_code)]

mod cache;
mod clock;
mod config;
mod error;
mod stats;

pub use cache::{Cache, Lookup};
pub use clock::{Clock, SystemClock};
pub use config::{
    CacheConfig, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES, DEFAULT_MAX_IDLE,
    MAX_ENTRY_BYTES_LIMIT,
};
pub use error::Error;
pub use stats::CacheStats;
