//! Reads that decode a large value straight into one buffer of its length, so a value of any
//! size costs its own length plus a bounded window, not the stored object, the decoded copy and
//! the caller's copy at once.
//!
//! A read starts with the backend's stream (one request, as a whole read). A small object, a
//! value of the original library or an object whose header does not state its length is
//! collected and decoded whole, through the read cache; a larger one is decoded as it arrives,
//! into the caller's buffer ([`ValueReader::read_into`], or a window at a time with
//! [`ValueReader::read_part`]) or a new one ([`Collection::get`]).

use std::io::Read;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use s3kv_codec::{DecodeOptions, Decoder, Identity, MAX_HEADER_LEN, PayloadKind};
use s3kv_store::{ErrorKind as StoreKind, ValueStream};

use super::{Collection, Looked, Value, value_error};
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::{self, Failure, PipeReader};

/// Stored objects up to this size are read whole when the collection has no cache; with one,
/// its largest cached value is the bound.
pub(crate) const WHOLE_READ_BYTES: u64 = 8 << 20;

/// A stated length of at most this many times the stored size is allocated before any chunk is
/// checked; a larger one (a value that compresses better than this, or a header that lies) is
/// read into memory that grows as chunks check out, so a planted object cannot make a reader
/// allocate more than this multiple of its own size.
pub const AHEAD_RATIO: u64 = 16;

/// The most bytes a windowed read decodes at a time: a piece of a text
/// ([`ValueReader::next_text`]), and the windows in which a buffer of a large value's length is
/// zeroed and filled, so that touching new memory overlaps the transfer and stays in the cache.
pub const READ_WINDOW: usize = 4 << 20;

/// What [`Collection::open_value`] found: a value read whole, or one to decode into a buffer.
#[derive(Debug)]
pub enum Opened {
    /// A small value, a cached one or one of the original library, read and decoded whole.
    Whole(Value),
    /// A large value, still to be decoded with [`ValueReader::read_into`].
    Stream(Box<ValueReader>),
}

/// A large value on its way from the backend, decoded into the caller's buffer.
///
/// The backend's parts keep arriving on the runtime's worker threads while the caller decodes
/// them; memory stays at the parts in flight and the codec's chunks in flight.
pub struct ValueReader {
    decoder: Decoder<std::io::Chain<std::io::Cursor<Bytes>, PipeReader>>,
    failure: Failure,
    collection: Collection,
    key: String,
    len: usize,
    kind: PayloadKind,
    /// The stored object's size.
    stored: u64,
    /// How many bytes of the value [`ValueReader::read_part`] has decoded.
    done: usize,
    /// [`ValueReader::next_text`]'s window, and how much of it the last piece returned.
    text: Vec<u8>,
    text_returned: usize,
}

