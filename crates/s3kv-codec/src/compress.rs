//! Per-chunk compression, and decompression bounded by the chunk's known length.

use std::cell::RefCell;
use std::ops::Range;
use std::thread::LocalKey;

use zstd::zstd_safe::{self, CCtx, DCtx, zstd_sys::ZSTD_ErrorCode};

use crate::{
    error::Error,
    options::{Compression, CompressionAlgorithm},
};

/// The code zstd returns when the output buffer is too small (`-ZSTD_error_dstSize_tooSmall`).
const ZSTD_DST_TOO_SMALL: usize =
    0_usize.wrapping_sub(ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall as usize);

/// How many zstd contexts of each kind a thread keeps for later values.
const SPARE_CONTEXTS: usize = 8;

/// How much of a chunk is tried first once the chunk before it did not shrink: zstd's largest
/// block. Random bytes, media and archives then cost an attempt on an eighth of a 1 MiB chunk
/// instead of the whole of it; a chunk whose start does not shrink is stored raw.
const SAMPLE_LEN: usize = 128 * 1024;

thread_local! {
    /// zstd contexts given back by compressors and decompressors that ended on this thread.
    /// Making a context allocates and clears a few hundred kilobytes, which took longer than
    /// the whole rest of storing a 1 KB value.
    static SPARE_COMPRESSION: RefCell<Vec<CCtx<'static>>> = const { RefCell::new(Vec::new()) };
    static SPARE_DECOMPRESSION: RefCell<Vec<DCtx<'static>>> = const { RefCell::new(Vec::new()) };
}

/// A spare context of this thread, or a new one from `create`.
fn context<T: 'static>(
    spares: &'static LocalKey<RefCell<Vec<T>>>,
    create: impl FnOnce() -> Option<T>,
) -> Result<T, Error> {
    let spare = spares.try_with(|spares| spares.borrow_mut().pop()).ok().flatten();
    spare.or_else(create).ok_or(Error::Internal { what: "zstd context" })
}

/// Keeps a context for this thread's later values, up to [`SPARE_CONTEXTS`].
fn give_back<T: 'static>(spares: &'static LocalKey<RefCell<Vec<T>>>, context: Option<T>) {
    let Some(context) = context else { return };
    // `try_with`: a thread being torn down has nowhere to keep it.
    let _ = spares.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < SPARE_CONTEXTS {
            spares.push(context);
        }
    });
}

/// Compresses chunks, one at a time, reusing its buffers.
///
/// One compressor serves one thread; a parallel encoder gives each worker its own.
pub(crate) struct Compressor {
    compression: Compression,
    zstd: Option<CCtx<'static>>,
    buffer: Vec<u8>,
    /// Compressed chunks kept for a later copy into place (see [`Compressor::keep`]).
    kept: Vec<u8>,
    /// Whether the last chunk tried in full shrank; until one does, chunks are sampled first.
    last_shrank: bool,
}

impl Compressor {
    /// A compressor for the given settings.
    pub(crate) fn new(compression: Compression) -> Result<Self, Error> {
        let zstd = match compression {
            Compression::Zstd { .. } => Some(context(&SPARE_COMPRESSION, CCtx::try_create)?),
            _ => None,
        };
        Ok(Self { compression, zstd, buffer: Vec::new(), kept: Vec::new(), last_shrank: true })
    }

    /// Compresses `chunk` and appends the result to the bytes this compressor keeps, returning
    /// where it sits there; `None` when the result is not strictly smaller than the chunk.
    ///
    /// After a chunk that did not shrink, a chunk of more than two samples is tried on its
    /// first [`SAMPLE_LEN`] bytes before the whole of it, and stored raw if they do not shrink.
    pub(crate) fn keep(&mut self, chunk: &[u8]) -> Result<Option<Range<usize>>, Error> {
        if !self.last_shrank
            && let Some(sample) = chunk.get(..SAMPLE_LEN).filter(|_| chunk.len() > 2 * SAMPLE_LEN)
            && self.compress_to_buffer(sample)?.is_none()
        {
            return Ok(None);
        }
        let written = self.compress_to_buffer(chunk)?;
        self.last_shrank = written.is_some();
        let Some(written) = written else { return Ok(None) };
        let compressed =
            self.buffer.get(..written).ok_or(Error::Internal { what: "compressed length" })?;
        let start = self.kept.len();
        self.kept.extend_from_slice(compressed);
        Ok(Some(start..self.kept.len()))
    }

    /// The bytes [`Compressor::keep`] appended since the last [`Compressor::clear_kept`].
    pub(crate) fn kept(&self) -> &[u8] {
        &self.kept
    }

