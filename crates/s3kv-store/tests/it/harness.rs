//! Opens a fresh, empty backend of each kind for one test, and small helpers the cases share.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use s3kv_store::{Backend, ErrorKind};

/// One test's backend, and whatever must live as long as it.
pub(crate) struct Fixture {
    pub(crate) backend: Arc<dyn Backend>,
    /// Keeps the folder of the fs backend until the test ends.
    #[cfg(feature = "fs")]
    _folder: Option<tempfile::TempDir>,
}

impl Fixture {
    #[cfg(any(feature = "memory", feature = "s3"))]
    fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            #[cfg(feature = "fs")]
            _folder: None,
        }
    }
}

/// Opens the backend `name` fresh for one test; `None` when it is not configured here.
///
/// S3 backends are checked first, as a connection does when it opens, so their capabilities
/// already reflect the probe of conditional writes.
#[cfg_attr(
    not(feature = "s3"),
    expect(clippy::unused_async, reason = "only the s3 fixtures wait for a check")
)]
pub(crate) async fn open(name: &str) -> Option<Fixture> {
    match name {
        #[cfg(feature = "memory")]
        "memory" => Some(Fixture::new(s3kv_store::memory().expect("memory backend opens"))),
        #[cfg(feature = "fs")]
        "fs" => {
            let folder = tempfile::tempdir().expect("temporary folder");
            let settings = s3kv_store::FsSettings::new(folder.path().join("root"));
            let backend = s3kv_store::fs(settings).expect("fs backend opens");
            Some(Fixture { backend, _folder: Some(folder) })
        }
        #[cfg(feature = "s3")]
        "s3" | "garage" => {
            let server = if name == "s3" { S3Server::Main } else { S3Server::Garage };
            let settings = s3_settings(server, &format!("s3kv-it/{}", unique_name()))?;
            let backend = s3kv_store::s3(settings).expect("s3 backend opens");
            backend.check().await.expect("the s3 test server answers");
            Some(Fixture::new(backend))
        }
        other => panic!("no fixture for backend {other}"),
    }
}

/// Which of the S3 servers that `cargo xtask test` starts a test uses.
#[cfg(feature = "s3")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum S3Server {
    /// `S3KV_TEST_*`: moto, `MinIO` or an external server.
    Main,
    /// `S3KV_TEST_GARAGE_*`: Garage, which ignores conditional writes.
    Garage,
}

/// S3 settings from `S3KV_TEST_ENDPOINT`, `S3KV_TEST_BUCKET` (default `s3kv-test`),
/// `S3KV_TEST_ACCESS_KEY`, `S3KV_TEST_SECRET_KEY` and `S3KV_TEST_REGION`, under `root`.
#[cfg(feature = "s3")]
pub(crate) fn s3_settings_from_env(root: &str) -> Option<s3kv_store::S3Settings> {
    s3_settings(S3Server::Main, root)
}

/// S3 settings of one server from its variables (`S3KV_TEST_*` or `S3KV_TEST_GARAGE_*`), under
/// `root`; `None` when the endpoint is unset, unless `S3KV_REQUIRE_S3` or
/// `S3KV_REQUIRE_GARAGE` says a server was started for this run, which makes it a failure.
///
/// Explicit keys are always given (placeholders by default, which servers without signature
/// checks accept), so a test never falls back to ambient AWS credentials or instance metadata.
#[cfg(feature = "s3")]
pub(crate) fn s3_settings(server: S3Server, root: &str) -> Option<s3kv_store::S3Settings> {
    let (prefix, require) = match server {
        S3Server::Main => ("S3KV_TEST_", "S3KV_REQUIRE_S3"),
        S3Server::Garage => ("S3KV_TEST_GARAGE_", "S3KV_REQUIRE_GARAGE"),
    };
    let var = |name: &str| std::env::var(format!("{prefix}{name}")).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("ENDPOINT") else {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {prefix}ENDPOINT is not"
        );
        eprintln!("{prefix}ENDPOINT is not set: skipping the S3 case");
        return None;
    };
    let mut settings =
        s3kv_store::S3Settings::new(var("BUCKET").unwrap_or_else(|| "s3kv-test".into()));
    settings.endpoint = Some(endpoint);
    settings.region = var("REGION");
    settings.access_key = Some(var("ACCESS_KEY").unwrap_or_else(|| "s3kv-test".into()));
    settings.secret_key = Some(var("SECRET_KEY").unwrap_or_else(|| "s3kv-test-secret".into()));
    root.clone_into(&mut settings.root);
    Some(settings)
}

#[cfg(feature = "s3")]
/// A name no other test run picks: time, process and a counter, hashed with a random key.
pub(crate) fn unique_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::SystemTime;

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

/// The error kind of a result, or `None` when it succeeded.
pub(crate) fn kind_of<T>(result: Result<T, s3kv_store::Error>) -> Option<ErrorKind> {
    result.err().map(|e| e.kind())
}

/// Every path listed under `prefix`, checking that none repeats.
pub(crate) async fn listed(backend: &dyn Backend, prefix: &str) -> BTreeSet<String> {
    let entries: Vec<_> = backend.list(prefix).try_collect().await.expect("listing succeeds");
    let paths: BTreeSet<String> = entries.iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths.len(), entries.len(), "a listing under {prefix:?} repeated a path");
    paths
}

/// A set of owned paths from string literals.
pub(crate) fn paths(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|&p| p.to_owned()).collect()
}

/// A command that runs the test `test` (`module::name`) of this same test binary alone in a
/// child process, its output not captured: for cases that need an environment or a process of
/// their own.
pub(crate) fn child_test(test: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
    command.args(["--exact", test, "--nocapture", "--test-threads", "1"]);
    command
}

/// Gives up on writes of `value` to `path` (whole, or `streamed`) at fractions of the time a
/// write takes, writes a small value right after each, as a caller that caught Ctrl-C and went
/// on would, and checks that no given-up write lands later, over it. Returns how many writes
/// were given up on.
pub(crate) async fn given_up_writes_never_land_later(
    backend: &dyn Backend,
    path: &str,
    value: &bytes::Bytes,
    streamed: bool,
) -> usize {
    use std::time::{Duration, Instant};

    use futures::StreamExt;
    use s3kv_store::PutMode;

    let write = || {
        if streamed {
            let pieces: Vec<_> =
                value.chunks(1024 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
            backend.put_stream(path, futures::stream::iter(pieces).boxed(), PutMode::Overwrite)
        } else {
            backend.put(path, value.clone(), PutMode::Overwrite)
        }
    };
    let started = Instant::now();
    write().await.expect("a whole write");
    let whole = started.elapsed();

    let mut given_up = 0;
    for tenth in 1..=9 {
        let limit = whole * tenth / 10;
        if tokio::time::timeout(limit, write()).await.is_ok() {
            continue;
        }
        given_up += 1;
        let after = bytes::Bytes::from(format!("written after giving up at {tenth}/10"));
        backend.put(path, after.clone(), PutMode::Overwrite).await.expect("the write after");
        // Anything still running of the given-up write has had time to land.
        tokio::time::sleep(whole + Duration::from_millis(300)).await;
        let stored = backend.get(path).await.expect("the key has a value").bytes;
        assert!(
            stored == after,
            "a write given up at {tenth}/10 of {whole:?} landed later, over the one after it"
        );
    }
    given_up
}
