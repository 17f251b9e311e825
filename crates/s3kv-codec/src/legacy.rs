//! Reading values written by `st_s3kv_connection` 0.1.0, so its data is found in place and can
//! be migrated.
//!
//! That library stored `zlib(pickle)`, and with a password `AES-256-ECB(PKCS#7(zlib(pickle)))`
//! under one BLAKE2s-derived key for everything: no header, no version, no authentication
//! (`docs/format.md`, "Legacy objects"). This module only reads; it never writes the format.
//! Because nothing is authenticated, a wrong key can only be told by padding and zlib
//! failing, and damage to an encrypted value reads as a wrong key too.

use std::fmt;

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use blake2::{
    Blake2sVarCore,
    digest::Output,
    digest::core_api::{Buffer, UpdateCore, VariableOutputCore},
};
use flate2::{Decompress, FlushDecompress, Status};
use zeroize::Zeroizing;

use crate::error::Error;

/// The default cap on a value's decompressed size: 4 GiB.
pub const DEFAULT_MAX_OUTPUT: u64 = 4 << 30;

/// The BLAKE2s personalization of the legacy key derivation.
const PERSONALIZATION: &[u8] = b"passwd";
/// The longest BLAKE2s salt: 8 bytes.
const MAX_SALT_LEN: usize = 8;
/// The AES block size, which every encrypted value's length is a multiple of.
const BLOCK_LEN: usize = 16;
/// How much the output buffer grows at least, per step.
const MIN_GROWTH: usize = 64 * 1024;

/// The one AES-256 key a legacy password and salt stood for.
///
/// The bytes are zeroed on drop and never printed.
#[derive(Clone)]
pub struct LegacyKey(Zeroizing<[u8; 32]>);

impl LegacyKey {
    /// Derives the key as the original library did: BLAKE2s-256 of the UTF-8 password, with
    /// personalization `passwd` and the salt decoded from hex (at most 8 bytes; empty for
    /// none).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the salt is not hex or longer than 8 bytes.
    pub fn derive(password: &str, salt_hex: &str) -> Result<Self, Error> {
        let salt = hex::decode(salt_hex)
            .map_err(|_| Error::invalid("the legacy salt must be a hex string"))?;
        if salt.len() > MAX_SALT_LEN {
            return Err(Error::invalid(format!(
                "the legacy salt is {} bytes; BLAKE2s takes at most {MAX_SALT_LEN}",
                salt.len()
            )));
        }

        // An unkeyed BLAKE2s with salt and personalization; the library's keyed-MAC
        // constructor would hash a key block even for an empty key, so the core is driven
        // directly.
        let mut core = Blake2sVarCore::new_with_params(&salt, PERSONALIZATION, 0, 32);
        let mut buffer = Buffer::<Blake2sVarCore>::default();
        buffer.digest_blocks(password.as_bytes(), |blocks| core.update_blocks(blocks));
        let mut output = Output::<Blake2sVarCore>::default();
        core.finalize_variable_core(&mut buffer, &mut output);

        let mut key = Zeroizing::new([0_u8; 32]);
        key.copy_from_slice(&output);
        Ok(Self(key))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's bytes. Keep them out of logs and error messages.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("LegacyKey(..)")
    }
}

/// Decodes a legacy value to its pickle bytes, decompressing at most
/// [`DEFAULT_MAX_OUTPUT`].
///
/// # Errors
///
/// As [`decode_with_limit`].
pub fn decode(stored: &[u8], key: Option<&LegacyKey>) -> Result<Vec<u8>, Error> {
    decode_with_limit(stored, key, DEFAULT_MAX_OUTPUT)
}

/// Decodes a legacy value to its pickle bytes, refusing to decompress past `max_output`.
///
/// The pickle bytes are not checked: unpickling them runs code, so only do it for values
/// from a trusted source.
///
/// # Errors
///
/// - [`Error::WrongKey`] when padding or zlib fail after decryption (the key is wrong, or
///   the encrypted value is damaged: the format cannot tell which);
/// - [`Error::KeyRequired`] for a value that looks encrypted when no key is given;
/// - [`Error::NotEncrypted`] for a plain zlib value when a key is given;
/// - [`Error::Corrupt`] for a plain value that is not a valid zlib stream;
/// - [`Error::LimitExceeded`] past `max_output`.
pub fn decode_with_limit(
    stored: &[u8],
    key: Option<&LegacyKey>,
    max_output: u64,
) -> Result<Vec<u8>, Error> {
    let Some(key) = key else {
        if !has_zlib_header(stored) && is_block_aligned(stored) {
            return Err(Error::KeyRequired);
        }
        return inflate(stored, max_output);
    };

    if !is_block_aligned(stored) {
        return Err(if has_zlib_header(stored) {
            Error::NotEncrypted
        } else {
            Error::corrupt(None, "legacy block length")
        });
    }
    let mut buffer = Zeroizing::new(stored.to_vec());
    let decrypted = match decrypt(key, &mut buffer) {
        Some(plaintext) => inflate(plaintext, max_output),
        None => Err(Error::WrongKey),
    };
    match decrypted {
        Ok(pickle) => Ok(pickle),
        Err(Error::LimitExceeded { what }) => Err(Error::LimitExceeded { what }),
        // A plain value whose length happens to be a multiple of 16 is still a plain value.
        Err(_) if looks_plain(stored) => Err(Error::NotEncrypted),
        Err(_) => Err(Error::WrongKey),
    }
}

