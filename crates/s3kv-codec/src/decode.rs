//! Reading an object: every length, flag, frame and tag is checked before its bytes are used.

use std::fmt;

use crate::{
    chunks::{self, Opener, Sealed},
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
    let options = DecodeOptions { max_plaintext_len, ..DecodeOptions::default() };
    decode_with_options(stored, key, identity, &options)
}

/// How to read an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The longest plaintext to accept: a longer one is [`Error::LimitExceeded`], refused
    /// from the header and the index before anything is allocated for it.
    pub max_plaintext_len: u64,
    /// How many threads open and decompress chunks at once; 0 means one per core.
    pub threads: usize,
}

impl Default for DecodeOptions {
    /// No length limit, one thread per core.
    fn default() -> Self {
        Self { max_plaintext_len: u64::MAX, threads: 0 }
    }
}

/// Decodes an object with the given options.
///
/// # Errors
///
/// As [`decode_with_limit`].
pub fn decode_with_options(
    stored: &[u8],
    key: Option<&DataKey>,
    identity: Identity<'_>,
    options: &DecodeOptions,
) -> Result<Decoded, Error> {
    let mut plaintext = Vec::new();
    let header = decode_into(stored, key, identity, options, &mut plaintext)?;
    Ok(Decoded { kind: header.kind, plaintext, header })
}

/// Decodes an object into `out` (cleared first), reusing its memory, and returns the header
/// with the index's plaintext length.
///
/// Fresh memory costs a page fault per page on first touch, which on some machines takes
/// longer than opening the data: a caller that decodes many values can keep one buffer.
///
/// # Errors
///
/// As [`decode_with_limit`]; `out` holds no valid plaintext after an error.
pub fn decode_into(
    stored: &[u8],
    key: Option<&DataKey>,
    identity: Identity<'_>,
    options: &DecodeOptions,
    out: &mut Vec<u8>,
) -> Result<Header, Error> {
    let result = decode_checked(stored, key, identity, options, out);
    if result.is_err() {
        out.clear();
    }
    result
}

/// The body of [`decode_into`]; `out` may hold anything on entry and after an error.
fn decode_checked(
    stored: &[u8],
    key: Option<&DataKey>,
    identity: Identity<'_>,
    options: &DecodeOptions,
    out: &mut Vec<u8>,
) -> Result<Header, Error> {
    let max_plaintext_len = options.max_plaintext_len;
    let parsed = header::parse(stored)?;
    let sealer = sealer_for(&parsed, key, identity)?;
    let footer = find_footer(stored, parsed.bytes.len())?;
    if let Some(claimed) = parsed.header.plaintext_len {
        check_claim(claimed, &parsed.header, stored.len(), max_plaintext_len)?;
    }

    let start = Index::locate(stored.len(), parsed.bytes.len(), footer)?;
    let index = Index::open(&stored[start..stored.len() - FOOTER_LEN], start, &sealer, footer)?;
    if index.plaintext_len > max_plaintext_len {
        return Err(over_limit(index.plaintext_len, max_plaintext_len));
    }
    let places = index.layout(&parsed.header)?;
    let mut chunks = Vec::with_capacity(places.len());
    for place in &places {
        if stored[place.offset..place.offset + FRAME_LEN] != place.frame.to_bytes() {
            return Err(Error::corrupt(Some(place.number), "frame"));
        }
        chunks.push(place.sealed(stored, 0)?);
    }

    read_chunks(&chunks, &parsed.header, &sealer, index.plaintext_len, options.threads, out)?;
    if parsed.header.kind == PayloadKind::Text && std::str::from_utf8(out).is_err() {
        return Err(Error::corrupt(None, "utf-8"));
    }
    Ok(Header { plaintext_len: Some(index.plaintext_len), ..parsed.header })
}

/// Picks the sealer the object needs, refusing a key mismatch before any chunk is read.
pub(crate) fn sealer_for(
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
pub(crate) fn check_claim(
    claimed: u64,
    header: &Header,
    stored_len: usize,
    limit: u64,
) -> Result<(), Error> {
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
pub(crate) fn over_limit(length: u64, limit: u64) -> Error {
    Error::limit(format!("plaintext of {length} bytes is longer than the limit of {limit}"))
}

/// The opened index record, and where it sits.
pub(crate) struct Index {
    /// The true plaintext length.
    pub(crate) plaintext_len: u64,
    /// The frame of every chunk, in order.
    frames: Vec<Frame>,
    /// Where the index frame starts: the chunks must end exactly here.
    pub(crate) start: usize,
}

/// Where one chunk sits in the object and what it must decode to.
pub(crate) struct Place {
    /// The chunk's number.
    pub(crate) number: u64,
    /// Its frame, as the index gives it.
    pub(crate) frame: Frame,
    /// Where its frame starts in the object.
    pub(crate) offset: usize,
    /// Its plaintext length.
    pub(crate) plaintext_len: usize,
}

impl Place {
    /// Where the chunk ends in the object.
    pub(crate) fn end(&self) -> usize {
        self.offset + FRAME_LEN + self.frame.body_len()
    }

    /// The chunk's body in `bytes`, which hold the object from offset `base` on.
    pub(crate) fn sealed<'a>(&self, bytes: &'a [u8], base: usize) -> Result<Sealed<'a>, Error> {
        let start = self.offset + FRAME_LEN - base;
        let body = bytes
            .get(start..start + self.frame.body_len())
            .ok_or(Error::corrupt(Some(self.number), "layout"))?;
        Ok(Sealed {
            number: self.number,
            frame: self.frame,
            body,
            plaintext_len: self.plaintext_len,
        })
    }
}

