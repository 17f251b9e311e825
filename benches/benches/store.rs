//! One-shot measurements of the facade against Garage on loopback (or a local folder when no
//! Garage is named by `S3KV_TEST_GARAGE_*`), run by `cargo xtask bench`:
//!
//! - the peak memory of a large value (1 GiB unless `S3KV_BENCH_LARGE_MIB` says otherwise)
//!   streamed in with `set_reader` and out with `get_writer`;
//! - a Streamlit-like read loop (the same 100 keys of 100 KB read 50 times) with the cache off,
//!   with a ttl, and with ttl 0: requests, bytes transferred, time;
//! - 2,000 values of 1 KB written and read with `set_many`/`get_many` and with a loop of single
//!   calls.
//!
//! Requests and bytes are counted by `s3kv_store::Counting` around the backend, so they are
//! what crossed to the server, not estimates. Each figure is one run: read them with the
//! machine's noise in mind (the report prints the CPU count and load).

#![expect(
    clippy::print_stdout,
    reason = "the report on standard output is what this program is for"
)]

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3kv::store::{Counting, Counts};
use s3kv::{Backend, Collection, Connection, Loader, PayloadKind};
use serde_json::{Map, Value, json};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Failure> {
    let folder = tempfile::tempdir()?;
    let (name, kwargs) = target(folder.path());
    println!("# s3kv store benchmarks on {name}");
    println!("machine: {} CPUs, load average {}", cpus(), load_average());
    println!();

    let large_mib = std::env::var("S3KV_BENCH_LARGE_MIB")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(1024);
    large_value(&kwargs, large_mib).await?;
    read_loop(&kwargs).await?;
    batches(&kwargs).await?;
    Ok(())
}

/// Garage's connection kwargs when `xtask bench` started it, else a local folder.
fn target(folder: &std::path::Path) -> (String, Map<String, Value>) {
    let garage = |name: &str| std::env::var(format!("S3KV_TEST_GARAGE_{name}")).ok();
    if let Some(endpoint) = garage("ENDPOINT") {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let kwargs = json!({
            "mode": "s3",
            "endpoint": endpoint,
            "bucket": garage("BUCKET").unwrap_or_default(),
            "access_key": garage("ACCESS_KEY").unwrap_or_default(),
            "secret_key": garage("SECRET_KEY").unwrap_or_default(),
            "region": garage("REGION").unwrap_or_else(|| "garage".to_owned()),
            "prefix": format!("bench-{nanos}"),
        });
        return (format!("Garage at {endpoint}"), object(kwargs));
    }
    let path = folder.to_string_lossy().into_owned();
    (
        "a local folder (no S3KV_TEST_GARAGE_ENDPOINT)".to_owned(),
        object(json!({"mode": "local", "path": path})),
    )
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn with(kwargs: &Map<String, Value>, extra: Value) -> Map<String, Value> {
    let mut merged = kwargs.clone();
    merged.extend(object(extra));
    merged
}

fn loader(kwargs: Map<String, Value>) -> Loader {
    Loader::new(Some("s3kv_bench")).kwargs(kwargs).env(Vec::new()).secrets_files(Vec::new())
}

/// A connection whose backend requests are counted.
async fn counted(kwargs: Map<String, Value>) -> Result<(Connection, Counting), Failure> {
    let plain = Connection::open(loader(kwargs.clone())).await?;
    let counting = Counting::new(Arc::clone(plain.backend()));
    let wrapped: Arc<dyn Backend> = Arc::new(counting.clone());
    let loader = loader(kwargs);
    let settings = loader.load()?;
    Ok((Connection::with_backend(loader, settings, wrapped).await?, counting))
}

/// Bytes that do not compress, the same whatever sizes they are read in: byte `p` of the
/// stream is byte `p % 8` of the splitmix64 hash of `seed + p / 8`.
struct Noise {
    seed: u64,
    position: u64,
    left: u64,
}

impl Noise {
    fn new(seed: u64, len: u64) -> Self {
        Self { seed, position: 0, left: len }
    }
}

fn splitmix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        for byte in &mut buf[..count] {
            let word = splitmix(self.seed.wrapping_add(self.position / 8)).to_le_bytes();
            *byte = word[usize::try_from(self.position % 8).unwrap_or(0)];
            self.position += 1;
        }
        self.left -= count as u64;
        Ok(count)
    }
}

