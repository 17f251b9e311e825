//! The consistency rules of the crate documentation: fresh within the ttl, stale after it,
//! revalidation by entity tag, and what inserts and invalidations leave behind.

use std::{sync::Arc, thread, time::Duration};

use s3kv_cache::{Cache, CacheConfig, Lookup};

use crate::support::{JUST_UNDER_TTL, ManualClock, TTL, cache_with_ttl, value};

/// The entity tag a stale lookup carries, or a failure naming what came instead.
fn stale_etag<V>(lookup: Lookup<V>) -> String {
    match lookup {
        Lookup::Stale { etag, .. } => etag,
        other => panic!("expected a stale entry, found {other:?}"),
    }
}

#[test]
fn entry_within_ttl_is_fresh_and_served_as_stored() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    clock.advance(JUST_UNDER_TTL);
    match cache.lookup("k") {
        Lookup::Fresh(found) => assert_eq!(found.as_slice(), b"one"),
        other => panic!("expected a fresh entry, found {other:?}"),
    }
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn entry_at_ttl_is_stale_with_its_value_and_etag() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    clock.advance(TTL);
    match cache.lookup("k") {
        Lookup::Stale { value, etag } => {
            assert_eq!(value.as_slice(), b"one");
            assert_eq!(etag, "e1");
        }
        other => panic!("expected a stale entry, found {other:?}"),
    }
    assert_eq!(cache.stats().stale_reads, 1);
}

#[test]
fn zero_ttl_makes_every_entry_stale_at_once() {
    let (cache, _clock) = cache_with_ttl(Duration::ZERO);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    assert_eq!(stale_etag(cache.lookup("k")), "e1");
    assert!(cache.revalidated("k", "e1"));
    assert_eq!(stale_etag(cache.lookup("k")), "e1");
}

#[test]
fn stale_entry_without_etag_is_a_miss() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), None, 3);
    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));

    clock.advance(TTL);
    assert!(matches!(cache.lookup("k"), Lookup::Miss));
    assert!(matches!(cache.lookup_revalidating("k"), Lookup::Miss));
}

#[test]
fn revalidated_entry_is_fresh_for_another_ttl_and_counts() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);
    clock.advance(TTL * 3);
    let etag = stale_etag(cache.lookup("k"));

    assert!(cache.revalidated("k", &etag));
    clock.advance(JUST_UNDER_TTL);
    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));
    clock.advance(Duration::from_millis(1));
    assert!(matches!(cache.lookup("k"), Lookup::Stale { .. }));
    assert_eq!(cache.stats().revalidations, 1);
}

#[test]
fn revalidation_of_a_replaced_or_missing_entry_changes_nothing() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);
    clock.advance(TTL);
    let old_etag = stale_etag(cache.lookup("k"));

    // Another write stores a new value while the conditional read of the old one is out.
    cache.insert("k", value(b"two"), Some("e2".to_owned()), 3);
    clock.advance(TTL);
    assert!(!cache.revalidated("k", &old_etag));
    assert_eq!(stale_etag(cache.lookup("k")), "e2");

    assert!(!cache.revalidated("absent", "e1"));
    assert_eq!(cache.stats().revalidations, 0);
}

#[test]
fn revalidating_lookup_treats_a_fresh_entry_as_stale() {
    let (cache, _clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    assert_eq!(stale_etag(cache.lookup_revalidating("k")), "e1");
    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));
}

#[test]
fn insert_replaces_value_and_etag_and_restarts_the_ttl() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);
    clock.advance(TTL);

    cache.insert("k", value(b"two"), Some("e2".to_owned()), 3);
    match cache.lookup("k") {
        Lookup::Fresh(found) => assert_eq!(found.as_slice(), b"two"),
        other => panic!("expected a fresh entry, found {other:?}"),
    }
    assert_eq!(stale_etag(cache.lookup_revalidating("k")), "e2");
    assert_eq!(cache.stats().entries, 1);
}

#[test]
fn invalidate_removes_only_that_key() {
    let (cache, _clock) = cache_with_ttl(TTL);
    cache.insert("a", value(b"one"), Some("e1".to_owned()), 3);
    cache.insert("b", value(b"two"), Some("e2".to_owned()), 3);

    cache.invalidate("a");
    assert!(matches!(cache.lookup("a"), Lookup::Miss));
    assert!(matches!(cache.lookup("b"), Lookup::Fresh(_)));
}