impl Index {
    /// Where the index segment starts in an object of `object_len` bytes, from the footer's
    /// frame.
    pub(crate) fn locate(
        object_len: usize,
        header_len: usize,
        frame: Frame,
    ) -> Result<usize, Error> {
        let footer_start = object_len.checked_sub(FOOTER_LEN).ok_or(Error::Truncated)?;
        if !frame.is_index() || frame.is_compressed() {
            return Err(Error::corrupt(None, "footer"));
        }
        let body_len = frame.body_len();
        if body_len.checked_sub(MIN_INDEX_BODY_LEN).is_none_or(|len| len % FRAME_LEN != 0) {
            return Err(Error::corrupt(None, "index length"));
        }
        footer_start
            .checked_sub(body_len)
            .and_then(|start| start.checked_sub(FRAME_LEN))
            .filter(|start| *start >= header_len)
            .ok_or(Error::corrupt(None, "index length"))
    }

    /// Opens the index segment (its inline frame and body, as stored at `start`), checking
    /// the inline frame against the footer's.
    pub(crate) fn open(
        segment: &[u8],
        start: usize,
        sealer: &Sealer,
        frame: Frame,
    ) -> Result<Self, Error> {
        if segment.len() != FRAME_LEN + frame.body_len() {
            return Err(Error::corrupt(None, "index length"));
        }
        if segment[..FRAME_LEN] != frame.to_bytes() {
            return Err(Error::corrupt(None, "footer"));
        }
        let frames_len = frame.body_len() - MIN_INDEX_BODY_LEN;
        let chunk_count = u64::try_from(frames_len / FRAME_LEN)
            .map_err(|_| Error::corrupt(None, "chunk count"))?;
        let body = &segment[FRAME_LEN..];
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

    /// The frame of every chunk, in order, as the index lists them.
    pub(crate) fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Checks the index against the header and returns where each chunk is and what it holds:
    /// the whole layout is known to be sound before any chunk is read.
    pub(crate) fn layout(&self, header: &Header) -> Result<Vec<Place>, Error> {
        if header.plaintext_len.is_some_and(|claimed| claimed != self.plaintext_len) {
            return Err(Error::corrupt(None, "plaintext length"));
        }
        let chunk_size = u64::from(header.chunk_size);
        let chunk_count = u64::try_from(self.frames.len()).unwrap_or(u64::MAX);
        if self.plaintext_len.div_ceil(chunk_size) != chunk_count {
            return Err(Error::corrupt(None, "chunk count"));
        }

        let mut places = Vec::with_capacity(self.frames.len());
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

            let place = Place { number, frame: *frame, offset, plaintext_len };
            if place.end() > self.start {
                return Err(Error::corrupt(Some(number), "layout"));
            }
            offset = place.end();
            places.push(place);
        }

        // No bytes may sit between the last chunk and the index.
        if offset == self.start { Ok(places) } else { Err(Error::corrupt(None, "layout")) }
    }
}

/// Checks a chunk's frame against what the chunk must hold.
///
/// A raw body holds exactly the chunk's plaintext; a compressed one is strictly smaller,
/// since a writer stores a chunk raw when compression does not shrink it.
pub(crate) fn check_frame(
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

/// The most plaintext an unencrypted object may add to the output before its chunks have
/// checked out: its index is not authentic, so its lengths are only claims.
const UNTRUSTED_BATCH_BYTES: usize = 64 << 20;

/// Opens and decompresses every chunk, in order, in batches spread over `threads`.
fn read_chunks(
    chunks: &[Sealed<'_>],
    header: &Header,
    sealer: &Sealer,
    plaintext_len: u64,
    threads: usize,
    plaintext: &mut Vec<u8>,
) -> Result<(), Error> {
    let does_not_fit =
        || Error::limit(format!("a plaintext of {plaintext_len} bytes does not fit in memory"));
    let no_memory = |_| Error::NoMemory { needed: plaintext_len };
    let total = usize::try_from(plaintext_len).map_err(|_| does_not_fit())?;
    // An encrypted index is authentic, so its length can be reserved up front; an
    // unencrypted one could lie, so the output then grows only as chunks check out.
    let batch_bytes = if header.encrypted {
        plaintext.try_reserve_exact(total.saturating_sub(plaintext.len())).map_err(no_memory)?;
        usize::MAX
    } else {
        UNTRUSTED_BATCH_BYTES
    };

    let workers = chunks::resolve_threads(threads).min(chunks.len()).max(1);
    let mut openers = Opener::for_threads(workers);
    let chunk_size = usize::try_from(header.chunk_size).unwrap_or(usize::MAX);
    let batch_len = (batch_bytes / chunk_size).max(workers);
    // The bytes already in a reused buffer are overwritten, not cleared first: zeroing
    // memory that is about to be written costs as much as a copy.
    let mut filled = 0;
    for batch in chunks.chunks(batch_len) {
        let start = filled;
        let len = chunks::plaintext_total(batch);
        filled += len;
        if plaintext.len() < filled {
            plaintext.try_reserve(filled - plaintext.len()).map_err(no_memory)?;
            plaintext.resize(filled, 0);
        }
        chunks::open_chunks(
            batch,
            sealer,
            header.compression,
            &mut openers,
            &mut plaintext[start..filled],
        )?;
    }
    plaintext.truncate(filled);
    Ok(())
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
