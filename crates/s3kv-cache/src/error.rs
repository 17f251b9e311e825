//! The one error type of the crate: a cache setting outside what the cache can honour.

/// A cache setting the cache cannot honour; the caller must change it before building a cache.
///
/// The message names the setting, the value received and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A byte budget is out of range.
    #[error("invalid cache setting {parameter} = {value}: {allowed}")]
    InvalidConfig {
        /// The setting's name, as in [`CacheConfig`](crate::CacheConfig).
        parameter: &'static str,
        /// The value received.
        value: u64,
        /// What the setting accepts, in words.
        allowed: String,
    },
}