#[test]
fn invalidate_all_empties_the_cache_and_later_inserts_are_served() {
    let (cache, _clock) = cache_with_ttl(TTL);
    for key in ["a", "b", "c"] {
        cache.insert(key, value(b"one"), Some("e1".to_owned()), 3);
    }

    cache.invalidate_all();
    assert!(["a", "b", "c"].iter().all(|key| matches!(cache.lookup(key), Lookup::Miss)));
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.bytes), (0, 0));

    cache.insert("a", value(b"two"), Some("e2".to_owned()), 3);
    assert!(matches!(cache.lookup("a"), Lookup::Fresh(_)));
}

#[test]
fn stale_entries_outlive_the_ttl_for_revalidation() {
    let (cache, clock) = cache_with_ttl(Duration::from_millis(1));
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    // Far past the ttl, yet within the default idle time (which follows the system clock).
    clock.advance(Duration::from_hours(24));
    assert_eq!(stale_etag(cache.lookup("k")), "e1");
}

#[test]
fn clones_share_entries_and_statistics() {
    let (cache, _clock) = cache_with_ttl(TTL);
    let clone = cache.clone();
    clone.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));
    assert_eq!(clone.stats().hits, 1);
}

#[test]
fn statistics_add_up_to_the_calls_made() {
    let (cache, clock) = cache_with_ttl(TTL);
    cache.insert("fresh", value(b"0123456789"), Some("e1".to_owned()), 10);
    cache.insert("stale", value(b"x"), Some("e2".to_owned()), 1);
    cache.insert("no-etag", value(b"y"), None, 1);
    cache.insert("huge", value(b"z"), None, u64::MAX);
    clock.advance(TTL);
    cache.insert("fresh", value(b"0123456789"), Some("e1".to_owned()), 10);

    let outcomes = [
        cache.lookup("fresh"),
        cache.lookup("fresh"),
        cache.lookup("stale"),
        cache.lookup("no-etag"),
        cache.lookup("huge"),
        cache.lookup("never-stored"),
        cache.lookup_revalidating("fresh"),
    ];
    assert!(cache.revalidated("stale", "e2"));

    let stats = cache.stats();
    assert_eq!(stats.hits, 2);
    assert_eq!(stats.stale_reads, 2);
    assert_eq!(stats.misses, 3);
    assert_eq!(stats.hits + stats.stale_reads + stats.misses, outcomes.len() as u64);
    assert_eq!(stats.revalidations, 1);
    assert_eq!(stats.inserts, 4);
    assert_eq!(stats.bypassed, 1);
    assert_eq!(stats.evictions, 0);
    assert_eq!(stats.entries, 3);
    // Each weight plus its key and entity tag lengths.
    assert_eq!(stats.bytes, (10 + 5 + 2) + (1 + 5 + 2) + (1 + 7));
}

/// A cache of byte vectors with the given ttl and idle time, on a manual clock that the idle
/// expiry does not follow.
fn cache_with_idle(ttl: Duration, max_idle: Duration) -> Cache<Arc<Vec<u8>>> {
    let mut config = CacheConfig::new(ttl);
    config.max_idle = Some(max_idle);
    Cache::with_clock(config, ManualClock::new()).expect("valid config")
}

#[test]
fn entry_unused_for_max_idle_is_dropped() {
    let cache = cache_with_idle(Duration::ZERO, Duration::from_millis(20));
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    // Idle expiry follows the system clock; sleeping well past it makes the outcome certain.
    thread::sleep(Duration::from_millis(200));
    assert!(matches!(cache.lookup("k"), Lookup::Miss));
}

#[test]
fn max_idle_shorter_than_ttl_counts_as_the_ttl() {
    let cache = cache_with_idle(TTL, Duration::from_millis(1));
    cache.insert("k", value(b"one"), Some("e1".to_owned()), 3);

    thread::sleep(Duration::from_millis(50));
    assert!(matches!(cache.lookup("k"), Lookup::Fresh(_)));
}
