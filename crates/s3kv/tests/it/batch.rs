//! Batch calls, prefix listing, conditional creation and value information, on every backend.

use s3kv::{CompressionAlgorithm, ErrorKind, PayloadKind};
use serde_json::{Map, json};

use crate::backends::{Target, for_each_backend, password};

async fn batches(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("batches", password("pw")).await.expect("opens");
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    let items: Vec<(&str, PayloadKind, &[u8])> =
        keys.iter().map(|key| (key.as_str(), PayloadKind::Text, key.as_bytes())).collect();
    collection.set_many(&items).await.expect("set_many");
    assert_eq!(collection.len().await.expect("len"), 40);

    let wanted = ["k07", "missing", "k00", "k39"];
    let values = collection.get_many(&wanted).await.expect("get_many");
    let data: Vec<Option<Vec<u8>>> =
        values.into_iter().map(|value| value.map(|value| value.data)).collect();
    assert_eq!(data, [Some(b"k07".to_vec()), None, Some(b"k00".to_vec()), Some(b"k39".to_vec())]);

    let deleted = collection.delete_many(&["k00", "k01", "missing"]).await.expect("delete_many");
    assert_eq!(deleted, 2);
    assert_eq!(collection.len().await.expect("len"), 38);
    assert_eq!(collection.get("k00").await.expect("get"), None);
}

#[tokio::test]
async fn batch_calls_read_write_and_delete_in_order() {
    for_each_backend!(batches);
}

async fn prefixes(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("prefixes", Map::new()).await.expect("opens");
    for key in ["img/a.png", "img/b.png", "imgs", "doc/x", "ü/1", "ü2"] {
        collection.set(key, PayloadKind::Bytes, b"x").await.expect("set");
    }
    assert_eq!(
        collection.keys_with_prefix("img/").await.expect("keys"),
        ["img/a.png", "img/b.png"]
    );
    assert_eq!(
        collection.keys_with_prefix("img").await.expect("keys"),
        ["img/a.png", "img/b.png", "imgs"]
    );
    assert_eq!(collection.keys_with_prefix("ü").await.expect("keys"), ["ü/1", "ü2"]);
    assert!(collection.keys_with_prefix("none").await.expect("keys").is_empty());
    assert_eq!(collection.keys_with_prefix("").await.expect("keys").len(), 6);

    let listed = collection.list("doc").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "doc/x");
    assert!(listed[0].size > 1, "the stored size includes the header");
}

#[tokio::test]
async fn keys_with_a_prefix_are_exactly_the_keys_that_start_with_it() {
    for_each_backend!(prefixes);
}

async fn if_absent(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("if absent", password("pw")).await.expect("opens");
    let conditional = connection.backend().capabilities().conditional_create;
    let first = collection.set_if_absent("k", PayloadKind::Text, b"first").await;
    if !conditional {
        let error = first.expect_err("unsupported");
        assert_eq!(error.kind(), ErrorKind::Unsupported, "{error}");
        assert!(error.to_string().contains("conditional writes"), "{error}");
        return;
    }
    assert!(first.expect("first write"));
    let second = collection.set_if_absent("k", PayloadKind::Text, b"second").await;
    assert!(!second.expect("second write is refused"));
    let value = collection.get("k").await.expect("get").expect("present");
    assert_eq!(value.data, b"first");
}

#[tokio::test]
async fn set_if_absent_writes_once_or_says_it_cannot() {
    for_each_backend!(if_absent);
}

async fn info(target: &Target) {
    let connection = target.connect().await;
    let plain = connection.collection("info", Map::new()).await.expect("opens");
    let text = "abc".repeat(100_000);
    plain.set("text", PayloadKind::Text, text.as_bytes()).await.expect("set");
    let info = plain.info("text").await.expect("info").expect("present");
    assert_eq!(info.kind, PayloadKind::Text);
    assert_eq!(info.plain_size, Some(300_000));
    assert!(info.stored_size < 300_000, "repetitive text compresses: {}", info.stored_size);
    assert_eq!(info.compression, Some(CompressionAlgorithm::Zstd));
    assert!(!info.encrypted && !info.legacy);
    assert_eq!(plain.info("missing").await.expect("info"), None);

    let secret = connection.collection("info secret", password("pw")).await.expect("opens");
    secret.set("bytes", PayloadKind::Bytes, &[7; 10]).await.expect("set");
    let info = secret.info("bytes").await.expect("info").expect("present");
    assert_eq!((info.kind, info.plain_size, info.encrypted), (PayloadKind::Bytes, Some(10), true));
    if target.name == "s3" {
        assert!(info.etag.is_some(), "S3 reports an entity tag");
        assert!(info.last_modified.is_some(), "S3 reports a modification time");
    }
}

#[tokio::test]
async fn info_reports_the_header_and_metadata_without_decoding() {
    for_each_backend!(info);
}

