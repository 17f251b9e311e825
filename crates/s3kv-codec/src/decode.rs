//! Reading an object: every length, flag, frame and tag is checked before its bytes are used.

use std::{fmt, ops::Range};

use crate::{
    compress::Decompressor,
    error::Error,
    frame::{
        FOOTER_LEN, FOOTER_MAGIC, FRAME_LEN, Frame, INDEX_FIXED_LEN, MIN_INDEX_BODY_LEN, TAG_LEN,
    },
    header::{self, Header, ParsedHeader},
    key::{DataKey, ObjectKeys},
    options::{CompressionAlgorithm, Identity, PayloadKind},
    seal::{Sealer, Segment},
};

/// Stored bytes one chunk takes at least: its frame, one byte of data, the tag, and its frame
/// in the index.
const MIN_CHUNK_STORED_LEN: u64 = (FRAME_LEN + 1 + TAG_LEN + FRAME_LEN) as u64;

/// A decoded object.
///
/// `Debug` shows the plaintext's length, never its bytes.
#[derive(Clone)]
pub struct Decoded {
    /// What the plaintext is.
    pub kind: PayloadKind,
    /// The value.
    pub plaintext: Vec<u8>,
    /// The header, with `plaintext_len` set to the length the index gives.
    pub header: Header,
}

impl fmt::Debug for Decoded {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Decoded")
            .field("kind", &self.kind)
            .field("plaintext_len", &self.plaintext.len())
            .field("header", &self.header)
            .finish()
    }
}

/// Decodes an object, checking all of it.
///
/// `key` must match the object: `None` for an unencrypted object, the collection's data key
/// for an encrypted one. `identity` must be the one the object was encoded with; it is only
/// checked for encrypted objects.
///
/// # Errors
///
/// - [`Error::NotS3kv`] without the magic bytes (the caller may try [`crate::legacy`]);
/// - [`Error::KeyRequired`] for an encrypted object without a key, [`Error::NotEncrypted`]
///   for an unencrypted object with one, so a planted plain object is never accepted;
/// - [`Error::WrongKey`] when the key commitment does not match;
/// - [`Error::Corrupt`] when any check fails, including an object copied under another
///   identity, [`Error::Truncated`] when the object is cut short;
/// - [`Error::Unsupported`] for what this reader does not know;
/// - [`Error::LimitExceeded`] when the object claims more than it can hold or a chunk
///   inflates past its length.
pub fn decode(
    stored: &[u8],
    key: Option<&DataKey>,
    identity: Identity<'_>,
) -> Result<Decoded, Error> {
    decode_with_limit(stored, key, identity, u64::MAX)
}

/// Decodes an object, refusing one whose plaintext is longer than `max_plaintext_len`.
///
/// The limit is checked against the header and the index before the plaintext is
/// allocated.
///
/// # Errors
///
/// As [`decode`], and [`Error::LimitExceeded`] past the limit.
pub fn decode_with_limit(
    stored: &[u8],
    key: Option<&DataKey>,
    identity: Identity<'_>,
    max_plaintext_len: u64,
) -> Result<Decoded, Error> {
    let parsed = header::parse(stored)?;
    let sealer = sealer_for(&parsed, key, identity)?;
    let footer = find_footer(stored, parsed.bytes.len())?;
    if let Some(claimed) = parsed.header.plaintext_len {
        check_claim(claimed, &parsed.header, stored.len(), max_plaintext_len)?;
    }

    let index = Index::read(stored, &parsed, &sealer, footer)?;
    if index.plaintext_len > max_plaintext_len {
        return Err(over_limit(index.plaintext_len, max_plaintext_len));
    }
    let spans = index.chunk_spans(stored, &parsed.header)?;

    let plaintext = read_chunks(stored, &parsed.header, &sealer, &spans, index.plaintext_len)?;
    if parsed.header.kind == PayloadKind::Text && std::str::from_utf8(&plaintext).is_err() {
        return Err(Error::corrupt(None, "utf-8"));
    }

    let header = Header { plaintext_len: Some(index.plaintext_len), ..parsed.header };
    Ok(Decoded { kind: header.kind, plaintext, header })
}

