//! Settings of an s3kv connection, resolved from kwargs, environment variables, Streamlit's
//! secrets.toml and defaults.
//!
//! The parameter names and meanings are those of `st_s3kv_connection`, so existing apps,
//! secrets files and environments keep working; `docs/configuration.md` lists them all.
//! [`Loader`] merges the sources with figment, strongest first: collection kwargs, connection
//! kwargs, environment variables `<name>_<param>`, the `[connections.<name>]` secrets table,
//! defaults. Every error names the parameter, the source and what is allowed, and no secret
//! ever appears in `Debug` output or in an error.
//!
//! ```
//! use s3kv_config::{Loader, Mode};
//!
//! let kwargs = serde_json::json!({ "mode": "local", "path": "data" });
//! let settings = Loader::new(Some("my_kv"))
//!     .kwargs(kwargs.as_object().cloned().unwrap_or_default())
//!     .env([("my_kv_ttl".to_owned(), "10m".to_owned())])
//!     .secrets_files(Vec::new())
//!     .load()?;
//! assert_eq!(settings.mode, Mode::Local);
//! assert_eq!(settings.ttl, Some(std::time::Duration::from_secs(600)));
//! # Ok::<(), s3kv_config::Error>(())
//! ```
//!
//! This crate does no logging and no network I/O; it reads only secrets.toml files.

#![forbid(unsafe_code)]

mod error;
mod loader;
mod parameter;
mod secrets_file;
mod settings;

pub use error::{Error, Received};
pub use loader::Loader;
pub use parameter::PARAMETERS;
pub use settings::{Addressing, Mode, Secret, Settings};
