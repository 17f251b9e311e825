//! Plaintext range reads: which stored bytes to fetch for a range of the plaintext, and how to
//! decode just those.
//!
//! Three steps, each a fetch by the caller (an HTTP range request, a file read):
//!
//! 1. fetch the first [`RANGE_HEAD_LEN`] bytes and the last [`RANGE_TAIL_LEN`] bytes, and
//!    give them to [`IndexLocation::locate`], which checks the header and the key;
//! 2. fetch [`IndexLocation::index_range`] and give it to [`IndexLocation::open`], which
//!    opens the index and checks the whole layout;
//! 3. ask [`RangeReader::plan`] for any plaintext range, fetch [`RangePlan::stored`], and
//!    give it to [`RangeReader::decode`]: only the chunks that overlap the range are read.

use std::ops::Range;

use crate::{
    chunks::{self, Opener},
    decode::{Index, Place, check_claim, sealer_for},
    error::Error,
    frame::{FOOTER_LEN, FOOTER_MAGIC, FRAME_LEN, Frame, MIN_INDEX_BODY_LEN},
    header::{self, ENCRYPTED_HEADER_LEN, Header},
    key::DataKey,
    options::Identity,
    seal::Sealer,
};

/// How many bytes to fetch from the start of an object: enough for any header.
pub const RANGE_HEAD_LEN: u64 = ENCRYPTED_HEADER_LEN as u64;
/// How many bytes to fetch from the end of an object: the footer.
pub const RANGE_TAIL_LEN: u64 = FOOTER_LEN as u64;

/// A checked header and footer: knows where the index is.
pub struct IndexLocation {
    header: Header,
    sealer: Sealer,
    frame: Frame,
    start: usize,
    object_len: usize,
}

impl IndexLocation {
    /// Checks the start (`head`, the first [`RANGE_HEAD_LEN`] bytes or the whole object if
    /// shorter) and the end (`tail`, the last [`RANGE_TAIL_LEN`] bytes) of an object of
    /// `object_len` bytes, and the key against the header.
    ///
    /// # Errors
    ///
    /// As [`crate::decode`] for the header, the key and the footer.
    pub fn locate(
        object_len: u64,
        head: &[u8],
        tail: &[u8],
        key: Option<&DataKey>,
        identity: Identity<'_>,
    ) -> Result<Self, Error> {
        let parsed = header::parse(head)?;
        let sealer = sealer_for(&parsed, key, identity)?;
        let object_len = usize::try_from(object_len)
            .map_err(|_| Error::limit(format!("an object of {object_len} bytes")))?;
        let header_len = parsed.bytes.len();
        if object_len < header_len + FRAME_LEN + MIN_INDEX_BODY_LEN + FOOTER_LEN
            || tail.len() != FOOTER_LEN
            || !tail.ends_with(&FOOTER_MAGIC)
        {
            return Err(Error::Truncated);
        }
        if let Some(claimed) = parsed.header.plaintext_len {
            check_claim(claimed, &parsed.header, object_len, u64::MAX)?;
        }
        let mut frame_bytes = [0_u8; FRAME_LEN];
        frame_bytes.copy_from_slice(&tail[..FRAME_LEN]);
        let frame = Frame::from_bytes(frame_bytes);
        let start = Index::locate(object_len, header_len, frame)?;
        Ok(Self { header: parsed.header, sealer, frame, start, object_len })
    }

    /// The stored bytes to fetch next: the index, frame included.
    pub fn index_range(&self) -> Range<u64> {
        self.start as u64..(self.object_len - FOOTER_LEN) as u64
    }

    /// Opens the index fetched from [`IndexLocation::index_range`] and checks the layout of
    /// every chunk.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when the index fails its checks.
    pub fn open(self, index: &[u8]) -> Result<RangeReader, Error> {
        let opened = Index::open(index, self.start, &self.sealer, self.frame)?;
        let places = opened.layout(&self.header)?;
        let header = Header { plaintext_len: Some(opened.plaintext_len), ..self.header };
        Ok(RangeReader { header, sealer: self.sealer, places })
    }
}

/// An opened index: plans and decodes plaintext ranges.
pub struct RangeReader {
    header: Header,
    sealer: Sealer,
    places: Vec<Place>,
}

/// The stored bytes that hold a plaintext range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangePlan {
    /// The stored bytes to fetch: the chunks that overlap the range, frames included.
    pub stored: Range<u64>,
    /// The numbers of those chunks.
    pub chunks: Range<u64>,
    /// The plaintext range asked for.
    pub plaintext: Range<u64>,
}

impl RangeReader {
    /// The header, with the plaintext length the index gives.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The plaintext length, as the index gives it.
    pub fn plaintext_len(&self) -> u64 {
        self.header.plaintext_len.unwrap_or_default()
    }

