//! Values streamed from a reader and to a writer, on every backend: byte for byte, whole or
//! not at all, with errors that name what failed.

use std::io::{self, Read, Write};

use s3kv::{ErrorKind, PayloadKind};

use crate::backends::{Target, for_each_backend, password};

/// Deterministic bytes that do not compress to nothing.
fn pattern(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A reader that yields `good` bytes, then fails.
struct Failing {
    good: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the source went away"));
        }
        let count = buf.len().min(self.good);
        buf[..count].fill(b'z');
        self.good -= count;
        Ok(count)
    }
}

/// A writer that takes `room` bytes, then fails.
#[derive(Debug)]
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"));
        }
        let count = data.len().min(self.room);
        self.room -= count;
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

async fn round_trips(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("streams", password("pw")).await.expect("opens");
    // Several codec chunks and more than one backend part, with a ragged end.
    let value = pattern(11 * 1024 * 1024 + 12_345);
    let stored = collection
        .set_reader("big", PayloadKind::Bytes, io::Cursor::new(value.clone()), None)
        .await
        .expect("set_reader");
    assert_eq!(stored, value.len() as u64);
    // A streamed value is an ordinary value.
    let read = collection.get("big").await.expect("get").expect("a value");
    assert!(read.data == value, "whole read differs");

    let streamed = collection
        .get_writer("big", &[PayloadKind::Bytes], Vec::new())
        .await
        .expect("get_writer")
        .expect("a value");
    assert_eq!(streamed.len, value.len() as u64);
    assert_eq!(streamed.kind, PayloadKind::Bytes);
    assert!(streamed.writer == value, "streamed read differs");

    // An ordinary value streams out too, and an empty one.
    collection.set("small", PayloadKind::Text, b"hello").await.expect("set");
    let small = collection
        .get_writer("small", &[PayloadKind::Bytes, PayloadKind::Text], Vec::new())
        .await
        .expect("get_writer")
        .expect("a value");
    assert_eq!((small.writer.as_slice(), small.kind), (&b"hello"[..], PayloadKind::Text));
    collection.set_reader("empty", PayloadKind::Bytes, io::empty(), Some(0)).await.expect("empty");
    assert_eq!(collection.get("empty").await.expect("get").expect("a value").data, b"");

    assert!(
        collection
            .get_writer("missing", &[PayloadKind::Bytes], Vec::new())
            .await
            .expect("get_writer")
            .is_none()
    );
}

#[tokio::test]
async fn streamed_values_round_trip_byte_for_byte() {
    for_each_backend!(round_trips);
}

async fn shared_buffers(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("shared", password("pw")).await.expect("opens");
    // Over the size that uploads while it encodes (on S3), with a ragged end, as text.
    let text: Vec<u8> =
        pattern(s3kv::STREAMED_SET_BYTES + 4321).iter().map(|byte| b'a' + byte % 26).collect();
    collection.set("big", PayloadKind::Bytes, b"older").await.expect("set");
    collection
        .set_bytes("big", PayloadKind::Text, bytes::Bytes::from(text.clone()))
        .await
        .expect("set_bytes");
    let read = collection.get("big").await.expect("get").expect("a value");
    assert_eq!(read.kind, PayloadKind::Text);
    assert!(read.data == text, "large shared value differs");
    let info = collection.info("big").await.expect("info").expect("info of a value");
    assert_eq!(info.plain_size, Some(text.len() as u64));

    // Text that is not UTF-8 is refused whatever the size, and the older value stays.
    let mut broken = text.clone();
    broken[s3kv::STREAMED_SET_BYTES] = 0xff;
    let error = collection
        .set_bytes("big", PayloadKind::Text, bytes::Bytes::from(broken))
        .await
        .expect_err("not UTF-8");
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert!(error.to_string().contains("utf-8"), "{error}");
    assert!(collection.get("big").await.expect("get").expect("a value").data == text);

    collection
        .set_bytes("small", PayloadKind::Bytes, bytes::Bytes::from_static(b"tiny"))
        .await
        .expect("small set_bytes");
    assert_eq!(collection.get("small").await.expect("get").expect("a value").data, b"tiny");
}

