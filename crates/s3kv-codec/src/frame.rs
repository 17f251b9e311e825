//! The 32-bit frames in front of every chunk and the index, the footer, and the chunk nonces.

use crate::error::Error;

/// Bit 31 of a frame: the body holds compressed data.
const COMPRESSED_BIT: u32 = 1 << 31;
/// Bit 30 of a frame: the body is the index record, not a data chunk.
const INDEX_BIT: u32 = 1 << 30;
/// Bits 0..=29 of a frame: the body length.
const LENGTH_MASK: u32 = INDEX_BIT - 1;

/// The largest body a frame can describe.
pub(crate) const MAX_BODY_LEN: u32 = LENGTH_MASK;
/// Length of a frame in bytes.
pub(crate) const FRAME_LEN: usize = 4;
/// Length of the authentication tag (cipher 1) or checksum (cipher 0) closing every body.
pub(crate) const TAG_LEN: usize = 16;
/// The last four bytes of every object.
pub(crate) const FOOTER_MAGIC: [u8; 4] = *b"S3KV";
/// Length of the footer: the index frame repeated, then [`FOOTER_MAGIC`].
pub(crate) const FOOTER_LEN: usize = FRAME_LEN + FOOTER_MAGIC.len();
/// Length of the fixed part of the index body: plaintext length and chunk count.
pub(crate) const INDEX_FIXED_LEN: usize = 16;
/// The smallest index body: no chunks, then the tag.
pub(crate) const MIN_INDEX_BODY_LEN: usize = INDEX_FIXED_LEN + TAG_LEN;
/// Length of a nonce: an 11-byte big-endian counter and a last-segment flag.
pub(crate) const NONCE_LEN: usize = 12;

/// A frame: what kind of body follows, whether it is compressed, and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame(u32);

impl Frame {
    /// The frame of a data chunk.
    pub(crate) fn data(compressed: bool, body_len: usize) -> Result<Self, Error> {
        let length = body_length(body_len)?;
        Ok(Self(if compressed { COMPRESSED_BIT | length } else { length }))
    }

    /// The frame of the index record.
    pub(crate) fn index(body_len: usize) -> Result<Self, Error> {
        Ok(Self(INDEX_BIT | body_length(body_len)?))
    }

    /// A frame as stored, not yet checked.
    pub(crate) fn from_bytes(bytes: [u8; FRAME_LEN]) -> Self {
        Self(u32::from_le_bytes(bytes))
    }

    /// The frame as stored.
    pub(crate) fn to_bytes(self) -> [u8; FRAME_LEN] {
        self.0.to_le_bytes()
    }

    /// Whether the body holds compressed data.
    pub(crate) fn is_compressed(self) -> bool {
        self.0 & COMPRESSED_BIT != 0
    }

    /// Whether the body is the index record.
    pub(crate) fn is_index(self) -> bool {
        self.0 & INDEX_BIT != 0
    }

    /// The body length in bytes.
    pub(crate) fn body_len(self) -> usize {
        // A 30-bit length fits every usize this crate builds for (32 and 64 bits).
        usize::try_from(self.0 & LENGTH_MASK).unwrap_or(usize::MAX)
    }
}

/// Checks a body length fits the 30 bits a frame has for it.
fn body_length(body_len: usize) -> Result<u32, Error> {
    u32::try_from(body_len)
        .ok()
        .filter(|length| *length <= MAX_BODY_LEN)
        .ok_or_else(|| Error::limit(format!("a body of {body_len} bytes exceeds {MAX_BODY_LEN}")))
}

/// The nonce of a segment: `counter` as 11 bytes big-endian, then 0x01 for the index record
/// (the last segment) or 0x00 for a data chunk.
///
/// Within one object every segment has its own counter, and the object key is never used by
/// another object, so no (key, nonce) pair repeats.
pub(crate) fn nonce(counter: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0_u8; NONCE_LEN];
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

#[cfg(test)]
mod tests {
    use super::{Frame, MAX_BODY_LEN, nonce};

    #[test]
    fn frame_bits_round_trip() {
        let data = Frame::data(true, 17).ok();
        let raw = Frame::data(false, 17).ok();
        let index = Frame::index(48).ok();

        assert_eq!(data.map(Frame::to_bytes), Some([17, 0, 0, 0x80]));
        assert_eq!(raw.map(Frame::to_bytes), Some([17, 0, 0, 0]));
        assert_eq!(index.map(Frame::to_bytes), Some([48, 0, 0, 0x40]));
        assert!(data.is_some_and(|frame| frame.is_compressed() && !frame.is_index()));
        assert!(index.is_some_and(|frame| frame.is_index() && frame.body_len() == 48));
    }

    #[test]
    fn body_longer_than_thirty_bits_is_rejected() {
        assert!(Frame::data(false, 1 << 30).is_err());
        assert!(Frame::index(usize::try_from(MAX_BODY_LEN).unwrap_or(0)).is_ok());
    }

    #[test]
    fn nonce_is_big_endian_counter_then_last_flag() {
        assert_eq!(nonce(0x0102, false), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0]);
        assert_eq!(nonce(u64::MAX, true)[3..], [255, 255, 255, 255, 255, 255, 255, 255, 1]);
    }
}