/// Picks the sealer the object needs, refusing a key mismatch before any chunk is read.
fn sealer_for(
    parsed: &ParsedHeader<'_>,
    key: Option<&DataKey>,
    identity: Identity<'_>,
) -> Result<Sealer, Error> {
    match (parsed.sealing, key) {
        (Some(_), None) => Err(Error::KeyRequired),
        (None, Some(_)) => Err(Error::NotEncrypted),
        (None, None) => Ok(Sealer::checksum(parsed.bytes)),
        (Some((salt, commitment)), Some(key)) => {
            let keys = ObjectKeys::derive(key, salt)?;
            // The commitment is compared in constant time before any chunk is opened, so a
            // wrong key is told apart from damage and nothing is decrypted under it.
            keys.verify_commitment(commitment)?;
            Ok(Sealer::aead(keys, parsed.bytes, &identity.to_bytes()?))
        }
    }
}

/// Finds the footer at the end of the object and returns the index frame it repeats.
///
/// An object always ends with the footer magic: without it, the end is missing.
fn find_footer(stored: &[u8], header_len: usize) -> Result<Frame, Error> {
    let minimum = header_len + FRAME_LEN + MIN_INDEX_BODY_LEN + FOOTER_LEN;
    if stored.len() < minimum || !stored.ends_with(&FOOTER_MAGIC) {
        return Err(Error::Truncated);
    }
    let footer_start = stored.len() - FOOTER_LEN;
    Ok(Frame::from_bytes(array(&stored[footer_start..footer_start + FRAME_LEN])))
}

/// Refuses a header whose plaintext length is past the caller's limit or more than an
/// object of this size can hold, before anything is allocated from it.
fn check_claim(claimed: u64, header: &Header, stored_len: usize, limit: u64) -> Result<(), Error> {
    if claimed > limit {
        return Err(over_limit(claimed, limit));
    }

    // Every chunk takes at least a frame, one byte, a tag and a frame in the index.
    let chunks = u128::from(claimed.div_ceil(u64::from(header.chunk_size)));
    let fixed = header.encoded_len() + FRAME_LEN + MIN_INDEX_BODY_LEN + FOOTER_LEN;
    let needed = chunks * u128::from(MIN_CHUNK_STORED_LEN) + fixed as u128;
    if needed > stored_len as u128 {
        return Err(Error::limit(format!(
            "the header claims {claimed} bytes of plaintext, more than an object of \
             {stored_len} bytes can hold"
        )));
    }
    Ok(())
}

/// The error for a plaintext longer than the caller allows.
fn over_limit(length: u64, limit: u64) -> Error {
    Error::limit(format!("plaintext of {length} bytes is longer than the limit of {limit}"))
}

/// The opened index record, and where it sits.
struct Index {
    /// The true plaintext length.
    plaintext_len: u64,
    /// The frame of every chunk, in order.
    frames: Vec<Frame>,
    /// Where the index frame starts: the chunks must end exactly here.
    start: usize,
}

/// Where one chunk sits and what it must decode to.
struct Span {
    frame: Frame,
    body: Range<usize>,
    plaintext_len: usize,
}