    /// Which stored bytes hold the plaintext bytes `range`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a range that is reversed or ends past the plaintext.
    pub fn plan(&self, range: Range<u64>) -> Result<RangePlan, Error> {
        let length = self.plaintext_len();
        if range.start > range.end || range.end > length {
            return Err(Error::invalid(format!(
                "range {}..{} is not within the plaintext of {length} bytes",
                range.start, range.end
            )));
        }
        let chunk_size = u64::from(self.header.chunk_size);
        let first = range.start / chunk_size;
        let end = if range.is_empty() { first } else { (range.end - 1) / chunk_size + 1 };
        let stored = match (self.place(first), self.place(end.saturating_sub(1))) {
            (Some(first_place), Some(last_place)) if end > first => {
                first_place.offset as u64..last_place.end() as u64
            }
            _ => 0..0,
        };
        Ok(RangePlan { stored, chunks: first..end, plaintext: range })
    }

    /// Decodes the plaintext range of `plan` from `fetched`, the stored bytes
    /// [`RangePlan::stored`]; only those chunks are opened.
    ///
    /// A text payload's range is not checked for UTF-8, since it may cut a character.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `fetched` is not as long as the plan says,
    /// [`Error::Corrupt`] when a chunk fails its checks, [`Error::LimitExceeded`] for a
    /// compression bomb.
    pub fn decode(&self, plan: &RangePlan, fetched: &[u8]) -> Result<Vec<u8>, Error> {
        let expected = plan.stored.end - plan.stored.start;
        if fetched.len() as u64 != expected {
            return Err(Error::invalid(format!(
                "{} bytes were fetched for a plan of {expected}",
                fetched.len()
            )));
        }
        let base = usize::try_from(plan.stored.start).unwrap_or(usize::MAX);
        let mut sealed = Vec::new();
        for number in plan.chunks.clone() {
            let place =
                self.place(number).ok_or(Error::invalid("the plan is for another object"))?;
            let start = place.offset.checked_sub(base).ok_or(Error::invalid("plan and fetch"))?;
            if fetched.get(start..start + FRAME_LEN) != Some(&place.frame.to_bytes()[..]) {
                return Err(Error::corrupt(Some(number), "frame"));
            }
            sealed.push(place.sealed(fetched, base)?);
        }

        let mut plaintext = vec![0_u8; chunks::plaintext_total(&sealed)];
        let workers = chunks::resolve_threads(0).min(sealed.len()).max(1);
        let mut openers = Opener::for_threads(workers);
        chunks::open_chunks(
            &sealed,
            &self.sealer,
            self.header.compression,
            &mut openers,
            &mut plaintext,
        )?;

        let skip = plan.plaintext.start - plan.chunks.start * u64::from(self.header.chunk_size);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let len = usize::try_from(plan.plaintext.end - plan.plaintext.start).unwrap_or(usize::MAX);
        plaintext.truncate(skip.saturating_add(len));
        plaintext.drain(..skip.min(plaintext.len()));
        Ok(plaintext)
    }

    /// Where chunk `number` is.
    fn place(&self, number: u64) -> Option<&Place> {
        self.places.get(usize::try_from(number).ok()?)
    }
}

/// Decodes plaintext bytes `range` of an object held in memory, through the same three steps
/// a remote reader takes, reading only the header, the footer, the index and the chunks that
/// overlap the range.
///
/// # Errors
///
/// As [`IndexLocation::locate`], [`IndexLocation::open`], [`RangeReader::plan`] and
/// [`RangeReader::decode`].
pub fn decode_range(
    stored: &[u8],
    key: Option<&DataKey>,
    identity: Identity<'_>,
    range: Range<u64>,
) -> Result<Vec<u8>, Error> {
    let object_len = stored.len() as u64;
    let head = &stored[..stored.len().min(ENCRYPTED_HEADER_LEN)];
    let tail = &stored[stored.len().saturating_sub(FOOTER_LEN)..];
    let location = IndexLocation::locate(object_len, head, tail, key, identity)?;
    let index_range = location.index_range();
    let reader = location.open(slice(stored, &index_range)?)?;
    let plan = reader.plan(range)?;
    reader.decode(&plan, slice(stored, &plan.stored)?)
}

/// The bytes of `stored` in `range`.
fn slice<'a>(stored: &'a [u8], range: &Range<u64>) -> Result<&'a [u8], Error> {
    let start = usize::try_from(range.start).map_err(|_| Error::Truncated)?;
    let end = usize::try_from(range.end).map_err(|_| Error::Truncated)?;
    stored.get(start..end).ok_or(Error::Truncated)
}
