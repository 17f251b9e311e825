//! Streaming encode and decode over `std::io`, in memory bounded by the chunk size times the
//! number of threads, for values of any length.
//!
//! The [`Encoder`] is a [`Write`] that seals chunks as they fill; the [`Decoder`] is a
//! [`Read`] that hands out each chunk's plaintext once that chunk has checked out.

use std::io::{self, Read, Write};

use crate::{
    DecodeOptions, FORMAT_VERSION,
    chunks::{self, Opener, Sealed},
    compress::Compressor,
    decode::{Index, check_frame, sealer_for},
    encode::{fresh_sealing, index_body_len, seal_header},
    error::Error,
    frame::{FOOTER_LEN, FOOTER_MAGIC, FRAME_LEN, Frame, MIN_INDEX_BODY_LEN, TAG_LEN},
    header::{self, ENCRYPTED_HEADER_LEN, Header, PLAIN_HEADER_LEN},
    key::DataKey,
    options::{CompressionAlgorithm, EncodeOptions, Identity, PayloadKind},
    seal::{Sealer, Segment},
};

/// Writes an object as its plaintext is written to it.
///
/// Plaintext is gathered until every thread has a full chunk, then those chunks are sealed
/// together and written out; [`Encoder::finish`] seals the rest and writes the index and the
/// footer. An encoder dropped without `finish` leaves an object that reads as truncated.
///
/// Memory: about `2 × threads × chunk size`, plus 4 bytes per chunk for the index.
pub struct Encoder<W: Write> {
    writer: W,
    sealer: Sealer,
    chunk_size: usize,
    kind: PayloadKind,
    compressors: Vec<Compressor>,
    pending: Vec<u8>,
    batch_bytes: usize,
    out: Vec<u8>,
    frames: Vec<Frame>,
    plaintext_len: u64,
    stated_len: Option<u64>,
    utf8: Utf8Check,
    failed: bool,
}

impl<W: Write> Encoder<W> {
    /// Starts an object on `writer` and writes its header.
    ///
    /// `plaintext_len` is the value's length when known: the header then states it, and
    /// [`Encoder::finish`] refuses a value of another length. With `None` the header says
    /// "unknown" and only the index carries the length.
    ///
    /// # Errors
    ///
    /// As [`crate::encode`], and [`Error::Io`] when writing fails.
    pub fn new(
        mut writer: W,
        options: &EncodeOptions,
        key: Option<&DataKey>,
        identity: Identity<'_>,
        plaintext_len: Option<u64>,
    ) -> Result<Self, Error> {
        let chunk_size = usize::try_from(options.validate()?)
            .map_err(|_| Error::invalid("chunk size does not fit in memory"))?;
        let sealing = fresh_sealing(key)?;
        let header = Header {
            version: FORMAT_VERSION,
            kind: options.kind,
            compression: options.compression.algorithm(),
            encrypted: sealing.is_some(),
            chunk_size: 1 << options.chunk_size_log2,
            plaintext_len,
        };
        let (header_bytes, sealer) = seal_header(&header, sealing, identity)?;
        writer.write_all(&header_bytes)?;

        let threads = chunks::resolve_threads(options.threads).max(1);
        let compressors = (0..threads)
            .map(|_| Compressor::new(options.compression))
            .collect::<Result<Vec<_>, _>>()?;
        let batch_bytes = chunk_size * threads;
        Ok(Self {
            writer,
            sealer,
            chunk_size,
            kind: options.kind,
            compressors,
            pending: Vec::with_capacity(batch_bytes),
            batch_bytes,
            out: Vec::new(),
            frames: Vec::new(),
            plaintext_len: 0,
            stated_len: plaintext_len,
            utf8: Utf8Check::default(),
            failed: false,
        })
    }

