//! s3kv: an encrypted, compressed key-value store on S3, a local folder or memory.
//!
//! A [`Connection`] names a backend; [`Connection::collection`] opens a dict-like
//! [`Collection`] of string keys to [`Value`]s on it. This crate composes the codec (the
//! stored format), the store (the backends) and the configuration; the Python package and the
//! command line reach everything through it.
//!
//! ```no_run
//! # async fn demo() -> s3kv::Result<()> {
//! let loader = s3kv::Loader::new(None).kwargs(serde_json::json!({
//!     "mode": "local", "path": "data"
//! }).as_object().cloned().unwrap_or_default());
//! let connection = s3kv::Connection::open(loader).await?;
//! let mut options = serde_json::Map::new();
//! options.insert("password".into(), "secret".into());
//! let collection = connection.collection("examples", options).await?;
//! collection.set("k", s3kv::PayloadKind::Text, "hello".as_bytes()).await?;
//! assert_eq!(collection.get("k").await?.map(|value| value.data), Some(b"hello".to_vec()));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod collection;
mod connection;
mod error;
mod names;
mod password;
mod transfer;

pub use collection::{
    AHEAD_RATIO, Collection, Info, Listed, Opened, READ_WINDOW, ReadOutcome,
    STREAMED_READ_ATTEMPTS, STREAMED_SET_ATTEMPTS, STREAMED_SET_BYTES, Streamed, Value,
    ValueReader,
};
pub use connection::Connection;
pub use error::{Context, Error, ErrorKind, Result};
pub use s3kv_cache::CacheStats;
pub use s3kv_codec::{CompressionAlgorithm, PayloadKind};
pub use s3kv_config::{Loader, Mode, Settings};
pub use s3kv_store::Backend;

/// The store's building blocks, for backends that live outside this crate.
pub mod store {
    pub use s3kv_store::*;
}
