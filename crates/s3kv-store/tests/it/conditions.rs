//! Conditional writes where they matter most: a server that ignores them is caught, one that
//! honours them is believed, and compare-and-swap holds between processes.

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use s3kv_store::{Backend, ErrorKind, PutMode};

#[cfg(feature = "s3")]
use crate::harness::kind_of;

/// Set in the environment of a child counting process: the backend to open, as `fs:<folder>` or
/// `s3:<root>`.
const CHILD_BACKEND: &str = "S3KV_STORE_CAS_CHILD";

/// Increments each counting process makes.
const INCREMENTS: u64 = 500;

/// The counter's path on whichever backend the processes share.
const COUNTER: &str = "counter";

/// A hang guard for one counting process, not a benchmark.
const CHILD_BOUND: Duration = Duration::from_mins(10);

/// Printed by a child when all its increments landed, so the parent knows it really counted.
const CHILD_DONE: &str = "increments done";

/// Printed by a child before the values it wrote.
const CHILD_WROTE: &str = "wrote values";

/// Conditional writes a server that checks `If-Match` before it stores, without holding a lock
/// in between, may let through twice in one counting run (moto does: two writes based on the
/// same version can both land, and one increment is lost). Each one is seen, as a value both
/// processes wrote, and counted.
const SERVER_RACES_BOUND: usize = 10;

/// Adds one to the counter with compare-and-swap, retrying lost races; returns the retries and
/// the value written.
async fn increment(backend: &dyn Backend) -> (u64, u64) {
    for retries in 0..100_000 {
        let current = backend.get(COUNTER).await.expect("read the counter");
        let text = std::str::from_utf8(&current.bytes).expect("the counter is text");
        let value: u64 = text.parse().expect("the counter is a number");
        let etag = current.meta.etag.expect("a compare-and-swap backend reports entity tags");
        let next = Bytes::from((value + 1).to_string());
        match backend.put(COUNTER, next, PutMode::IfMatch(etag)).await {
            Ok(_) => return (retries, value + 1),
            Err(error) if error.kind() == ErrorKind::ConditionFailed => {}
            Err(error) => panic!("increment failed: {error}"),
        }
    }
    panic!("an increment lost 100,000 races in a row");
}

async fn counter_value(backend: &dyn Backend) -> u64 {
    let object = backend.get(COUNTER).await.expect("read the counter");
    std::str::from_utf8(&object.bytes).expect("text").parse().expect("a number")
}

/// Starts a child process of this test binary that increments the counter [`INCREMENTS`] times.
fn spawn_counter(backend: &str) -> Child {
    crate::harness::child_test("conditions::cas_counter_child")
        .env(CHILD_BACKEND, backend)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a counting process")
}

/// Runs two counting processes against one backend and checks that no increment was lost: the
/// counter ends at the number of increments, less the values both processes wrote, of which
/// there are none unless `server_races` (a server known to let such races through).
async fn two_processes_count_to_a_thousand(
    name: &str,
    backend: &dyn Backend,
    child_spec: &str,
    server_races: bool,
) {
    backend.put(COUNTER, Bytes::from_static(b"0"), PutMode::Overwrite).await.expect("reset");
    let started = Instant::now();
    let children = [spawn_counter(child_spec), spawn_counter(child_spec)];
    let mut written: Vec<std::collections::BTreeSet<u64>> = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("wait for a counting process");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "a counting process failed:\n{stdout}\n{stderr}");
        assert!(stderr.contains(CHILD_DONE), "a child did not count:\n{stdout}\n{stderr}");
        eprintln!("{name}: {}", stderr.lines().find(|l| l.contains(CHILD_DONE)).unwrap_or(""));
        let values = stderr
            .lines()
            .find_map(|line| line.strip_prefix(CHILD_WROTE)?.strip_prefix(": "))
            .expect("the child lists the values it wrote");
        let values = values.split(' ').map(|v| v.parse().expect("a value")).collect::<Vec<u64>>();
        assert!(values.is_sorted_by(|a, b| a < b), "a process went back: {values:?}");
        written.push(values.into_iter().collect());
    }
    eprintln!("{name}: two processes counted in {:?}", started.elapsed());
    let twice = written[0].intersection(&written[1]).count();
    eprintln!("{name}: values both processes wrote (server races): {twice}");
    let allowed = if server_races { SERVER_RACES_BOUND } else { 0 };
    assert!(twice <= allowed, "{twice} conditional writes landed twice");
    assert_eq!(counter_value(backend).await, 2 * INCREMENTS - twice as u64);
}

