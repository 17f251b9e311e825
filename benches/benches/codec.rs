//! Codec throughput against a bare baseline, in one run: encode and decode of 100 MB of
//! repetitive text, JSON-like text and random bytes, with zstd, LZ4 and no compression, with
//! and without encryption, on one and two threads.
//!
//! Run with `cargo bench -p s3kv-benches`; `S3KV_BENCH_MB` changes the size (default 100) and
//! a criterion filter picks cases, e.g. `cargo bench -p s3kv-benches -- json/zstd1`.

use std::{hint::black_box, time::Duration};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use s3kv_benches::{Bare, Input, bare_decode, bare_encode, bare_key, bare_seal, bare_slot};
use s3kv_codec::{
    Compression, DataKey, DecodeOptions, EncodeOptions, Identity, decode_into, encode, encode_into,
};

const IDENTITY: Identity<'static> = Identity::new("bench", "value");

fn size() -> usize {
    let megabytes = std::env::var("S3KV_BENCH_MB").ok().and_then(|v| v.parse().ok());
    megabytes.unwrap_or(100_usize) * 1_000_000
}

fn compressions() -> [(&'static str, Compression, Bare); 3] {
    [
        ("zstd1", Compression::Zstd { level: 1 }, Bare::Zstd(1)),
        ("lz4", Compression::Lz4, Bare::Lz4),
        ("none", Compression::None, Bare::None),
    ]
}

fn throughput(criterion: &mut Criterion) {
    let len = size();
    let data_key = DataKey::from_bytes([9; 32]);
    let aead = bare_key();
    let chunk = 1 << 20;
    for input in Input::ALL {
        let data = input.bytes(len);
        let mut group = criterion.benchmark_group(input.name());
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for (name, compression, bare) in compressions() {
            for encrypted in [false, true] {
                let key = encrypted.then_some(&data_key);
                let bare_aead = encrypted.then_some(&aead);
                for threads in [1, 2] {
                    let case =
                        format!("{name}/{}/{threads}t", if encrypted { "aes" } else { "plain" });
                    let options =
                        EncodeOptions { compression, threads, ..EncodeOptions::default() };
                    let stored = encode(&data, &options, key, IDENTITY).unwrap_or_default();
                    let decode_options = DecodeOptions { threads, ..DecodeOptions::default() };
                    let chunks = bare_encode(&data, chunk, bare, bare_aead, threads);
                    let mut out = vec![0_u8; len];
                    let mut slots = vec![0_u8; len.div_ceil(chunk) * bare_slot(chunk)];
                    let mut encoded = Vec::new();
                    let mut decoded = Vec::new();

                    group.bench_function(BenchmarkId::new("encode", &case), |b| {
                        b.iter(|| {
                            encode_into(black_box(&data), &options, key, IDENTITY, &mut encoded)
                        });
                    });
                    group.bench_function(BenchmarkId::new("bare-encode", &case), |b| {
                        b.iter(|| {
                            bare_seal(black_box(&data), chunk, bare, bare_aead, threads, &mut slots)
                        });
                    });
                    group.bench_function(BenchmarkId::new("decode", &case), |b| {
                        b.iter(|| {
                            decode_into(
                                black_box(&stored),
                                key,
                                IDENTITY,
                                &decode_options,
                                &mut decoded,
                            )
                        });
                    });
                    group.bench_function(BenchmarkId::new("bare-decode", &case), |b| {
                        b.iter(|| {
                            bare_decode(
                                black_box(&chunks),
                                chunk,
                                bare,
                                bare_aead,
                                threads,
                                &mut out,
                            );
                        });
                    });
                }
            }
        }
        group.finish();
    }
}

/// The zstd level and chunk size defaults: JSON-like text, two threads, with encryption.
fn defaults(criterion: &mut Criterion) {
    let len = size();
    let data = Input::JsonLike.bytes(len);
    let key = DataKey::from_bytes([9; 32]);
    let mut group = criterion.benchmark_group("defaults");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (level, log2) in [(-1, 20), (1, 20), (3, 20), (1, 18), (1, 22)] {
        let options = EncodeOptions {
            compression: Compression::Zstd { level },
            chunk_size_log2: log2,
            threads: 2,
            ..EncodeOptions::default()
        };
        let stored = encode(&data, &options, Some(&key), IDENTITY).unwrap_or_default();
        let mut encoded = Vec::new();
        let mut decoded = Vec::new();
        let decode_options = DecodeOptions { threads: 2, ..DecodeOptions::default() };
        let case =
            format!("zstd{level}/chunk2^{log2}/stored{}permille", stored.len() * 1000 / len.max(1));
        group.bench_function(BenchmarkId::new("encode", &case), |b| {
            b.iter(|| encode_into(black_box(&data), &options, Some(&key), IDENTITY, &mut encoded));
        });
        group.bench_function(BenchmarkId::new("decode", &case), |b| {
            b.iter(|| {
                decode_into(black_box(&stored), Some(&key), IDENTITY, &decode_options, &mut decoded)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, defaults);
criterion_main!(benches);
