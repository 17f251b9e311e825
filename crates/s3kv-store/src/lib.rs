//! Where s3kv objects live: the [`Backend`] trait, and `OpenDAL` backends for S3, a local folder
//! and memory, each behind a cargo feature of the same name.
//!
//! A backend stores whole objects under `/`-separated paths relative to its root, lists them by
//! prefix, and says through [`Capabilities`] which conditional writes it honours. Every failure
//! is an [`Error`] whose [`ErrorKind`] tells the caller what to do. Each operation emits one
//! `tracing` debug event (operation, path, size, elapsed time, outcome), never a value or a
//! secret; retries are logged as warnings.
//!
//! ```
//! # #[cfg(not(feature = "memory"))]
//! # fn main() {}
//! # #[cfg(feature = "memory")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), s3kv_store::Error> {
//! use s3kv_store::PutMode;
//!
//! let backend = s3kv_store::memory()?;
//! backend.put("greeting", "hello".into(), PutMode::IfAbsent).await?;
//! let object = backend.get("greeting").await?;
//! assert_eq!(&object.bytes[..], b"hello");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod backend;
mod counting;
mod error;
#[cfg(feature = "fs")]
mod fs;
#[cfg(feature = "memory")]
mod memory;
mod operator;
mod path;
#[cfg(feature = "s3")]
mod s3;

pub use crate::backend::{
    Backend, BodyStream, Capabilities, Entry, Object, ObjectMeta, PutMode, ValueStream,
};
pub use crate::counting::{Counting, Counts};
pub use crate::error::{Error, ErrorKind};
#[cfg(feature = "fs")]
pub use crate::fs::{FsSettings, fs};
#[cfg(feature = "memory")]
pub use crate::memory::memory;
#[cfg(feature = "s3")]
pub use crate::s3::{Addressing, S3Settings, s3};
