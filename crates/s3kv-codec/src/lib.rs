//! The s3kv stored-object format: chunked, compressed and authenticated encryption, with no I/O.
//!
//! An object is a header, a run of independent chunks, an index and a footer (the byte layout
//! is in `docs/format.md`).
//! [`encode`] turns a value into an object and [`decode`] turns it back, checking every
//! length, flag and tag on the way; [`read_header`] tells what an object is without a key.
//! The [`manifest`] module derives a collection's data key from a password, and the
//! [`legacy`] module reads values written by `st_s3kv_connection` 0.1.0.
//!
//! The codec never panics on stored bytes, never allocates from a length it has not checked
//! against the size of the object, and never logs.

#![forbid(unsafe_code)]

mod chunks;
mod compress;
mod decode;
mod encode;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod key;
pub mod legacy;
pub mod manifest;
mod options;
mod range;
mod seal;
mod stream;

pub use decode::{
    DecodeOptions, Decoded, decode, decode_into, decode_with_limit, decode_with_options,
};
pub use encode::{encode, encode_into, encode_with_salt};
pub use error::Error;
pub use header::{Header, read_header};
pub use key::DataKey;
pub use options::{
    Compression, CompressionAlgorithm, DEFAULT_CHUNK_SIZE_LOG2, DEFAULT_ZSTD_LEVEL, EncodeOptions,
    Identity, MAX_CHUNK_SIZE_LOG2, MIN_CHUNK_SIZE_LOG2, PayloadKind,
};
pub use range::{
    IndexLocation, RANGE_HEAD_LEN, RANGE_TAIL_LEN, RangePlan, RangeReader, decode_range,
};
pub use stream::{Decoder, Encoder};

/// The first eight bytes of every object of this format: `\x89S3KV\r\n\x1a`.
///
/// The high first byte and the line endings catch transfers that mangle binary data, as in PNG.
pub const MAGIC: [u8; 8] = *b"\x89S3KV\r\n\x1a";

/// The longest header an object of this format has: [`read_header`] needs no more than this
/// many bytes from the start of an object.
pub const MAX_HEADER_LEN: usize = header::ENCRYPTED_HEADER_LEN;

/// The format version this crate writes, and the only one it reads.
pub const FORMAT_VERSION: u8 = 1;

/// Tells whether stored bytes are an object of this format, from their first bytes.
///
/// A value that is not (a legacy one, for instance) makes [`decode`] return
/// [`Error::NotS3kv`].
pub fn is_s3kv_object(stored_prefix: &[u8]) -> bool {
    stored_prefix.starts_with(&MAGIC)
}

#[cfg(test)]
mod tests {
    use super::{MAGIC, is_s3kv_object};

    #[test]
    fn magic_prefix_is_recognised_and_other_bytes_are_not() {
        assert!(is_s3kv_object(&MAGIC));
        assert!(is_s3kv_object(b"\x89S3KV\r\n\x1a\x01rest"));
        assert!(!is_s3kv_object(b"\x89S3KV\r\n"));
        assert!(!is_s3kv_object(b"\x78\x9c"));
        assert!(!is_s3kv_object(b""));
    }
}
