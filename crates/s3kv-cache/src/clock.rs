//! The source of "now" for freshness, replaceable so tests can move time without sleeping.

use std::{fmt, time::Instant};

/// Tells the cache what time it is when it judges whether an entry is still fresh.
///
/// [`SystemClock`] is the one to use outside tests.
/// A replacement must never go backwards; an instant before the cache was built counts as its
/// creation instant.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The monotonic clock of the operating system, [`Instant::now`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}
