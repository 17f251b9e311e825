//! Streaming: the `Encoder` and `Decoder` agree with whole-buffer `encode` and `decode`, read
//! and write only as much as they must, and refuse damaged streams with the same errors.

use std::io::{self, Read, Write};

use proptest::prelude::*;
use s3kv_codec::{
    Compression, DataKey, DecodeOptions, Decoder, EncodeOptions, Encoder, Error, PayloadKind,
    decode, encode,
};

use crate::support::{IDENTITY, error_name, key, mixed, other_key, text};

const CHUNK: usize = 1 << 16;

fn options(compression: Compression, threads: usize) -> EncodeOptions {
    EncodeOptions { compression, chunk_size_log2: 16, threads, ..EncodeOptions::default() }
}

/// Streams `data` through an encoder in pieces of `piece` bytes.
fn stream_encode(
    data: &[u8],
    options: &EncodeOptions,
    key: Option<&DataKey>,
    stated: bool,
    piece: usize,
) -> Result<Vec<u8>, Error> {
    let stated = stated.then(|| u64::try_from(data.len()).unwrap_or(u64::MAX));
    let mut encoder = Encoder::new(Vec::new(), options, key, IDENTITY, stated)?;
    for part in data.chunks(piece.max(1)) {
        encoder.write_all(part)?;
    }
    encoder.finish()
}

/// Reads a whole object through a decoder.
fn stream_decode(stored: &[u8], key: Option<&DataKey>, threads: usize) -> Result<Vec<u8>, Error> {
    let options = DecodeOptions { threads, ..DecodeOptions::default() };
    let mut decoder = Decoder::new(stored, key, IDENTITY, &options)?;
    let mut out = Vec::new();
    decoder.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn streamed_plain_object_is_byte_for_byte_the_encoded_one() -> Result<(), Error> {
    let data = mixed(5 * CHUNK + 17, 3);
    for compression in [Compression::None, Compression::Zstd { level: 1 }, Compression::Lz4] {
        for threads in [1, 2, 3] {
            let options = options(compression, threads);
            let whole = encode(&data, &options, None, IDENTITY)?;

            // Small pieces are gathered into batches; one large write is sealed where it is.
            for piece in [10_000, data.len()] {
                let streamed = stream_encode(&data, &options, None, true, piece)?;

                assert!(whole == streamed, "{compression:?}, {threads} threads, pieces of {piece}");
            }
        }
    }
    Ok(())
}

#[test]
fn streams_of_unknown_length_decode_both_ways() -> Result<(), Error> {
    let key = key();
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 4 * CHUNK + 3] {
        let data = mixed(size, 5);
        for encrypted in [false, true] {
            let key = encrypted.then_some(&key);
            let options = options(Compression::Zstd { level: 1 }, 2);
            let streamed = stream_encode(&data, &options, key, false, 7_001)?;
            let whole = encode(&data, &options, key, IDENTITY)?;

            assert_eq!(decode(&streamed, key, IDENTITY)?.plaintext, data, "{size}");
            assert_eq!(stream_decode(&streamed, key, 2)?, data, "{size}");
            assert_eq!(stream_decode(&whole, key, 1)?, data, "{size}");
            assert_eq!(stream_decode(&whole, key, 3)?, data, "{size}");
        }
    }
    Ok(())
}

/// A reader that counts what was taken from it.
struct Counting<'a> {
    inner: &'a [u8],
    taken: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buf)?;
        self.taken += count;
        Ok(count)
    }
}

#[test]
fn decoder_reads_one_batch_ahead_at_most() -> Result<(), Error> {
    let data = mixed(40 * CHUNK, 8);
    let stored = encode(&data, &options(Compression::None, 1), None, IDENTITY)?;
    let options = DecodeOptions { threads: 2, ..DecodeOptions::default() };
    let mut decoder =
        Decoder::new(Counting { inner: &stored, taken: 0 }, None, IDENTITY, &options)?;

    let mut first = vec![0; 100];
    decoder.read_exact(&mut first)?;
    let taken = decoder.into_inner().taken;

    assert_eq!(first, data[..100]);
    // The header, two chunks of frame, data and tag, and the next frame.
    assert_eq!(taken, 24 + 2 * (4 + CHUNK + 16) + 4);
    Ok(())
}

