//! What a collection promises on every backend: values round trip, passwords are checked when
//! the collection opens, bad keys are refused before anything is sent, and stored values are
//! authenticated.

use s3kv::{ErrorKind, PayloadKind};
use serde_json::Map;

use crate::backends::{Target, for_each_backend, password};

async fn round_trip(target: &Target, options: Map<String, serde_json::Value>) {
    let connection = target.connect().await;
    let collection = connection.collection("examples", options).await.expect("opens");
    assert_eq!(collection.len().await.expect("len"), 0);
    assert_eq!(collection.get("k").await.expect("get"), None);

    collection.set("k", PayloadKind::Text, "héllo".as_bytes()).await.expect("set");
    collection.set("bytes", PayloadKind::Bytes, &[0, 1, 2, 255]).await.expect("set");
    collection.set("empty", PayloadKind::Bytes, &[]).await.expect("set");
    let big: Vec<u8> = (0..3_000_000_u32).map(|i| (i % 251).to_le_bytes()[0]).collect();
    collection.set("big", PayloadKind::Cbor, &big).await.expect("set big");

    let value = collection.get("k").await.expect("get").expect("present");
    assert_eq!((value.kind, value.data.as_slice()), (PayloadKind::Text, "héllo".as_bytes()));
    assert_eq!(collection.get("bytes").await.expect("get").expect("present").data, [0, 1, 2, 255]);
    assert_eq!(collection.get("empty").await.expect("get").expect("present").data, b"");
    let read = collection.get("big").await.expect("get").expect("present");
    assert_eq!((read.kind, read.data == big), (PayloadKind::Cbor, true));

    assert!(collection.contains("k").await.expect("contains"));
    assert_eq!(collection.keys().await.expect("keys"), ["big", "bytes", "empty", "k"]);
    assert_eq!(collection.len().await.expect("len"), 4);

    assert!(collection.delete("k").await.expect("delete"));
    assert!(!collection.delete("k").await.expect("delete again"));
    assert!(!collection.contains("k").await.expect("contains"));
    assert_eq!(collection.get("k").await.expect("get"), None);
    assert_eq!(collection.len().await.expect("len"), 3);
}

#[tokio::test]
async fn values_round_trip_without_password() {
    for_each_backend!(|target| round_trip(target, Map::new()));
}

#[tokio::test]
async fn values_round_trip_with_password() {
    for_each_backend!(|target| round_trip(target, password("secret")));
}

async fn odd_keys(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("odd keys ü/..", Map::new()).await.expect("opens");
    let keys = ["a/b", "a//b", "/lead", "trail/", "..", "+%?=# &", "ünï 🎈", "manifest.s3kv"];
    for key in keys {
        collection.set(key, PayloadKind::Text, key.as_bytes()).await.expect("set");
    }
    for key in keys {
        let value = collection.get(key).await.expect("get").expect("present");
        assert_eq!(value.data, key.as_bytes(), "key {key:?}");
    }
    let mut expected: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
    expected.sort_unstable();
    assert_eq!(collection.keys().await.expect("keys"), expected);
}

#[tokio::test]
async fn odd_keys_round_trip_and_never_clash_with_the_manifest() {
    for_each_backend!(odd_keys);
}

async fn wrong_password(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("vault", password("right")).await.expect("opens");
    collection.set("k", PayloadKind::Text, b"v").await.expect("set");

    let other = target.connect().await;
    let error = other.collection("vault", password("wrong")).await.expect_err("wrong password");
    assert_eq!(error.kind(), ErrorKind::WrongPassword, "{error}");
    assert!(error.to_string().contains("wrong password"), "{error}");

    let error = other.collection("vault", Map::new()).await.expect_err("needs a password");
    assert_eq!(error.kind(), ErrorKind::WrongPassword, "{error}");
    assert!(error.to_string().contains("password"), "{error}");

    let again = other.collection("vault", password("right")).await.expect("reopens");
    assert_eq!(again.get("k").await.expect("get").expect("present").data, b"v");
}

#[tokio::test]
async fn wrong_password_is_reported_when_the_collection_opens() {
    for_each_backend!(wrong_password);
}

