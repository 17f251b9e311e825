//! Inputs and bare baselines for the codec benchmarks in `benches/codec.rs`.
//!
//! A baseline does the same work the codec must do and nothing else: the bare compressor
//! and the bare AEAD (aws-lc-rs AES-256-GCM) over the same chunks, split over the same
//! number of threads. The codec's figures are read against it, measured in the same run.

// Both arms of key/no-key matches do comparable work; `if let … else` would hide that.
#![allow(clippy::single_match_else)]

use std::{hint::black_box, thread};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zstd::zstd_safe::{CCtx, DCtx};

/// The kinds of input benchmarked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// One English sentence repeated: compresses extremely well.
    Repetitive,
    /// Records like a JSON API response: names, numbers, nesting; compresses about 5 to 10 times.
    JsonLike,
    /// Uniform random bytes: does not compress at all.
    Random,
}

impl Input {
    /// Every input kind.
    pub const ALL: [Self; 3] = [Self::Repetitive, Self::JsonLike, Self::Random];

    /// A short name for benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::Repetitive => "text",
            Self::JsonLike => "json",
            Self::Random => "random",
        }
    }

    /// `len` bytes of this kind, the same for every run.
    pub fn bytes(self, len: usize) -> Vec<u8> {
        let mut rng = SplitMix(0x5eed);
        let mut out = Vec::with_capacity(len + 256);
        match self {
            Self::Repetitive => {
                let sentence = b"The quick brown fox jumps over the lazy dog near the river bank. ";
                while out.len() < len {
                    out.extend_from_slice(sentence);
                }
            }
            Self::JsonLike => {
                const NAMES: [&str; 8] =
                    ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
                const TAGS: [&str; 6] = ["red", "green", "blue", "admin", "guest", "beta"];
                let mut id = 0_u64;
                while out.len() < len {
                    id += 1;
                    let name = NAMES[rng.below(NAMES.len())];
                    let tag = TAGS[rng.below(TAGS.len())];
                    let record = format!(
                        "{{\"id\":{id},\"name\":\"{name}_{}\",\"score\":{}.{:02},\"active\":{},\
                         \"tags\":[\"{tag}\",\"{}\"],\"address\":{{\"zip\":\"{:05}\",\
                         \"city\":\"city{}\"}}}},\n",
                        rng.next() % 10_000,
                        rng.next() % 1000,
                        rng.next() % 100,
                        rng.next().is_multiple_of(2),
                        TAGS[rng.below(TAGS.len())],
                        rng.next() % 100_000,
                        rng.next() % 500,
                    );
                    out.extend_from_slice(record.as_bytes());
                }
            }
            Self::Random => {
                while out.len() < len {
                    out.extend_from_slice(&rng.next().to_le_bytes());
                }
            }
        }
        out.truncate(len);
        out
    }
}

/// `SplitMix64`: a fast, fixed-seed generator for benchmark inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound as u64).unwrap_or(0)
    }
}

/// The bare compressor of a baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bare {
    /// No compression: the AEAD alone (or a copy, without encryption).
    None,
    /// zstd at a level.
    Zstd(i32),
    /// LZ4 block.
    Lz4,
}