/// A writer that records how much reached it.
struct Sink(Vec<u8>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn encoder_writes_each_batch_as_it_fills() -> Result<(), Error> {
    let options = options(Compression::None, 2);
    let mut encoder = Encoder::new(Sink(Vec::new()), &options, None, IDENTITY, None)?;
    let data = mixed(6 * CHUNK, 9);

    encoder.write_all(&data[..2 * CHUNK - 1])?;
    let before = encoder.get_ref().0.len();
    encoder.write_all(&data[2 * CHUNK - 1..4 * CHUNK])?;
    let after = encoder.get_ref().0.len();
    encoder.write_all(&data[4 * CHUNK..])?;
    let sink = encoder.finish()?;

    // Nothing but the header is written before a batch of two chunks fills, then the batch.
    assert_eq!(before, 24);
    assert_eq!(after, 24 + 4 * (4 + CHUNK + 16));
    assert_eq!(decode(&sink.0, None, IDENTITY)?.plaintext, data);
    Ok(())
}

#[test]
fn stated_length_must_match_the_value() -> Result<(), Error> {
    let options = options(Compression::None, 1);
    let mut short = Encoder::new(Vec::new(), &options, None, IDENTITY, Some(10))?;
    short.write_all(b"12345")?;
    let mut long = Encoder::new(Vec::new(), &options, None, IDENTITY, Some(3))?;

    assert!(matches!(short.finish(), Err(Error::InvalidInput { .. })));
    assert!(long.write_all(b"12345").is_err());
    assert!(matches!(long.finish(), Err(Error::InvalidInput { .. })));

    // A write of whole batches at once is counted before any of it is sealed.
    let data = mixed(3 * CHUNK, 4);
    let stated = Some(CHUNK as u64 - 1);
    let mut sink = Encoder::new(Sink(Vec::new()), &options, None, IDENTITY, stated)?;
    assert!(sink.write_all(&data).is_err());
    assert_eq!(sink.get_ref().0.len(), 24, "only the header is written");
    Ok(())
}

#[test]
fn streamed_text_is_checked_across_chunk_boundaries() -> Result<(), Error> {
    let options = EncodeOptions { kind: PayloadKind::Text, ..options(Compression::Lz4, 2) };
    // A two-byte character straddles the first chunk boundary.
    let mut valid = text(CHUNK - 1);
    valid.extend_from_slice("é".as_bytes());
    valid.extend(text(CHUNK));
    let mut invalid = valid.clone();
    invalid[CHUNK] = b'x';

    for piece in [999, valid.len()] {
        let stored = stream_encode(&valid, &options, None, false, piece)?;

        assert_eq!(stream_decode(&stored, None, 2)?, valid);
        assert!(matches!(
            stream_encode(&invalid, &options, None, false, piece),
            Err(Error::InvalidInput { .. })
        ));
    }
    Ok(())
}

#[test]
fn damaged_streams_fail_like_whole_objects() -> Result<(), Error> {
    let key = key();
    for encrypted in [false, true] {
        let key = encrypted.then_some(&key);
        let data = mixed(3 * CHUNK + 100, 4);
        let stored = encode(&data, &options(Compression::Zstd { level: 1 }, 2), key, IDENTITY)?;

        for cut in (0..stored.len()).step_by(97).chain(stored.len() - 9..stored.len()) {
            let result = stream_decode(&stored[..cut], key, 2);
            let name = result.as_ref().map_or_else(error_name, |_| "ok");
            let expected = if cut == 0 { "NotS3kv" } else { "Truncated" };
            assert_eq!(name, expected, "cut at {cut} of {}", stored.len());
        }
        for position in (0..stored.len()).step_by(61) {
            let mut damaged = stored.clone();
            damaged[position] ^= 0x10;
            assert!(stream_decode(&damaged, key, 2).is_err(), "flip at {position}");
        }
        let mut longer = stored.clone();
        longer.push(0);
        assert!(matches!(stream_decode(&longer, key, 1), Err(Error::Corrupt { .. })));
    }
    Ok(())
}

/// Reads a whole object through a decoder, `size` bytes at a time at most.
fn decode_in_reads_of(stored: &[u8], key: Option<&DataKey>, size: usize) -> Result<Vec<u8>, Error> {
    let options = DecodeOptions { threads: 2, ..DecodeOptions::default() };
    let mut decoder = Decoder::new(stored, key, IDENTITY, &options)?;
    let (mut out, mut buf) = (Vec::new(), vec![0xa5; size]);
    // Each read but the last gives at least a byte; the values here are under 64 chunks.
    for _ in 0..=64 * CHUNK {
        let count = decoder.read(&mut buf)?;
        if count == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..count]);
    }
    panic!("the decoder never ended");
}

