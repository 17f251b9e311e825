//! A backend that counts the requests it passes on to another, and the bytes they moved, so
//! tests and benchmarks can say what an operation cost on the wire without a proxy.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::{
    Backend, BodyStream, Capabilities, Entry, Error, Object, ObjectMeta, PutMode, ValueStream,
};

/// What a [`Counting`] backend has passed on, as one snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Whole and streamed reads (`get`, `get_stream`).
    pub gets: u64,
    /// Conditional reads (`get_if_none_match`).
    pub conditional_gets: u64,
    /// Conditional reads answered "not modified".
    pub not_modified: u64,
    /// Ranged reads.
    pub ranged_gets: u64,
    /// Metadata reads.
    pub heads: u64,
    /// Whole and streamed writes.
    pub puts: u64,
    /// Single and batch delete calls.
    pub deletes: u64,
    /// Listings started.
    pub lists: u64,
    /// Bytes of values read (bodies only, not headers or metadata).
    pub bytes_read: u64,
    /// Bytes of values written.
    pub bytes_written: u64,
}

impl Counts {
    /// Every read of a value or of part of one: whole, streamed, conditional and ranged.
    pub fn reads(&self) -> u64 {
        self.gets + self.conditional_gets + self.ranged_gets
    }

    /// Every call passed on.
    pub fn requests(&self) -> u64 {
        self.reads() + self.heads + self.puts + self.deletes + self.lists
    }
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    conditional_gets: AtomicU64,
    not_modified: AtomicU64,
    ranged_gets: AtomicU64,
    heads: AtomicU64,
    puts: AtomicU64,
    deletes: AtomicU64,
    lists: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn len_of(bytes: &Bytes) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// Wraps a backend and counts every call it passes on; see [`Counts`].
///
/// Each call is counted once, whether it succeeds or not; bytes are counted as they pass.
#[derive(Debug, Clone)]
pub struct Counting {
    inner: Arc<dyn Backend>,
    counters: Arc<Counters>,
}

impl Counting {
    /// Counts what passes on to `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self { inner, counters: Arc::default() }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        Counts {
            gets: load(&counters.gets),
            conditional_gets: load(&counters.conditional_gets),
            not_modified: load(&counters.not_modified),
            ranged_gets: load(&counters.ranged_gets),
            heads: load(&counters.heads),
            puts: load(&counters.puts),
            deletes: load(&counters.deletes),
            lists: load(&counters.lists),
            bytes_read: load(&counters.bytes_read),
            bytes_written: load(&counters.bytes_written),
        }
    }
}

#[async_trait::async_trait]
impl Backend for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn check(&self) -> Result<(), Error> {
        self.inner.check().await
    }

    async fn get(&self, path: &str) -> Result<Object, Error> {
        bump(&self.counters.gets, 1);
        let object = self.inner.get(path).await?;
        bump(&self.counters.bytes_read, len_of(&object.bytes));
        Ok(object)
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, Error> {
        bump(&self.counters.heads, 1);
        self.inner.head(path).await
    }

    async fn put(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error> {
        bump(&self.counters.puts, 1);
        bump(&self.counters.bytes_written, len_of(&bytes));
        self.inner.put(path, bytes, mode).await
    }

    async fn delete(&self, path: &str) -> Result<(), Error> {
        bump(&self.counters.deletes, 1);
        self.inner.delete(path).await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, Error>> {
        bump(&self.counters.lists, 1);
        self.inner.list(prefix)
    }

    async fn get_if_none_match(&self, path: &str, etag: &str) -> Result<Option<Object>, Error> {
        bump(&self.counters.conditional_gets, 1);
        let found = self.inner.get_if_none_match(path, etag).await?;
        match &found {
            Some(object) => bump(&self.counters.bytes_read, len_of(&object.bytes)),
            None => bump(&self.counters.not_modified, 1),
        }
        Ok(found)
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, Error> {
        bump(&self.counters.ranged_gets, 1);
        let bytes = self.inner.get_range(path, range).await?;
        bump(&self.counters.bytes_read, len_of(&bytes));
        Ok(bytes)
    }

    async fn delete_many(&self, paths: &[String]) -> Result<(), Error> {
        bump(&self.counters.deletes, 1);
        self.inner.delete_many(paths).await
    }

    async fn put_stream(
        &self,
        path: &str,
        body: BodyStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, Error> {
        bump(&self.counters.puts, 1);
        let counters = Arc::clone(&self.counters);
        let body = body
            .inspect(move |piece| {
                if let Ok(piece) = piece {
                    bump(&counters.bytes_written, len_of(piece));
                }
            })
            .boxed();
        self.inner.put_stream(path, body, mode).await
    }

    async fn get_stream(&self, path: &str) -> Result<(ObjectMeta, ValueStream), Error> {
        bump(&self.counters.gets, 1);
        let (meta, stream) = self.inner.get_stream(path).await?;
        let counters = Arc::clone(&self.counters);
        let stream = stream
            .inspect(move |piece| {
                if let Ok(piece) = piece {
                    bump(&counters.bytes_read, len_of(piece));
                }
            })
            .boxed();
        Ok((meta, stream))
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_each_call_and_the_bytes_it_moved() -> Result<(), Error> {
        let counting = Counting::new(crate::memory()?);
        let meta = counting.put("a", Bytes::from_static(b"12345"), PutMode::Overwrite).await?;
        counting.get("a").await?;
        let etag = meta.etag.unwrap_or_default();
        assert!(counting.get_if_none_match("a", &etag).await?.is_none());
        counting.get_range("a", 1..3).await?;
        counting.delete_many(&["a".to_owned()]).await?;
        let counts = counting.counts();
        assert_eq!((counts.puts, counts.gets, counts.conditional_gets), (1, 1, 1));
        assert_eq!((counts.not_modified, counts.ranged_gets, counts.deletes), (1, 1, 1));
        assert_eq!((counts.bytes_written, counts.bytes_read), (5, 7));
        assert_eq!(counts.requests(), 5);
        Ok(())
    }
}