/// A writer that keeps nothing but a count and a running checksum.
struct Sink {
    len: u64,
    sum: u64,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.len += data.len() as u64;
        self.sum = data.iter().fold(self.sum, |sum, byte| sum.rotate_left(5) ^ u64::from(*byte));
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn noise_sum(len: u64) -> Result<u64, Failure> {
    let mut sink = Sink { len: 0, sum: 0 };
    io::copy(&mut Noise::new(1, len), &mut sink)?;
    Ok(sink.sum)
}

/// Resident memory now and at its peak, in KiB, from `/proc/self/status`.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts a new peak: Linux resets `VmHWM` to the current RSS on "5" to `clear_refs`.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

async fn large_value(kwargs: &Map<String, Value>, mib: u64) -> Result<(), Failure> {
    let len = mib << 20;
    let expected = noise_sum(len)?;
    let (connection, counting) = counted(kwargs.clone()).await?;
    let collection = connection.collection("large", password()).await?;
    println!("## A {mib} MiB value, streamed (incompressible, encrypted)");
    println!();
    println!("| step | time | throughput | peak RSS above the start | bytes sent or received |");
    println!("|---|---|---|---|---|");

    let (base, _) = memory_kib();
    let fresh = reset_peak();
    let noise = Noise::new(1, len);
    let started = Instant::now();
    let stored = collection.set_reader("v", PayloadKind::Bytes, noise, Some(len)).await?;
    let put = started.elapsed();
    let (_, put_peak) = memory_kib();
    let sent = counting.counts().bytes_written;
    assert_eq!(stored, len);

    let base_get = if reset_peak() { memory_kib().0 } else { base };
    let started = Instant::now();
    let streamed = collection
        .get_writer("v", &[PayloadKind::Bytes], Sink { len: 0, sum: 0 })
        .await?
        .ok_or("the value vanished")?;
    let get = started.elapsed();
    let (_, get_peak) = memory_kib();
    let received = counting.counts().bytes_read;
    if streamed.len != len || streamed.writer.sum != expected {
        return Err("the value read back differs from the value written".into());
    }
    row("put (set_reader)", put, len, put_peak.saturating_sub(base), sent);
    row("get (get_writer)", get, len, get_peak.saturating_sub(base_get), received);
    if !fresh {
        println!();
        println!("(the peak could not be reset here: the put's peak includes earlier work)");
    }
    println!();
    collection.delete("v").await?;
    Ok(())
}

fn row(step: &str, time: Duration, len: u64, peak_kib: u64, bytes: u64) {
    let seconds = time.as_secs_f64();
    let mib = approx(len) / f64::from(1 << 20);
    println!(
        "| {step} | {seconds:.2} s | {:.0} MiB/s | {:.1} MiB | {:.0} MiB |",
        mib / seconds,
        approx(peak_kib) / 1024.0,
        approx(bytes) / f64::from(1 << 20),
    );
}

fn password() -> Map<String, Value> {
    object(json!({"password": "benchmark password"}))
}

const LOOP_KEYS: usize = 100;
const LOOP_ROUNDS: usize = 50;
const LOOP_VALUE: u64 = 100_000;

async fn read_loop(kwargs: &Map<String, Value>) -> Result<(), Failure> {
    // Written by another connection, as another replica of the app would.
    let writer = Connection::open(loader(kwargs.clone())).await?;
    let collection = writer.collection("loop", password()).await?;
    let keys: Vec<String> = (0..LOOP_KEYS).map(|index| format!("widget-{index:03}")).collect();
    for (index, key) in keys.iter().enumerate() {
        let mut value = Vec::new();
        Noise::new(index as u64 * 1_000_000, LOOP_VALUE).read_to_end(&mut value)?;
        collection.set(key, PayloadKind::Bytes, &value).await?;
    }

    println!(
        "## A Streamlit-like read loop: {LOOP_KEYS} keys of {} KB read {LOOP_ROUNDS} times",
        LOOP_VALUE / 1000
    );
    println!();
    println!("| cache | requests | bytes transferred | time | per read | fresh hit, median |");
    println!("|---|---|---|---|---|---|");
    let mut transferred = Vec::new();
    for (label, extra) in [
        ("off", json!({})),
        ("ttl 10m", json!({"ttl": "10m"})),
        ("ttl 0 (revalidate)", json!({"ttl": 0})),
    ] {
        let (connection, counting) = counted(with(kwargs, extra)).await?;
        let collection = connection.collection("loop", password()).await?;
        let before = counting.counts();
        let started = Instant::now();
        for _ in 0..LOOP_ROUNDS {
            for key in &keys {
                let value = collection.get(key).await?.ok_or("a key vanished")?;
                if value.data.len() as u64 != LOOP_VALUE {
                    return Err("a value read back with the wrong length".into());
                }
            }
        }
        let elapsed = started.elapsed();
        let spent = difference(counting.counts(), before);
        let reads = approx((LOOP_KEYS * LOOP_ROUNDS) as u64);
        let hit = if collection.cache_stats().is_some_and(|stats| stats.hits > 0) {
            format!("{:.1} µs", fresh_hit_micros(&collection, &keys).await?)
        } else {
            "-".to_owned()
        };
        println!(
            "| {label} | {} | {:.1} MB | {:.2} s | {:.0} µs | {hit} |",
            spent.requests(),
            approx(spent.bytes_read) / 1e6,
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / reads,
        );
        transferred.push(spent.bytes_read);
    }
    if let [off, ttl, ..] = transferred[..] {
        println!();
        println!("bytes transferred, cache off / ttl: {:.0}x", approx(off) / approx(ttl.max(1)));
    }
    println!();
    Ok(())
}

/// The median time of a read served fresh from the cache, in microseconds.
async fn fresh_hit_micros(collection: &Collection, keys: &[String]) -> Result<f64, Failure> {
    let mut times = Vec::with_capacity(keys.len() * 10);
    for _ in 0..10 {
        for key in keys {
            let started = Instant::now();
            let value = collection.get(key).await?;
            times.push(started.elapsed());
            drop(value);
        }
    }
    times.sort_unstable();
    Ok(times[times.len() / 2].as_secs_f64() * 1e6)
}

fn difference(after: Counts, before: Counts) -> Counts {
    let mut spent = Counts::default();
    spent.gets = after.gets - before.gets;
    spent.conditional_gets = after.conditional_gets - before.conditional_gets;
    spent.not_modified = after.not_modified - before.not_modified;
    spent.ranged_gets = after.ranged_gets - before.ranged_gets;
    spent.heads = after.heads - before.heads;
    spent.puts = after.puts - before.puts;
    spent.deletes = after.deletes - before.deletes;
    spent.lists = after.lists - before.lists;
    spent.bytes_read = after.bytes_read - before.bytes_read;
    spent.bytes_written = after.bytes_written - before.bytes_written;
    spent
}

const BATCH: usize = 2000;

async fn batches(kwargs: &Map<String, Value>) -> Result<(), Failure> {
    let (connection, _) = counted(kwargs.clone()).await?;
    let collection = connection.collection("batches", password()).await?;
    let values: Vec<(String, Vec<u8>)> = (0..BATCH)
        .map(|index| {
            let mut value = Vec::new();
            let read = Noise::new(index as u64 * 1_000 + 7, 1000).read_to_end(&mut value);
            (format!("row-{index:05}"), if read.is_ok() { value } else { Vec::new() })
        })
        .collect();
    println!("## {BATCH} values of 1 KB (encrypted)");
    println!();
    println!("| call | time | per value |");
    println!("|---|---|---|");

    let started = Instant::now();
    for (key, value) in &values {
        collection.set(key, PayloadKind::Bytes, value).await?;
    }
    let set_loop = started.elapsed();
    let items: Vec<(&str, PayloadKind, &[u8])> = values
        .iter()
        .map(|(key, value)| (key.as_str(), PayloadKind::Bytes, value.as_slice()))
        .collect();
    let started = Instant::now();
    collection.set_many(&items).await?;
    let set_many = started.elapsed();

    let started = Instant::now();
    for (key, value) in &values {
        let read = collection.get(key).await?.ok_or("a key vanished")?;
        if &read.data != value {
            return Err("a value read back differs".into());
        }
    }
    let get_loop = started.elapsed();
    let keys: Vec<&str> = values.iter().map(|(key, _)| key.as_str()).collect();
    let started = Instant::now();
    let read = collection.get_many(&keys).await?;
    let get_many = started.elapsed();
    if read
        .iter()
        .zip(&values)
        .any(|(read, (_, value))| read.as_ref().map(|read| &read.data) != Some(value))
    {
        return Err("a batch read differs".into());
    }
    for (call, time) in [
        ("set, one at a time", set_loop),
        ("set_many", set_many),
        ("get, one at a time", get_loop),
        ("get_many", get_many),
    ] {
        println!(
            "| {call} | {:.2} s | {:.2} ms |",
            time.as_secs_f64(),
            time.as_secs_f64() * 1e3 / approx(BATCH as u64)
        );
    }
    println!();
    println!(
        "set_many is {:.1}x the loop; get_many {:.1}x",
        set_loop.as_secs_f64() / set_many.as_secs_f64(),
        get_loop.as_secs_f64() / get_many.as_secs_f64()
    );
    let started = Instant::now();
    let listed = collection.len().await?;
    println!("listing {listed} keys: {:.3} s", started.elapsed().as_secs_f64());
    println!();
    Ok(())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// A count as a float, for figures printed for people.
#[expect(clippy::cast_precision_loss, reason = "counts here stay far below 2^52")]
fn approx(count: u64) -> f64 {
    count as f64
}