/// Reads large enough for a batch are opened straight into the caller's buffer, smaller ones
/// through the decoder's own: the bytes, and the refusal of damage, are the same either way.
#[test]
fn reads_of_any_size_give_the_same_value_and_refuse_the_same_damage() -> Result<(), Error> {
    let key = key();
    let sizes = [1, 1000, CHUNK - 1, CHUNK, 2 * CHUNK, 3 * CHUNK + 5, 16 * CHUNK];
    for (encrypted, compression) in [(false, Compression::None), (true, Compression::Lz4)] {
        let key = encrypted.then_some(&key);
        let data = mixed(5 * CHUNK + 17, 6);
        let stored = encode(&data, &options(compression, 2), key, IDENTITY)?;
        let mut damaged = stored.clone();
        let last = damaged.len() - 40;
        damaged[last] ^= 0x01;
        for size in sizes {
            assert_eq!(decode_in_reads_of(&stored, key, size)?, data, "reads of {size}");
            let refused = decode_in_reads_of(&damaged, key, size);
            assert!(refused.is_err(), "damage read {size} at a time");
        }
    }
    Ok(())
}

#[test]
fn stream_with_wrong_key_or_over_the_limit_is_refused() -> Result<(), Error> {
    let data = text(3 * CHUNK);
    let stored = encode(&data, &options(Compression::Lz4, 1), Some(&key()), IDENTITY)?;
    let limited = DecodeOptions { max_plaintext_len: 100, threads: 1 };

    let wrong = Decoder::new(stored.as_slice(), Some(&other_key()), IDENTITY, &limited);
    let over = Decoder::new(stored.as_slice(), Some(&key()), IDENTITY, &limited);

    assert!(matches!(wrong, Err(Error::WrongKey)));
    assert!(matches!(over, Err(Error::LimitExceeded { .. })));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_stream_round_trips(
        size in prop_oneof![(0_usize..=4, -2_isize..=2)
            .prop_map(|(chunks, delta)| (chunks * CHUNK).saturating_add_signed(delta)),
            0..4 * CHUNK],
        piece in 1_usize..100_000,
        threads in 1_usize..=3,
        compression in prop_oneof![
            Just(Compression::None), Just(Compression::Lz4), Just(Compression::Zstd { level: 1 })
        ],
        with_key in any::<bool>(),
        stated in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let data = mixed(size, seed);
        let key = with_key.then(key);
        let options = options(compression, threads);

        let stored = stream_encode(&data, &options, key.as_ref(), stated, piece)?;

        prop_assert_eq!(stream_decode(&stored, key.as_ref(), threads)?, data.clone());
        prop_assert_eq!(decode(&stored, key.as_ref(), IDENTITY)?.plaintext, data);
    }
}