impl std::fmt::Debug for ValueReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueReader")
            .field("key", &self.key)
            .field("len", &self.len)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ValueReader {
    /// What the payload is.
    pub fn kind(&self) -> PayloadKind {
        self.kind
    }

    /// The plaintext length the object's header states: the length of the buffer
    /// [`ValueReader::read_into`] takes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the value is empty (never, for a value large enough to be streamed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a buffer of [`ValueReader::len`] may be allocated before any chunk is checked:
    /// the stated length is at most [`AHEAD_RATIO`] times the stored size. Otherwise use
    /// [`ValueReader::into_vec`], whose memory grows only as chunks check out.
    pub fn allocate_ahead(&self) -> bool {
        self.len as u64 <= self.stored.saturating_mul(AHEAD_RATIO)
    }

    /// Whether the payload, if a pickle, may be unpickled (see [`Collection::pickle_allowed`]).
    pub fn pickle_allowed(&self) -> bool {
        self.collection.trusts(false)
    }

    /// Decodes the whole value into `out`, which must be exactly [`ValueReader::len`] bytes.
    ///
    /// This blocks: call it off the runtime (the backend's parts are fetched by the runtime's
    /// worker threads meanwhile). Each chunk is checked before it is written, but the value is
    /// only known complete when this returns `Ok`: on error, discard `out`.
    ///
    /// # Errors
    ///
    /// `Corrupt`, `WrongPassword` and `Backend` as [`Collection::get`] reports them;
    /// `Internal` when `out` has another length.
    pub fn read_into(mut self, out: &mut [u8]) -> Result<()> {
        if out.len() != self.len {
            let message = format!("the buffer holds {} bytes, the value {}", out.len(), self.len);
            return Err(self.in_context(Error::new(ErrorKind::Internal, message)));
        }
        self.read_part(out)?;
        self.finish()
    }

    /// Decodes the next `part.len()` bytes of the value into `part`: a caller that prepares its
    /// buffer a window at a time reads the value with a call per window, then
    /// [`ValueReader::finish`]. Blocks, as [`ValueReader::read_into`] does.
    ///
    /// # Errors
    ///
    /// As [`ValueReader::read_into`]; `Internal` when `part` runs past the value's end.
    pub fn read_part(&mut self, part: &mut [u8]) -> Result<()> {
        let left = self.len - self.done;
        if part.len() > left {
            let message =
                format!("a window of {} bytes runs past the value's end ({left} left)", part.len());
            return Err(self.in_context(Error::new(ErrorKind::Internal, message)));
        }
        match self.decoder.read_exact(part) {
            Ok(()) => {
                self.done += part.len();
                Ok(())
            }
            Err(error) => Err(self.in_context(self.failed(cut_short(error)))),
        }
    }

    /// Confirms that the value ends where its header says, once [`ValueReader::read_part`] has
    /// read all of it: the decoder checks the index and the footer with the last chunk, and the
    /// read past the end shows that it finished, so a value is only ever handed over whole.
    ///
    /// # Errors
    ///
    /// As [`ValueReader::read_into`]; `Internal` when bytes of the value are still unread.
    pub fn finish(mut self) -> Result<()> {
        self.check_end()
    }

    fn check_end(&mut self) -> Result<()> {
        if self.done != self.len {
            let message = format!("{} of the value's {} bytes were read", self.done, self.len);
            return Err(self.in_context(Error::new(ErrorKind::Internal, message)));
        }
        let mut past = [0_u8; 1];
        let error = match self.decoder.read(&mut past) {
            Ok(0) => {
                tracing::debug!(size = self.len, legacy = false, "value read");
                return Ok(());
            }
            Ok(_) => s3kv_codec::Error::Corrupt { chunk: None, check: "plaintext length" },
            Err(error) => cut_short(error),
        };
        Err(self.in_context(self.failed(error)))
    }

    /// The next piece of a text value, up to [`READ_WINDOW`] bytes, cut at a character
    /// boundary (the bytes of a character the window cut start the next piece); `None` once
    /// the whole value is read and its end checked. A binding builds its string from these
    /// pieces, so the value is never held as bytes and as a string at once. Blocks, as
    /// [`ValueReader::read_into`] does.
    ///
    /// # Errors
    ///
    /// As [`ValueReader::read_into`]; the decoder finds text that is not UTF-8 corrupt.
    pub fn next_text(&mut self) -> Result<Option<&str>> {
        let mut window = std::mem::take(&mut self.text);
        window.drain(..self.text_returned);
        self.text_returned = 0;
        if self.done == self.len {
            if !window.is_empty() {
                return Err(self.not_text());
            }
            self.check_end()?;
            return Ok(None);
        }

        let kept = window.len();
        let take = READ_WINDOW.min(self.len - self.done);
        window.resize(kept + take, 0);
        let read = self.read_part(&mut window[kept..]);
        self.text = window;
        read?;

        // The decoder has checked the text so far, so only the last character can be cut.
        let returned = match std::str::from_utf8(&self.text) {
            Ok(_) => self.text.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => return Err(self.not_text()),
        };
        self.text_returned = returned;
        std::str::from_utf8(&self.text[..returned]).map(Some).map_err(|_| self.not_text())
    }

    fn not_text(&self) -> Error {
        self.in_context(value_error(s3kv_codec::Error::Corrupt { chunk: None, check: "utf-8" }))
    }

    /// Decodes the whole value into a new buffer. When [`ValueReader::allocate_ahead`] holds,
    /// the buffer is allocated once at the stated length; otherwise it grows as chunks are
    /// checked, so a header that lies costs no more memory than the chunks really hold.
    ///
    /// This blocks, as [`ValueReader::read_into`] does.
    ///
    /// # Errors
    ///
    /// As [`ValueReader::read_into`].
    pub fn into_vec(mut self) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        if self.allocate_ahead() {
            // The stated length is in line with the stored size (see `allocate_ahead`), so
            // failing to get it is the machine's shortage, not the value's fault.
            if data.try_reserve_exact(self.len).is_err() {
                let message = format!(
                    "the value's header states {} bytes, more than this process can allocate",
                    self.len
                );
                return Err(self.in_context(Error::new(ErrorKind::OutOfMemory, message)));
            }
            while data.len() < self.len {
                let start = data.len();
                data.resize(start + READ_WINDOW.min(self.len - start), 0);
                self.read_part(&mut data[start..])?;
            }
            return self.finish().map(|()| data);
        }
        self.read_rest(data)
    }

    /// Decodes the rest of the value into memory that grows as chunks are checked, after
    /// `first`: what [`ValueReader::read_part`] has decoded so far. A binding that decodes a
    /// first window before it trusts the stated length with memory ends here when it cannot
    /// get that memory.
    ///
    /// This blocks, as [`ValueReader::read_into`] does.
    ///
    /// # Errors
    ///
    /// As [`ValueReader::read_into`]; `Internal` when `first` is not what was decoded so far.
    pub fn into_vec_after(self, first: Vec<u8>) -> Result<Vec<u8>> {
        if first.len() != self.done {
            let message =
                format!("{} bytes given as read, {} decoded so far", first.len(), self.done);
            return Err(self.in_context(Error::new(ErrorKind::Internal, message)));
        }
        self.read_rest(first)
    }

    /// Appends the rest of the value to `data` (which holds the part decoded so far) as
    /// chunks are checked.
    fn read_rest(mut self, mut data: Vec<u8>) -> Result<Vec<u8>> {
        // One byte more than stated shows a value longer than its header says; reading to the
        // end makes the decoder check the index and the footer.
        let limit = ((self.len - self.done) as u64).saturating_add(1);
        let error = match (&mut self.decoder).take(limit).read_to_end(&mut data) {
            Ok(_) if data.len() == self.len => {
                tracing::debug!(size = self.len, legacy = false, "value read");
                return Ok(data);
            }
            Ok(_) => s3kv_codec::Error::Corrupt { chunk: None, check: "plaintext length" },
            Err(error) => error.into(),
        };
        Err(self.in_context(self.failed(error)))
    }

    /// `error` with this read's operation, collection and key.
    fn in_context(&self, error: Error) -> Error {
        self.collection.context(error, "get", &self.key)
    }

    /// The error of a read that failed: the backend's, when the stream broke, which is the
    /// cause of whatever the decoder then saw; else the decoder's.
    fn failed(&self, error: s3kv_codec::Error) -> Error {
        match transfer::take_failure(&self.failure) {
            Some(failure) => failure.into(),
            None => value_error(error),
        }
    }
}