    /// Seals what is left, writes the index and the footer, flushes, and returns the writer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the value's length differs from the stated one, or a
    /// text payload is not UTF-8; [`Error::Io`] when writing fails; [`Error::InvalidInput`]
    /// after an earlier error.
    pub fn finish(mut self) -> Result<W, Error> {
        self.usable()?;
        self.seal_pending()?;
        self.utf8.finish().map_err(|()| Error::invalid("a text payload must be utf-8"))?;
        if self.stated_len.is_some_and(|stated| stated != self.plaintext_len) {
            return Err(Error::invalid(format!(
                "the value is {} bytes long, not the {} bytes stated when the encoder started",
                self.plaintext_len,
                self.stated_len.unwrap_or_default()
            )));
        }

        let chunk_count = self.frames.len();
        let index_frame = Frame::index(index_body_len(chunk_count)?)?;
        let mut index = Vec::with_capacity(FRAME_LEN + index_frame.body_len() + FOOTER_LEN);
        index.extend_from_slice(&index_frame.to_bytes());
        index.extend_from_slice(&self.plaintext_len.to_le_bytes());
        index.extend_from_slice(&u64::try_from(chunk_count).unwrap_or(u64::MAX).to_le_bytes());
        for frame in &self.frames {
            index.extend_from_slice(&frame.to_bytes());
        }
        let count = u64::try_from(chunk_count).unwrap_or(u64::MAX);
        self.sealer.seal(&mut index, FRAME_LEN, Segment::Index(count), index_frame)?;
        index.extend_from_slice(&index_frame.to_bytes());
        index.extend_from_slice(&FOOTER_MAGIC);
        self.writer.write_all(&index)?;
        self.writer.flush()?;
        Ok(self.writer)
    }

    /// The writer, to look at; writing to it directly would corrupt the object.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// Refuses more work after an error, since the stream is then in an unknown state.
    fn usable(&self) -> Result<(), Error> {
        if self.failed {
            Err(Error::invalid("the encoder failed earlier and cannot continue"))
        } else {
            Ok(())
        }
    }

    /// Seals the gathered plaintext, every chunk of it, and writes it out.
    fn seal_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let sealed = self.seal(&pending);
        // The buffer is kept for the next batch, emptied.
        self.pending = pending;
        self.pending.clear();
        sealed
    }

    /// Seals `data` (whole chunks, but for the value's last) and writes it out.
    fn seal(&mut self, data: &[u8]) -> Result<(), Error> {
        self.failed = true;
        if self.kind == PayloadKind::Text {
            self.utf8.update(data).map_err(|()| Error::invalid("a text payload must be utf-8"))?;
        }
        let first = u64::try_from(self.frames.len()).unwrap_or(u64::MAX);
        self.out.clear();
        chunks::seal_chunks(
            data,
            self.chunk_size,
            first,
            &self.sealer,
            &mut self.compressors,
            &mut self.out,
            &mut self.frames,
        )?;
        self.writer.write_all(&self.out)?;
        self.failed = false;
        Ok(())
    }

    /// Takes what fits of `buf` into the current batch, sealing the batch when it is full. A
    /// whole batch at the start of `buf`, with nothing gathered yet, is sealed where it is,
    /// without a copy: a caller that writes a large buffer at once has it read only by the
    /// compressors and the cipher.
    fn take(&mut self, buf: &[u8]) -> Result<usize, Error> {
        self.usable()?;
        if self.pending.is_empty() && buf.len() >= self.batch_bytes {
            let batch = &buf[..self.batch_bytes];
            self.count(batch.len())?;
            self.seal(batch)?;
            return Ok(batch.len());
        }
        let room = self.batch_bytes - self.pending.len();
        let taken = &buf[..room.min(buf.len())];
        self.count(taken.len())?;
        self.pending.extend_from_slice(taken);
        if self.pending.len() == self.batch_bytes {
            self.seal_pending()?;
        }
        Ok(taken.len())
    }

    /// Adds `len` bytes to the plaintext's length, refusing more than the stated length.
    fn count(&mut self, len: usize) -> Result<(), Error> {
        let total = self.plaintext_len.saturating_add(len as u64);
        if self.stated_len.is_some_and(|stated| total > stated) {
            self.failed = true;
            return Err(Error::invalid(format!(
                "the value is longer than the {} bytes stated when the encoder started",
                self.stated_len.unwrap_or_default()
            )));
        }
        self.plaintext_len = total;
        Ok(())
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.take(buf).map_err(into_io)
    }

    /// Flushes the writer; a partial chunk stays gathered until it fills or the encoder
    /// finishes, since every chunk but the last must be full.
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Reads an object as a stream and hands out its plaintext.
///
/// Each chunk is authenticated before any of its bytes are handed out, but the index comes
/// last: an object cut short at a chunk boundary, or with chunks dropped at its end, is only
/// found out when the last read fails. Treat the plaintext as incomplete until `read`
/// returns 0.
///
/// Errors come out of `read` as [`io::Error`]s of kind [`io::ErrorKind::InvalidData`] that
/// carry an [`Error`] with the same kinds as [`crate::decode`]; `Error::from` (and so `?`)
/// takes it back out.
///
/// Memory: about `2 × threads × chunk size`, plus 4 bytes per chunk for the index.
pub struct Decoder<R: Read> {
    reader: R,
    header: Header,
    sealer: Sealer,
    openers: Vec<Opener>,
    /// Sealed chunk bodies of the batch being opened. Kept across batches and only grown, so
    /// a batch overwrites the previous one instead of zeroing the buffer first.
    bodies: Vec<u8>,
    /// Opened plaintext not yet handed out: `output[position..output_len]`. Grown, never
    /// shrunk, for the same reason.
    output: Vec<u8>,
    output_len: usize,
    position: usize,
    frames: Vec<Frame>,
    peeked: Option<Frame>,
    plaintext_len: u64,
    stored_offset: usize,
    max_plaintext_len: u64,
    utf8: Utf8Check,
    state: State,
}

