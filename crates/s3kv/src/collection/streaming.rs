//! Values streamed to and from the caller's reader or writer, for files of any size: memory
//! stays bounded by the codec's chunks and the backend's parts in flight.

use std::io::{Read, Write};

use bytes::Bytes;

use s3kv_codec::{DecodeOptions, Decoder, EncodeOptions, Encoder, Identity, PayloadKind};
use s3kv_store::{ErrorKind as StoreKind, PutMode};

use super::{Collection, value_error};
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::{self, Counted, PipeReader, PipeWriter, Watched};

/// Values of at least this many bytes are encoded while they are written, by
/// [`Collection::set_bytes`], where the backend writes a stream as it arrives (S3, in parts; a
/// folder, into its temporary file).
pub const STREAMED_SET_BYTES: usize = 16 << 20;

/// How many times [`Collection::set_bytes`] uploads a large value whose upload the server
/// dropped because its key was deleted meanwhile.
pub const STREAMED_SET_ATTEMPTS: u32 = 3;

/// What [`Collection::get_writer`] wrote.
#[derive(Debug)]
#[non_exhaustive]
pub struct Streamed<W> {
    /// The caller's writer, handed back.
    pub writer: W,
    /// How many plaintext bytes were written to it.
    pub len: u64,
    /// What the payload is.
    pub kind: PayloadKind,
}

