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
#[cfg_attr(
    not(feature = "s3"),
    expect(clippy::unnecessary_wraps, reason = "only the s3 fixture can be missing")
)]
pub(crate) fn open(name: &str) -> Option<Fixture> {
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
        "s3" => {
            let settings = s3_settings_from_env(&format!("s3kv-it/{}", unique_name()))?;
            let backend = s3kv_store::s3(settings).expect("s3 backend opens");
            Some(Fixture::new(backend))
        }
        other => panic!("no fixture for backend {other}"),
    }
}

/// S3 settings from `S3KV_TEST_ENDPOINT`, `S3KV_TEST_BUCKET` (default `s3kv-test`),
/// `S3KV_TEST_ACCESS_KEY`, `S3KV_TEST_SECRET_KEY` and `S3KV_TEST_REGION`, under `root`.
///
/// Explicit keys are always given (placeholders by default, which servers without signature
/// checks accept), so a test never falls back to ambient AWS credentials or instance metadata.
#[cfg(feature = "s3")]
pub(crate) fn s3_settings_from_env(root: &str) -> Option<s3kv_store::S3Settings> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("S3KV_TEST_ENDPOINT") else {
        eprintln!("S3KV_TEST_ENDPOINT is not set: skipping the S3 case");
        return None;
    };
    let mut settings =
        s3kv_store::S3Settings::new(var("S3KV_TEST_BUCKET").unwrap_or_else(|| "s3kv-test".into()));
    settings.endpoint = Some(endpoint);
    settings.region = var("S3KV_TEST_REGION");
    settings.access_key = Some(var("S3KV_TEST_ACCESS_KEY").unwrap_or_else(|| "s3kv-test".into()));
    settings.secret_key =
        Some(var("S3KV_TEST_SECRET_KEY").unwrap_or_else(|| "s3kv-test-secret".into()));
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
