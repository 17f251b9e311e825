//! Sealing and opening runs of chunks, spread over threads.
//!
//! Chunks depend only on the object's sealer, their number and their bytes, so a run of them
//! is cut into one contiguous group per thread; the groups are joined in order, and when
//! several fail, the error of the lowest chunk wins, so results never depend on scheduling.

use std::{num::NonZeroUsize, ops::Range, sync::OnceLock, thread};

use crate::{
    compress::{Compressor, Decompressor},
    error::Error,
    frame::{FRAME_LEN, Frame, TAG_LEN},
    options::CompressionAlgorithm,
    seal::{Sealer, Segment},
};

/// The number of threads to use for `threads`, where 0 means one per core.
///
/// The count of cores is read once per process: on Linux the standard library reads the
/// cgroup's CPU quota from three files on every call, which cost more than encoding a small
/// value.
pub(crate) fn resolve_threads(threads: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    if threads == 0 {
        *CORES.get_or_init(|| thread::available_parallelism().map_or(1, NonZeroUsize::get))
    } else {
        threads
    }
}

/// Compresses and seals the chunks of `data` (numbered from `first`), appending each frame
/// and body to `out` and each frame to `frames`, one thread per compressor.
///
/// Two passes, each spread over the threads: the first compresses every chunk into its
/// worker's compressor, which keeps the results; then, with every stored length known, `out`
/// grows by exactly what the chunks take and each worker copies its chunks into place and
/// seals them there. `out` is never filled with more than the stored chunks, so text that
/// compresses to almost nothing costs almost nothing to lay out, and data that does not shrink
/// is copied once, from the plaintext straight into place.
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
    let workers = compressors.len().min(count).max(1);
    let per_worker = count.div_ceil(workers);
    let groups: Vec<&[u8]> = data.chunks(per_worker * chunk_size).collect();
    let compressors =
        compressors.get_mut(..groups.len()).ok_or(Error::Internal { what: "no compressor" })?;

    let packing = groups.iter().copied().zip(compressors.iter_mut());
    let packed = in_parallel(packing.collect(), |(group, compressor)| {
        pack_run(group, chunk_size, compressor)
    })?;

    let lengths: Vec<usize> =
        packed.iter().map(|run| run.iter().map(Packed::stored_len).sum()).collect();
    let base = out.len();
    out.resize(base + lengths.iter().sum::<usize>(), 0);
    let mut regions = Vec::with_capacity(groups.len());
    let mut remaining = &mut out[base..];
    for length in &lengths {
        let (region, rest) = std::mem::take(&mut remaining).split_at_mut(*length);
        regions.push(region);
        remaining = rest;
    }

    let sealing = (0_u64..).zip(groups).zip(compressors.iter()).zip(&packed).zip(regions);
    in_parallel(sealing.collect(), |((((group, bytes), compressor), packed), region)| {
        let counter = first + group * per_worker as u64;
        seal_run(bytes, chunk_size, counter, sealer, compressor, packed, region)
    })?;
    frames.extend(packed.iter().flatten().map(|chunk| chunk.frame));
    Ok(())
}

/// One chunk after the first pass: its frame, and where its compressed bytes sit among its
/// compressor's kept bytes (`None` when it is stored raw).
struct Packed {
    frame: Frame,
    kept: Option<Range<usize>>,
}

impl Packed {
    /// What the chunk takes in the object: frame and body.
    fn stored_len(&self) -> usize {
        FRAME_LEN + self.frame.body_len()
    }
}

/// Runs `work` on every item, the first on this thread and each other on a thread of its
/// own; the results in order, or the error of the lowest item that failed.
fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<R, Error> + Sync,
) -> Result<Vec<R>, Error> {
    let mut items = items.into_iter();
    let Some(head) = items.next() else { return Ok(Vec::new()) };
    let work = &work;
    thread::scope(|scope| {
        let handles: Vec<_> = items.map(|item| scope.spawn(move || work(item))).collect();
        let head_result = work(head);
        let results: Vec<_> = handles.into_iter().map(thread::ScopedJoinHandle::join).collect();
        let mut done = Vec::with_capacity(results.len() + 1);
        done.push(head_result?);
        for result in results {
            done.push(result.map_err(|_| Error::Internal { what: "encoder thread" })??);
        }
        Ok(done)
    })
}

/// Compresses the chunks of `data` one after the other on this thread; each chunk's frame
/// and, when it shrank, where the compressor kept it.
fn pack_run(
    data: &[u8],
    chunk_size: usize,
    compressor: &mut Compressor,
) -> Result<Vec<Packed>, Error> {
    compressor.clear_kept();
    data.chunks(chunk_size)
        .map(|chunk| {
            let kept = compressor.keep(chunk)?;
            let data_len = kept.as_ref().map_or(chunk.len(), Range::len);
            let frame = Frame::data(kept.is_some(), data_len + TAG_LEN)?;
            Ok(Packed { frame, kept })
        })
        .collect()
}

/// Copies the chunks of `data` (numbered from `first`) into `region` one after the other on
/// this thread, each as its frame then its compressed or raw bytes, and seals each in place.
fn seal_run(
    data: &[u8],
    chunk_size: usize,
    first: u64,
    sealer: &Sealer,
    compressor: &Compressor,
    packed: &[Packed],
    region: &mut [u8],
) -> Result<(), Error> {
    let mut offset = 0;
    for ((counter, chunk), packed) in (first..).zip(data.chunks(chunk_size)).zip(packed) {
        let body = match &packed.kept {
            Some(kept) => {
                compressor.kept().get(kept.clone()).ok_or(Error::Internal { what: "kept chunk" })?
            }
            None => chunk,
        };
        let end = offset + packed.stored_len();
        let target = region.get_mut(offset..end).ok_or(Error::Internal { what: "chunk slot" })?;
        target[..FRAME_LEN].copy_from_slice(&packed.frame.to_bytes());
        target[FRAME_LEN..FRAME_LEN + body.len()].copy_from_slice(body);
        let segment = Segment::Chunk(counter);
        sealer.seal_slot(&mut target[FRAME_LEN..], body.len(), segment, packed.frame)?;
        offset = end;
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
