//! Writing an object: header, sealed chunks, sealed index, footer.

use crate::{
    FORMAT_VERSION, chunks,
    compress::Compressor,
    error::Error,
    frame::{FOOTER_LEN, FOOTER_MAGIC, FRAME_LEN, Frame, INDEX_FIXED_LEN, TAG_LEN},
    header::Header,
    key::{DataKey, KEY_LEN, ObjectKeys, random},
    options::{EncodeOptions, Identity, PayloadKind},
    seal::{Sealer, Segment},
};

/// Encodes a value as an object: compressed per chunk, and encrypted when a key is given.
///
/// With a key, a fresh random salt gives the object its own key, and the identity is bound
/// in, so the object only decodes under the same collection and key name.
/// Without a key, the object is checksummed so damage is still detected, but anyone can
/// read or rewrite it.
///
/// # Errors
///
/// [`Error::InvalidInput`] for options out of range, a `Text` payload that is not UTF-8 or a
/// name longer than 4 GiB; [`Error::LimitExceeded`] for a value with more chunks than an
/// index can list; [`Error::Internal`] if the random number generator fails.
pub fn encode(
    plaintext: &[u8],
    options: &EncodeOptions,
    key: Option<&DataKey>,
    identity: Identity<'_>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode_into(plaintext, options, key, identity, &mut out)?;
    Ok(out)
}

/// Encodes a value as [`encode`] does, into `out` (cleared first), reusing its memory.
///
/// Fresh memory costs a page fault per page on first touch, which on some machines takes
/// longer than sealing the data: a caller that encodes many values can keep one buffer.
///
/// # Errors
///
/// As [`encode`]; `out` holds no valid object after an error.
pub fn encode_into(
    plaintext: &[u8],
    options: &EncodeOptions,
    key: Option<&DataKey>,
    identity: Identity<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    encode_object(plaintext, options, fresh_sealing(key)?, identity, out)
}

/// Encodes an encrypted object with a chosen salt, for known-answer test vectors only.
///
/// Never use it to store data: two objects written with the same data key and salt share
/// their object key and nonces, which breaks AES-GCM's confidentiality and integrity.
///
/// # Errors
///
/// As [`encode`].
#[doc(hidden)]
pub fn encode_with_salt(
    plaintext: &[u8],
    options: &EncodeOptions,
    key: &DataKey,
    identity: Identity<'_>,
    salt: [u8; KEY_LEN],
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    encode_object(plaintext, options, Some((key, salt)), identity, &mut out)?;
    Ok(out)
}

/// Writes the object; `sealing` is the data key and salt of an encrypted object.
fn encode_object(
    plaintext: &[u8],
    options: &EncodeOptions,
    sealing: Option<(&DataKey, [u8; KEY_LEN])>,
    identity: Identity<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    out.clear();
    let chunk_size_bytes = options.validate()?;
    let chunk_size = usize::try_from(chunk_size_bytes)
        .map_err(|_| Error::invalid("chunk size does not fit in memory"))?;
    if options.kind == PayloadKind::Text && std::str::from_utf8(plaintext).is_err() {
        return Err(Error::invalid("a text payload must be utf-8"));
    }
    let plaintext_len = u64::try_from(plaintext.len())
        .map_err(|_| Error::limit("the value is longer than 2^64 bytes"))?;
    let chunk_count = plaintext.len().div_ceil(chunk_size);
    // Chunks are at least 64 KiB, so their count always fits in a u64.
    let chunk_total = u64::try_from(chunk_count).unwrap_or(u64::MAX);
    let index_frame = Frame::index(index_body_len(chunk_count)?)?;

    let header = Header {
        version: FORMAT_VERSION,
        kind: options.kind,
        compression: options.compression.algorithm(),
        encrypted: sealing.is_some(),
        chunk_size: chunk_size_bytes,
        plaintext_len: Some(plaintext_len),
    };
    let (header_bytes, sealer) = seal_header(&header, sealing, identity)?;

    out.reserve(capacity_estimate(header_bytes.len(), plaintext.len(), chunk_count));
    out.extend_from_slice(&header_bytes);
    let mut index = Vec::with_capacity(index_frame.body_len());
    index.extend_from_slice(&plaintext_len.to_le_bytes());
    index.extend_from_slice(&chunk_total.to_le_bytes());

    let workers = chunks::resolve_threads(options.threads).min(chunk_count).max(1);
    let mut compressors = (0..workers)
        .map(|_| Compressor::new(options.compression))
        .collect::<Result<Vec<_>, _>>()?;
    let mut frames = Vec::with_capacity(chunk_count);
    chunks::seal_chunks(plaintext, chunk_size, 0, &sealer, &mut compressors, out, &mut frames)?;
    for frame in &frames {
        index.extend_from_slice(&frame.to_bytes());
    }

    out.extend_from_slice(&index_frame.to_bytes());
    let start = out.len();
    out.extend_from_slice(&index);
    sealer.seal(out, start, Segment::Index(chunk_total), index_frame)?;
    out.extend_from_slice(&index_frame.to_bytes());
    out.extend_from_slice(&FOOTER_MAGIC);
    Ok(())
}

/// The header's bytes and the sealer of the object; with a key, this runs the key schedule
/// and stores the salt and commitment in the header.
pub(crate) fn seal_header(
    header: &Header,
    sealing: Option<(&DataKey, [u8; KEY_LEN])>,
    identity: Identity<'_>,
) -> Result<(Vec<u8>, Sealer), Error> {
    match sealing {
        None => {
            let bytes = header.to_bytes(None);
            let sealer = Sealer::checksum(&bytes);
            Ok((bytes, sealer))
        }
        Some((key, salt)) => {
            let keys = ObjectKeys::derive(key, &salt)?;
            let bytes = header.to_bytes(Some((&salt, &keys.commitment)));
            let sealer = Sealer::aead(keys, &bytes, &identity.to_bytes()?);
            Ok((bytes, sealer))
        }
    }
}

/// The index body length for `chunk_count` chunks: the fixed part, a frame per chunk, the tag.
pub(crate) fn index_body_len(chunk_count: usize) -> Result<usize, Error> {
    chunk_count
        .checked_mul(FRAME_LEN)
        .and_then(|frames| frames.checked_add(INDEX_FIXED_LEN + TAG_LEN))
        .ok_or_else(|| {
            Error::limit(format!("{chunk_count} chunks are more than an index can list"))
        })
}

/// The most an object can take, so that its buffer is allocated once: a chunk is stored at
/// most raw, with its frame and tag, and has a frame in the index.
fn capacity_estimate(header_len: usize, plaintext_len: usize, chunk_count: usize) -> usize {
    let per_chunk = FRAME_LEN + TAG_LEN + FRAME_LEN;
    let fixed = header_len + FRAME_LEN + INDEX_FIXED_LEN + TAG_LEN + FOOTER_LEN;
    chunk_count.saturating_mul(per_chunk).saturating_add(fixed).saturating_add(plaintext_len)
}

/// The key and a fresh random salt to seal a new object with, or `None` without a key.
///
/// Every object gets its own salt, so its derived key (and every nonce under it) is new.
pub(crate) fn fresh_sealing(
    key: Option<&DataKey>,
) -> Result<Option<(&DataKey, [u8; KEY_LEN])>, Error> {
    key.map(|key| {
        let mut salt = [0_u8; KEY_LEN];
        random(&mut salt)?;
        Ok((key, salt))
    })
    .transpose()
}