impl Index {
    /// Finds the index through the footer's frame, checks the two frames agree, and opens
    /// the index.
    fn read(
        stored: &[u8],
        parsed: &ParsedHeader<'_>,
        sealer: &Sealer,
        frame: Frame,
    ) -> Result<Self, Error> {
        let footer_start = stored.len().checked_sub(FOOTER_LEN).ok_or(Error::Truncated)?;
        if !frame.is_index() || frame.is_compressed() {
            return Err(Error::corrupt(None, "footer"));
        }

        let body_len = frame.body_len();
        let frames_len = body_len
            .checked_sub(MIN_INDEX_BODY_LEN)
            .filter(|len| len % FRAME_LEN == 0)
            .ok_or(Error::corrupt(None, "index length"))?;
        let start = footer_start
            .checked_sub(body_len)
            .and_then(|start| start.checked_sub(FRAME_LEN))
            .filter(|start| *start >= parsed.bytes.len())
            .ok_or(Error::corrupt(None, "index length"))?;
        if stored[start..start + FRAME_LEN] != frame.to_bytes() {
            return Err(Error::corrupt(None, "footer"));
        }

        let chunk_count = u64::try_from(frames_len / FRAME_LEN)
            .map_err(|_| Error::corrupt(None, "chunk count"))?;
        let body = &stored[start + FRAME_LEN..footer_start];
        let mut scratch = Vec::new();
        let data = sealer.open(body, &mut scratch, Segment::Index(chunk_count), frame)?;

        let plaintext_len = u64::from_le_bytes(array(&data[..8]));
        let stored_count = u64::from_le_bytes(array(&data[8..INDEX_FIXED_LEN]));
        if stored_count != chunk_count {
            return Err(Error::corrupt(None, "chunk count"));
        }
        let frames = data[INDEX_FIXED_LEN..]
            .chunks_exact(FRAME_LEN)
            .map(|bytes| Frame::from_bytes(array(bytes)))
            .collect();
        Ok(Self { plaintext_len, frames, start })
    }

    /// Checks the index against the header and the chunks stored inline, and returns where
    /// each chunk is: the whole layout is known to be sound before any chunk is opened.
    fn chunk_spans(&self, stored: &[u8], header: &Header) -> Result<Vec<Span>, Error> {
        if header.plaintext_len.is_some_and(|claimed| claimed != self.plaintext_len) {
            return Err(Error::corrupt(None, "plaintext length"));
        }
        let chunk_size = u64::from(header.chunk_size);
        let chunk_count = u64::try_from(self.frames.len()).unwrap_or(u64::MAX);
        if self.plaintext_len.div_ceil(chunk_size) != chunk_count {
            return Err(Error::corrupt(None, "chunk count"));
        }

        let mut spans = Vec::with_capacity(self.frames.len());
        let mut offset = header.encoded_len();
        for (number, frame) in (0_u64..).zip(&self.frames) {
            let plaintext_len = if number + 1 < chunk_count {
                chunk_size
            } else {
                self.plaintext_len - chunk_size * (chunk_count - 1)
            };
            let plaintext_len = usize::try_from(plaintext_len)
                .map_err(|_| Error::corrupt(Some(number), "chunk length"))?;
            check_frame(*frame, header.compression, plaintext_len, number)?;

            let body_start = offset + FRAME_LEN;
            let body_end = body_start.saturating_add(frame.body_len());
            if body_end > self.start {
                return Err(Error::corrupt(Some(number), "layout"));
            }
            if stored[offset..body_start] != frame.to_bytes() {
                return Err(Error::corrupt(Some(number), "frame"));
            }
            spans.push(Span { frame: *frame, body: body_start..body_end, plaintext_len });
            offset = body_end;
        }

        // No bytes may sit between the last chunk and the index.
        if offset == self.start { Ok(spans) } else { Err(Error::corrupt(None, "layout")) }
    }
}

/// Checks a chunk's frame against what the chunk must hold.
///
/// A raw body holds exactly the chunk's plaintext; a compressed one is strictly smaller,
/// since a writer stores a chunk raw when compression does not shrink it.
fn check_frame(
    frame: Frame,
    compression: CompressionAlgorithm,
    plaintext_len: usize,
    number: u64,
) -> Result<(), Error> {
    if frame.is_index() || (frame.is_compressed() && compression == CompressionAlgorithm::None) {
        return Err(Error::corrupt(Some(number), "frame flags"));
    }
    let data_len = frame.body_len().checked_sub(TAG_LEN);
    let fits = match data_len {
        Some(len) if frame.is_compressed() => len > 0 && len < plaintext_len,
        Some(len) => len == plaintext_len,
        None => false,
    };
    if fits { Ok(()) } else { Err(Error::corrupt(Some(number), "body length")) }
}

