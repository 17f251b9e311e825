//! The byte budget: too-large values bypass the cache, the weighted size never exceeds
//! `max_bytes`, and settings the cache cannot honour are refused with a clear message.

use std::{sync::Arc, thread, time::Duration};

use s3kv_cache::{
    Cache, CacheConfig, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRY_BYTES, Error, Lookup,
    MAX_ENTRY_BYTES_LIMIT,
};

use crate::support::{ManualClock, Rng, TTL, value};

/// A cache of byte vectors with the given budgets and a ttl no test reaches.
fn cache_with_budget(max_bytes: u64, max_entry_bytes: u64) -> Cache<Arc<Vec<u8>>> {
    let mut config = CacheConfig::new(TTL);
    config.max_bytes = max_bytes;
    config.max_entry_bytes = max_entry_bytes;
    Cache::with_clock(config, ManualClock::new()).expect("valid config")
}

#[test]
fn default_budget_is_256_mib_with_entries_up_to_an_eighth() {
    let config = CacheConfig::new(TTL);
    assert_eq!(config.max_bytes, DEFAULT_MAX_BYTES);
    assert_eq!(DEFAULT_MAX_BYTES, 256 << 20);
    assert_eq!(config.max_entry_bytes, DEFAULT_MAX_ENTRY_BYTES);
    assert_eq!(DEFAULT_MAX_ENTRY_BYTES, 32 << 20);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn oversized_value_bypasses_and_removes_the_older_entry() {
    let cache = cache_with_budget(1000, 100);
    cache.insert("k", value(b"small"), Some("e1".to_owned()), 5);
    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));

    // 99 bytes plus the key's one byte plus the entity tag's two: 102, over the 100 allowed.
    cache.insert("k", value(b"large"), Some("e2".to_owned()), 99);
    assert!(matches!(cache.lookup("k"), Lookup::Miss));
    assert!(matches!(cache.lookup_revalidating("k"), Lookup::Miss));

    let stats = cache.stats();
    assert_eq!((stats.bypassed, stats.inserts, stats.entries, stats.bytes), (1, 1, 0, 0));
}

#[test]
fn entry_of_exactly_max_entry_bytes_is_stored() {
    let cache = cache_with_budget(1000, 100);
    cache.insert("k", value(b"edge"), Some("e1".to_owned()), 97);

    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));
    assert_eq!(cache.stats().bytes, 100);
}

#[test]
fn weighted_size_stays_within_budget_over_ten_thousand_random_inserts() {
    const MAX_BYTES: u64 = 1 << 20;
    let cache = cache_with_budget(MAX_BYTES, MAX_BYTES / 8);
    let mut rng = Rng::new(0x5eed_cafe);
    let shared = value(b"payload");

    for round in 0..10_000 {
        let key = format!("key-{}", rng.below(2_000));
        // Mostly small values, some near the entry limit and some beyond it.
        let weight = match rng.below(10) {
            0 => rng.below(MAX_BYTES / 4),
            1..=2 => rng.below(MAX_BYTES / 8),
            _ => rng.below(4096),
        };
        cache.insert(&key, Arc::clone(&shared), Some("e".to_owned()), weight);

        let bytes = cache.stats().bytes;
        assert!(bytes <= MAX_BYTES, "after insert {round}: {bytes} bytes held, over {MAX_BYTES}");
    }

    let stats = cache.stats();
    assert!(stats.bypassed > 0, "some values were over the entry limit: {stats:?}");
    assert!(stats.evictions > 0, "the budget forced evictions: {stats:?}");
    assert!(stats.entries > 0, "the cache still holds entries: {stats:?}");
}

#[test]
fn concurrent_inserts_leave_the_cache_within_budget() {
    const MAX_BYTES: u64 = 256 << 10;
    let cache = cache_with_budget(MAX_BYTES, MAX_BYTES / 8);

    let workers: Vec<_> = (0..4_u64)
        .map(|worker| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(worker);
                for _ in 0..1_000 {
                    let key = format!("key-{}", rng.below(500));
                    cache.insert(&key, value(b"v"), Some("e".to_owned()), rng.below(MAX_BYTES / 8));
                    let _ = cache.lookup(&key);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker finished");
    }

    let stats = cache.stats();
    assert!(stats.bytes <= MAX_BYTES, "{stats:?}");
    assert_eq!(stats.hits + stats.misses + stats.stale_reads, 4_000);
}

#[test]
fn zero_budget_is_refused_with_what_is_allowed() {
    let mut config = CacheConfig::new(TTL);
    config.max_bytes = 0;

    let error = Cache::<Arc<Vec<u8>>>::new(config).expect_err("zero budget refused");
    assert!(matches!(error, Error::InvalidConfig { parameter: "max_bytes", value: 0, .. }));
    let message = error.to_string();
    assert!(message.contains("at least 1 byte"), "{message}");
    assert!(message.contains("leave ttl unset"), "{message}");
}

#[test]
fn entry_share_larger_than_budget_is_refused_with_the_ceiling() {
    let mut config = CacheConfig::new(TTL);
    config.max_bytes = 1000;
    config.max_entry_bytes = 1001;

    let error = config.validate().expect_err("entry share over budget refused");
    assert!(matches!(error, Error::InvalidConfig { parameter: "max_entry_bytes", .. }));
    let message = error.to_string();
    assert!(message.contains("between 1 and 1000 bytes"), "{message}");
}

#[test]
fn zero_or_four_gib_entry_share_is_refused() {
    let mut config = CacheConfig::new(TTL);
    config.max_entry_bytes = 0;
    assert!(config.validate().is_err());

    config.max_bytes = u64::MAX;
    config.max_entry_bytes = MAX_ENTRY_BYTES_LIMIT + 1;
    let message = config.validate().expect_err("4 GiB entries refused").to_string();
    assert!(message.contains(&format!("between 1 and {MAX_ENTRY_BYTES_LIMIT} bytes")), "{message}");

    config.max_entry_bytes = MAX_ENTRY_BYTES_LIMIT;
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn any_ttl_and_idle_time_is_accepted() {
    for (ttl, max_idle) in [
        (Duration::ZERO, None),
        (Duration::MAX, Some(Duration::ZERO)),
        (Duration::from_hours(2), Some(Duration::from_mins(1))),
        (Duration::ZERO, Some(Duration::MAX)),
    ] {
        let mut config = CacheConfig::new(ttl);
        config.max_idle = max_idle;
        let cache = Cache::<Arc<Vec<u8>>>::new(config).expect("every duration is usable");
        cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);
        assert_eq!(cache.stats().entries, 1);
    }
}