#[tokio::test]
async fn shared_buffers_of_any_size_round_trip() {
    for_each_backend!(shared_buffers);
}

async fn failures(target: &Target) {
    let connection = target.connect().await;
    let collection = connection.collection("stream-failures", password("pw")).await.expect("opens");
    collection.set("kept", PayloadKind::Bytes, b"old").await.expect("set");

    // A reader that fails part-way stores nothing: the old value stays.
    let error = collection
        .set_reader("kept", PayloadKind::Bytes, Failing { good: 3 * 1024 * 1024 + 5 }, None)
        .await
        .expect_err("the reader fails");
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(format!("{error:#}").contains("the source went away") || source_mentions(&error));
    assert_eq!(collection.get("kept").await.expect("get").expect("a value").data, b"old");
    let error = collection
        .set_reader("fresh", PayloadKind::Bytes, Failing { good: 10 }, None)
        .await
        .expect_err("the reader fails");
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(!collection.contains("fresh").await.expect("contains"));

    // A stated length that is wrong stores nothing.
    let error = collection
        .set_reader("kept", PayloadKind::Bytes, io::Cursor::new(vec![1; 100]), Some(99))
        .await
        .expect_err("length mismatch");
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert_eq!(collection.get("kept").await.expect("get").expect("a value").data, b"old");

    // A writer that fails is reported as the caller's own failure.
    collection
        .set_reader("big", PayloadKind::Bytes, io::Cursor::new(pattern(3_000_000)), None)
        .await
        .expect("set_reader");
    let error = collection
        .get_writer("big", &[PayloadKind::Bytes], Full { room: 1_000_000 })
        .await
        .expect_err("the writer fails");
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");

    // A kind the caller does not accept is refused before anything is written.
    collection.set("pickle", PayloadKind::Pickle, b"\x80\x05N.").await.expect("set");
    let error = collection
        .get_writer("pickle", &[PayloadKind::Bytes], Full { room: 0 })
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Unsupported, "{error}");
    assert!(error.to_string().contains("pickle"), "{error}");

    // Text must be UTF-8, streamed or not.
    let error = collection
        .set_reader("text", PayloadKind::Text, io::Cursor::new(vec![0xff, 0xfe]), None)
        .await
        .expect_err("not UTF-8");
    assert!(!collection.contains("text").await.expect("contains"), "{error}");
}

fn source_mentions(error: &s3kv::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.to_string().contains("the source went away") {
            return true;
        }
        source = cause.source();
    }
    false
}

#[tokio::test]
async fn streaming_failures_store_nothing_and_name_the_culprit() {
    for_each_backend!(failures);
}

#[tokio::test]
async fn a_damaged_streamed_value_is_refused() {
    let backend = s3kv::store::memory().expect("memory");
    let loader = crate::backends::loader(
        serde_json::json!({"mode": "dict"}).as_object().cloned().unwrap_or_default(),
    );
    let settings = loader.load().expect("settings");
    let connection =
        s3kv::Connection::with_backend(loader, settings, std::sync::Arc::clone(&backend))
            .await
            .expect("connection");
    let collection = connection.collection("tamper", password("pw")).await.expect("opens");
    collection
        .set_reader("v", PayloadKind::Bytes, io::Cursor::new(pattern(2_500_000)), None)
        .await
        .expect("set_reader");
    let path = format!("{}/{}", hex::encode("tamper"), hex::encode("v"));
    let stored = backend.get(&path).await.expect("stored object");
    let mut damaged = stored.bytes.to_vec();
    damaged[1_500_000] ^= 0x40;
    backend.put(&path, damaged.into(), s3kv::store::PutMode::Overwrite).await.expect("put damaged");
    let error = collection
        .get_writer("v", &[PayloadKind::Bytes], Vec::new())
        .await
        .expect_err("damage is found");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");

    // Moved to another key, it does not open either.
    let moved = format!("{}/{}", hex::encode("tamper"), hex::encode("w"));
    backend.put(&moved, stored.bytes, s3kv::store::PutMode::Overwrite).await.expect("copy");
    let error = collection
        .get_writer("w", &[PayloadKind::Bytes], Vec::new())
        .await
        .expect_err("a moved value is refused");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
}
