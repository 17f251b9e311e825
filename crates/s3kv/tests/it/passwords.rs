//! A password is checked against what a collection already holds before it becomes the
//! collection's password, and a server that ignores create-only writes never splits a new
//! collection between two keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::stream::BoxStream;
use s3kv::store::{
    Capabilities, Entry, Error, ErrorKind as StoreKind, Object, ObjectMeta, PutMode,
};
use s3kv::{Backend, Connection, ErrorKind, PayloadKind};
use serde_json::Map;
use tokio::sync::Barrier;

use crate::backends::{Target, for_each_backend, loader, password};

async fn password_on_plain_values(target: &Target) {
    let connection = target.connect().await;
    let plain = connection.collection("plain", Map::new()).await.expect("opens");
    plain.set("k", PayloadKind::Text, b"v").await.expect("set");

    let other = target.connect().await;
    let error = other.collection("plain", password("oops")).await.expect_err("not encrypted");
    assert_eq!(error.kind(), ErrorKind::WrongPassword, "{error}");
    assert!(error.to_string().contains("without a password"), "{error}");
    // Nothing changed: the values still open without a password.
    let again = other.collection("plain", Map::new()).await.expect("opens");
    assert_eq!(again.get("k").await.expect("get").expect("present").data, b"v");
}

#[tokio::test]
async fn a_password_for_a_collection_of_unencrypted_values_is_refused() {
    for_each_backend!(password_on_plain_values);
}

async fn copied_between_collections(target: &Target) {
    let connection = target.connect().await;
    let first = connection.collection("first", password("pw")).await.expect("opens");
    let second = connection.collection("second", password("pw")).await.expect("opens");
    first.set("k", PayloadKind::Text, b"from first").await.expect("set");
    second.set("k", PayloadKind::Text, b"from second").await.expect("set");
    let backend = connection.backend();
    let copied = backend.get(&format!("{}/{}", hex("first"), hex("k"))).await.expect("stored");
    backend
        .put(&format!("{}/{}", hex("second"), hex("k")), copied.bytes, PutMode::Overwrite)
        .await
        .expect("copied");
    let error = second.get("k").await.expect_err("copied from another collection");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("copied from another collection"), "{error}");
    // Streamed to a writer (a file), the same value reads the same.
    let streamed = second.get_writer("k", &[PayloadKind::Text], Vec::new()).await;
    let Err(error) = streamed else { panic!("copied from another collection") };
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("copied from another collection"), "{error}");
}

#[tokio::test]
async fn a_value_copied_from_another_collection_is_corrupt_not_a_wrong_password() {
    for_each_backend!(copied_between_collections);
}

async fn missing_manifest(target: &Target) {
    let connection = target.connect().await;
    let vault = connection.collection("vault", password("pw")).await.expect("opens");
    vault.set("k", PayloadKind::Text, b"v").await.expect("set");
    let manifest = format!("{}/manifest.s3kv", hex("vault"));
    connection.backend().delete(&manifest).await.expect("manifest deleted");

    let other = target.connect().await;
    let error = other.collection("vault", password("anything")).await.expect_err("no manifest");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("manifest"), "{error}");
    let error = other.backend().head(&manifest).await.expect_err("no new manifest written");
    assert_eq!(error.kind(), StoreKind::NotFound);
}

#[tokio::test]
async fn encrypted_values_without_their_manifest_are_never_given_a_new_key() {
    for_each_backend!(missing_manifest);
}

fn hex(text: &str) -> String {
    hex::encode(text.as_bytes())
}

/// Memory storage that, like some S3-compatible servers, ignores create-only conditions; and
/// holds the first `racers` manifest reads until all of them have read, so that every racer
/// finds no manifest before any of them writes one. With `loses_reads`, it also answers every
/// read as missing, while its `head` and listings tell the truth, as a broken server or proxy
/// may.
#[derive(Debug)]
struct IgnoresConditions {
    inner: Arc<dyn Backend>,
    racers: usize,
    reads: AtomicUsize,
    barrier: Barrier,
    loses_reads: bool,
}

impl IgnoresConditions {
    fn new(inner: Arc<dyn Backend>, racers: usize, loses_reads: bool) -> Self {
        let (reads, barrier) = (AtomicUsize::new(0), Barrier::new(racers));
        Self { inner, racers, reads, barrier, loses_reads }
    }
}

