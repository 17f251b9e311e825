//! Measures what reading a value's metadata and entity tag costs on a local folder: `head`,
//! `get` and an unchanged `get_if_none_match` (a cache revalidation) of one large value.
//!
//! ```text
//! cargo run --release -p s3kv-store --example fs_head -- 100 5
//! ```
//!
//! The arguments are the value's size in MiB (default 100) and how often each call is timed
//! (default 5). The value lives in a temporary folder under the system's temporary directory,
//! so it is in the page cache: the figures are of hashing and copying, not of the disk.

use std::time::Instant;

use bytes::Bytes;
use s3kv_store::{FsSettings, PutMode};

const MIB: usize = 1024 * 1024;

/// Milliseconds of each run, then their minimum, median and maximum, on one line.
fn summary(name: &str, mut runs: Vec<f64>) -> String {
    let each: Vec<String> = runs.iter().map(|ms| format!("{ms:.2}")).collect();
    runs.sort_by(f64::total_cmp);
    let (min, median, max) = (runs[0], runs[runs.len() / 2], runs[runs.len() - 1]);
    format!(
        "{name:<18} min {min:>8.2} ms  median {median:>8.2} ms  max {max:>8.2} ms  ({})",
        each.join(", ")
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|arg| arg.parse().ok()).unwrap_or(100);
    let rounds: usize = args.next().and_then(|arg| arg.parse().ok()).unwrap_or(5).max(1);
    let folder = tempfile::tempdir()?;
    let backend = s3kv_store::fs(FsSettings::new(folder.path()))?;

    let value: Vec<u8> = (0..mib * MIB).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
    let written = backend.put("large", Bytes::from(value), PutMode::Overwrite).await?;
    let etag = written.etag.ok_or("the write reported no entity tag")?;

    let (mut heads, mut gets, mut revalidations) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let meta = backend.head("large").await?;
        heads.push(started.elapsed().as_secs_f64() * 1000.0);
        if meta.etag.as_deref() != Some(etag.as_str()) {
            return Err("head reported another entity tag than the write".into());
        }

        let started = Instant::now();
        let object = backend.get("large").await?;
        gets.push(started.elapsed().as_secs_f64() * 1000.0);
        if object.bytes.len() != mib * MIB {
            return Err("get returned another size".into());
        }
        drop(object);

        let started = Instant::now();
        let changed = backend.get_if_none_match("large", &etag).await?;
        revalidations.push(started.elapsed().as_secs_f64() * 1000.0);
        if changed.is_some() {
            return Err("an unchanged value was reported changed".into());
        }
    }

    eprintln!("{mib} MiB value, {rounds} runs each");
    eprintln!("{}", summary("head", heads));
    eprintln!("{}", summary("get", gets));
    eprintln!("{}", summary("get_if_none_match", revalidations));
    Ok(())
}
