//! Integration tests of s3kv-config: one binary, one module per concern.
//!
//! No test reads the process environment or the home directory: every loader gets its
//! environment through `Loader::env` and its secrets files through `Loader::secrets_files`.

mod environment;
mod errors;
mod precedence;
mod readme_examples;
mod redaction;
mod secrets_files;
mod support;