async fn salt_is_mixed_in(target: &Target) {
    let connection = target.connect().await;
    let mut salted = password("pw");
    salted.insert("salt".into(), "crypto-salt".into());
    let collection = connection.collection("salted", salted.clone()).await.expect("opens");
    collection.set("k", PayloadKind::Text, b"v").await.expect("set");

    let other = target.connect().await;
    let error = other.collection("salted", password("pw")).await.expect_err("salt missing");
    assert_eq!(error.kind(), ErrorKind::WrongPassword);
    let again = other.collection("salted", salted).await.expect("opens with salt");
    assert_eq!(again.get("k").await.expect("get").expect("present").data, b"v");
}

#[tokio::test]
async fn a_salt_is_any_string_and_is_needed_to_open() {
    for_each_backend!(salt_is_mixed_in);
}

async fn bad_keys(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("limits", Map::new()).await.expect("opens");
    let limit = collection.max_key_bytes();
    let error = collection
        .set(&"k".repeat(limit + 1), PayloadKind::Text, b"v")
        .await
        .expect_err("too long");
    assert_eq!(error.kind(), ErrorKind::InvalidKey);
    assert!(error.to_string().contains(&format!("at most {limit} bytes")), "{error}");
    let error = collection.set("", PayloadKind::Text, b"v").await.expect_err("empty");
    assert_eq!(error.kind(), ErrorKind::InvalidKey);
    assert!(collection.keys().await.expect("keys").is_empty(), "nothing was written");

    collection.set(&"k".repeat(limit), PayloadKind::Text, b"v").await.expect("longest key");
    assert_eq!(collection.len().await.expect("len"), 1);
}

#[tokio::test]
async fn keys_too_long_for_the_backend_are_refused_with_the_limit() {
    for_each_backend!(bad_keys);
}

#[tokio::test]
async fn a_value_moved_to_another_key_is_reported_corrupt() {
    let backend = s3kv::store::memory().expect("memory");
    let kwargs = serde_json::json!({"mode": "dict"}).as_object().cloned().unwrap_or_default();
    let loader = crate::backends::loader(kwargs);
    let settings = loader.load().expect("settings");
    let connection =
        s3kv::Connection::with_backend(loader, settings, backend.clone()).await.expect("opens");
    let collection = connection.collection("c", password("pw")).await.expect("opens");
    collection.set("a", PayloadKind::Text, b"for a").await.expect("set");

    let stored = backend.get(&format!("{}/{}", hex("c"), hex("a"))).await.expect("stored");
    let moved = format!("{}/{}", hex("c"), hex("b"));
    backend.put(&moved, stored.bytes, s3kv::store::PutMode::Overwrite).await.expect("copied");
    let error = collection.get("b").await.expect_err("moved value");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert_eq!(error.context().key.as_deref(), Some("b"));

    let plain = connection.collection("plain", Map::new()).await.expect("opens");
    plain.set("a", PayloadKind::Pickle, b"planted").await.expect("set");
    let planted = backend.get(&format!("{}/{}", hex("plain"), hex("a"))).await.expect("stored");
    backend
        .put(&format!("{}/{}", hex("c"), hex("p")), planted.bytes, s3kv::store::PutMode::Overwrite)
        .await
        .expect("planted");
    let error = collection.get("p").await.expect_err("unencrypted value in encrypted collection");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
}

fn hex(text: &str) -> String {
    hex::encode(text.as_bytes())
}

#[tokio::test]
async fn two_connections_opening_a_new_collection_agree_on_one_key() {
    let backend = s3kv::store::memory().expect("memory");
    let kwargs = serde_json::json!({"mode": "dict"}).as_object().cloned().unwrap_or_default();
    let loader = crate::backends::loader(kwargs);
    let settings = loader.load().expect("settings");
    let first = s3kv::Connection::with_backend(loader.clone(), settings.clone(), backend.clone());
    let second = s3kv::Connection::with_backend(loader, settings, backend);
    let (first, second) = tokio::join!(first, second);
    let (first, second) = (first.expect("opens"), second.expect("opens"));
    let (a, b) = tokio::join!(
        first.collection("new", password("pw")),
        second.collection("new", password("pw"))
    );
    let (a, b) = (a.expect("opens"), b.expect("opens"));
    a.set("k", PayloadKind::Text, b"from a").await.expect("set");
    assert_eq!(b.get("k").await.expect("get").expect("present").data, b"from a");
}