async fn pickles(target: &Target) {
    let connection = target.connect().await;
    let on_s3 = target.name == "s3";
    let value = s3kv::Value { kind: PayloadKind::Pickle, data: Vec::new(), legacy: false };
    let legacy = s3kv::Value { legacy: true, ..value.clone() };

    let plain = connection.collection("pickles", Map::new()).await.expect("opens");
    assert_eq!(plain.pickle_allowed(&value), !on_s3);
    let secret = connection.collection("pickles secret", password("pw")).await.expect("opens");
    assert!(secret.pickle_allowed(&value));
    assert_eq!(secret.pickle_allowed(&legacy), !on_s3, "legacy encryption is unauthenticated");
    let mut options = Map::new();
    options.insert("allow_pickle".into(), json!(true));
    let allowed = connection.collection("pickles", options).await.expect("opens");
    assert!(allowed.pickle_allowed(&value) && allowed.pickle_allowed(&legacy));

    // A read refuses what may not be unpickled, whether read whole, streamed or in a batch.
    let big = vec![7_u8; 9 << 20];
    for (key, data) in [("small", &b"pickle"[..]), ("big", &big[..])] {
        plain.set(key, PayloadKind::Pickle, data).await.expect("any value may be written");
        match plain.get(key).await {
            Ok(read) if !on_s3 => assert_eq!(read.expect("present").data, data),
            Ok(read) => panic!("{key}: an unauthenticated pickle on S3 was read: {read:?}"),
            Err(error) => {
                assert!(on_s3, "{key}: {error}");
                assert_eq!(error.kind(), ErrorKind::Unsupported, "{key}: {error}");
                assert!(error.to_string().contains("allow_pickle=True"), "{key}: {error}");
            }
        }
        assert_eq!(plain.get_many(&[key]).await.is_err(), on_s3, "{key} in a batch");
        let read = allowed.get(key).await.expect("allowed").expect("present");
        assert_eq!((read.kind, read.data == data), (PayloadKind::Pickle, true), "{key}");
    }
    // Openings with the same ttl share one read cache: what one that allows pickles read is not
    // handed to one that does not.
    let cached = |allow: bool| {
        let mut options = Map::new();
        options.insert("ttl".into(), json!("10m"));
        options.insert("allow_pickle".into(), json!(allow));
        connection.collection("pickles", options)
    };
    let (trusting, wary) =
        (cached(true).await.expect("opens"), cached(false).await.expect("opens"));
    assert!(trusting.get("small").await.expect("allowed").is_some());
    assert_eq!(wary.get("small").await.is_err(), on_s3, "a cached pickle");

    let mut options = Map::new();
    options.insert("allow_pickle".into(), json!("perhaps"));
    let error = connection.collection("pickles", options).await.expect_err("not a bool");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("expected true or false"), "{error}");
    assert!(error.to_string().contains("allow_pickle"), "{error}");

    // The connection's own setting (from kwargs, secrets or the environment) applies to its
    // collections, and a collection may turn it off again.
    let mut extra = Map::new();
    extra.insert("allow_pickle".into(), json!("true"));
    let trusting = target.connect_with(extra).await;
    let allowed = trusting.collection("pickles", Map::new()).await.expect("opens");
    assert!(allowed.pickle_allowed(&value) && allowed.pickle_allowed(&legacy));
    let mut options = Map::new();
    options.insert("allow_pickle".into(), json!(false));
    let refused = trusting.collection("pickles", options).await.expect("opens");
    assert_eq!(refused.pickle_allowed(&value), !on_s3);
}

#[tokio::test]
async fn unauthenticated_pickles_on_s3_need_allow_pickle() {
    for_each_backend!(pickles);
}

#[tokio::test]
async fn delete_many_is_one_batch_delete_after_the_existence_checks() {
    let counting = s3kv::store::Counting::new(s3kv::store::memory().expect("memory"));
    let backend: std::sync::Arc<dyn s3kv::Backend> = std::sync::Arc::new(counting.clone());
    let loader = crate::backends::loader(Map::from_iter([("mode".to_owned(), json!("dict"))]));
    let settings = loader.load().expect("settings");
    let connection =
        s3kv::Connection::with_backend(loader, settings, backend).await.expect("connection");
    let collection = connection.collection("bulk", Map::new()).await.expect("opens");
    let keys: Vec<String> = (0..300).map(|index| format!("k{index}")).collect();
    let items: Vec<(&str, PayloadKind, &[u8])> =
        keys.iter().map(|key| (key.as_str(), PayloadKind::Text, key.as_bytes())).collect();
    collection.set_many(&items).await.expect("set_many");

    let mut doomed: Vec<&str> = keys.iter().map(String::as_str).collect();
    doomed.extend(["k0", "k1", "never-written"]);
    let before = counting.counts();
    assert_eq!(collection.delete_many(&doomed).await.expect("delete_many"), 300);
    let after = counting.counts();
    assert_eq!(after.deletes - before.deletes, 1, "one batch delete call");
    assert_eq!(collection.len().await.expect("len"), 0);

    let error = collection.delete_many(&["fine", ""]).await.expect_err("an empty key");
    assert_eq!(error.kind(), ErrorKind::InvalidKey, "{error}");
}

async fn increments(target: &Target) {
    let first = target.connect().await;
    let second = target.connect().await;
    let mine = first.collection("counters", password("pw")).await.expect("opens");
    let theirs = second.collection("counters", password("pw")).await.expect("opens");
    let increment = |value: Option<&s3kv::Value>| {
        let count: u64 = value
            .map_or(0, |value| String::from_utf8_lossy(&value.data).parse().expect("a number"));
        Some((PayloadKind::Text, (count + 1).to_string().into_bytes()))
    };
    let run = |collection: s3kv::Collection| async move {
        for _ in 0..40 {
            collection.update("hits", increment).await.expect("update");
        }
    };
    tokio::join!(run(mine.clone()), run(theirs.clone()), run(mine.clone()));
    let stored = mine.get("hits").await.expect("get").expect("a value");
    assert_eq!(stored.data, b"120", "every increment of three writers counts");

    // Declining stores nothing and hands back what is there.
    let left = mine.update("hits", |_| None).await.expect("update");
    assert_eq!(left.map(|value| value.data), Some(b"120".to_vec()));
    assert_eq!(mine.update("absent", |_| None).await.expect("update"), None);
    assert!(!mine.contains("absent").await.expect("contains"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_never_loses_a_concurrent_change() {
    for_each_backend!(increments);
}
