//! Integration tests of s3kv-cache: one binary, one module per concern.
//!
//! Time moves by a manual clock, never by sleeping, and every random size comes from a seeded
//! generator, so each run checks the same cases.

mod budget;
mod freshness;
mod redaction;
mod support;
