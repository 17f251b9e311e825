//! Values opened with `Collection::open_value`: a large one is decoded straight into the
//! caller's buffer and reads back byte for byte on every backend, with the typed errors a read
//! gave before (corrupt at the damaged chunk, cut short, moved, no password); a small one is
//! read whole with one request.

use std::sync::Arc;

use s3kv::store::{Counting, PutMode};
use s3kv::{Backend, Collection, Connection, ErrorKind, Opened, PayloadKind, Value};
use serde_json::{Map, json};

use crate::backends::{Target, for_each_backend, password};

/// Larger than what a collection without a cache reads whole (8 MiB), with a ragged end.
const LARGE: usize = 9 * 1024 * 1024 + 4321;

/// Deterministic bytes that do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// What `open_value` gives for `key`: the value, decoded into a buffer of the stated length
/// when streamed, and whether it was streamed.
async fn open(collection: &Collection, key: &str) -> s3kv::Result<Option<(Value, bool)>> {
    match collection.open_value(key, false).await? {
        None => Ok(None),
        Some(Opened::Whole(value)) => Ok(Some((value, false))),
        Some(Opened::Stream(reader)) => {
            let kind = reader.kind();
            // Decoding blocks: off the runtime, as a binding calls it.
            let decoded = tokio::task::spawn_blocking(move || {
                let mut buffer = vec![0_u8; reader.len()];
                reader.read_into(&mut buffer).map(|()| buffer)
            })
            .await
            .expect("decoding thread");
            let data = decoded?;
            Ok(Some((Value { kind, data, legacy: false }, true)))
        }
    }
}

