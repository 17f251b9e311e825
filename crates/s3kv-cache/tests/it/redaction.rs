//! No value ever reaches the cache's `Debug` output (`tests/logging.rs` checks its log events).

use std::fmt;

use s3kv_cache::{Cache, CacheConfig, Lookup};

use crate::support::{ManualClock, TTL};

/// Text that only a value's `Debug` output contains.
const MARKER: &str = "value-bytes-that-must-never-be-shown";

/// A cached value whose `Debug` output would give it away.
#[derive(Clone)]
struct Marked;

impl fmt::Debug for Marked {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(MARKER)
    }
}

#[test]
fn debug_output_shows_config_and_stats_but_no_value() {
    let cache = Cache::with_clock(CacheConfig::new(TTL), ManualClock::new()).expect("config");
    cache.insert("k", Marked, Some("e1".to_owned()), 10);
    let lookup = cache.lookup("k");
    assert!(matches!(lookup, Lookup::Fresh(_)));

    let text = format!("{cache:?} {lookup:?} {:?}", cache.lookup_revalidating("k"));
    assert!(text.contains("max_bytes") && text.contains("hits: 1"), "{text}");
    assert!(!text.contains(MARKER), "{text}");
}
