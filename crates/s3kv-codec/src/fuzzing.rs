//! Entry points for the fuzz targets under `fuzz/`, kept here so `cargo test` replays their
//! corpus through the very same code.
//!
//! Each function takes any bytes and must never panic; the range and chunk entries also
//! check that what decodes is right, so a wrong answer is a finding too. Not a stable API.

use std::io::Read;

use crate::{
    DecodeOptions, Decoder, FORMAT_VERSION, Identity, PayloadKind, decode, decode_range,
    decode_with_limit,
    frame::{FOOTER_MAGIC, FRAME_LEN, Frame, TAG_LEN},
    header::Header,
    key::DataKey,
    options::CompressionAlgorithm,
    read_header,
    seal::{Sealer, Segment},
};

/// The identity every fuzzed object is read under: that of the `docs/format.md` vectors, so
/// they make a seed corpus that decodes all the way.
const IDENTITY: Identity<'static> = Identity::new("examples", "greeting");

/// The data key fuzzed objects are tried with: that of the vectors.
fn key() -> DataKey {
    DataKey::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap_or(0)))
}

/// Reads a header.
pub fn header(data: &[u8]) {
    let _ = read_header(data);
}

/// Decodes a whole object with no key, with a key and under a small limit.
pub fn object(data: &[u8]) {
    let _ = decode(data, None, IDENTITY);
    let _ = decode(data, Some(&key()), IDENTITY);
    let _ = decode_with_limit(data, None, IDENTITY, 1 << 16);
}

/// Streams an object through the decoder, on one and two threads, and checks a stream that
/// ends cleanly gives what the whole-object decoder gives.
pub fn stream(data: &[u8]) {
    for (key, threads) in [(None, 1), (None, 2), (Some(key()), 1)] {
        let options = DecodeOptions { threads, max_plaintext_len: 1 << 26 };
        let Ok(mut decoder) = Decoder::new(data, key.as_ref(), IDENTITY, &options) else {
            continue;
        };
        let mut out = Vec::new();
        if decoder.read_to_end(&mut out).is_ok() {
            let whole = decode(data, key.as_ref(), IDENTITY).map(|decoded| decoded.plaintext);
            assert!(whole.is_ok_and(|whole| whole == out), "stream and whole decode disagree");
        }
    }
}

/// Reads a plaintext range (the first 16 bytes choose it; the rest is the object) and checks
/// it against the same range of the whole value when both decode.
pub fn range(data: &[u8]) {
    let Some((bounds, stored)) = data.split_first_chunk::<16>() else {
        return;
    };
    let mut start = [0_u8; 8];
    let mut end = [0_u8; 8];
    start.copy_from_slice(&bounds[..8]);
    end.copy_from_slice(&bounds[8..]);
    let (start, end) = (u64::from_le_bytes(start) % (1 << 20), u64::from_le_bytes(end) % (1 << 20));
    let range = start.min(end)..start.max(end);
    for key in [None, Some(key())] {
        // A range read opens only the chunks it needs, so it may succeed where the whole
        // object fails (a damaged chunk elsewhere); where both succeed they must agree.
        let part = decode_range(stored, key.as_ref(), IDENTITY, range.clone());
        let whole = decode(stored, key.as_ref(), IDENTITY).map(|decoded| decoded.plaintext);
        if let (Ok(part), Ok(whole)) = (part, whole) {
            let start = usize::try_from(range.start).unwrap_or(usize::MAX);
            let end = usize::try_from(range.end).unwrap_or(usize::MAX);
            assert!(whole.get(start..end) == Some(&part[..]), "range and whole decode disagree");
        }
    }
}

/// Wraps fuzzed chunk data in a sound unencrypted object of one 64 KiB chunk, checksummed so
/// it reaches the decompressor: byte 0 picks the compression and the compressed flag, bytes
/// 1 and 2 the plaintext length, the rest is the chunk's data.
pub fn chunk(data: &[u8]) {
    let Some(([flags, low, high], body)) = data.split_first_chunk::<3>().map(|(a, b)| (*a, b))
    else {
        return;
    };
    let compression = match flags % 3 {
        0 => CompressionAlgorithm::None,
        1 => CompressionAlgorithm::Zstd,
        _ => CompressionAlgorithm::Lz4,
    };
    let compressed = flags & 0x80 != 0;
    let chunk_size = 1_usize << 16;
    let wanted = usize::from(u16::from_le_bytes([low, high])) + 1;
    let plaintext_len = if compressed { wanted.max(body.len() + 1) } else { body.len() };
    if plaintext_len == 0 || plaintext_len > chunk_size {
        return;
    }
    let Some(object) = one_chunk_object(compression, compressed, plaintext_len, body) else {
        return;
    };
    if let Ok(decoded) = decode(&object, None, IDENTITY) {
        assert_eq!(decoded.plaintext.len(), plaintext_len, "chunk decoded to another length");
        if !compressed {
            assert_eq!(decoded.plaintext, body, "raw chunk decoded to other bytes");
        }
    }
}

/// Writes an unencrypted object of one chunk holding `body` as its data.
fn one_chunk_object(
    compression: CompressionAlgorithm,
    compressed: bool,
    plaintext_len: usize,
    body: &[u8],
) -> Option<Vec<u8>> {
    let length = u64::try_from(plaintext_len).ok()?;
    let header = Header {
        version: FORMAT_VERSION,
        kind: PayloadKind::Bytes,
        compression,
        encrypted: false,
        chunk_size: 1 << 16,
        plaintext_len: Some(length),
    };
    let mut out = header.to_bytes(None);
    let sealer = Sealer::checksum(&out);
    let frame = Frame::data(compressed, body.len() + TAG_LEN).ok()?;
    out.extend_from_slice(&frame.to_bytes());
    let start = out.len();
    out.extend_from_slice(body);
    sealer.seal(&mut out, start, Segment::Chunk(0), frame).ok()?;

    let index_frame = Frame::index(16 + FRAME_LEN + TAG_LEN).ok()?;
    out.extend_from_slice(&index_frame.to_bytes());
    let start = out.len();
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&1_u64.to_le_bytes());
    out.extend_from_slice(&frame.to_bytes());
    sealer.seal(&mut out, start, Segment::Index(1), index_frame).ok()?;
    out.extend_from_slice(&index_frame.to_bytes());
    out.extend_from_slice(&FOOTER_MAGIC);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{IDENTITY, one_chunk_object};
    use crate::{decode, options::CompressionAlgorithm};

    #[test]
    fn crafted_one_chunk_objects_decode_to_their_plaintext() {
        let plaintext = b"abcabcabcabcabcabcabcabcabcabc".repeat(10);
        let lz4 = lz4_flex::block::compress(&plaintext);

        let raw = one_chunk_object(CompressionAlgorithm::None, false, 5, b"hello");
        let packed = one_chunk_object(CompressionAlgorithm::Lz4, true, plaintext.len(), &lz4);

        let raw = raw.and_then(|object| decode(&object, None, IDENTITY).ok());
        let packed = packed.and_then(|object| decode(&object, None, IDENTITY).ok());
        assert_eq!(raw.map(|decoded| decoded.plaintext), Some(b"hello".to_vec()));
        assert_eq!(packed.map(|decoded| decoded.plaintext), Some(plaintext));
    }
}
