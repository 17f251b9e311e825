//! Large values deleted or replaced while they stream in: a read sees no value, or the value
//! read again, never an error a caller of `get` could not expect.
//!
//! A wrapper backend cuts a stream after its first piece the way an S3 server does when the
//! object goes away between two ranged reads (404) or is replaced (412 on `If-Match`), and
//! loses uploads the way Garage drops the upload of a key deleted meanwhile.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use s3kv::store::{
    BodyStream, Capabilities, Entry, Error as StoreError, ErrorKind as StoreKind, Object,
    ObjectMeta, PutMode, ValueStream,
};
use s3kv::{Backend, Connection, ErrorKind, PayloadKind};
use serde_json::json;

use crate::backends::password;

/// Larger than what a collection without a cache reads whole (8 MiB).
const LARGE: usize = 9 * 1024 * 1024;

/// How a stream is cut after its first piece.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// The object is gone: the next ranged read finds nothing.
    Deleted,
    /// The object was replaced: the next ranged read fails its `If-Match`.
    Replaced,
}

/// Memory, whose streams are cut after their first piece `cuts` times.
#[derive(Debug)]
struct Meddling {
    inner: Arc<dyn Backend>,
    cut: Cut,
    cuts: AtomicU32,
    /// How many of the next streamed uploads are dropped, as if the key had been deleted.
    dropped_uploads: AtomicU32,
}

#[async_trait::async_trait]
impl Backend for Meddling {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn capabilities(&self) -> Capabilities {
        // Uploads in parts, as S3 does, so large sets are streamed to `put_stream`.
        let mut capabilities = self.inner.capabilities();
        capabilities.multipart = true;
        capabilities.streamed_write = true;
        capabilities
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }

    async fn get(&self, path: &str) -> Result<Object, StoreError> {
        self.inner.get(path).await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        self.inner.head(path).await
    }

    async fn put(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, StoreError> {
        self.inner.put(path, bytes, mode).await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        self.inner.delete(path).await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, StoreError>> {
        self.inner.list(prefix)
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.inner.get_range(path, range).await
    }

    async fn put_stream(
        &self,
        path: &str,
        body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        let dropped = self
            .dropped_uploads
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if dropped.is_ok() {
            // Half the body goes up before the server forgets the upload.
            let _sent: Vec<_> = body.take(2).collect().await;
            let message = "the object was deleted while this value uploaded";
            return Err(StoreError::new(
                StoreKind::ConditionFailed,
                "put_stream",
                path,
                "x",
                message,
            ));
        }
        self.inner.put_stream(path, body, mode).await
    }

    async fn get_stream(&self, path: &str) -> Result<(ObjectMeta, ValueStream), StoreError> {
        let object = self.inner.get(path).await?;
        let cut = self.cuts.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        let first = object.bytes.slice(..object.bytes.len().min(1024 * 1024));
        let rest: Result<Bytes, StoreError> = match (cut.is_ok(), self.cut) {
            (false, _) => Ok(object.bytes.slice(first.len()..)),
            (true, Cut::Deleted) => {
                Err(StoreError::new(StoreKind::NotFound, "get", path, "meddling", "gone"))
            }
            (true, Cut::Replaced) => Err(StoreError::new(
                StoreKind::ConditionFailed,
                "get",
                path,
                "meddling",
                "replaced while it was read",
            )),
        };
        Ok((object.meta, stream::iter([Ok(first), rest]).boxed()))
    }
}

async fn collection_over(cut: Cut, cuts: u32) -> (s3kv::Collection, Arc<Meddling>) {
    let meddling = Arc::new(Meddling {
        inner: s3kv::store::memory().expect("memory"),
        cut,
        cuts: AtomicU32::new(0),
        dropped_uploads: AtomicU32::new(0),
    });
    let backend: Arc<dyn Backend> = Arc::clone(&meddling) as Arc<dyn Backend>;
    let kwargs = json!({"mode": "dict"}).as_object().cloned().unwrap_or_default();
    let loader = crate::backends::loader(kwargs);
    let settings = loader.load().expect("settings");
    let connection = Connection::with_backend(loader, settings, backend).await.expect("connects");
    let collection = connection.collection("meddled", password("pw")).await.expect("opens");
    // Bytes that do not compress, so the stored object is larger than a whole read takes.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let value: Vec<u8> = (0..LARGE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[2]
        })
        .collect();
    collection.set("v", PayloadKind::Bytes, &value).await.expect("set");
    meddling.cuts.store(cuts, Ordering::Release);
    (collection, meddling)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_deleted_while_it_streams_in_is_no_value() {
    let (collection, meddling) = collection_over(Cut::Deleted, 1).await;
    assert!(collection.get("v").await.expect("no error").is_none());
    meddling.cuts.store(1, Ordering::Release);
    let many = collection.get_many(&["v"]).await.expect("no error");
    assert!(matches!(many.as_slice(), [None]), "a key deleted meanwhile has no value");
    // Not cut: the value is there.
    assert!(collection.get("v").await.expect("reads").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_replaced_while_it_streams_in_is_read_again() {
    let (collection, meddling) = collection_over(Cut::Replaced, 2).await;
    let value = collection.get("v").await.expect("read again").expect("a value");
    assert_eq!(value.data.len(), LARGE);
    assert_eq!(meddling.cuts.load(Ordering::Acquire), 0, "both cut reads were tried again");

    // Replaced on every attempt: the conflict is reported, after the last attempt.
    meddling.cuts.store(s3kv::STREAMED_READ_ATTEMPTS, Ordering::Release);
    let error = collection.get("v").await.expect_err("replaced every time");
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    assert_eq!(meddling.cuts.load(Ordering::Acquire), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_set_whose_upload_a_delete_dropped_is_made_again() {
    let (collection, meddling) = collection_over(Cut::Deleted, 0).await;
    let value = Bytes::from(vec![7u8; s3kv::STREAMED_SET_BYTES + 1]);
    meddling.dropped_uploads.store(s3kv::STREAMED_SET_ATTEMPTS - 1, Ordering::Release);
    collection.set_bytes("big", PayloadKind::Bytes, value.clone()).await.expect("lands at last");
    assert_eq!(meddling.dropped_uploads.load(Ordering::Acquire), 0, "each attempt was made");
    let stored = collection.get("big").await.expect("reads").expect("a value");
    assert_eq!(stored.data, value, "the whole value landed");

    // Dropped on every attempt: the conflict is reported, and nothing replaced the old value.
    meddling.dropped_uploads.store(s3kv::STREAMED_SET_ATTEMPTS, Ordering::Release);
    let other = Bytes::from(vec![9u8; s3kv::STREAMED_SET_BYTES + 1]);
    let error = collection.set_bytes("big", PayloadKind::Bytes, other).await.expect_err("lost");
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    assert!(error.to_string().contains("deleted while"), "{error}");
    assert_eq!(meddling.dropped_uploads.load(Ordering::Acquire), 0);
    let stored = collection.get("big").await.expect("reads").expect("a value");
    assert_eq!(stored.data, value, "the old value stays");
}
