//! The cost of a read served from the cache: a fresh lookup of a 100 KB value, the case the
//! cache exists for, beside a stale lookup (what precedes a revalidation) and a miss.
//!
//! Run with `cargo bench -p s3kv-benches --bench cache`; the figures are the time per lookup
//! and lookups per second. A hit clones an `Arc`, so its cost does not grow with the value.

use std::{hint::black_box, sync::Arc, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s3kv_cache::{Cache, CacheConfig, Lookup};

/// The size of each cached value.
const VALUE_BYTES: usize = 100_000;

/// How many keys the read loop cycles through, as a Streamlit page reading its data would.
const KEYS: usize = 100;

/// A cache holding `KEYS` values of `VALUE_BYTES` each, and their keys.
fn filled(ttl: Duration) -> (Cache<Arc<Vec<u8>>>, Vec<String>) {
    let cache = Cache::new(CacheConfig::new(ttl)).unwrap_or_else(|error| panic!("{error}"));
    let keys: Vec<String> = (0..KEYS).map(|index| format!("collection/{index:064x}")).collect();
    for (index, key) in keys.iter().enumerate() {
        let value = Arc::new(vec![u8::try_from(index % 251).unwrap_or(0); VALUE_BYTES]);
        cache.insert(key, value, Some(format!("\"etag-{index}\"")), VALUE_BYTES as u64);
    }
    (cache, keys)
}

/// The keys in turn, round and round.
fn cycle<'a>(keys: &'a [String]) -> impl FnMut() -> &'a str {
    let mut next = 0;
    move || {
        next = (next + 1) % keys.len();
        &keys[next]
    }
}

fn lookups(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("cache");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));

    let (fresh, keys) = filled(Duration::from_hours(1));
    let mut key = cycle(&keys);
    group.bench_function("fresh_hit_100kB", |b| {
        b.iter(|| match fresh.lookup(black_box(key())) {
            Lookup::Fresh(value) => value,
            other => panic!("expected a fresh hit, found {other:?}"),
        });
    });

    let (stale, keys) = filled(Duration::ZERO);
    let mut key = cycle(&keys);
    group.bench_function("stale_100kB", |b| {
        b.iter(|| match stale.lookup(black_box(key())) {
            Lookup::Stale { value, etag } => (value, etag),
            other => panic!("expected a stale entry, found {other:?}"),
        });
    });

    group.bench_function("miss", |b| {
        b.iter(|| matches!(fresh.lookup(black_box("collection/absent")), Lookup::Miss));
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