impl Collection {
    /// Opens the value of `key` for reading, or `None` when there is none: a small or cached
    /// value comes back whole, a large one as a [`ValueReader`] that decodes it into a buffer
    /// of its length, so it is never held twice. A binding uses this to decode into memory of
    /// its own (a Python `bytes`); [`Collection::get`] decodes into a new `Vec`.
    ///
    /// The read cache works as for [`Collection::get`] (or [`Collection::get_revalidated`] with
    /// `revalidate`); a value too large for it is streamed and never cached.
    ///
    /// # Errors
    ///
    /// As [`Collection::get`].
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn open_value(&self, key: &str, revalidate: bool) -> Result<Option<Opened>> {
        self.open(key, revalidate).await.map_err(|error| self.context(error, "get", key))
    }

    pub(super) async fn open(&self, key: &str, revalidate: bool) -> Result<Option<Opened>> {
        let path = self.inner.names.value(key)?;
        let writes = self.writes();
        if let Some(cache) = &self.inner.cache {
            match self.look_up(cache, key, &path, revalidate).await? {
                Looked::Done(found) => {
                    if let Some(value) = &found {
                        self.refuse_untrusted(value.kind, value.legacy)?;
                    }
                    return Ok(found.map(Opened::Whole));
                }
                Looked::Changed(object) => {
                    let value = self.keep(key, writes, &object.bytes, object.meta.etag)?;
                    return Ok(Some(Opened::Whole(value)));
                }
                Looked::Miss => {}
            }
        }

        let (meta, mut stream) = match self.inner.backend.get_stream(&path).await {
            Ok(opened) => opened,
            Err(error) if error.kind() == StoreKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let head = gather(&mut stream, MAX_HEADER_LEN).await?;
        let whole_bound =
            self.inner.cache.as_ref().map_or(WHOLE_READ_BYTES, |c| c.config().max_entry_bytes);
        let header = (head.len() >= MAX_HEADER_LEN && s3kv_codec::is_s3kv_object(&head))
            .then(|| s3kv_codec::read_header(&head).ok())
            .flatten();
        if let Some(header) = &header {
            self.refuse_untrusted(header.kind, false)?;
        }
        let stated =
            header.and_then(|header| stated_len(&header, meta.size).map(|len| (header.kind, len)));
        // Large stored, or large once decoded: a value that compresses well (zeros, repeated
        // text) is small on the storage but is still decoded straight into the caller's buffer
        // rather than into one of its own that the caller then copies. A value the cache could
        // hold, or a small one, is read whole.
        let stated = stated.filter(|&(_, len)| {
            meta.size > whole_bound || len as u64 > whole_bound.max(WHOLE_READ_BYTES)
        });
        let Some((kind, len)) = stated else {
            // Read whole as `get` reads it, so errors and caching are the same. A stream whose
            // first pieces hold the whole size is not asked again: that saves a read of the
            // end of a file.
            let whole =
                if head.len() as u64 >= meta.size { head } else { collect(head, stream).await? };
            let value = self.keep(key, writes, &whole, meta.etag)?;
            return Ok(Some(Opened::Whole(value)));
        };

        // Too large to cache: an older cached value must not outlive it.
        if let Some(cache) = &self.inner.cache {
            cache.bypass(key);
        }
        let (pipe, failure) = PipeReader::spawn(stream);
        // The header is in `head`, so making the decoder reads nothing from the pipe and never
        // blocks this task.
        let identity = Identity { collection: &self.inner.name, key };
        let reader = Read::chain(std::io::Cursor::new(head), pipe);
        let decoder =
            Decoder::new(reader, self.inner.key.as_deref(), identity, &DecodeOptions::default())
                .map_err(value_error)?;
        Ok(Some(Opened::Stream(Box::new(ValueReader {
            decoder,
            failure,
            collection: self.clone(),
            key: key.to_owned(),
            len,
            kind,
            stored: meta.size,
            done: 0,
            text: Vec::new(),
            text_returned: 0,
        }))))
    }
}

/// The plaintext length a header states, when it states one the stored size can hold: the
/// caller allocates that much before a chunk is checked, so a header that lies must not make it
/// allocate more than the object's chunks could ever unpack to. Else `None`, and the object is
/// read whole, where the codec checks the claim against the index first.
fn stated_len(header: &s3kv_codec::Header, stored: u64) -> Option<usize> {
    // A chunk stores at least its frame, one byte and its tag, and unpacks to at most the chunk
    // size.
    const SMALLEST_CHUNK: u64 = 4 + 1 + 16;
    let claimed = header.plaintext_len?;
    let most = (stored / SMALLEST_CHUNK).saturating_mul(u64::from(header.chunk_size));
    if claimed > most {
        return None;
    }
    usize::try_from(claimed).ok()
}

/// The codec's error for a failed read of the plaintext: a value that ends before its header
/// says is corrupt.
fn cut_short(error: std::io::Error) -> s3kv_codec::Error {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        s3kv_codec::Error::Corrupt { chunk: None, check: "plaintext length" }
    } else {
        error.into()
    }
}

/// The first pieces of `stream`, at least `at_least` bytes of them unless the stream ends.
async fn gather(stream: &mut ValueStream, at_least: usize) -> Result<Bytes> {
    let first = match stream.next().await {
        Some(piece) => piece?,
        None => return Ok(Bytes::new()),
    };
    if first.len() >= at_least {
        return Ok(first);
    }
    let mut gathered = BytesMut::from(first);
    while gathered.len() < at_least {
        match stream.next().await {
            Some(piece) => gathered.extend_from_slice(&piece?),
            None => break,
        }
    }
    Ok(gathered.freeze())
}

/// The whole object: `head` and the rest of `stream`. A stream that sent everything in its
/// first piece (memory does) costs no copy.
async fn collect(head: Bytes, mut stream: ValueStream) -> Result<Bytes> {
    let Some(next) = stream.next().await else { return Ok(head) };
    let mut whole = BytesMut::from(head);
    whole.extend_from_slice(&next?);
    Ok(Bytes::from(transfer::collect(stream, whole.into()).await?))
}