/// Checks that `stored` reads as a legacy value with `key` as far as its first
/// [`PLAIN_PROBE_LEN`] bytes of output, without inflating the rest: a caller that will refuse
/// every legacy value (all are pickles) tells damage from a refusal at that cost, whatever
/// the value would inflate to.
///
/// # Errors
///
/// As [`decode_with_limit`], except that a value longer than the probe is not an error.
pub fn probe(stored: &[u8], key: Option<&LegacyKey>) -> Result<(), Error> {
    match decode_with_limit(stored, key, PLAIN_PROBE_LEN) {
        Ok(_) | Err(Error::LimitExceeded { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// How much of a value is inflated just to tell a plain value from a damaged encrypted one.
const PLAIN_PROBE_LEN: u64 = 64 * 1024;

/// Whether `stored` is a plain zlib value, judged from a bounded prefix of its output: the
/// whole value may inflate a thousandfold, and telling its kind must not cost that.
fn looks_plain(stored: &[u8]) -> bool {
    has_zlib_header(stored)
        && matches!(inflate(stored, PLAIN_PROBE_LEN), Ok(_) | Err(Error::LimitExceeded { .. }))
}

/// Whether the bytes start with a zlib header as `zlib.compress` writes it (deflate, no
/// preset dictionary, valid check bits).
fn has_zlib_header(stored: &[u8]) -> bool {
    match stored {
        [method, flags, ..] => {
            let deflate = method & 0x0f == 8 && method >> 4 <= 7;
            let check = (u16::from(*method) << 8 | u16::from(*flags)) % 31 == 0;
            deflate && check && flags & 0x20 == 0
        }
        _ => false,
    }
}

/// Whether the length could be AES-ECB output: a non-zero multiple of the block size.
fn is_block_aligned(stored: &[u8]) -> bool {
    !stored.is_empty() && stored.len().is_multiple_of(BLOCK_LEN)
}

/// AES-256-ECB decryption and PKCS#7 unpadding in place; `None` when the padding is wrong.
fn decrypt<'a>(key: &LegacyKey, buffer: &'a mut [u8]) -> Option<&'a [u8]> {
    let unbound = UnboundCipherKey::new(&AES_256, key.as_bytes()).ok()?;
    let cipher = PaddedBlockDecryptingKey::ecb_pkcs7(unbound).ok()?;
    cipher.decrypt(buffer, DecryptionContext::None).ok().map(|plaintext| &*plaintext)
}

/// Inflates one complete zlib stream, writing at most `max_output` bytes.
fn inflate(input: &[u8], max_output: u64) -> Result<Vec<u8>, Error> {
    let invalid = || Error::corrupt(None, "legacy zlib stream");
    let too_large = || Error::limit(format!("a legacy value inflates past {max_output} bytes"));
    // One byte beyond the cap tells "exactly at the cap" from "past it".
    let cap = usize::try_from(max_output).unwrap_or(usize::MAX).saturating_add(1);

    let mut inflater = Decompress::new(true);
    let mut out = vec![0_u8; input.len().saturating_mul(4).clamp(256, MIN_GROWTH).min(cap)];
    let mut written = 0;
    // Each pass consumes input, produces output or grows the buffer; a pass that does none
    // of these ends the loop, so it is bounded by the input and output sizes.
    loop {
        if written == out.len() {
            let grown = out.len().saturating_add(out.len().max(MIN_GROWTH)).min(cap);
            if grown == out.len() {
                return Err(too_large());
            }
            out.try_reserve_exact(grown - out.len())
                .map_err(|_| Error::NoMemory { needed: grown as u64 })?;
            out.resize(grown, 0);
        }
        let consumed = counter(inflater.total_in())?;
        let before = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(
                &input[consumed.min(input.len())..],
                &mut out[written..],
                FlushDecompress::None,
            )
            .map_err(|_| invalid())?;
        written = counter(inflater.total_out())?;

        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                let progressed = before != (inflater.total_in(), inflater.total_out());
                if !progressed && written < out.len() {
                    return Err(invalid());
                }
            }
        }
    }

    if written >= cap {
        return Err(too_large());
    }
    // The original library never wrote anything after the stream.
    if counter(inflater.total_in())? != input.len() {
        return Err(invalid());
    }
    out.truncate(written);
    Ok(out)
}

