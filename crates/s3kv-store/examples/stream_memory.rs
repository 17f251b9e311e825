//! Measures a streamed put and get of one large value on an S3 server: time, and the peak
//! memory the process reached above what it held before the transfer.
//!
//! The value is generated piece by piece and checked piece by piece, so only the backend's own
//! buffers count. Linux only (it reads `/proc/self/status`).
//!
//! ```text
//! S3KV_TEST_GARAGE_ENDPOINT=http://127.0.0.1:3900 S3KV_TEST_GARAGE_ACCESS_KEY=... \
//!   S3KV_TEST_GARAGE_SECRET_KEY=... cargo run --release -p s3kv-store --example stream_memory -- 1024
//! ```
//!
//! The argument is the value's size in MiB (default 1024). Variables: `S3KV_TEST_GARAGE_*`, else
//! `S3KV_TEST_*` (endpoint, bucket, access key, secret key, region).

use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, stream};
use s3kv_store::{PutMode, S3Settings};

const MIB: u64 = 1024 * 1024;

/// Bytes of one generated piece: uneven on purpose, so parts never line up with pieces.
const PIECE: u64 = MIB + 4321;

/// The byte at `offset` of the value.
fn byte_at(offset: u64) -> u8 {
    u8::try_from((offset / 4099) % 251).unwrap_or(0) ^ u8::try_from(offset % 7).unwrap_or(0)
}

fn piece_at(offset: u64, size: u64) -> Bytes {
    (offset..offset + size).map(byte_at).collect()
}

/// A `kB` figure from `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resets the peak resident size, so that the next peak is the transfer's own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn settings() -> Option<S3Settings> {
    let pick = |name: &str| {
        std::env::var(format!("S3KV_TEST_GARAGE_{name}"))
            .or_else(|_| std::env::var(format!("S3KV_TEST_{name}")))
            .ok()
            .filter(|value| !value.is_empty())
    };
    let mut settings = S3Settings::new(pick("BUCKET").unwrap_or_else(|| "s3kv-test".to_owned()));
    settings.endpoint = Some(pick("ENDPOINT")?);
    settings.region = pick("REGION");
    settings.access_key = pick("ACCESS_KEY");
    settings.secret_key = pick("SECRET_KEY");
    "s3kv-example".clone_into(&mut settings.root);
    Some(settings)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(1024);
    let size = mib * MIB;
    let settings = settings().ok_or("set S3KV_TEST_GARAGE_ENDPOINT or S3KV_TEST_ENDPOINT")?;
    let (part, concurrency) = (settings.part_size, settings.transfer_concurrency);
    let backend = s3kv_store::s3(settings)?;
    backend.check().await?;

    let pieces = stream::iter((0..size.div_ceil(PIECE)).map(move |index| {
        let offset = index * PIECE;
        Ok(piece_at(offset, PIECE.min(size - offset)))
    }));
    let baseline = status_bytes("VmRSS:");
    reset_peak();
    let started = Instant::now();
    backend.put_stream("large", pieces.boxed(), PutMode::Overwrite).await?;
    let put_seconds = started.elapsed().as_secs_f64();
    let put_peak = status_bytes("VmHWM:").saturating_sub(baseline);

    let baseline = status_bytes("VmRSS:");
    reset_peak();
    let started = Instant::now();
    let (meta, mut read) = backend.get_stream("large").await?;
    let mut offset = 0u64;
    while let Some(piece) = read.next().await {
        let piece = piece?;
        let expected = piece_at(offset, piece.len() as u64);
        if piece != expected {
            return Err(format!("the value differs near byte {offset}").into());
        }
        offset += piece.len() as u64;
    }
    let get_seconds = started.elapsed().as_secs_f64();
    let get_peak = status_bytes("VmHWM:").saturating_sub(baseline);
    backend.delete("large").await?;
    if offset != size || meta.size != size {
        return Err(format!("read {offset} of {size} bytes").into());
    }

    let rate = |seconds: f64| f64::from(u32::try_from(mib).unwrap_or(u32::MAX)) / seconds;
    let as_mib = |bytes: u64| bytes / MIB;
    eprintln!("{mib} MiB, parts of {} MiB, {concurrency} in flight", part / 1024 / 1024);
    eprintln!(
        "put_stream: {put_seconds:.1} s ({:.0} MiB/s), peak {} MiB above baseline",
        rate(put_seconds),
        as_mib(put_peak)
    );
    eprintln!(
        "get_stream: {get_seconds:.1} s ({:.0} MiB/s), peak {} MiB above baseline",
        rate(get_seconds),
        as_mib(get_peak)
    );
    Ok(())
}