/// The child half of the counting tests; does nothing in an ordinary test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_counter_child() {
    let Some(spec) = std::env::var(CHILD_BACKEND).ok() else {
        return;
    };
    let backend = open_child_backend(&spec);
    let counting = async {
        let (mut retries, mut written) = (0, Vec::new());
        for _ in 0..INCREMENTS {
            let (lost, value) = increment(backend.as_ref()).await;
            retries += lost;
            written.push(value.to_string());
        }
        (retries, written)
    };
    let (retries, written) =
        tokio::time::timeout(CHILD_BOUND, counting).await.expect("counting ends");
    eprintln!("{CHILD_WROTE}: {}", written.join(" "));
    eprintln!("{CHILD_DONE}: {INCREMENTS} increments after {retries} lost races");
}

fn open_child_backend(spec: &str) -> Arc<dyn Backend> {
    match spec.split_once(':') {
        #[cfg(feature = "fs")]
        Some(("fs", folder)) => {
            s3kv_store::fs(s3kv_store::FsSettings::new(folder)).expect("fs backend opens")
        }
        #[cfg(feature = "s3")]
        Some(("s3", root)) => {
            let settings = crate::harness::s3_settings_from_env(root).expect("s3 settings");
            s3kv_store::s3(settings).expect("s3 backend opens")
        }
        _ => panic!("unknown backend for a counting process: {spec}"),
    }
}

#[cfg(feature = "fs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_compare_and_swap_on_fs_count_to_a_thousand() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let root = folder.path().join("root");
    let backend = s3kv_store::fs(s3kv_store::FsSettings::new(&root)).expect("fs backend opens");
    let spec = format!("fs:{}", root.display());
    two_processes_count_to_a_thousand("fs", backend.as_ref(), &spec, false).await;
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_compare_and_swap_on_s3_count_to_a_thousand() {
    let root = format!("s3kv-it/{}", crate::harness::unique_name());
    let Some(settings) = crate::harness::s3_settings_from_env(&root) else {
        return;
    };
    let backend = s3kv_store::s3(settings).expect("s3 backend opens");
    backend.check().await.expect("check");
    assert!(backend.capabilities().compare_and_swap, "the main test server honours If-Match");
    // The main test server is moto, which checks `If-Match` and stores without a lock between.
    two_processes_count_to_a_thousand("s3", backend.as_ref(), &format!("s3:{root}"), true).await;
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn main_test_server_is_found_to_honour_conditional_writes() {
    let root = format!("s3kv-it/{}", crate::harness::unique_name());
    let Some(settings) = crate::harness::s3_settings_from_env(&root) else {
        return;
    };
    let backend = s3kv_store::s3(settings).expect("s3 backend opens");
    backend.check().await.expect("check");
    let capabilities = backend.capabilities();
    assert!(capabilities.conditional_create, "{}", backend.describe());
    assert!(capabilities.compare_and_swap, "{}", backend.describe());

    // The probe cleaned up after itself: seen from one level up, the root holds nothing.
    let Some(parent) = crate::harness::s3_settings_from_env("s3kv-it") else {
        return;
    };
    let parent = s3kv_store::s3(parent).expect("s3 backend opens");
    let name = root.trim_start_matches("s3kv-it/");
    let left = crate::harness::listed(parent.as_ref(), &format!("{name}/")).await;
    assert!(left.is_empty(), "the probe left {left:?}");
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn server_that_ignores_conditions_reports_them_unsupported() {
    use crate::harness::{S3Server, s3_settings};

    let root = format!("s3kv-it/{}", crate::harness::unique_name());
    let Some(settings) = s3_settings(S3Server::Garage, &root) else {
        return;
    };

    // No check first: the first conditional write probes by itself.
    let lazy = s3kv_store::s3(settings.clone()).expect("s3 backend opens");
    let first = lazy.put("fresh", Bytes::from_static(b"v"), PutMode::IfAbsent).await;
    assert_eq!(kind_of(first), Some(ErrorKind::Unsupported));
    assert_eq!(kind_of(lazy.head("fresh").await), Some(ErrorKind::NotFound), "nothing written");
    assert!(!lazy.capabilities().conditional_create);
    assert!(!lazy.capabilities().compare_and_swap);

    let backend = s3kv_store::s3(settings).expect("s3 backend opens");
    backend.check().await.expect("check");
    assert!(!backend.capabilities().conditional_create, "Garage 2.5 ignores If-None-Match");
    assert!(!backend.capabilities().compare_and_swap, "Garage 2.5 ignores If-Match");

    let put = backend.put("k", Bytes::from_static(b"first"), PutMode::Overwrite).await;
    let etag = put.expect("plain writes still work").etag.expect("an entity tag");
    let create = backend.put("k", Bytes::from_static(b"second"), PutMode::IfAbsent).await;
    assert_eq!(kind_of(create), Some(ErrorKind::Unsupported));
    let swap = backend.put("k", Bytes::from_static(b"third"), PutMode::IfMatch(etag)).await;
    let error = swap.expect_err("compare-and-swap is refused");
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert!(error.message().contains("If-Match"), "{error}");
    assert_eq!(&backend.get("k").await.expect("get").bytes[..], b"first");
}
