//! The object header: what the object holds and how, readable without a key.

use crate::{
    FORMAT_VERSION, MAGIC,
    error::Error,
    key::KEY_LEN,
    options::{CompressionAlgorithm, MAX_CHUNK_SIZE_LOG2, MIN_CHUNK_SIZE_LOG2, PayloadKind},
};

/// Length of the header of an unencrypted object.
pub(crate) const PLAIN_HEADER_LEN: usize = 24;
/// Length of the header of an encrypted object: the plain header, the salt, the commitment.
pub(crate) const ENCRYPTED_HEADER_LEN: usize = PLAIN_HEADER_LEN + 2 * KEY_LEN;
/// The stored plaintext length that means "not known when the header was written".
const UNKNOWN_LENGTH: u64 = u64::MAX;

/// Cipher byte of an unencrypted object (checksummed, not encrypted).
const CIPHER_NONE: u8 = 0;
/// Cipher byte of an object sealed with AES-256-GCM in the STREAM manner.
const CIPHER_AES_256_GCM: u8 = 1;

/// What an object's header says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The format version, [`FORMAT_VERSION`](crate::FORMAT_VERSION).
    pub version: u8,
    /// What the plaintext is.
    pub kind: PayloadKind,
    /// How chunks that shrink are compressed.
    pub compression: CompressionAlgorithm,
    /// Whether the object is encrypted (a key is needed to read it).
    pub encrypted: bool,
    /// The plaintext bytes in every chunk but the last.
    pub chunk_size: u32,
    /// The plaintext length, if the writer knew it when it wrote the header.
    ///
    /// Unchecked until the object is decoded: a header alone can claim anything.
    pub plaintext_len: Option<u64>,
}

impl Header {
    /// The length of this header in the object, in bytes: 24, or 88 when encrypted.
    pub fn encoded_len(&self) -> usize {
        if self.encrypted { ENCRYPTED_HEADER_LEN } else { PLAIN_HEADER_LEN }
    }

    /// The chunk size as a power of two.
    pub(crate) fn chunk_size_log2(&self) -> u8 {
        // The chunk size is a power of two between 2^16 and 2^24, so this fits in a byte.
        u8::try_from(self.chunk_size.trailing_zeros()).unwrap_or(u8::MAX)
    }

    /// The header's bytes; `sealing` is the salt and commitment of an encrypted object.
    pub(crate) fn to_bytes(&self, sealing: Option<(&[u8; KEY_LEN], &[u8; KEY_LEN])>) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ENCRYPTED_HEADER_LEN);
        bytes.extend_from_slice(&MAGIC);
        bytes.push(self.version);
        bytes.push(self.kind.to_byte());
        bytes.push(self.compression.to_byte());
        bytes.push(if sealing.is_some() { CIPHER_AES_256_GCM } else { CIPHER_NONE });
        bytes.push(self.chunk_size_log2());
        bytes.extend_from_slice(&[0; 3]);
        bytes.extend_from_slice(&self.plaintext_len.unwrap_or(UNKNOWN_LENGTH).to_le_bytes());
        if let Some((salt, commitment)) = sealing {
            bytes.extend_from_slice(salt);
            bytes.extend_from_slice(commitment);
        }
        bytes
    }
}

/// A header parsed from an object, with the parts the decoder needs beyond [`Header`].
pub(crate) struct ParsedHeader<'a> {
    /// The fields.
    pub(crate) header: Header,
    /// The header's bytes as stored, which every chunk authenticates.
    pub(crate) bytes: &'a [u8],
    /// The salt and key commitment, when encrypted.
    pub(crate) sealing: Option<(&'a [u8; KEY_LEN], &'a [u8; KEY_LEN])>,
}

/// Reads the header at the start of an object.
///
/// `stored` may be the whole object or just its first bytes (88 are always enough).
/// Nothing beyond the header is checked, so the plaintext length is only a claim.
///
/// # Errors
///
/// [`Error::NotS3kv`] without the magic bytes, [`Error::Truncated`] when the header is cut
/// short, [`Error::Unsupported`] for an unknown version, payload kind, compression, cipher,
/// chunk size or a non-zero reserved byte.
pub fn read_header(stored: &[u8]) -> Result<Header, Error> {
    parse(stored).map(|parsed| parsed.header)
}

