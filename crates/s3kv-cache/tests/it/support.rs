//! What the tests share: a clock they move by hand, a seeded random generator and a cache
//! builder.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use s3kv_cache::{Cache, CacheConfig, Clock};

/// A clock that stands still until a test advances it.
#[derive(Debug)]
pub(crate) struct ManualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self { start: Instant::now(), elapsed: Mutex::new(Duration::ZERO) })
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.elapsed.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock().expect("clock lock")
    }
}

/// The ttl of the caches built by [`cache_with_ttl`].
pub(crate) const TTL: Duration = Duration::from_secs(10);

/// The last instant, to the millisecond, at which an entry stored at zero is still fresh.
pub(crate) const JUST_UNDER_TTL: Duration = Duration::from_millis(9_999);

/// A cache of byte vectors with the given ttl and default budgets, on a manual clock.
pub(crate) fn cache_with_ttl(ttl: Duration) -> (Cache<Arc<Vec<u8>>>, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let cache = Cache::with_clock(CacheConfig::new(ttl), clock.clone()).expect("valid config");
    (cache, clock)
}

/// A value of the given bytes, as the facade would store it.
pub(crate) fn value(bytes: &[u8]) -> Arc<Vec<u8>> {
    Arc::new(bytes.to_vec())
}

/// A small seeded generator (SplitMix64): the same sequence on every run and platform.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound`; the slight bias of a modulo does not matter to these tests.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