impl Collection {
    /// Stores everything `reader` yields as the value of `key`, replacing any value it had,
    /// without holding the value in memory; returns how many bytes were stored.
    ///
    /// `len`, when known, is written into the header and checked against what the reader
    /// yields. On any failure nothing is stored and an earlier value stays as it was.
    ///
    /// # Errors
    ///
    /// `Io` when `reader` fails (its error is the source), or yields another length than `len`
    /// or text that is not UTF-8; `InvalidKey`; `Backend`.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn set_reader<R: Read + Send + 'static>(
        &self,
        key: &str,
        kind: PayloadKind,
        reader: R,
        len: Option<u64>,
    ) -> Result<u64> {
        let result = self.upload(key, kind, Watched { inner: reader, failed: false }, len).await;
        self.forget(key);
        result.map_err(|error| self.context(error, "set_reader", key))
    }

    /// Stores `data` as the value of `key`, replacing any value it had, as
    /// [`Collection::set`] does, sharing the buffer rather than copying it.
    ///
    /// A value of [`STREAMED_SET_BYTES`] or more, on a backend that writes a stream as it
    /// arrives (S3, a folder), is encoded while it is written: the encoded value is never held
    /// whole, and the codec's work overlaps the transfer. Such a value is then not kept in the
    /// read cache (it would be too large for it with the default settings); a smaller one is,
    /// as with `set`. Where the server drops such an upload because the key was deleted
    /// meanwhile (Garage does), the value is uploaded again, up to [`STREAMED_SET_ATTEMPTS`]
    /// times in all.
    ///
    /// # Errors
    ///
    /// As [`Collection::set`]; `Conflict` when every attempt lost its upload to a delete.
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn set_bytes(&self, key: &str, kind: PayloadKind, data: Bytes) -> Result<()> {
        let cached_whole = self
            .inner
            .cache
            .as_ref()
            .is_some_and(|cache| (data.len() as u64) < cache.config().max_entry_bytes);
        let streamed = data.len() >= STREAMED_SET_BYTES
            && !cached_whole
            && self.inner.backend.capabilities().streamed_write;
        if !streamed {
            return self.set(key, kind, &data).await;
        }
        // Refused before anything is sent, with the error `set` gives.
        if kind == PayloadKind::Text && std::str::from_utf8(&data).is_err() {
            let error = super::refused("a text payload must be utf-8");
            return Err(self.context(error, "set", key));
        }
        let len = data.len() as u64;
        let mut attempt = 1;
        let result = loop {
            let result = self.upload(key, kind, data.clone(), Some(len)).await;
            match result {
                // A plain write conflicts only where the server dropped the upload of a key
                // deleted meanwhile (Garage). Elsewhere such a write lands after the delete,
                // so it is made again from the caller's bytes, which are still here.
                Err(error)
                    if error.kind() == ErrorKind::Conflict && attempt < STREAMED_SET_ATTEMPTS =>
                {
                    tracing::debug!(attempt, error = %error, "a large set lost its upload; again");
                    attempt += 1;
                }
                other => break other,
            }
        };
        self.forget(key);
        result.map(|_| ()).map_err(|error| self.context(error, "set", key))
    }

    async fn upload<P: Plaintext>(
        &self,
        key: &str,
        kind: PayloadKind,
        mut plaintext: P,
        len: Option<u64>,
    ) -> Result<u64> {
        let path = self.inner.names.value(key)?;
        let (pipe, body) = PipeWriter::new();
        let options = EncodeOptions { kind, ..self.inner.options.clone() };
        let data_key = self.inner.key.clone();
        let (name, owned_key) = (self.inner.name.clone(), key.to_owned());
        let encoding = tokio::task::spawn_blocking(move || {
            let mut pipe = pipe;
            let identity = Identity { collection: &name, key: &owned_key };
            let encoded = encode_into(
                &mut pipe,
                &mut plaintext,
                &options,
                data_key.as_deref(),
                identity,
                len,
            );
            match encoded {
                Ok(copied) => match pipe.finish() {
                    Ok(()) => Ok(copied),
                    Err(_) => Err(Stopped::Backend),
                },
                Err(_) if pipe.closed() => Err(Stopped::Backend),
                Err(error) => {
                    pipe.fail("the value could not be read or encoded");
                    Err(Stopped::Caller(if plaintext.failed() {
                        match error {
                            s3kv_codec::Error::Io { source } => {
                                transfer::caller_io(source, "reading the value")
                            }
                            other => other.into(),
                        }
                    } else {
                        encode_error(error)
                    }))
                }
            }
        });
        let stored = self.inner.backend.put_stream(&path, body, PutMode::Overwrite).await;
        let encoded = encoding.await.map_err(|error| transfer::joined(&error))?;
        match (encoded, stored) {
            (Err(Stopped::Caller(error)), _) => Err(error),
            (_, Err(error)) => Err(error.into()),
            (Err(Stopped::Backend), Ok(_)) => Err(Error::new(
                ErrorKind::Internal,
                "the backend stored a value whose upload it had stopped taking",
            )),
            (Ok(copied), Ok(_)) => Ok(copied),
        }
    }

    /// Writes the value of `key` to `writer` as it arrives, without holding it in memory;
    /// `None` when the key has no value. Only `kinds` are written: a value of another kind is
    /// refused before anything is written.
    ///
    /// Each chunk is checked before it is written, but a value cut short or with chunks
    /// dropped is only found out at its end: on error, discard what was written.
    ///
    /// # Errors
    ///
    /// `Unsupported` for a value of a kind not in `kinds`; `Io` when `writer` fails;
    /// `Corrupt`, `WrongPassword`, `InvalidKey`, `Backend` as [`Collection::get`].
    #[tracing::instrument(skip_all, fields(collection = %self.inner.name, key))]
    pub async fn get_writer<W: Write + Send + 'static>(
        &self,
        key: &str,
        kinds: &[PayloadKind],
        writer: W,
    ) -> Result<Option<Streamed<W>>> {
        self.download(key, kinds, writer)
            .await
            .map_err(|error| self.context(error, "get_writer", key))
    }

    async fn download<W: Write + Send + 'static>(
        &self,
        key: &str,
        kinds: &[PayloadKind],
        writer: W,
    ) -> Result<Option<Streamed<W>>> {
        let path = self.inner.names.value(key)?;
        let mut stream = match self.inner.backend.get_stream(&path).await {
            Ok((_meta, stream)) => stream,
            Err(error) if error.kind() == StoreKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        // The first piece tells an s3kv object from a value of the original library, which
        // was written whole and is read whole.
        let first = match futures::StreamExt::next(&mut stream).await {
            Some(piece) => piece?,
            None => Bytes::new(),
        };
        if !s3kv_codec::is_s3kv_object(&first) {
            let whole = transfer::collect(stream, first.to_vec()).await?;
            return self.write_legacy(&whole, kinds, writer).map(Some);
        }
        let (reader, failure) = PipeReader::spawn(futures::StreamExt::boxed(
            futures::StreamExt::chain(futures::stream::iter([Ok(first)]), stream),
        ));
        let data_key = self.inner.key.clone();
        let (name, owned_key, kinds) = (self.inner.name.clone(), key.to_owned(), kinds.to_vec());
        let decoding = tokio::task::spawn_blocking(move || {
            let identity = Identity { collection: &name, key: &owned_key };
            let mut decoder =
                Decoder::new(reader, data_key.as_deref(), identity, &DecodeOptions::default())
                    .map_err(value_error)?;
            let kind = decoder.header().kind;
            refuse_kind(kind, &kinds)?;
            let mut counted = Counted { inner: writer, written: 0, failed: false };
            match std::io::copy(&mut decoder, &mut counted).and_then(|_| counted.flush()) {
                Ok(()) => Ok(Streamed { writer: counted.inner, len: counted.written, kind }),
                Err(error) if counted.failed => {
                    Err(transfer::caller_io(error, "writing the value"))
                }
                Err(error) => Err(value_error(error.into())),
            }
        });
        let decoded = decoding.await.map_err(|error| transfer::joined(&error))?;
        match transfer::take_failure(&failure) {
            Some(error) => Err(error.into()),
            None => decoded.map(Some),
        }
    }

    /// Decodes a whole value of the original library and writes its payload.
    fn write_legacy<W: Write>(
        &self,
        stored: &[u8],
        kinds: &[PayloadKind],
        mut writer: W,
    ) -> Result<Streamed<W>> {
        // Damage that hid the s3kv header must read as damage, not as a pickle: a pickle the
        // caller does not take is refused after a bounded probe, before it is inflated, and
        // one it takes is checked by decoding it.
        let refused = refuse_kind(PayloadKind::Pickle, kinds);
        if refused.is_err() {
            self.probe_legacy(stored)?;
        }
        refused?;
        let pickle = self.decode_legacy(stored)?;
        writer
            .write_all(&pickle)
            .map_err(|error| transfer::caller_io(error, "writing the value"))?;
        Ok(Streamed { writer, len: pickle.len() as u64, kind: PayloadKind::Pickle })
    }
}