    /// Forgets the kept bytes, keeping their memory for the next run.
    pub(crate) fn clear_kept(&mut self) {
        self.kept.clear();
    }

    /// Compresses `chunk` into the start of `buffer`; the compressed length, only if it is
    /// strictly smaller than the chunk.
    fn compress_to_buffer(&mut self, chunk: &[u8]) -> Result<Option<usize>, Error> {
        let room = chunk.len().checked_sub(1).filter(|room| *room > 0);
        let Some(room) = room.filter(|_| self.compression != Compression::None) else {
            return Ok(None);
        };

        let written = match (self.compression, self.zstd.as_mut()) {
            (Compression::Zstd { level }, Some(context)) => {
                // One byte short of the chunk: zstd gives up as soon as the output would not
                // be smaller, so data that does not shrink costs no more than one attempt.
                grow(&mut self.buffer, room);
                match context.compress(&mut self.buffer[..room], chunk, level) {
                    Ok(written) => written,
                    Err(ZSTD_DST_TOO_SMALL) => return Ok(None),
                    Err(_) => return Err(Error::Internal { what: "zstd compression" }),
                }
            }
            (Compression::Lz4, _) => {
                // LZ4 wants room for its worst case, which is a little larger than the chunk.
                let room = lz4_flex::block::get_maximum_output_size(chunk.len());
                grow(&mut self.buffer, room);
                lz4_flex::block::compress_into(chunk, &mut self.buffer[..room])
                    .map_err(|_| Error::Internal { what: "lz4 compression" })?
            }
            _ => return Ok(None),
        };

        Ok(Some(written).filter(|written| *written < chunk.len()))
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        give_back(&SPARE_COMPRESSION, self.zstd.take());
    }
}

/// Makes `buffer` at least `len` bytes long; its old bytes stay, since they are overwritten
/// before use, so a reused buffer is not cleared for every chunk.
fn grow(buffer: &mut Vec<u8>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0);
    }
}

/// Decompresses chunks into buffers of their exact plaintext length; the zstd context is
/// created on first use.
#[derive(Default)]
pub(crate) struct Decompressor {
    zstd: Option<DCtx<'static>>,
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        give_back(&SPARE_DECOMPRESSION, self.zstd.take());
    }
}

impl Decompressor {
    /// Decompresses `data` into `out`, which must be filled exactly.
    ///
    /// The output buffer is the bound: nothing is allocated from what the compressed data
    /// claims.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] when the data inflates past `out.len()`,
    /// [`Error::Corrupt`] when it is not valid or inflates to fewer bytes.
    pub(crate) fn decompress(
        &mut self,
        algorithm: CompressionAlgorithm,
        data: &[u8],
        out: &mut [u8],
        chunk: u64,
    ) -> Result<(), Error> {
        let expected = out.len();
        let too_large =
            || Error::limit(format!("chunk {chunk} inflates past its length of {expected} bytes"));
        let written = match algorithm {
            CompressionAlgorithm::Zstd => {
                // A frame that declares its size can be refused before any work.
                if let Ok(Some(declared)) = zstd_safe::get_frame_content_size(data)
                    && u64::try_from(expected).is_ok_and(|len| declared > len)
                {
                    return Err(too_large());
                }
                let context = match self.zstd.as_mut() {
                    Some(context) => context,
                    None => self.zstd.insert(context(&SPARE_DECOMPRESSION, DCtx::try_create)?),
                };
                match context.decompress(out, data) {
                    Ok(written) => written,
                    Err(ZSTD_DST_TOO_SMALL) => return Err(too_large()),
                    Err(_) => return Err(Error::corrupt(Some(chunk), "compressed data")),
                }
            }
            CompressionAlgorithm::Lz4 => match lz4_flex::block::decompress_into(data, out) {
                Ok(written) => written,
                Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
                    return Err(too_large());
                }
                Err(_) => return Err(Error::corrupt(Some(chunk), "compressed data")),
            },
            CompressionAlgorithm::None => {
                return Err(Error::corrupt(Some(chunk), "frame flags"));
            }
        };

        if written == expected { Ok(()) } else { Err(Error::corrupt(Some(chunk), "chunk length")) }
    }
}

#[cfg(test)]
mod tests {
    use super::{Compressor, Decompressor};
    use crate::{Compression, CompressionAlgorithm, Error};

