//! Shared test data: keys, identities, deterministic plaintexts, and a way to name errors.

use s3kv_codec::{DataKey, Error, Identity};

/// The identity most tests store under.
pub(crate) const IDENTITY: Identity<'static> = Identity::new("examples", "key1");

/// A fixed data key.
pub(crate) fn key() -> DataKey {
    DataKey::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap_or(0)))
}

/// Another fixed data key.
pub(crate) fn other_key() -> DataKey {
    DataKey::from_bytes([0xee; 32])
}

/// `len` bytes that do not compress, from a seed.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // SplitMix64: a good spread from any seed, zero included.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of text that compress well.
pub(crate) fn text(len: usize) -> Vec<u8> {
    b"the quick brown fox jumps over the lazy dog; ".iter().copied().cycle().take(len).collect()
}

/// `len` bytes that mix compressible and incompressible stretches.
pub(crate) fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut part = 0_u64;
    while out.len() < len {
        let take = (len - out.len()).min(10_000);
        if part.is_multiple_of(2) {
            out.extend(text(take));
        } else {
            out.extend(noise(take, seed.wrapping_add(part)));
        }
        part += 1;
    }
    out
}

/// The variant name of an error, as `docs/format.md` vectors spell it.
pub(crate) fn error_name(error: &Error) -> &'static str {
    match error {
        Error::WrongKey => "WrongKey",
        Error::Corrupt { .. } => "Corrupt",
        Error::Truncated => "Truncated",
        Error::Unsupported { .. } => "Unsupported",
        Error::LimitExceeded { .. } => "LimitExceeded",
        Error::KeyRequired => "KeyRequired",
        Error::NotEncrypted => "NotEncrypted",
        Error::NotS3kv => "NotS3kv",
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Internal { .. } => "Internal",
        _ => "unknown",
    }
}