/// Parses and checks the header at the start of `stored`.
pub(crate) fn parse(stored: &[u8]) -> Result<ParsedHeader<'_>, Error> {
    if !stored.starts_with(&MAGIC) {
        // A non-empty prefix of the magic is most likely an object cut short.
        let cut_short = !stored.is_empty() && MAGIC.starts_with(stored);
        return Err(if cut_short { Error::Truncated } else { Error::NotS3kv });
    }

    // The version comes first: a later version may lay out everything after it differently.
    let version = *stored.get(MAGIC.len()).ok_or(Error::Truncated)?;
    if version != FORMAT_VERSION {
        return Err(Error::unsupported(format!("format version {version}")));
    }
    let fixed: &[u8; PLAIN_HEADER_LEN] = first(stored)?;

    let kind = PayloadKind::from_byte(fixed[9])
        .ok_or_else(|| Error::unsupported(format!("payload kind {}", fixed[9])))?;
    let compression = CompressionAlgorithm::from_byte(fixed[10])
        .ok_or_else(|| Error::unsupported(format!("compression {}", fixed[10])))?;
    let encrypted = match fixed[11] {
        CIPHER_NONE => false,
        CIPHER_AES_256_GCM => true,
        other => return Err(Error::unsupported(format!("cipher {other}"))),
    };
    let chunk_size_log2 = fixed[12];
    if !(MIN_CHUNK_SIZE_LOG2..=MAX_CHUNK_SIZE_LOG2).contains(&chunk_size_log2) {
        return Err(Error::unsupported(format!("chunk size 2^{chunk_size_log2}")));
    }
    // A writer of this version always writes zeros; anything else comes from an unknown
    // extension, so it is refused rather than ignored.
    if fixed[13..16] != [0; 3] {
        return Err(Error::unsupported("header flags (reserved bytes are not zero)"));
    }
    let length = u64::from_le_bytes(array(&fixed[16..24]));

    let header = Header {
        version,
        kind,
        compression,
        encrypted,
        chunk_size: 1 << chunk_size_log2,
        plaintext_len: (length != UNKNOWN_LENGTH).then_some(length),
    };
    if !encrypted {
        return Ok(ParsedHeader { header, bytes: fixed, sealing: None });
    }

    let full: &[u8; ENCRYPTED_HEADER_LEN] = first(stored)?;
    let salt = full[PLAIN_HEADER_LEN..PLAIN_HEADER_LEN + KEY_LEN].try_into().ok();
    let commitment = full[PLAIN_HEADER_LEN + KEY_LEN..].try_into().ok();
    let sealing = salt.zip(commitment).ok_or(Error::Internal { what: "header slicing" })?;
    Ok(ParsedHeader { header, bytes: full, sealing: Some(sealing) })
}

/// The first `N` bytes of `stored`, or [`Error::Truncated`].
fn first<const N: usize>(stored: &[u8]) -> Result<&[u8; N], Error> {
    stored.first_chunk::<N>().ok_or(Error::Truncated)
}

/// Copies an 8-byte slice into an array; the callers slice exactly 8 bytes.
fn array(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::{ENCRYPTED_HEADER_LEN, Header, PLAIN_HEADER_LEN, parse, read_header};
    use crate::{CompressionAlgorithm, Error, PayloadKind};

    fn sample(encrypted: bool) -> Vec<u8> {
        let header = Header {
            version: 1,
            kind: PayloadKind::Text,
            compression: CompressionAlgorithm::Lz4,
            encrypted,
            chunk_size: 1 << 16,
            plaintext_len: Some(5),
        };
        header.to_bytes(encrypted.then_some((&[1; 32], &[2; 32])))
    }

    #[test]
    fn written_header_reads_back() {
        let plain = sample(false);
        let encrypted = sample(true);

        assert_eq!(plain.len(), PLAIN_HEADER_LEN);
        assert_eq!(encrypted.len(), ENCRYPTED_HEADER_LEN);
        let header = read_header(&encrypted).ok();
        assert_eq!(
            header.as_ref().map(|h| (h.kind, h.compression)),
            Some((PayloadKind::Text, CompressionAlgorithm::Lz4))
        );
        assert_eq!(
            header.as_ref().map(|h| (h.encrypted, h.chunk_size, h.plaintext_len)),
            Some((true, 65536, Some(5)))
        );
        assert!(parse(&encrypted).is_ok_and(|p| p.sealing == Some((&[1; 32], &[2; 32]))));
    }

    #[test]
    fn unknown_length_reads_as_none() {
        let mut bytes = sample(false);
        bytes[16..24].copy_from_slice(&[0xff; 8]);

        assert!(read_header(&bytes).is_ok_and(|h| h.plaintext_len.is_none()));
    }

    #[test]
    fn short_or_foreign_input_is_truncated_or_not_s3kv() {
        let encrypted = sample(true);

        assert!(matches!(read_header(b""), Err(Error::NotS3kv)));
        assert!(matches!(read_header(b"\x78\x9c\x01"), Err(Error::NotS3kv)));
        assert!(matches!(read_header(&encrypted[..3]), Err(Error::Truncated)));
        for cut in 8..ENCRYPTED_HEADER_LEN {
            assert!(matches!(read_header(&encrypted[..cut]), Err(Error::Truncated)), "{cut}");
        }
    }

    #[test]
    fn unknown_field_values_are_unsupported() {
        for (offset, value) in
            [(8, 2), (9, 4), (10, 3), (11, 2), (12, 15), (12, 25), (13, 1), (15, 1)]
        {
            let mut bytes = sample(false);
            bytes[offset] = value;

            assert!(matches!(read_header(&bytes), Err(Error::Unsupported { .. })), "{offset}");
        }
    }
}
