//! Round trips: every value that is encoded decodes back, whatever the options and key.

use proptest::prelude::*;
use s3kv_codec::{
    Compression, CompressionAlgorithm, DataKey, DecodeOptions, EncodeOptions, Error, Identity,
    PayloadKind, decode, decode_into, decode_with_limit, decode_with_options, encode, encode_into,
    encode_with_salt, read_header,
};

use crate::support::{IDENTITY, key, mixed, noise, text};

fn options(kind: PayloadKind, compression: Compression, chunk_size_log2: u8) -> EncodeOptions {
    EncodeOptions { kind, compression, chunk_size_log2, threads: 2 }
}

fn round_trip(
    plaintext: &[u8],
    options: &EncodeOptions,
    key: Option<&DataKey>,
) -> Result<(), Error> {
    let stored = encode(plaintext, options, key, IDENTITY)?;
    let decoded = decode(&stored, key, IDENTITY)?;

    assert_eq!(decoded.plaintext, plaintext);
    assert_eq!(decoded.kind, options.kind);
    assert_eq!(decoded.header.compression, options.compression.algorithm());
    assert_eq!(decoded.header.encrypted, key.is_some());
    assert_eq!(decoded.header.chunk_size, 1 << options.chunk_size_log2);
    assert_eq!(decoded.header.plaintext_len, u64::try_from(plaintext.len()).ok());
    Ok(())
}

#[test]
fn empty_value_round_trips_with_and_without_key() -> Result<(), Error> {
    let options = EncodeOptions::default();

    round_trip(b"", &options, None)?;
    round_trip(b"", &options, Some(&key()))
}

#[test]
fn text_value_round_trips_with_default_options() -> Result<(), Error> {
    let options = EncodeOptions::for_kind(PayloadKind::Text);

    round_trip("héllo wörld".as_bytes(), &options, None)?;
    round_trip("héllo wörld".as_bytes(), &options, Some(&key()))
}

#[test]
fn sizes_around_chunk_boundaries_round_trip() -> Result<(), Error> {
    let chunk = 1 << 16;
    let data = mixed(3 * chunk + 1, 7);
    let key = key();
    for size in [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 2 * chunk + 1, 3 * chunk + 1] {
        for compression in [Compression::None, Compression::Zstd { level: 1 }, Compression::Lz4] {
            let options = options(PayloadKind::Bytes, compression, 16);
            round_trip(&data[..size], &options, None)?;
            round_trip(&data[..size], &options, Some(&key))?;
        }
    }
    Ok(())
}

#[test]
fn compressible_value_shrinks_and_noise_grows_only_by_overhead() -> Result<(), Error> {
    let options = options(PayloadKind::Bytes, Compression::default(), 16);
    let compressible = text(200_000);
    let incompressible = noise(200_000, 1);

    let small = encode(&compressible, &options, Some(&key()), IDENTITY)?;
    let large = encode(&incompressible, &options, Some(&key()), IDENTITY)?;

    assert!(small.len() < compressible.len() / 20, "{}", small.len());
    // Four chunks: header 88, frame and tag 20 per chunk, index frame 4 and body
    // 16 + 4 * 4 + 16, footer 8.
    assert_eq!(large.len(), incompressible.len() + 88 + 4 * 20 + 4 + 48 + 8);
    Ok(())
}

#[test]
fn encrypting_twice_gives_different_objects_that_both_decode() -> Result<(), Error> {
    let options = EncodeOptions::default();
    let first = encode(b"same", &options, Some(&key()), IDENTITY)?;
    let second = encode(b"same", &options, Some(&key()), IDENTITY)?;

    assert_ne!(first, second);
    assert_eq!(decode(&second, Some(&key()), IDENTITY)?.plaintext, b"same");
    Ok(())
}

#[test]
fn plain_object_decodes_under_any_identity() -> Result<(), Error> {
    let stored = encode(b"open", &EncodeOptions::default(), None, IDENTITY)?;

    let decoded = decode(&stored, None, Identity::new("elsewhere", "other"))?;

    assert_eq!(decoded.plaintext, b"open");
    Ok(())
}

#[test]
fn header_is_readable_without_a_key() -> Result<(), Error> {
    let options = options(PayloadKind::Pickle, Compression::Lz4, 18);
    let stored = encode(b"\x80\x05N.", &options, Some(&key()), IDENTITY)?;

    let header = read_header(&stored[..88])?;

    assert_eq!(header.kind, PayloadKind::Pickle);
    assert_eq!(header.compression, CompressionAlgorithm::Lz4);
    assert!(header.encrypted);
    assert_eq!(header.chunk_size, 1 << 18);
    assert_eq!(header.plaintext_len, Some(4));
    assert_eq!(header.encoded_len(), 88);
    Ok(())
}

#[test]
fn text_payload_that_is_not_utf8_is_invalid_input() {
    let result = encode(b"\xff", &EncodeOptions::for_kind(PayloadKind::Text), None, IDENTITY);

    assert!(matches!(result, Err(Error::InvalidInput { .. })));
}

#[test]
fn chunk_size_out_of_range_is_invalid_input() {
    for chunk_size_log2 in [0, 15, 25, 255] {
        let options = EncodeOptions { chunk_size_log2, ..EncodeOptions::default() };
        let result = encode(b"x", &options, None, IDENTITY);
        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{chunk_size_log2}");
    }
}

