//! The read cache, proved by counting the requests that reach the backend: a fresh read makes
//! none, a revalidated unchanged read transfers no body, writes and deletes of this process
//! are seen at once, and another connection's writes after the ttl or a revalidated read.

use std::sync::Arc;
use std::time::Duration;

use s3kv::store::{Counting, Counts};
use s3kv::{Backend, Connection, PayloadKind};
use serde_json::{Map, Value, json};

use crate::backends::{loader, s3_kwargs};

/// What the counting wrapper of a connection has seen so far.
struct Counter(Counting);

impl Counter {
    fn now(&self) -> Counts {
        self.0.counts()
    }

    fn reads(&self) -> u64 {
        self.now().reads()
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A connection through a counting wrapper around `backend`, with `kwargs`.
async fn counted(kwargs: &Map<String, Value>, backend: Arc<dyn Backend>) -> (Connection, Counter) {
    let counting = Counting::new(backend);
    let wrapped: Arc<dyn Backend> = Arc::new(counting.clone());
    let loader = loader(kwargs.clone());
    let settings = loader.load().expect("settings");
    let connection = Connection::with_backend(loader, settings, wrapped).await.expect("opens");
    (connection, Counter(counting))
}

/// A backend's name, connection kwargs, and two clients of the same data.
type Shared = (&'static str, Map<String, Value>, Arc<dyn Backend>, Arc<dyn Backend>);

/// The backends a cache test shares between two connections: memory always, S3 when
/// configured (two independent clients of one bucket, as two app replicas are).
fn shared_backends() -> Vec<Shared> {
    let memory = s3kv::store::memory().expect("memory");
    let mut found: Vec<Shared> =
        vec![("memory", object(json!({"mode": "dict"})), Arc::clone(&memory), memory)];
    if let Some(kwargs) = s3_kwargs() {
        let open = || {
            let loader = loader(kwargs.clone());
            let settings = loader.load().expect("settings");
            let mut s3 = s3kv::store::S3Settings::new(settings.bucket.clone().unwrap_or_default());
            s3.endpoint.clone_from(&settings.endpoint);
            s3.region.clone_from(&settings.region);
            s3.access_key.clone_from(&settings.access_key);
            s3.secret_key = settings.secret_key.as_ref().map(|secret| secret.expose().to_owned());
            s3.root.clone_from(&settings.prefix);
            s3kv::store::s3(s3).expect("s3 backend")
        };
        found.push(("s3", kwargs.clone(), open(), open()));
    }
    found
}

fn with(kwargs: &Map<String, Value>, extra: Value) -> Map<String, Value> {
    let mut merged = kwargs.clone();
    merged.extend(object(extra));
    merged
}

#[tokio::test]
async fn fresh_reads_make_no_request_and_stale_ones_transfer_nothing_unchanged() {
    for (name, kwargs, backend, _) in shared_backends() {
        eprintln!("backend: {name}");
        let value = vec![42_u8; 100_000];
        let (connection, counts) = counted(&with(&kwargs, json!({"ttl": "1h"})), backend).await;
        let collection = connection.collection("cached", Map::new()).await.expect("opens");
        collection.set("k", PayloadKind::Bytes, &value).await.expect("set");
        // Opening a collection reads its manifest, if any; only value reads count below.
        let opened = counts.reads();

        // Written through: the first read is already served from memory.
        for _ in 0..50 {
            let read = collection.get("k").await.expect("get").expect("a value");
            assert!(read.data == value);
        }
        assert_eq!(counts.reads(), opened, "fresh reads reached the backend");
        let stats = collection.cache_stats().expect("a cache");
        assert_eq!(stats.hits, 50);

        // A revalidated read of an unchanged value: one conditional request, no body.
        let read = collection.get_revalidated("k").await.expect("get").expect("a value");
        assert!(read.data == value);
        assert_eq!(counts.now().conditional_gets, 1);
        assert_eq!(counts.reads(), opened + 1);
        assert_eq!(counts.now().not_modified, 1);
        assert_eq!(counts.now().bytes_read, 0, "an unchanged value was transferred");
        assert_eq!(collection.cache_stats().expect("a cache").revalidations, 1);

        // Opening the collection again (as a Streamlit script does on every run) keeps the
        // cache.
        let again = connection.collection("cached", Map::new()).await.expect("opens");
        let reads = counts.reads();
        assert!(again.get("k").await.expect("get").is_some());
        assert_eq!(counts.reads(), reads);

        // Listing is never served from the cache.
        let lists = counts.now().lists;
        assert_eq!(collection.keys().await.expect("keys"), ["k"]);
        assert!(counts.now().lists > lists);
    }
}

#[tokio::test]
async fn another_connections_write_shows_after_the_ttl_or_on_revalidation() {
    for (name, kwargs, first, second) in shared_backends() {
        eprintln!("backend: {name}");
        let ttl = with(&kwargs, json!({"ttl": 0.3}));
        let (reader, counts) = counted(&ttl, first).await;
        let (writer, _) = counted(&kwargs, second).await;
        let mine = reader.collection("shared", Map::new()).await.expect("opens");
        let theirs = writer.collection("shared", Map::new()).await.expect("opens");

        theirs.set("k", PayloadKind::Text, b"one").await.expect("set");
        assert_eq!(mine.get("k").await.expect("get").expect("a value").data, b"one");
        theirs.set("k", PayloadKind::Text, b"two").await.expect("set");
        // Within the ttl the cached value is served, with no request.
        let before = counts.reads();
        assert_eq!(mine.get("k").await.expect("get").expect("a value").data, b"one");
        assert_eq!(counts.reads(), before);
        // A revalidated read sees the write at once.
        assert_eq!(mine.get_revalidated("k").await.expect("get").expect("a value").data, b"two");

        theirs.set("k", PayloadKind::Text, b"three").await.expect("set");
        tokio::time::sleep(Duration::from_millis(400)).await;
        // After the ttl, a plain read revalidates and sees it.
        assert_eq!(mine.get("k").await.expect("get").expect("a value").data, b"three");

        // Their delete shows after the ttl too.
        theirs.delete("k").await.expect("delete");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(mine.get("k").await.expect("get"), None);
    }
}

#[tokio::test]
async fn ttl_zero_revalidates_every_read_and_unset_caches_nothing() {
    let memory = s3kv::store::memory().expect("memory");
    let (connection, counts) =
        counted(&object(json!({"mode": "dict", "ttl": 0})), Arc::clone(&memory)).await;
    let collection = connection.collection("always", Map::new()).await.expect("opens");
    collection.set("k", PayloadKind::Bytes, &[7; 5000]).await.expect("set");
    for _ in 0..10 {
        assert!(collection.get("k").await.expect("get").is_some());
    }
    assert_eq!(counts.now().conditional_gets, 10);
    assert_eq!(counts.now().not_modified, 10);
    assert_eq!(counts.now().bytes_read, 0);

    let (plain, counts) = counted(&object(json!({"mode": "dict"})), memory).await;
    let collection = plain.collection("always", Map::new()).await.expect("opens");
    assert!(collection.cache_stats().is_none());
    let opened = counts.now().gets;
    for _ in 0..3 {
        assert!(collection.get("k").await.expect("get").is_some());
    }
    assert_eq!(counts.now().gets, opened + 3, "without a ttl every read is a read");
}

#[tokio::test]
async fn this_processs_writes_and_deletes_are_seen_at_once() {
    let memory = s3kv::store::memory().expect("memory");
    let (connection, counts) = counted(&object(json!({"mode": "dict", "ttl": "1h"})), memory).await;
    let collection = connection.collection("mine", Map::new()).await.expect("opens");
    collection.set("k", PayloadKind::Text, b"one").await.expect("set");
    assert_eq!(collection.get("k").await.expect("get").expect("a value").data, b"one");
    collection.set("k", PayloadKind::Text, b"two").await.expect("set");
    assert_eq!(collection.get("k").await.expect("get").expect("a value").data, b"two");
    assert!(collection.delete("k").await.expect("delete"));
    assert_eq!(collection.get("k").await.expect("get"), None);

    collection
        .set_many(&[("a", PayloadKind::Text, b"1"), ("b", PayloadKind::Text, b"2")])
        .await
        .expect("set_many");
    let reads = counts.reads();
    let values = collection.get_many(&["a", "b"]).await.expect("get_many");
    assert_eq!(values.iter().flatten().count(), 2);
    assert_eq!(counts.reads(), reads, "batch writes are written through");
    assert_eq!(collection.delete_many(&["a", "b"]).await.expect("delete_many"), 2);
    assert!(collection.get_many(&["a", "b"]).await.expect("get_many").iter().all(Option::is_none));

    // A value too large for the cache is read from the backend, never an older cached one.
    collection.set("big", PayloadKind::Bytes, b"small").await.expect("set");
    let big = vec![1_u8; 40 << 20];
    collection.set("big", PayloadKind::Bytes, &big).await.expect("set");
    assert!(collection.get("big").await.expect("get").expect("a value").data == big);
    assert!(collection.cache_stats().expect("a cache").bypassed >= 1);

    // A streamed write replaces what was cached.
    collection.set("s", PayloadKind::Bytes, b"old").await.expect("set");
    collection
        .set_reader("s", PayloadKind::Bytes, std::io::Cursor::new(b"new".to_vec()), None)
        .await
        .expect("set_reader");
    assert_eq!(collection.get("s").await.expect("get").expect("a value").data, b"new");
}

#[tokio::test]
async fn a_cache_size_out_of_range_is_a_config_error() {
    let loader = loader(object(json!({"mode": "dict", "ttl": 5, "cache_size": "10KB"})));
    let error = loader.load().expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("cache_size") && message.contains("1MiB"), "{message}");
}

#[tokio::test]
async fn values_over_cache_max_value_are_read_every_time() {
    let memory = s3kv::store::memory().expect("memory");
    let kwargs = object(json!({"mode": "dict", "ttl": "1h", "cache_max_value": "4KB"}));
    let (connection, counts) = counted(&kwargs, memory).await;
    let collection = connection.collection("sized", Map::new()).await.expect("opens");
    collection.set("small", PayloadKind::Bytes, &[1; 1000]).await.expect("set");
    collection.set("large", PayloadKind::Bytes, &[2; 5000]).await.expect("set");
    let before = counts.reads();
    for _ in 0..3 {
        assert!(collection.get("small").await.expect("get").is_some());
        assert!(collection.get("large").await.expect("get").is_some());
    }
    assert_eq!(counts.reads(), before + 3, "only the large value is read from the backend");
    assert!(collection.cache_stats().expect("a cache").bypassed >= 3);

    let too_big = object(
        json!({"mode": "dict", "ttl": "1h", "cache_size": "2MiB", "cache_max_value": "3MiB"}),
    );
    let (connection, _) = counted(&too_big, s3kv::store::memory().expect("memory")).await;
    let error = connection.collection("sized", Map::new()).await.expect_err("refused");
    assert_eq!(error.kind(), s3kv::ErrorKind::Config, "{error}");
    assert!(error.to_string().contains("cache_max_value"), "{error}");
}
