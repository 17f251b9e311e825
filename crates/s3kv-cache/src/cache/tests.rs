//! The byte bound measured on the entries the cache really holds, not on its own count.

use std::sync::Arc;

use crate::{Cache, CacheConfig};

/// The weights of the entries the underlying cache holds, counted one by one.
fn held_bytes(cache: &Cache<Arc<[u8]>>) -> u64 {
    cache.entries.iter().map(|(_, entry)| u64::from(entry.weight)).sum()
}

#[test]
fn entries_held_weigh_at_most_max_bytes_after_every_insert() {
    const MAX_BYTES: u64 = 1 << 20;
    let mut config = CacheConfig::new(std::time::Duration::from_secs(10));
    config.max_bytes = MAX_BYTES;
    config.max_entry_bytes = MAX_BYTES / 8;
    let cache = Cache::new(config).expect("valid config");
    let value: Arc<[u8]> = Arc::from(&b"payload"[..]);

    // A linear congruential sequence: enough spread for sizes and keys, the same on each run.
    let mut state: u64 = 0x5eed;
    let mut next = |bound: u64| {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    for round in 0..10_000 {
        let key = format!("key-{}", next(2_000));
        let weight = if next(10) == 0 { next(MAX_BYTES / 4) } else { next(MAX_BYTES / 16) };
        cache.insert(&key, Arc::clone(&value), Some("etag".to_owned()), weight);

        let held = held_bytes(&cache);
        assert!(held <= MAX_BYTES, "after insert {round}: {held} bytes held, over {MAX_BYTES}");
        assert_eq!(held, cache.stats().bytes, "after insert {round}");
    }
}