#[test]
fn plaintext_over_the_callers_limit_is_limit_exceeded() -> Result<(), Error> {
    let stored = encode(&text(1000), &EncodeOptions::default(), None, IDENTITY)?;

    let under = decode_with_limit(&stored, None, IDENTITY, 1000).map(|d| d.plaintext.len());
    let over = decode_with_limit(&stored, None, IDENTITY, 999);

    assert_eq!(under?, 1000);
    assert!(matches!(over, Err(Error::LimitExceeded { .. })));
    Ok(())
}

#[test]
fn largest_chunk_size_round_trips() -> Result<(), Error> {
    let options = options(PayloadKind::Bytes, Compression::Zstd { level: 1 }, 24);
    let data = mixed((1 << 24) + 3, 9);

    round_trip(&data, &options, Some(&key()))
}

#[test]
fn thread_count_changes_nothing_in_the_stored_bytes() -> Result<(), Error> {
    let data = mixed(7 * (1 << 16) + 5, 11);
    let key = key();
    let mut objects = Vec::new();
    for threads in [1, 2, 3, 0] {
        for compression in [Compression::None, Compression::Zstd { level: 1 }, Compression::Lz4] {
            let options = EncodeOptions { threads, ..options(PayloadKind::Bytes, compression, 16) };
            let plain = encode(&data, &options, None, IDENTITY)?;
            let sealed = encode_with_salt(&data, &options, &key, IDENTITY, [7; 32])?;
            objects.push((threads, compression, plain, sealed));
        }
    }

    for (threads, compression, plain, sealed) in &objects {
        let (_, _, first_plain, first_sealed) = objects
            .iter()
            .find(|(t, c, _, _)| *t == 1 && c == compression)
            .ok_or(Error::Internal { what: "no single-threaded object" })?;
        assert!(plain == first_plain && sealed == first_sealed, "{threads} {compression:?}");
        for decode_threads in [1, 2, 5] {
            let options = DecodeOptions { threads: decode_threads, ..DecodeOptions::default() };
            assert_eq!(decode_with_options(plain, None, IDENTITY, &options)?.plaintext, data);
            assert_eq!(
                decode_with_options(sealed, Some(&key), IDENTITY, &options)?.plaintext,
                data
            );
        }
    }
    Ok(())
}

#[test]
fn buffers_are_reused_and_hold_only_the_latest_value() -> Result<(), Error> {
    let options = options(PayloadKind::Bytes, Compression::Lz4, 16);
    let large = mixed(3 * (1 << 16) + 9, 2);
    let small = text(1000);
    let mut stored = Vec::new();
    let mut plaintext = Vec::new();

    encode_into(&large, &options, Some(&key()), IDENTITY, &mut stored)?;
    decode_into(&stored, Some(&key()), IDENTITY, &DecodeOptions::default(), &mut plaintext)?;
    assert_eq!(plaintext, large);
    encode_into(&small, &options, None, IDENTITY, &mut stored)?;
    let header = decode_into(&stored, None, IDENTITY, &DecodeOptions::default(), &mut plaintext)?;

    assert_eq!(plaintext, small);
    assert_eq!(header.plaintext_len, Some(1000));
    assert_eq!(decode(&stored, None, IDENTITY)?.plaintext, small);
    Ok(())
}

#[test]
fn unencrypted_value_larger_than_one_decode_batch_round_trips() -> Result<(), Error> {
    // Unencrypted output grows in batches of 64 MiB; this value takes two.
    let data = mixed((64 << 20) + 3 * (1 << 16) + 5, 4);
    let options = EncodeOptions { threads: 2, ..options(PayloadKind::Bytes, Compression::Lz4, 16) };

    let stored = encode(&data, &options, None, IDENTITY)?;

    assert!(decode(&stored, None, IDENTITY)?.plaintext == data);
    Ok(())
}

fn kind_strategy() -> impl Strategy<Value = PayloadKind> {
    prop_oneof![
        Just(PayloadKind::Bytes),
        Just(PayloadKind::Cbor),
        Just(PayloadKind::Pickle),
        Just(PayloadKind::Text),
    ]
}

fn compression_strategy() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        (-5_i32..=19).prop_map(|level| Compression::Zstd { level }),
        Just(Compression::Lz4),
    ]
}

/// A size near a multiple of the chunk size, or anywhere up to three chunks.
fn size_strategy(chunk: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        (0_usize..=3, -2_isize..=2)
            .prop_map(move |(chunks, delta)| { (chunks * chunk).saturating_add_signed(delta) }),
        0..3 * chunk,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_value_round_trips(
        kind in kind_strategy(),
        compression in compression_strategy(),
        chunk_size_log2 in prop_oneof![Just(16_u8), Just(17_u8)],
        size in size_strategy(1 << 16),
        seed in any::<u64>(),
        with_key in any::<bool>(),
        collection in "[a-z]{0,8}",
        name in "\\PC{0,12}",
    ) {
        let data = if kind == PayloadKind::Text { text(size) } else { mixed(size, seed) };
        let options = options(kind, compression, chunk_size_log2);
        let key = with_key.then(key);
        let identity = Identity::new(&collection, &name);

        let stored = encode(&data, &options, key.as_ref(), identity)?;
        let decoded = decode(&stored, key.as_ref(), identity)?;

        prop_assert_eq!(decoded.plaintext, data);
        prop_assert_eq!(decoded.kind, kind);
    }
}
