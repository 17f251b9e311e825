//! The codec's integration tests, built as one binary: round trips, hostile input, the
//! `docs/format.md` vectors, the manifest and legacy objects.

mod craft;
mod fuzz_corpus;
mod hostile;
mod legacy;
mod manifest;
mod range;
mod roundtrip;
mod stream;
mod support;
mod vectors;