/// A byte count of the inflater as a `usize`.
fn counter(count: u64) -> Result<usize, Error> {
    usize::try_from(count).map_err(|_| Error::limit("a legacy value does not fit in memory"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{LegacyKey, decode_with_limit, has_zlib_header, inflate, probe};
    use crate::Error;

    #[test]
    fn plain_bomb_given_a_key_is_told_plain_from_a_bounded_prefix() {
        // 4 MiB of zeros deflate to a few KiB; pad the stream to whole AES blocks so its
        // length alone does not say it is plain.
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0; 4 << 20]).expect("in memory");
        let mut stored = encoder.finish().expect("in memory");
        while stored.len() % 16 != 0 {
            stored.push(0);
        }
        let key = LegacyKey::from_bytes([7; 32]);
        // With a 1 MiB cap, inflating the whole value would fail past the cap; the bounded
        // probe still recognises a plain value.
        let error = decode_with_limit(&stored, Some(&key), 1 << 20).expect_err("plain value");
        assert!(matches!(error, Error::NotEncrypted), "{error:?}");
    }

    #[test]
    fn a_probe_reads_a_bounded_prefix_and_tells_damage_from_a_sound_value() {
        // 64 MiB of zeros deflate to 64 KiB: the probe inflates its first 64 KiB only.
        let bomb = zlib(&vec![0; 64 << 20]);
        assert!(probe(&bomb, None).is_ok());
        assert!(probe(&zlib(b"a small pickle"), None).is_ok());

        let mut damaged = zlib(&vec![b'a'; 100_000]);
        damaged[4] ^= 0xff;
        assert!(matches!(probe(&damaged, None), Err(Error::Corrupt { .. })));
        assert!(matches!(probe(b"\x00\x01 not zlib", None), Err(Error::Corrupt { .. })));
        let key = LegacyKey::from_bytes([7; 32]);
        assert!(matches!(probe(&[0; 32], Some(&key)), Err(Error::WrongKey)));
    }

    #[test]
    fn key_derivation_matches_python_blake2s() -> Result<(), Error> {
        // hashlib.blake2s(password, digest_size=32, person=b"passwd", salt=bytes.fromhex(salt))
        let cases = [
            (
                "my-secret-password",
                "63727970746f2d73",
                "ad5342a8bbe67f0f63b93325894856649e8f57c58db13014616d25a54d6616f0",
            ),
            (
                "password-to-this-collection",
                "",
                "01d0b8650d42b009f33d3f36afd2931ee75a14b36f8dcfc4ee1be8787fda65fa",
            ),
            ("pässwörd", "01", "f2a54111e5a6c2d62f116da88d2d72b5c76ad32445d473e2c59405a54425ba43"),
        ];
        for (password, salt, expected) in cases {
            assert_eq!(hex::encode(LegacyKey::derive(password, salt)?.as_bytes()), expected);
        }
        Ok(())
    }

    #[test]
    fn bad_salt_is_invalid_input() {
        for salt in ["zz", "0", "000102030405060708"] {
            assert!(
                matches!(LegacyKey::derive("p", salt), Err(Error::InvalidInput { .. })),
                "{salt}"
            );
        }
    }

    #[test]
    fn key_debug_hides_the_bytes() {
        assert_eq!(format!("{:?}", LegacyKey::from_bytes([1; 32])), "LegacyKey(..)");
    }

    #[test]
    fn zlib_header_is_recognised() {
        assert!(has_zlib_header(b"\x78\x9c"));
        assert!(has_zlib_header(b"\x78\x01"));
        assert!(has_zlib_header(b"\x78\xda"));
        assert!(!has_zlib_header(b"\x78\x9d"));
        assert!(!has_zlib_header(b"\x78"));
        assert!(!has_zlib_header(b"\x1f\x8b"));
    }

    #[test]
    fn inflate_stops_at_the_cap() -> Result<(), Error> {
        // zlib.compress(b"a" * 100000)
        let stream = zlib(&vec![b'a'; 100_000]);

        assert_eq!(inflate(&stream, 100_000)?.len(), 100_000);
        assert!(matches!(inflate(&stream, 99_999), Err(Error::LimitExceeded { .. })));
        assert!(matches!(inflate(&stream, 0), Err(Error::LimitExceeded { .. })));
        Ok(())
    }

    #[test]
    fn truncated_or_extended_stream_is_corrupt() {
        let stream = zlib(b"hello hello hello");
        let mut extended = stream.clone();
        extended.push(0);

        assert!(matches!(inflate(&stream[..stream.len() - 1], 1000), Err(Error::Corrupt { .. })));
        assert!(matches!(inflate(&extended, 1000), Err(Error::Corrupt { .. })));
        assert!(matches!(inflate(b"", 1000), Err(Error::Corrupt { .. })));
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let written = encoder.write_all(data);
        assert!(written.is_ok());
        encoder.finish().unwrap_or_default()
    }
}