#[async_trait::async_trait]
impl Backend for IgnoresConditions {
    fn describe(&self) -> String {
        "memory that ignores conditions".to_owned()
    }
    fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.inner.capabilities();
        capabilities.conditional_create = false;
        capabilities.compare_and_swap = false;
        capabilities
    }
    async fn check(&self) -> Result<(), Error> {
        self.inner.check().await
    }
    async fn get(&self, path: &str) -> Result<Object, Error> {
        if self.loses_reads {
            return Err(Error::new(StoreKind::NotFound, "get", path, self.describe(), "lost"));
        }
        let result = self.inner.get(path).await;
        if path.ends_with("manifest.s3kv")
            && self.reads.fetch_add(1, Ordering::SeqCst) < self.racers
        {
            self.barrier.wait().await;
        }
        result
    }
    async fn head(&self, path: &str) -> Result<ObjectMeta, Error> {
        self.inner.head(path).await
    }
    async fn put(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error> {
        if mode == PutMode::Overwrite {
            return self.inner.put(path, bytes, mode).await;
        }
        Err(Error::new(StoreKind::Unsupported, "put", path, self.describe(), "conditions ignored"))
    }
    async fn delete(&self, path: &str) -> Result<(), Error> {
        self.inner.delete(path).await
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, Error>> {
        self.inner.list(prefix)
    }
}

#[tokio::test]
async fn apps_opening_a_new_collection_at_once_agree_even_when_conditions_are_ignored() {
    let racers = 2;
    let memory = s3kv::store::memory().expect("memory");
    let backend: Arc<dyn Backend> = Arc::new(IgnoresConditions::new(memory, racers, false));
    let kwargs = serde_json::json!({"mode": "dict"}).as_object().cloned().unwrap_or_default();
    let open = || {
        let loader = loader(kwargs.clone());
        let settings = loader.load().expect("settings");
        Connection::with_backend(loader, settings, Arc::clone(&backend))
    };
    let (first, second) = tokio::join!(open(), open());
    let (first, second) = (first.expect("opens"), second.expect("opens"));
    let (a, b) = tokio::join!(
        first.collection("new", password("pw")),
        second.collection("new", password("pw"))
    );
    let collections = [a.expect("opens"), b.expect("opens")];
    for (index, collection) in collections.iter().enumerate() {
        collection.set(&format!("k{index}"), PayloadKind::Text, b"v").await.expect("set");
    }
    let fresh = open().await.expect("opens");
    let reader = fresh.collection("new", password("pw")).await.expect("opens");
    for index in 0..collections.len() {
        let value = reader.get(&format!("k{index}")).await.expect("readable by every app");
        assert_eq!(value.expect("present").data, b"v");
    }
}

#[tokio::test]
async fn a_giant_object_planted_as_the_manifest_is_refused_without_reading_it() {
    let counting = s3kv::store::Counting::new(s3kv::store::memory().expect("memory"));
    let backend: Arc<dyn Backend> = Arc::new(counting.clone());
    let manifest = format!("{}/manifest.s3kv", hex("vault"));
    let giant = Bytes::from(vec![0x5a; 32 << 20]);
    backend.put(&manifest, giant, PutMode::Overwrite).await.expect("planted");
    let loader = loader(Map::from_iter([("mode".to_owned(), "dict".into())]));
    let settings = loader.load().expect("settings");
    let connection = Connection::with_backend(loader, settings, backend).await.expect("opens");
    let error = connection.collection("vault", password("pw")).await.expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.to_string().contains("manifest"), "{error}");
    let read = counting.counts().bytes_read;
    assert!(read <= 64 * 1024 + 1, "read {read} bytes of a planted manifest");
}

#[tokio::test]
async fn a_server_that_loses_reads_never_gets_a_manifest_written_over_the_real_one() {
    let memory = s3kv::store::memory().expect("memory");
    let lossy: Arc<dyn Backend> = Arc::new(IgnoresConditions::new(Arc::clone(&memory), 1, true));
    let open = |backend: Arc<dyn Backend>| async move {
        let loader = loader(Map::from_iter([("mode".to_owned(), "dict".into())]));
        let settings = loader.load().expect("settings");
        Connection::with_backend(loader, settings, backend).await.expect("opens")
    };
    // A collection with values, and one whose manifest is all it holds yet.
    let honest = open(Arc::clone(&memory)).await;
    let filled = honest.collection("filled", password("pw")).await.expect("opens");
    filled.set("k", PayloadKind::Text, b"precious").await.expect("set");
    honest.collection("empty", password("pw")).await.expect("opens");
    let manifests = ["filled", "empty"].map(|name| format!("{}/manifest.s3kv", hex(name)));
    let mut before = Vec::new();
    for path in &manifests {
        before.push(memory.get(path).await.expect("a manifest").bytes);
    }

    let broken = open(lossy).await;
    for (name, said) in [("filled", "lists values"), ("empty", "manifest.s3kv) exists")] {
        let error = broken.collection(name, password("pw")).await.expect_err("nothing to trust");
        assert_eq!(error.kind(), ErrorKind::Backend, "{name}: {error}");
        assert!(error.to_string().contains(said), "{name}: {error}");
    }

    for (path, before) in manifests.iter().zip(before) {
        assert_eq!(memory.get(path).await.expect("still there").bytes, before, "{path}");
    }
    let filled = honest.collection("filled", password("pw")).await.expect("opens");
    let value = filled.get("k").await.expect("readable").expect("present");
    assert_eq!(value.data, b"precious");
}
