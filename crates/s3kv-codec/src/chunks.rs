//! Sealing and opening runs of chunks, spread over threads.
//!
//! Chunks depend only on the object's sealer, their number and their bytes, so a run of them
//! is cut into one contiguous group per thread; the groups are joined in order, and when
//! several fail, the error of the lowest chunk wins, so results never depend on scheduling.

use std::{num::NonZeroUsize, thread};

use crate::{
    compress::{Compressor, Decompressor},
    error::Error,
    frame::{FRAME_LEN, Frame, TAG_LEN},
    options::CompressionAlgorithm,
    seal::{Sealer, Segment},
};

/// The number of threads to use for `threads`, where 0 means one per core.
pub(crate) fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        thread::available_parallelism().map_or(1, NonZeroUsize::get)
    } else {
        threads
    }
}

/// Compresses and seals the chunks of `data` (numbered from `first`), appending each frame
/// and body to `out` and each frame to `frames`, one thread per compressor.
pub(crate) fn seal_chunks(
    data: &[u8],
    chunk_size: usize,
    first: u64,
    sealer: &Sealer,
    compressors: &mut [Compressor],
    out: &mut Vec<u8>,
    frames: &mut Vec<Frame>,
) -> Result<(), Error> {
    let count = data.len().div_ceil(chunk_size);
    let Some((head, rest)) = compressors.split_first_mut() else {
        return Err(Error::Internal { what: "no compressor" });
    };
    let workers = (rest.len() + 1).min(count);
    if workers <= 1 {
        return seal_run(data, chunk_size, first, sealer, head, out, frames);
    }

    let per_worker = count.div_ceil(workers);
    let mut groups = data.chunks(per_worker * chunk_size);
    let first_group = groups.next().unwrap_or_default();
    thread::scope(|scope| {
        let handles: Vec<_> = (1_u64..)
            .zip(groups.zip(rest.iter_mut()))
            .map(|(group, (bytes, compressor))| {
                let counter = first + group * per_worker as u64;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(bytes.len() + per_worker * 2 * FRAME_LEN);
                    let mut frames = Vec::with_capacity(per_worker);
                    seal_run(bytes, chunk_size, counter, sealer, compressor, &mut out, &mut frames)
                        .map(|()| (out, frames))
                })
            })
            .collect();
        let head_result = seal_run(first_group, chunk_size, first, sealer, head, out, frames);
        let results: Vec<_> = handles.into_iter().map(thread::ScopedJoinHandle::join).collect();
        head_result?;
        for result in results {
            let (bytes, group_frames) =
                result.map_err(|_| Error::Internal { what: "encoder thread" })??;
            out.extend_from_slice(&bytes);
            frames.extend(group_frames);
        }
        Ok(())
    })
}

/// Seals the chunks of `data` one after the other on this thread.
fn seal_run(
    data: &[u8],
    chunk_size: usize,
    first: u64,
    sealer: &Sealer,
    compressor: &mut Compressor,
    out: &mut Vec<u8>,
    frames: &mut Vec<Frame>,
) -> Result<(), Error> {
    for (counter, chunk) in (first..).zip(data.chunks(chunk_size)) {
        let (data, compressed) = match compressor.compress(chunk)? {
            Some(compressed) => (compressed, true),
            None => (chunk, false),
        };
        let body_len = data.len().checked_add(TAG_LEN).ok_or(Error::limit("chunk too large"))?;
        let frame = Frame::data(compressed, body_len)?;

        out.extend_from_slice(&frame.to_bytes());
        let start = out.len();
        out.extend_from_slice(data);
        sealer.seal(out, start, Segment::Chunk(counter), frame)?;
        frames.push(frame);
    }
    Ok(())
}

/// One stored chunk to open: where it sits in the sequence, its checked frame, its body, and
/// the plaintext length it must give.
#[derive(Clone, Copy)]
pub(crate) struct Sealed<'a> {
    pub(crate) number: u64,
    pub(crate) frame: Frame,
    pub(crate) body: &'a [u8],
    pub(crate) plaintext_len: usize,
}

/// What one thread needs to open chunks: a decompressor and a buffer for compressed data.
#[derive(Default)]
pub(crate) struct Opener {
    decompressor: Decompressor,
    scratch: Vec<u8>,
}

impl Opener {
    /// One opener per thread.
    pub(crate) fn for_threads(threads: usize) -> Vec<Self> {
        (0..threads.max(1)).map(|_| Self::default()).collect()
    }
}

/// Opens `chunks` into `out`, which must be exactly as long as their plaintexts together,
/// one thread per opener.
pub(crate) fn open_chunks(
    chunks: &[Sealed<'_>],
    sealer: &Sealer,
    algorithm: CompressionAlgorithm,
    openers: &mut [Opener],
    out: &mut [u8],
) -> Result<(), Error> {
    let Some((head, rest)) = openers.split_first_mut() else {
        return Err(Error::Internal { what: "no opener" });
    };
    let workers = (rest.len() + 1).min(chunks.len());
    if workers <= 1 {
        return open_run(chunks, sealer, algorithm, head, out);
    }

    let per_worker = chunks.len().div_ceil(workers);
    let mut groups = chunks.chunks(per_worker);
    let first_group = groups.next().unwrap_or_default();
    let (first_out, mut remaining) = out.split_at_mut(plaintext_total(first_group));
    thread::scope(|scope| {
        let mut handles = Vec::with_capacity(workers);
        for (group, opener) in groups.zip(rest.iter_mut()) {
            let (group_out, tail) =
                std::mem::take(&mut remaining).split_at_mut(plaintext_total(group));
            remaining = tail;
            handles
                .push(scope.spawn(move || open_run(group, sealer, algorithm, opener, group_out)));
        }
        let head_result = open_run(first_group, sealer, algorithm, head, first_out);
        let results: Vec<_> = handles.into_iter().map(thread::ScopedJoinHandle::join).collect();
        head_result?;
        for result in results {
            result.map_err(|_| Error::Internal { what: "decoder thread" })??;
        }
        Ok(())
    })
}

/// The plaintext bytes of these chunks together.
pub(crate) fn plaintext_total(chunks: &[Sealed<'_>]) -> usize {
    chunks.iter().map(|chunk| chunk.plaintext_len).sum()
}

/// Opens chunks one after the other on this thread, into consecutive parts of `out`.
fn open_run(
    chunks: &[Sealed<'_>],
    sealer: &Sealer,
    algorithm: CompressionAlgorithm,
    opener: &mut Opener,
    out: &mut [u8],
) -> Result<(), Error> {
    let mut offset = 0;
    for chunk in chunks {
        let end = offset + chunk.plaintext_len;
        let target = out.get_mut(offset..end).ok_or(Error::Internal { what: "output split" })?;
        let segment = Segment::Chunk(chunk.number);
        if chunk.frame.is_compressed() {
            let data = sealer.open(chunk.body, &mut opener.scratch, segment, chunk.frame)?;
            opener.decompressor.decompress(algorithm, data, target, chunk.number)?;
        } else {
            sealer.open_into(chunk.body, target, segment, chunk.frame)?;
        }
        offset = end;
    }
    Ok(())
}