/// Where a decoder is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed,
}

impl<R: Read> Decoder<R> {
    /// Reads the header from `reader` and checks the key against it.
    ///
    /// # Errors
    ///
    /// As [`crate::decode`] for the header and key checks, [`Error::Io`] when reading fails.
    pub fn new(
        mut reader: R,
        key: Option<&DataKey>,
        identity: Identity<'_>,
        options: &DecodeOptions,
    ) -> Result<Self, Error> {
        let mut bytes = [0_u8; ENCRYPTED_HEADER_LEN];
        let mut got = read_up_to(&mut reader, &mut bytes[..PLAIN_HEADER_LEN])?;
        if got == PLAIN_HEADER_LEN && bytes[11] != 0 {
            got += read_up_to(&mut reader, &mut bytes[PLAIN_HEADER_LEN..])?;
        }
        let parsed = header::parse(&bytes[..got])?;
        let sealer = sealer_for(&parsed, key, identity)?;
        let header = parsed.header.clone();
        if let Some(claimed) = header.plaintext_len
            && claimed > options.max_plaintext_len
        {
            return Err(crate::decode::over_limit(claimed, options.max_plaintext_len));
        }
        let header_len = header.encoded_len();
        let threads = chunks::resolve_threads(options.threads).max(1);
        Ok(Self {
            reader,
            header,
            sealer,
            openers: Opener::for_threads(threads),
            bodies: Vec::new(),
            output: Vec::new(),
            output_len: 0,
            position: 0,
            frames: Vec::new(),
            peeked: None,
            plaintext_len: 0,
            stored_offset: header_len,
            max_plaintext_len: options.max_plaintext_len,
            utf8: Utf8Check::default(),
            state: State::Reading,
        })
    }