/// A fixed AES-256-GCM key for baselines.
pub fn bare_key() -> LessSafeKey {
    let key = UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap_or_else(|_| unreachable!());
    LessSafeKey::new(key)
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0_u8; 12];
    bytes[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// Compresses (keeping the raw chunk when it does not shrink) and seals each chunk of
/// `data`, over `threads` threads; returns the chunks as the baseline decoder takes them.
pub fn bare_encode(
    data: &[u8],
    chunk: usize,
    bare: Bare,
    key: Option<&LessSafeKey>,
    threads: usize,
) -> Vec<(bool, Vec<u8>)> {
    let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
    let per = chunks.len().div_ceil(threads.max(1)).max(1);
    thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .chunks(per)
            .enumerate()
            .map(|(group, part)| {
                scope.spawn(move || {
                    let mut context = CCtx::create();
                    let mut out = Vec::with_capacity(part.len());
                    for (i, plain) in part.iter().enumerate() {
                        let counter = (group * per + i) as u64;
                        let mut buffer =
                            vec![0_u8; lz4_flex::block::get_maximum_output_size(plain.len()) + 64];
                        let written = match bare {
                            Bare::None => 0,
                            Bare::Zstd(level) => {
                                context.compress(&mut buffer, plain, level).unwrap_or(0)
                            }
                            Bare::Lz4 => {
                                lz4_flex::block::compress_into(plain, &mut buffer).unwrap_or(0)
                            }
                        };
                        let compressed = written > 0 && written < plain.len();
                        if compressed {
                            buffer.truncate(written);
                        } else {
                            buffer.clear();
                            buffer.extend_from_slice(plain);
                        }
                        if let Some(key) = key {
                            let tag = key
                                .seal_in_place_separate_tag(
                                    nonce(counter),
                                    Aad::empty(),
                                    &mut buffer,
                                )
                                .unwrap_or_else(|_| unreachable!());
                            buffer.extend_from_slice(tag.as_ref());
                        }
                        out.push((compressed, buffer));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().unwrap_or_default()).collect()
    })
}

/// The output slot of one chunk in [`bare_seal`]: room for LZ4's worst case and a tag.
pub fn bare_slot(chunk: usize) -> usize {
    lz4_flex::block::get_maximum_output_size(chunk) + 64
}

/// Compresses and seals (or, without a key, checksums with XXH3-128) each chunk of `data`
/// straight into its slot of `out` (at least `chunks × bare_slot(chunk)` bytes, reused
/// between runs), over `threads` threads, and returns the bytes it would store: the encode
/// ceiling, doing what the codec must do and nothing else.
pub fn bare_seal(
    data: &[u8],
    chunk: usize,
    bare: Bare,
    key: Option<&LessSafeKey>,
    threads: usize,
    out: &mut [u8],
) -> usize {
    let slot = bare_slot(chunk);
    let per = data.len().div_ceil(chunk).div_ceil(threads.max(1)).max(1);
    thread::scope(|scope| {
        let handles: Vec<_> = data
            .chunks(per * chunk)
            .zip(out.chunks_mut(per * slot))
            .enumerate()
            .map(|(group, (part, slots))| {
                scope.spawn(move || {
                    let mut context = CCtx::create();
                    let mut stored = 0;
                    for (i, (plain, buffer)) in
                        part.chunks(chunk).zip(slots.chunks_mut(slot)).enumerate()
                    {
                        let counter = (group * per + i) as u64;
                        let room = buffer.len() - 16;
                        let written = match bare {
                            Bare::None => 0,
                            Bare::Zstd(level) => context
                                .compress(&mut buffer[..plain.len() - 1], plain, level)
                                .unwrap_or(0),
                            Bare::Lz4 => lz4_flex::block::compress_into(plain, &mut buffer[..room])
                                .unwrap_or(0),
                        };
                        let len = if written > 0 && written < plain.len() {
                            written
                        } else {
                            buffer[..plain.len()].copy_from_slice(plain);
                            plain.len()
                        };
                        let (sealed, tag) = buffer.split_at_mut(len);
                        match key {
                            Some(key) => {
                                let made = key
                                    .seal_in_place_separate_tag(
                                        nonce(counter),
                                        Aad::empty(),
                                        sealed,
                                    )
                                    .unwrap_or_else(|_| unreachable!());
                                tag[..16].copy_from_slice(made.as_ref());
                            }
                            None => {
                                let sum = xxhash_rust::xxh3::xxh3_128(sealed);
                                tag[..16].copy_from_slice(&sum.to_be_bytes());
                            }
                        }
                        stored += len + 16;
                    }
                    stored
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap_or(0)).sum()
    })
}

/// Opens and decompresses chunks made by [`bare_encode`] into `out`, over `threads` threads.
pub fn bare_decode(
    chunks: &[(bool, Vec<u8>)],
    chunk: usize,
    bare: Bare,
    key: Option<&LessSafeKey>,
    threads: usize,
    out: &mut [u8],
) {
    let per = chunks.len().div_ceil(threads.max(1)).max(1);
    thread::scope(|scope| {
        for ((group, part), target) in
            chunks.chunks(per).enumerate().zip(out.chunks_mut(per * chunk))
        {
            scope.spawn(move || {
                let mut context = DCtx::create();
                let mut scratch = Vec::new();
                for ((i, (compressed, body)), plain) in
                    part.iter().enumerate().zip(target.chunks_mut(chunk))
                {
                    let counter = (group * per + i) as u64;
                    let (data, tag) = if key.is_some() {
                        body.split_at(body.len() - 16)
                    } else {
                        (body.as_slice(), &[][..])
                    };
                    if !*compressed {
                        match key {
                            Some(key) => key
                                .open_separate_gather(
                                    nonce(counter),
                                    Aad::empty(),
                                    data,
                                    tag,
                                    plain,
                                )
                                .unwrap_or_else(|_| unreachable!()),
                            None => {
                                let sum = xxhash_rust::xxh3::xxh3_128(data);
                                black_box(sum);
                                plain.copy_from_slice(data);
                            }
                        }
                        continue;
                    }
                    let data = match key {
                        Some(key) => {
                            scratch.resize(data.len(), 0);
                            key.open_separate_gather(
                                nonce(counter),
                                Aad::empty(),
                                data,
                                tag,
                                &mut scratch,
                            )
                            .unwrap_or_else(|_| unreachable!());
                            scratch.as_slice()
                        }
                        None => {
                            black_box(xxhash_rust::xxh3::xxh3_128(data));
                            data
                        }
                    };
                    match bare {
                        Bare::Zstd(_) => {
                            context.decompress(plain, data).unwrap_or(0);
                        }
                        Bare::Lz4 => {
                            lz4_flex::block::decompress_into(data, plain).unwrap_or(0);
                        }
                        Bare::None => {}
                    }
                }
            });
        }
    });
}