async fn large_values(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("large", password("pw")).await.expect("opens");
    let bytes = noise(LARGE);
    collection.set("bytes", PayloadKind::Bytes, &bytes).await.expect("set bytes");
    let text: String = "streamed text, é and 😀 across chunk edges; ".repeat(LARGE / 20);
    collection.set("text", PayloadKind::Text, text.as_bytes()).await.expect("set text");
    collection.set("pickle", PayloadKind::Pickle, &bytes).await.expect("set pickle");
    collection.set("small", PayloadKind::Bytes, b"tiny").await.expect("set small");

    let (read, streamed) = open(&collection, "bytes").await.expect("bytes").expect("present");
    assert!(streamed, "a large incompressible value is streamed");
    assert_eq!(read.kind, PayloadKind::Bytes);
    assert!(read.data == bytes, "streamed bytes differ");

    // Text that compresses far below the bound is still streamed: large once decoded, it
    // goes straight into the caller's buffer rather than into one of its own first.
    let (read, streamed) = open(&collection, "text").await.expect("text").expect("present");
    assert!(streamed, "a value large once decoded is streamed, however small it is stored");
    assert_eq!(read.kind, PayloadKind::Text);
    assert!(read.data == text.as_bytes(), "text differs");

    let (read, streamed) = open(&collection, "pickle").await.expect("pickle").expect("present");
    assert!(streamed);
    assert_eq!(read.kind, PayloadKind::Pickle);
    assert!(read.data == bytes, "pickle payload differs");

    let (read, streamed) = open(&collection, "small").await.expect("small").expect("present");
    assert!(!streamed, "a small value is read whole");
    assert_eq!(read.data, b"tiny");

    assert!(open(&collection, "absent").await.expect("absent").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_value_decodes_into_one_buffer_on_every_backend() {
    for_each_backend!(large_values);
}

/// A connection over `backend` (shared with the test, to damage what is stored), with `extra`
/// parameters.
async fn connect(backend: &Arc<dyn Backend>, extra: serde_json::Value) -> Connection {
    let mut kwargs = json!({"mode": "dict"}).as_object().cloned().unwrap_or_default();
    kwargs.extend(extra.as_object().cloned().unwrap_or_default());
    let loader = crate::backends::loader(kwargs);
    let settings = loader.load().expect("settings");
    Connection::with_backend(loader, settings, Arc::clone(backend)).await.expect("connection")
}

/// The error of `get` and of an opened read of `key`: they must agree.
async fn both_errors(collection: &Collection, key: &str) -> (s3kv::Error, s3kv::Error) {
    let whole = collection.get(key).await.expect_err("a read fails");
    let opened = open(collection, key).await.expect_err("an opened read fails");
    (whole, opened)
}

fn causes(error: &s3kv::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_large_value_is_corrupt_and_a_keyless_read_wrong_password() {
    let backend = s3kv::store::memory().expect("memory");
    let connection = connect(&backend, json!({})).await;
    let collection = connection.collection("vault", password("pw")).await.expect("opens");
    let value = noise(LARGE);
    collection.set("v", PayloadKind::Bytes, &value).await.expect("set");
    let path = format!("{}/{}", hex::encode("vault"), hex::encode("v"));
    let stored = backend.get(&path).await.expect("stored").bytes.to_vec();
    let put = |key: &str, bytes: Vec<u8>| {
        let backend = Arc::clone(&backend);
        let path = format!("{}/{}", hex::encode("vault"), hex::encode(key));
        async move { backend.put(&path, bytes.into(), PutMode::Overwrite).await.expect("put") }
    };

    // A flipped bit in the third chunk: corrupt, at that chunk, either way.
    let mut flipped = stored.clone();
    flipped[2 * 1024 * 1024 + 4096] ^= 0x10;
    put("v", flipped).await;
    let (whole, opened) = both_errors(&collection, "v").await;
    assert_eq!(whole.kind(), ErrorKind::Corrupt, "{whole}");
    assert_eq!(opened.kind(), ErrorKind::Corrupt, "{opened}");
    assert!(causes(&opened).contains("at chunk 2"), "{opened}");

    // Cut short inside a chunk, and with the index and footer gone: corrupt either way.
    for cut in [stored.len() / 2, stored.len() - 30] {
        put("v", stored[..cut].to_vec()).await;
        let (whole, opened) = both_errors(&collection, "v").await;
        assert_eq!(whole.kind(), ErrorKind::Corrupt, "{cut}: {whole}");
        assert_eq!(opened.kind(), ErrorKind::Corrupt, "{cut}: {opened}");
        assert_eq!(opened.context().operation, "get");
        assert_eq!(opened.context().key.as_deref(), Some("v"));
    }
    put("v", stored.clone()).await;

    // Moved to another key: refused either way.
    put("moved", stored.clone()).await;
    let (whole, opened) = both_errors(&collection, "moved").await;
    assert_eq!(whole.kind(), ErrorKind::Corrupt, "{whole}");
    assert_eq!(opened.kind(), ErrorKind::Corrupt, "{opened}");

    // An encrypted value found by a collection without a password: the value says so.
    let plain = connection.collection("plain", Map::new()).await.expect("opens");
    let path = format!("{}/{}", hex::encode("plain"), hex::encode("v"));
    backend.put(&path, stored.clone().into(), PutMode::Overwrite).await.expect("put");
    let (whole, opened) = both_errors(&plain, "v").await;
    assert_eq!(whole.kind(), ErrorKind::WrongPassword, "{whole}");
    assert_eq!(opened.kind(), ErrorKind::WrongPassword, "{opened}");

    // The value itself still reads back.
    let (read, streamed) = open(&collection, "v").await.expect("reads").expect("present");
    assert!(streamed && read.data == value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_value_costs_one_request_and_a_large_one_one_stream() {
    let counting = Counting::new(s3kv::store::memory().expect("memory"));
    let backend: Arc<dyn Backend> = Arc::new(counting.clone());
    let connection = connect(&backend, json!({})).await;
    let collection = connection.collection("counted", Map::new()).await.expect("opens");
    collection.set("small", PayloadKind::Bytes, &noise(1024)).await.expect("set small");
    collection.set("large", PayloadKind::Bytes, &noise(LARGE)).await.expect("set large");

    let before = counting.counts();
    let (read, streamed) = open(&collection, "small").await.expect("small").expect("present");
    let after = counting.counts();
    assert!(!streamed && read.data.len() == 1024);
    assert_eq!(after.requests() - before.requests(), 1, "{before:?} then {after:?}");
    assert_eq!(after.gets - before.gets, 1);

    let (read, streamed) = open(&collection, "large").await.expect("large").expect("present");
    let last = counting.counts();
    assert!(streamed && read.data.len() == LARGE);
    assert_eq!(last.requests() - after.requests(), 1, "{after:?} then {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_collection_streams_what_it_cannot_cache_and_caches_the_rest() {
    let counting = Counting::new(s3kv::store::memory().expect("memory"));
    let backend: Arc<dyn Backend> = Arc::new(counting.clone());
    let connection = connect(&backend, json!({"ttl": 600, "cache_size": "16MiB"})).await;
    let collection = connection.collection("cached", Map::new()).await.expect("opens");
    let large = noise(3 * 1024 * 1024);
    collection.set("large", PayloadKind::Bytes, &large).await.expect("set large");
    collection.set("small", PayloadKind::Bytes, b"kept").await.expect("set small");

    // Above the cache's largest value (2 MiB here): streamed every time, never cached.
    for _ in 0..2 {
        let before = counting.counts();
        let (read, streamed) = open(&collection, "large").await.expect("large").expect("present");
        assert!(streamed && read.data == large);
        assert_eq!(counting.counts().gets - before.gets, 1, "a large value is read every time");
    }
    // Written through: served from the cache with no request.
    let before = counting.counts();
    let (read, streamed) = open(&collection, "small").await.expect("small").expect("present");
    assert!(!streamed && read.data == b"kept");
    assert_eq!(counting.counts().requests(), before.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stated_length_far_beyond_the_stored_size_is_not_allocated_ahead() {
    let backend = s3kv::store::memory().expect("memory");
    let connection = connect(&backend, json!({})).await;
    for (name, options) in [("sealed", password("pw")), ("open", Map::new())] {
        let collection = connection.collection(name, options).await.expect("opens");
        collection.set("v", PayloadKind::Bytes, &noise(LARGE)).await.expect("set");
        let path = format!("{}/{}", hex::encode(name), hex::encode("v"));
        let stored = backend.get(&path).await.expect("stored").bytes.to_vec();

        // A header that claims a thousand times the value: the reader does not trust it with
        // memory, and the read fails as corrupt instead of allocating 9 GiB.
        let mut lying = stored.clone();
        let claim = (LARGE as u64) * 1000;
        lying[16..24].copy_from_slice(&claim.to_le_bytes());
        backend.put(&path, lying.into(), PutMode::Overwrite).await.expect("put");
        let Some(Opened::Stream(reader)) = collection.open_value("v", false).await.expect("opens")
        else {
            panic!("a large value streams");
        };
        assert!(!reader.allocate_ahead(), "a claim of {claim} bytes is not allocated ahead");
        let error = collection.get("v").await.expect_err("the lie is found");
        assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");

        // The honest header is trusted with memory.
        backend.put(&path, stored.into(), PutMode::Overwrite).await.expect("put");
        let Some(Opened::Stream(reader)) = collection.open_value("v", false).await.expect("opens")
        else {
            panic!("a large value streams");
        };
        assert!(reader.allocate_ahead());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_compresses_far_reads_back_through_growing_memory() {
    let backend = s3kv::store::memory().expect("memory");
    // A small cache bound makes a stored object over 1 MiB stream.
    let connection = connect(&backend, json!({"ttl": "1h", "cache_max_value": "1MiB"})).await;
    let collection = connection.collection("squeezed", password("pw")).await.expect("opens");
    // 2 MiB that do not compress and 60 MiB of zeros: stored at about 2 MiB, 31 times smaller.
    let mut value = noise(2 * 1024 * 1024);
    value.resize(62 * 1024 * 1024, 0);
    collection.set("v", PayloadKind::Bytes, &value).await.expect("set");
    let Some(Opened::Stream(reader)) = collection.open_value("v", false).await.expect("opens")
    else {
        panic!("a value stored over the cache bound streams");
    };
    assert!(!reader.allocate_ahead());
    let read = tokio::task::spawn_blocking(move || reader.into_vec())
        .await
        .expect("decoding thread")
        .expect("reads");
    assert!(read == value, "the value reads back through growing memory");
    let got = collection.get("v").await.expect("get").expect("a value");
    assert!(got.data == value);
}

/// Text of one, two, three and four byte characters that compresses little, so that it is
/// stored large enough to stream.
fn mixed_text(len: usize) -> String {
    let mut text = String::with_capacity(len + 4);
    for byte in noise(len) {
        match byte {
            0..=159 => text.push(char::from(b'a' + byte % 26)),
            160..=209 => text.push('é'),
            210..=239 => text.push('€'),
            _ => text.push('😀'),
        }
        if text.len() >= len {
            break;
        }
    }
    text
}

/// The pieces `next_text` gives for `key`, each checked to fit its window.
async fn text_pieces(collection: &Collection, key: &str) -> s3kv::Result<Vec<String>> {
    let Some(Opened::Stream(mut reader)) = collection.open_value(key, false).await? else {
        panic!("a large text streams");
    };
    tokio::task::spawn_blocking(move || {
        let mut pieces = Vec::new();
        while let Some(piece) = reader.next_text()? {
            assert!(piece.len() <= s3kv::READ_WINDOW + 3, "a piece of {} bytes", piece.len());
            pieces.push(piece.to_owned());
        }
        Ok(pieces)
    })
    .await
    .expect("decoding thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_text_reads_in_pieces_cut_at_characters() {
    let backend = s3kv::store::memory().expect("memory");
    // A small cache bound makes a stored object over 1 MiB stream.
    let connection = connect(&backend, json!({"ttl": "1h", "cache_max_value": "1MiB"})).await;
    let collection = connection.collection("texts", password("pw")).await.expect("opens");
    // The first window ends inside an emoji; the rest is mixed.
    let window = s3kv::READ_WINDOW;
    let text = "a".repeat(window - 1) + "😀" + &mixed_text(LARGE - window);
    assert!(!text.is_char_boundary(window));
    collection.set("t", PayloadKind::Text, text.as_bytes()).await.expect("set");

    let pieces = text_pieces(&collection, "t").await.expect("reads");
    assert!(pieces.len() >= 3, "{} pieces of a {LARGE}-byte text", pieces.len());
    assert_eq!(pieces[0].len(), window - 1, "the cut emoji starts the second piece");
    assert!(pieces.concat() == text, "the pieces make the text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_begun_in_a_window_finishes_in_growing_memory() {
    let backend = s3kv::store::memory().expect("memory");
    let connection = connect(&backend, json!({})).await;
    let collection = connection.collection("begun", password("pw")).await.expect("opens");
    let value = noise(LARGE);
    collection.set("v", PayloadKind::Bytes, &value).await.expect("set");

    for given in [s3kv::READ_WINDOW, s3kv::READ_WINDOW - 1] {
        let Some(Opened::Stream(mut reader)) =
            collection.open_value("v", false).await.expect("opens")
        else {
            panic!("a large value streams");
        };
        let read = tokio::task::spawn_blocking(move || {
            let mut first = vec![0_u8; s3kv::READ_WINDOW];
            reader.read_part(&mut first)?;
            first.truncate(given);
            reader.into_vec_after(first)
        })
        .await
        .expect("decoding thread");
        if given == s3kv::READ_WINDOW {
            assert!(read.expect("reads") == value, "the value reads back whole");
        } else {
            // Not what was decoded so far: refused, not read on from the wrong place.
            assert_eq!(read.expect_err("a wrong start").kind(), ErrorKind::Internal);
        }
    }
}