    /// The object's header; its length is only a claim until the last read.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The reader, positioned wherever decoding stopped.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// Reads the next batch of chunks (one per thread) and opens them: straight into `direct`
    /// when the batch fits there (returning how many bytes it wrote), else into the output;
    /// on the last batch, also checks the index, the footer and the end of the stream.
    fn fill(&mut self, direct: &mut [u8]) -> Result<Option<usize>, Error> {
        let chunk_size = usize::try_from(self.header.chunk_size).unwrap_or(usize::MAX);
        let mut batch: Vec<(Frame, usize)> = Vec::with_capacity(self.openers.len());
        let mut bodies_len = 0;
        while batch.len() < self.openers.len() {
            let frame = match self.peeked.take() {
                Some(frame) => frame,
                None => self.read_frame()?,
            };
            if frame.is_index() {
                self.peeked = Some(frame);
                break;
            }
            let number = self.frames.len() as u64 + batch.len() as u64;
            let longest = if frame.is_compressed() { chunk_size - 1 } else { chunk_size };
            if frame.is_compressed() && self.header.compression == CompressionAlgorithm::None {
                return Err(Error::corrupt(Some(number), "frame flags"));
            }
            if !(TAG_LEN + 1..=TAG_LEN + longest).contains(&frame.body_len()) {
                return Err(Error::corrupt(Some(number), "body length"));
            }
            let start = bodies_len;
            bodies_len += frame.body_len();
            if self.bodies.len() < bodies_len {
                self.bodies.resize(bodies_len, 0);
            }
            read_exact(&mut self.reader, &mut self.bodies[start..bodies_len])?;
            self.stored_offset += FRAME_LEN + frame.body_len();
            batch.push((frame, start));
        }
        let next = if let Some(frame) = self.peeked {
            frame
        } else {
            let frame = self.read_frame()?;
            self.peeked = Some(frame);
            frame
        };

        let first = self.frames.len() as u64;
        let count = first + batch.len() as u64;
        let index =
            if next.is_index() { Some(self.read_index(next, &batch, count)?) } else { None };

        let mut sealed = Vec::with_capacity(batch.len());
        for (number, (frame, start)) in (first..).zip(&batch) {
            let plaintext_len = match &index {
                Some(index) if number + 1 == count => {
                    let full = u64::from(self.header.chunk_size) * (count - 1);
                    usize::try_from(index.plaintext_len.saturating_sub(full)).unwrap_or(usize::MAX)
                }
                _ => chunk_size,
            };
            check_frame(*frame, self.header.compression, plaintext_len, number)?;
            let body = &self.bodies[*start..*start + frame.body_len()];
            sealed.push(Sealed { number, frame: *frame, body, plaintext_len });
        }
        let total = chunks::plaintext_total(&sealed);
        let seen = self.plaintext_len.saturating_add(total as u64);
        if seen > self.max_plaintext_len {
            return Err(crate::decode::over_limit(seen, self.max_plaintext_len));
        }
        if self.header.plaintext_len.is_some_and(|claimed| seen > claimed) {
            return Err(Error::corrupt(None, "plaintext length"));
        }

        // A batch that fits the caller's buffer is opened straight into it: one copy less.
        let (out, wrote) = if total > 0 && total <= direct.len() {
            (&mut direct[..total], Some(total))
        } else {
            if self.output.len() < total {
                self.output.resize(total, 0);
            }
            self.output_len = total;
            self.position = 0;
            (&mut self.output[..total], None)
        };
        chunks::open_chunks(
            &sealed,
            &self.sealer,
            self.header.compression,
            &mut self.openers,
            out,
        )?;
        self.plaintext_len = seen;
        self.frames.extend(batch.iter().map(|(frame, _)| *frame));
        if self.header.kind == PayloadKind::Text {
            self.utf8.update(out).map_err(|()| Error::corrupt(None, "utf-8"))?;
        }
        if index.is_some() {
            self.utf8.finish().map_err(|()| Error::corrupt(None, "utf-8"))?;
            self.read_footer(next)?;
            self.state = State::Done;
        }
        Ok(wrote)
    }

