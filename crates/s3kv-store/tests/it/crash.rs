//! A process killed in the middle of writing to a folder leaves every key whole: the old value
//! or the new one, never a torn mix, and no temporary file shows up as a key.

use std::hash::{BuildHasher, Hasher};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use s3kv_store::{Backend, ErrorKind, FsSettings, PutMode};

use crate::harness::listed;

/// Set in the environment of the writing child: the folder it writes to.
const CHILD_FOLDER: &str = "S3KV_STORE_CRASH_CHILD";

/// How many times a writer is killed.
const KILLS: u32 = 100;

/// Keys the writer cycles through.
const KEYS: u64 = 6;

/// A value's length: large enough that writing and syncing it takes a while to interrupt.
const VALUE_BYTES: usize = 256 * 1024;

/// Bounds of the child, so a writer that nobody kills still ends.
const CHILD_MAX_WRITES: u64 = 100_000;
const CHILD_MAX_TIME: Duration = Duration::from_mins(1);

fn key(index: u64) -> String {
    format!("crash/key-{index}")
}

/// The only value ever written as generation `generation` of `key`: a header naming both, then
/// a pattern that depends on both, so any mix of two values is detected.
fn value(key: &str, generation: u64) -> Bytes {
    let header = format!("{key} {generation:012}\n");
    let mut bytes = header.into_bytes();
    let mut state = generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key.len() as u64;
    while bytes.len() < VALUE_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(VALUE_BYTES);
    Bytes::from(bytes)
}

/// The generation a stored value claims, after checking that it is exactly that value.
fn generation_of(key: &str, stored: &[u8]) -> u64 {
    let header_end = stored.iter().position(|&b| b == b'\n').expect("a header line");
    let header = std::str::from_utf8(&stored[..header_end]).expect("a text header");
    let (name, generation) = header.rsplit_once(' ').expect("key and generation");
    assert_eq!(name, key, "a value is stored under another key");
    let generation: u64 = generation.parse().expect("a generation number");
    assert!(stored == value(key, generation), "{key} generation {generation} is torn");
    generation
}

/// The child: rewrites every key over and over, half plain overwrites, half compare-and-swap.
#[tokio::test]
async fn crash_writer_child() {
    let Some(folder) = std::env::var_os(CHILD_FOLDER) else {
        return;
    };
    let backend = s3kv_store::fs(FsSettings::new(folder)).expect("fs backend opens");
    let started = Instant::now();
    for write in 0..CHILD_MAX_WRITES {
        if started.elapsed() > CHILD_MAX_TIME {
            break;
        }
        let key = key(write % KEYS);
        let (generation, mode) = match backend.get(&key).await {
            Ok(object) => {
                let mode = match (write % 2, object.meta.etag) {
                    (0, Some(etag)) => PutMode::IfMatch(etag),
                    _ => PutMode::Overwrite,
                };
                (generation_of(&key, &object.bytes) + 1, mode)
            }
            Err(error) if error.kind() == ErrorKind::NotFound => (1, PutMode::IfAbsent),
            Err(error) => panic!("read failed: {error}"),
        };
        backend.put(&key, value(&key, generation), mode).await.expect("write");
    }
}

/// A small pseudo-random sequence for kill times; a fresh seed each run.
struct Delays(u64);

impl Delays {
    fn new() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        Self(hasher.finish() | 1)
    }

    /// A delay between 20 and 139 ms: past the child's start, into its writes.
    fn next(&mut self) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(20 + self.0 % 120)
    }
}

async fn check_every_key_is_whole(backend: &dyn Backend) -> u64 {
    let mut generations = 0;
    for index in 0..KEYS {
        let key = key(index);
        match backend.get(&key).await {
            Ok(object) => generations += generation_of(&key, &object.bytes),
            Err(error) => assert_eq!(error.kind(), ErrorKind::NotFound, "{error}"),
        }
    }
    let keys = listed(backend, "").await;
    assert!(keys.iter().all(|path| path.starts_with("crash/key-")), "{keys:?}");
    generations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_killed_a_hundred_times_leaves_every_key_whole() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let root = folder.path().join("root");
    let backend = s3kv_store::fs(FsSettings::new(&root)).expect("fs backend opens");
    let mut delays = Delays::new();

    let mut generations = 0;
    for _ in 0..KILLS {
        let mut child = crate::harness::child_test("crash::crash_writer_child")
            .env(CHILD_FOLDER, &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the writer");
        tokio::time::sleep(delays.next()).await;
        // `kill` sends SIGKILL: the writer gets no chance to finish or clean up.
        child.kill().expect("kill the writer");
        let status = child.wait().expect("wait for the writer");
        assert!(status.code().is_none() || status.success(), "the writer failed: {status}");

        generations = check_every_key_is_whole(backend.as_ref()).await;
    }
    // Staged files that never reached their key: writes the kill cut short.
    let cut = std::fs::read_dir(root.join(".s3kv-tmp")).map_or(0, |entries| {
        entries.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).count()
    });
    eprintln!("{KILLS} kills; {generations} generations written; {cut} writes cut short");
    assert!(generations > 0, "the writer never got to write: the test proved nothing");
}