    #[test]
    fn compressible_chunk_shrinks_and_inflates_back() -> Result<(), Error> {
        let chunk = b"abcabcabc".repeat(1000);
        for (compression, algorithm) in [
            (Compression::Zstd { level: 3 }, CompressionAlgorithm::Zstd),
            (Compression::Lz4, CompressionAlgorithm::Lz4),
        ] {
            let mut compressor = Compressor::new(compression)?;
            let compressed = compressor.keep(&chunk)?.map(|at| compressor.kept()[at].to_vec());
            let compressed = compressed.ok_or(Error::Internal { what: "no compression" })?;
            let mut out = vec![0; chunk.len()];

            Decompressor::default().decompress(algorithm, &compressed, &mut out, 0)?;

            assert!(compressed.len() < chunk.len());
            assert_eq!(out, chunk);
        }
        Ok(())
    }

    #[test]
    fn incompressible_or_tiny_chunk_is_left_raw() -> Result<(), Error> {
        let noise = noise(4096);
        for compression in [Compression::Zstd { level: 3 }, Compression::Lz4, Compression::None] {
            let mut compressor = Compressor::new(compression)?;

            assert_eq!(compressor.keep(&noise)?, None);
            assert_eq!(compressor.keep(b"a")?, None);
            assert_eq!(compressor.keep(b"")?, None);
        }
        Ok(())
    }

    /// Bytes that no compressor shrinks, from a fixed xorshift sequence.
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[3]
            })
            .collect()
    }

    #[test]
    fn after_a_chunk_that_did_not_shrink_the_start_of_the_next_decides() -> Result<(), Error> {
        let chunk_len = 1 << 20;
        let zeros = vec![0; chunk_len];
        // Noise in the first sample, zeros after it: compressible as a whole.
        let mut noisy_start = noise(super::SAMPLE_LEN);
        noisy_start.resize(chunk_len, 0);
        for compression in [Compression::Zstd { level: 1 }, Compression::Lz4] {
            let mut compressor = Compressor::new(compression)?;
            // Tried in full while the chunks before shrank.
            assert!(compressor.keep(&noisy_start)?.is_some(), "{compression:?}");
            assert_eq!(compressor.keep(&noise(chunk_len))?, None);
            // Now the start is tried first: noise there leaves the chunk raw.
            assert_eq!(compressor.keep(&noisy_start)?, None, "{compression:?}");
            // A start that shrinks gets the whole chunk tried, and full tries resume.
            assert!(compressor.keep(&zeros)?.is_some(), "{compression:?}");
            assert!(compressor.keep(&noisy_start)?.is_some(), "{compression:?}");
        }
        Ok(())
    }

    #[test]
    fn a_chunk_of_two_samples_or_less_is_always_tried_in_full() -> Result<(), Error> {
        let mut noisy_start = noise(super::SAMPLE_LEN);
        noisy_start.resize(2 * super::SAMPLE_LEN, 0);
        let mut compressor = Compressor::new(Compression::Zstd { level: 1 })?;
        assert_eq!(compressor.keep(&noise(1 << 20))?, None);

        assert!(compressor.keep(&noisy_start)?.is_some());
        Ok(())
    }

    #[test]
    fn inflating_past_the_buffer_is_limit_exceeded() -> Result<(), Error> {
        let chunk = vec![0; 10_000];
        for (compression, algorithm) in [
            (Compression::Zstd { level: 3 }, CompressionAlgorithm::Zstd),
            (Compression::Lz4, CompressionAlgorithm::Lz4),
        ] {
            let mut compressor = Compressor::new(compression)?;
            let compressed = compressor.keep(&chunk)?.map(|at| compressor.kept()[at].to_vec());
            let compressed = compressed.ok_or(Error::Internal { what: "no compression" })?;
            let mut small = vec![0; 9_999];
            let mut large = vec![0; 10_001];

            let over = Decompressor::default().decompress(algorithm, &compressed, &mut small, 4);
            let under = Decompressor::default().decompress(algorithm, &compressed, &mut large, 4);

            assert!(matches!(over, Err(Error::LimitExceeded { .. })), "{over:?}");
            assert!(matches!(under, Err(Error::Corrupt { chunk: Some(4), .. })), "{under:?}");
        }
        Ok(())
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let mut out = vec![0; 100];
        for algorithm in [CompressionAlgorithm::Zstd, CompressionAlgorithm::Lz4] {
            for garbage in [&b""[..], b"\x28\xb5\x2f\xfd", b"\xff\xff\xff\xff\xff", b"\x00"] {
                let result = Decompressor::default().decompress(algorithm, garbage, &mut out, 0);
                assert!(result.is_err());
            }
        }
    }
}