    /// Reads and opens the index after `count` chunks, and checks it against the chunks
    /// read so far and those of the last batch.
    fn read_index(
        &mut self,
        frame: Frame,
        batch: &[(Frame, usize)],
        count: u64,
    ) -> Result<Index, Error> {
        let expected = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(FRAME_LEN))
            .and_then(|frames| frames.checked_add(MIN_INDEX_BODY_LEN));
        if frame.is_compressed() || expected != Some(frame.body_len()) {
            return Err(Error::corrupt(None, "index length"));
        }
        let mut segment = vec![0_u8; FRAME_LEN + frame.body_len()];
        segment[..FRAME_LEN].copy_from_slice(&frame.to_bytes());
        read_exact(&mut self.reader, &mut segment[FRAME_LEN..])?;
        let index = Index::open(&segment, self.stored_offset, &self.sealer, frame)?;
        index.layout(&self.header)?;
        let listed = self.frames.iter().chain(batch.iter().map(|(frame, _)| frame));
        if !index.frames().iter().eq(listed) {
            return Err(Error::corrupt(None, "frame"));
        }
        Ok(index)
    }

    /// Checks the footer repeats the index frame and nothing follows it.
    fn read_footer(&mut self, frame: Frame) -> Result<(), Error> {
        let mut footer = [0_u8; FOOTER_LEN];
        read_exact(&mut self.reader, &mut footer)?;
        if footer[..FRAME_LEN] != frame.to_bytes() || footer[FRAME_LEN..] != FOOTER_MAGIC {
            return Err(Error::corrupt(None, "footer"));
        }
        let mut extra = [0_u8; 1];
        if read_up_to(&mut self.reader, &mut extra)? != 0 {
            return Err(Error::corrupt(None, "layout"));
        }
        Ok(())
    }

    /// Reads a frame.
    fn read_frame(&mut self) -> Result<Frame, Error> {
        let mut bytes = [0_u8; FRAME_LEN];
        read_exact(&mut self.reader, &mut bytes)?;
        Ok(Frame::from_bytes(bytes))
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.position < self.output_len {
                let available = &self.output[self.position..self.output_len];
                let count = available.len().min(buf.len());
                buf[..count].copy_from_slice(&available[..count]);
                self.position += count;
                return Ok(count);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => {
                    return Err(into_io(Error::invalid(
                        "the decoder failed earlier and cannot continue",
                    )));
                }
                State::Reading => {
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    match self.fill(buf) {
                        Ok(Some(count)) => return Ok(count),
                        Ok(None) => {}
                        Err(error) => {
                            self.state = State::Failed;
                            self.output_len = 0;
                            return Err(into_io(error));
                        }
                    }
                }
            }
        }
    }
}

/// Reads exactly `buf.len()` bytes; the stream ending first is [`Error::Truncated`].
fn read_exact(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), Error> {
    if read_up_to(reader, buf)? == buf.len() { Ok(()) } else { Err(Error::Truncated) }
}

/// Reads until `buf` is full or the stream ends, returning how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(Error::Io { source: error }),
        }
    }
    Ok(filled)
}

/// A codec error as an I/O error; an I/O error of the stream itself passes through.
fn into_io(error: Error) -> io::Error {
    match error {
        Error::Io { source } => source,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// Checks UTF-8 across pieces that may split a character.
#[derive(Default)]
struct Utf8Check {
    /// The start of a character cut at the end of the last piece (at most 3 bytes).
    carry: Vec<u8>,
}

impl Utf8Check {
    /// Checks the next piece.
    fn update(&mut self, mut piece: &[u8]) -> Result<(), ()> {
        if let Some(&lead) = self.carry.first() {
            let width = match lead {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let take = (width - self.carry.len()).min(piece.len());
            self.carry.extend_from_slice(&piece[..take]);
            piece = &piece[take..];
            if self.carry.len() < width {
                return Ok(());
            }
            std::str::from_utf8(&self.carry).map_err(|_| ())?;
            self.carry.clear();
        }
        match std::str::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_none() => {
                self.carry.extend_from_slice(&piece[error.valid_up_to()..]);
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Checks nothing is left cut.
    fn finish(&self) -> Result<(), ()> {
        if self.carry.is_empty() { Ok(()) } else { Err(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Check;

    #[test]
    fn utf8_split_anywhere_is_accepted_and_bad_bytes_are_not() {
        let text = "aé€😀z".as_bytes();
        for cut in 0..=text.len() {
            for second in cut..=text.len() {
                let mut check = Utf8Check::default();
                let pieces = [&text[..cut], &text[cut..second], &text[second..]];
                assert!(pieces.iter().all(|piece| check.update(piece).is_ok()), "{cut}");
                assert!(check.finish().is_ok(), "{cut} {second}");
            }
        }
        let mut cut_short = Utf8Check::default();
        assert!(cut_short.update(&text[..4]).is_ok() && cut_short.finish().is_err());
        assert!(Utf8Check::default().update(b"\xff").is_err());
        let mut bad_continuation = Utf8Check::default();
        assert!(bad_continuation.update(b"\xe2").is_ok());
        assert!(bad_continuation.update(b"\x28\xa1").is_err());
    }
}
