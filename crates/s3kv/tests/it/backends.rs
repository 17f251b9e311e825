//! Builds a connection to each backend the suite runs against.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use s3kv::{Backend, Connection, Loader};
use serde_json::{Map, Value, json};

/// One backend to run the suite against, and what keeps it alive.
pub(crate) struct Target {
    pub(crate) name: &'static str,
    /// Connection kwargs that reach the backend; every call opens a connection to the same data.
    pub(crate) kwargs: Map<String, Value>,
    /// The one memory store every connection to the memory target shares.
    memory: Option<Arc<dyn Backend>>,
    /// Keeps a temporary folder alive for the local target.
    _folder: Option<tempfile::TempDir>,
}

impl Target {
    /// A new connection to this target's data; every connection sees the same data.
    pub(crate) async fn connect(&self) -> Connection {
        self.connect_with(Map::new()).await
    }

    /// A new connection to this target's data with `extra` connection parameters.
    pub(crate) async fn connect_with(&self, extra: Map<String, Value>) -> Connection {
        let mut kwargs = self.kwargs.clone();
        kwargs.extend(extra);
        let loader = loader(kwargs);
        match &self.memory {
            // Each `mode: dict` connection has a memory of its own; share one instead.
            Some(memory) => {
                let settings = loader.load().expect("settings");
                Connection::with_backend(loader, settings, Arc::clone(memory)).await
            }
            None => Connection::open(loader).await,
        }
        .expect("connection opens")
    }
}

/// A loader that sees only `kwargs`: no environment, no secrets files.
pub(crate) fn loader(kwargs: Map<String, Value>) -> Loader {
    Loader::new(Some("s3kv_test")).kwargs(kwargs).env(Vec::new()).secrets_files(Vec::new())
}

fn object(value: Value) -> Map<String, Value> {
    let Value::Object(map) = value else { panic!("a JSON object") };
    map
}

/// A prefix no other test uses, so tests on one bucket never see each other's keys.
fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("it-{nanos}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Every backend available here: memory and a folder always, S3 when configured.
pub(crate) fn targets() -> Vec<Target> {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().to_string_lossy().into_owned();
    let mut targets = vec![
        Target {
            name: "memory",
            kwargs: object(json!({"mode": "dict"})),
            memory: Some(s3kv::store::memory().expect("memory")),
            _folder: None,
        },
        Target {
            name: "fs",
            kwargs: object(json!({"mode": "local", "path": path})),
            memory: None,
            _folder: Some(folder),
        },
    ];
    if let Some(kwargs) = s3_kwargs() {
        targets.push(Target { name: "s3", kwargs, memory: None, _folder: None });
    }
    targets
}

/// Connection kwargs for the S3 server named by `S3KV_TEST_*`, under a fresh prefix.
pub(crate) fn s3_kwargs() -> Option<Map<String, Value>> {
    let endpoint = std::env::var("S3KV_TEST_ENDPOINT").ok()?;
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    Some(object(json!({
        "mode": "s3",
        "endpoint": endpoint,
        "bucket": var("S3KV_TEST_BUCKET", "s3kv-test"),
        "access_key": var("S3KV_TEST_ACCESS_KEY", "s3kv-test-access"),
        "secret_key": var("S3KV_TEST_SECRET_KEY", "s3kv-test-secret-key"),
        "region": var("S3KV_TEST_REGION", "us-east-1"),
        "prefix": unique_prefix(),
    })))
}

/// Collection options with a password.
pub(crate) fn password(password: &str) -> Map<String, Value> {
    object(json!({ "password": password }))
}

/// Runs `test` against every target, naming the target when it fails.
macro_rules! for_each_backend {
    ($test:expr) => {{
        for target in $crate::backends::targets() {
            eprintln!("backend: {}", target.name);
            $test(&target).await;
        }
    }};
}
pub(crate) use for_each_backend;
