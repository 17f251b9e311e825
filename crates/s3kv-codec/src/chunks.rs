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
///
/// Every chunk is written into its own slot of the largest size it can take (frame, raw
/// chunk, tag) straight in `out`, then the slots are closed up in order: nothing is
/// allocated per call beyond `out` itself, and data that does not shrink is not moved.
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
    if count == 0 {
        return Ok(());
    }
    let Some((head, rest)) = compressors.split_first_mut() else {
        return Err(Error::Internal { what: "no compressor" });
    };
    let slot = FRAME_LEN + chunk_size + TAG_LEN;
    let base = out.len();
    out.resize(base + count * slot, 0);
    let region = &mut out[base..];

    let workers = (rest.len() + 1).min(count);
    let per_worker = count.div_ceil(workers);
    let mut groups = data.chunks(per_worker * chunk_size).zip(region.chunks_mut(per_worker * slot));
    let (first_data, first_region) = groups.next().unwrap_or_default();
    let used = thread::scope(|scope| {
        let handles: Vec<_> = (1_u64..)
            .zip(groups.zip(rest.iter_mut()))
            .map(|(group, ((bytes, slots), compressor))| {
                let counter = first + group * per_worker as u64;
                scope.spawn(move || {
                    seal_run(bytes, chunk_size, counter, sealer, compressor, slots, slot)
                })
            })
            .collect();
        let head_result = seal_run(first_data, chunk_size, first, sealer, head, first_region, slot);
        let results: Vec<_> = handles.into_iter().map(thread::ScopedJoinHandle::join).collect();
        let mut used = head_result?;
        for result in results {
            used.extend(result.map_err(|_| Error::Internal { what: "encoder thread" })??);
        }
        Ok::<_, Error>(used)
    })?;

    let mut write = base;
    for (number, (frame, len)) in used.into_iter().enumerate() {
        let read = base + number * slot;
        if read != write {
            out.copy_within(read..read + len, write);
        }
        write += len;
        frames.push(frame);
    }
    out.truncate(write);
    Ok(())
}

/// Seals the chunks of `data` one after the other on this thread, each into its slot of
/// `slots`, returning each chunk's frame and how much of its slot it used.
fn seal_run(
    data: &[u8],
    chunk_size: usize,
    first: u64,
    sealer: &Sealer,
    compressor: &mut Compressor,
    slots: &mut [u8],
    slot: usize,
) -> Result<Vec<(Frame, usize)>, Error> {
    let mut used = Vec::with_capacity(data.len().div_ceil(chunk_size));
    for ((counter, chunk), target) in
        (first..).zip(data.chunks(chunk_size)).zip(slots.chunks_mut(slot))
    {
        let (data, compressed) = match compressor.compress(chunk)? {
            Some(compressed) => (compressed, true),
            None => (chunk, false),
        };
        let body_len = data.len() + TAG_LEN;
        let frame = Frame::data(compressed, body_len)?;
        let len = FRAME_LEN + body_len;
        let target = target.get_mut(..len).ok_or(Error::Internal { what: "chunk slot" })?;
        target[..FRAME_LEN].copy_from_slice(&frame.to_bytes());
        target[FRAME_LEN..FRAME_LEN + data.len()].copy_from_slice(data);
        sealer.seal_slot(&mut target[FRAME_LEN..], data.len(), Segment::Chunk(counter), frame)?;
        used.push((frame, len));
    }
    Ok(used)
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