/// Opens and decompresses every chunk, in order.
///
/// Each chunk depends only on the sealer and its span, so this loop can become a parallel
/// map writing into disjoint parts of the output.
fn read_chunks(
    stored: &[u8],
    header: &Header,
    sealer: &Sealer,
    spans: &[Span],
    plaintext_len: u64,
) -> Result<Vec<u8>, Error> {
    let total = usize::try_from(plaintext_len).map_err(|_| {
        Error::limit(format!("a plaintext of {plaintext_len} bytes does not fit in memory"))
    })?;
    let mut plaintext = Vec::new();
    // An encrypted index is authentic, so its length can be reserved up front; an
    // unencrypted one could lie, so the output then grows only as chunks check out.
    if header.encrypted {
        plaintext.try_reserve_exact(total).map_err(|_| {
            Error::limit(format!("a plaintext of {plaintext_len} bytes does not fit in memory"))
        })?;
    }

    let mut scratch = Vec::new();
    let mut decompressor = Decompressor::new();
    for (number, span) in (0_u64..).zip(spans) {
        let body = &stored[span.body.clone()];
        let data = sealer.open(body, &mut scratch, Segment::Chunk(number), span.frame)?;
        if span.frame.is_compressed() {
            let start = plaintext.len();
            plaintext.resize(start + span.plaintext_len, 0);
            decompressor.decompress(header.compression, data, &mut plaintext[start..], number)?;
        } else {
            plaintext.extend_from_slice(data);
        }
    }
    Ok(plaintext)
}

/// Copies a slice of known length into an array; callers slice exactly `N` bytes.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::{check_claim, check_frame};
    use crate::{CompressionAlgorithm, Error, Header, PayloadKind, frame::Frame};

    fn header(encrypted: bool) -> Header {
        Header {
            version: 1,
            kind: PayloadKind::Bytes,
            compression: CompressionAlgorithm::Zstd,
            encrypted,
            chunk_size: 1 << 16,
            plaintext_len: None,
        }
    }

    #[test]
    fn decoded_debug_hides_the_plaintext() {
        let decoded = super::Decoded {
            kind: PayloadKind::Text,
            plaintext: b"secret value".to_vec(),
            header: header(true),
        };

        let debug = format!("{decoded:?}");

        assert!(!debug.contains("secret") && !debug.contains("115"), "{debug}");
        assert!(debug.contains("plaintext_len: 12"), "{debug}");
    }

    #[test]
    fn claim_is_checked_against_the_smallest_possible_chunks() {
        // One chunk: header 24, chunk 4 + 1 + 16, index frame 4 + 32 + 4, footer 8 = 93.
        let plain = header(false);

        assert!(check_claim(1, &plain, 93, u64::MAX).is_ok());
        assert!(matches!(check_claim(1, &plain, 92, u64::MAX), Err(Error::LimitExceeded { .. })));
        assert!(check_claim(0, &plain, 68, u64::MAX).is_ok());
        assert!(matches!(
            check_claim(u64::MAX - 1, &plain, 1 << 30, u64::MAX),
            Err(Error::LimitExceeded { .. })
        ));
        assert!(matches!(
            check_claim(10, &header(true), 1000, 9),
            Err(Error::LimitExceeded { .. })
        ));
    }

    #[test]
    fn frames_must_fit_their_chunk() -> Result<(), Error> {
        let zstd = CompressionAlgorithm::Zstd;
        let none = CompressionAlgorithm::None;

        assert!(check_frame(Frame::data(false, 100 + 16)?, zstd, 100, 0).is_ok());
        assert!(check_frame(Frame::data(true, 99 + 16)?, zstd, 100, 0).is_ok());
        assert!(check_frame(Frame::data(true, 100 + 16)?, zstd, 100, 0).is_err());
        assert!(check_frame(Frame::data(true, 16)?, zstd, 100, 0).is_err());
        assert!(check_frame(Frame::data(false, 99 + 16)?, zstd, 100, 0).is_err());
        assert!(check_frame(Frame::data(false, 15)?, zstd, 100, 0).is_err());
        assert!(check_frame(Frame::data(true, 50 + 16)?, none, 100, 0).is_err());
        assert!(check_frame(Frame::index(100 + 16)?, zstd, 100, 7).is_err_and(|error| matches!(
            error,
            Error::Corrupt { chunk: Some(7), check: "frame flags" }
        )));
        Ok(())
    }
}