/// Why the encoding thread stopped early.
enum Stopped {
    /// The backend stopped taking the value; its own error says why.
    Backend,
    /// The caller's reader or the encoder failed.
    Caller(Error),
}

/// What a streamed set encodes: the caller's reader, or bytes already in memory.
trait Plaintext: Send + 'static {
    /// Writes all of it to `encoder`; how many bytes that was.
    fn write_to(&mut self, encoder: &mut impl Write) -> std::io::Result<u64>;

    /// Whether an error came from the caller's own reader rather than from the encoder.
    fn failed(&self) -> bool;
}

impl<R: Read + Send + 'static> Plaintext for Watched<R> {
    fn write_to(&mut self, encoder: &mut impl Write) -> std::io::Result<u64> {
        std::io::copy(self, encoder)
    }

    fn failed(&self) -> bool {
        self.failed
    }
}

/// Bytes in memory go to the encoder in one write, which it seals a batch at a time where
/// they are, without copying them first.
impl Plaintext for Bytes {
    fn write_to(&mut self, encoder: &mut impl Write) -> std::io::Result<u64> {
        encoder.write_all(self)?;
        Ok(self.len() as u64)
    }

    fn failed(&self) -> bool {
        false
    }
}

/// Encodes `plaintext` into `pipe`; returns the plaintext length.
fn encode_into(
    pipe: &mut PipeWriter,
    plaintext: &mut impl Plaintext,
    options: &EncodeOptions,
    key: Option<&s3kv_codec::DataKey>,
    identity: Identity<'_>,
    len: Option<u64>,
) -> std::result::Result<u64, s3kv_codec::Error> {
    let mut encoder = Encoder::new(pipe, options, key, identity, len)?;
    let copied = plaintext.write_to(&mut encoder)?;
    encoder.finish()?;
    Ok(copied)
}

/// The error for an encoder that refused what the reader gave: a length other than the one
/// stated (a file that changed size while it was read), or text that is not UTF-8.
fn encode_error(error: s3kv_codec::Error) -> Error {
    match error {
        s3kv_codec::Error::InvalidInput { what } => {
            Error::new(ErrorKind::Io, format!("the value read was refused: {what}"))
        }
        other => other.into(),
    }
}

fn refuse_kind(kind: PayloadKind, kinds: &[PayloadKind]) -> Result<()> {
    if kinds.contains(&kind) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        format!("the value is {}, which this read does not accept", describe(kind)),
    ))
}

fn describe(kind: PayloadKind) -> &'static str {
    match kind {
        PayloadKind::Bytes => "bytes",
        PayloadKind::Text => "text",
        PayloadKind::Cbor => "CBOR data",
        PayloadKind::Pickle => "a Python pickle",
        _ => "of an unknown kind",
    }
}
