//! Values too large to hold in memory, streamed between the caller's `std::io` reader or
//! writer and the backend.
//!
//! The codec's streaming encoder and decoder are synchronous and busy the CPU, so they run on
//! a blocking thread; the backend is asynchronous. A bounded channel of byte pieces joins the
//! two, so memory stays at the codec's chunks in flight, the channel's few pieces and the
//! backend's parts in flight, whatever the value's size.
//!
//! Each side records its own failure, so the error a caller sees names what really failed:
//! their reader or writer, the backend, or the stored value.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::error::{Error, ErrorKind, Result};

/// Pieces queued between the codec's thread and the backend.
pub(crate) const PIPE_DEPTH: usize = 4;

/// Bytes gathered before a piece is handed to the backend; the backend cuts its own parts.
const PIECE_BYTES: usize = 1 << 20;

/// The codec's side of an upload: a `Write` whose bytes become the backend's body.
pub(crate) struct PipeWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
    /// Set when the backend stopped taking pieces (its upload failed), so the caller reports
    /// the backend's error rather than a broken pipe.
    closed: bool,
}

impl PipeWriter {
    /// A writer, and the body stream the backend reads.
    pub(crate) fn new() -> (Self, BoxStream<'static, io::Result<Bytes>>) {
        let (sender, receiver) = mpsc::channel(PIPE_DEPTH);
        let body = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let writer = Self { sender, buffer: Vec::with_capacity(PIECE_BYTES), closed: false };
        (writer, body.boxed())
    }

    /// Whether the backend stopped taking pieces.
    pub(crate) fn closed(&self) -> bool {
        self.closed
    }

    /// Hands the gathered bytes to the backend; the body ends when the writer is dropped.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.send()
    }

    /// Makes the backend's body fail, so it abandons the upload instead of storing a value
    /// cut short.
    pub(crate) fn fail(self, reason: &str) {
        // A backend that already stopped needs no telling.
        let _ = self.sender.blocking_send(Err(io::Error::other(reason.to_owned())));
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece =
            Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(PIECE_BYTES)));
        self.sender.blocking_send(Ok(piece)).map_err(|_| {
            self.closed = true;
            io::Error::new(io::ErrorKind::BrokenPipe, "the backend stopped taking the value")
        })
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= PIECE_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Pieces go out when full or at `finish`; a flush in between would only make small
        // pieces.
        Ok(())
    }
}

/// A backend failure seen by a [`PipeReader`], kept for the caller.
pub(crate) type Failure = Arc<Mutex<Option<s3kv_store::Error>>>;

/// The codec's side of a download: a `Read` over the pieces of the backend's stream.
pub(crate) struct PipeReader {
    receiver: mpsc::Receiver<std::result::Result<Bytes, s3kv_store::Error>>,
    piece: Bytes,
    failure: Failure,
}

impl PipeReader {
    /// Starts forwarding `stream` on the current runtime; returns the reader and the slot
    /// where a backend failure lands.
    pub(crate) fn spawn(
        mut stream: BoxStream<'static, std::result::Result<Bytes, s3kv_store::Error>>,
    ) -> (Self, Failure) {
        let (sender, receiver) = mpsc::channel(PIPE_DEPTH);
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                // The reader is gone when decoding stopped early; the rest is not needed.
                if sender.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        let failure = Failure::default();
        (Self { receiver, piece: Bytes::new(), failure: Arc::clone(&failure) }, failure)
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.piece.is_empty() {
            match self.receiver.blocking_recv() {
                None => return Ok(0),
                Some(Ok(piece)) => self.piece = piece,
                Some(Err(error)) => {
                    *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                    return Err(io::Error::other("the backend failed while sending the value"));
                }
            }
        }
        let count = buf.len().min(self.piece.len());
        buf[..count].copy_from_slice(&self.piece.split_to(count));
        Ok(count)
    }
}

/// The backend failure a [`PipeReader`] saw, if any.
pub(crate) fn take_failure(failure: &Failure) -> Option<s3kv_store::Error> {
    failure.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// The caller's writer, counting what it took and remembering whether it failed.
pub(crate) struct Counted<W> {
    pub(crate) inner: W,
    pub(crate) written: u64,
    pub(crate) failed: bool,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(data);
        match &result {
            Ok(count) => self.written += *count as u64,
            Err(_) => self.failed = true,
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

/// The caller's reader, remembering whether it failed.
pub(crate) struct Watched<R> {
    pub(crate) inner: R,
    pub(crate) failed: bool,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

/// The error for a failure of the caller's own reader or writer.
pub(crate) fn caller_io(error: io::Error, what: &str) -> Error {
    Error::new(ErrorKind::Io, format!("{what} failed")).with_source(error)
}

/// The error for a blocking task that did not finish (it panicked or was cancelled).
pub(crate) fn joined(error: &tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Internal, format!("a streaming task stopped: {error}"))
}

/// Reads everything a backend stream sends, for values that cannot be decoded piece by piece.
pub(crate) async fn collect(
    mut stream: BoxStream<'static, std::result::Result<Bytes, s3kv_store::Error>>,
    first: Vec<u8>,
) -> Result<Vec<u8>> {
    let mut whole = first;
    while let Some(piece) = stream.next().await {
        whole.extend_from_slice(&piece?);
    }
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_writer_delivers_every_byte_in_order() {
        let (mut writer, body) = PipeWriter::new();
        let task = tokio::task::spawn_blocking(move || {
            for round in 0..3_000_u32 {
                writer.write_all(&round.to_le_bytes().repeat(100))?;
            }
            writer.finish()
        });
        let pieces: Vec<Bytes> = body
            .map(|piece| piece.map_err(|_| ()))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<std::result::Result<_, ()>>()
            .unwrap_or_default();
        assert!(matches!(task.await, Ok(Ok(()))));
        let joined: Vec<u8> = pieces.iter().flat_map(|piece| piece.iter().copied()).collect();
        let expected: Vec<u8> =
            (0..3_000_u32).flat_map(|round| round.to_le_bytes().repeat(100)).collect();
        assert_eq!(joined, expected);
        assert!(pieces.iter().all(|piece| piece.len() <= PIECE_BYTES + 400));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_writer_notices_a_backend_that_stopped() {
        let (mut writer, body) = PipeWriter::new();
        drop(body);
        let task = tokio::task::spawn_blocking(move || {
            let result = writer.write_all(&vec![7; 3 * PIECE_BYTES]);
            (result.is_err(), writer.closed())
        });
        assert!(matches!(task.await, Ok((true, true))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_reader_keeps_the_backend_failure() {
        let failing = s3kv_store::Error::new(
            s3kv_store::ErrorKind::Unavailable,
            "read",
            "v/k",
            "memory",
            "connection reset",
        );
        let items = vec![Ok(Bytes::from_static(b"abc")), Err(failing)];
        let (mut reader, failure) = PipeReader::spawn(futures::stream::iter(items).boxed());
        let task = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let result = reader.read_to_end(&mut got);
            (result.is_err(), got)
        });
        let (failed, got) = task.await.unwrap_or_default();
        assert!(failed);
        assert_eq!(got, b"abc");
        assert!(take_failure(&failure).is_some());
    }
}
