//! Hostile and damaged input: every change to an object is an error, never a panic, never a
//! wrong value, and never an allocation from an unchecked length.

use proptest::prelude::*;
use s3kv_codec::{
    Compression, EncodeOptions, Error, Identity, PayloadKind, decode, encode, encode_with_salt,
};

use crate::{
    craft::{Chunk, Spec, identity_bytes},
    support::{IDENTITY, error_name, key, mixed, noise, other_key, text},
};

const CHUNK: usize = 1 << 16;

/// A small object of three chunks: compressed, compressed, raw.
fn three_chunks(encrypted: bool) -> Result<Vec<u8>, Error> {
    let mut data = text(2 * CHUNK);
    data.extend(noise(100, 3));
    let options = EncodeOptions {
        kind: PayloadKind::Bytes,
        compression: Compression::Zstd { level: 3 },
        chunk_size_log2: 16,
        threads: 2,
    };
    let key = key();
    encode(&data, &options, encrypted.then_some(&key), IDENTITY)
}

fn decode_any(stored: &[u8], encrypted: bool) -> Result<Vec<u8>, Error> {
    let key = key();
    decode(stored, encrypted.then_some(&key), IDENTITY).map(|decoded| decoded.plaintext)
}

#[test]
fn empty_input_is_not_s3kv() {
    assert!(matches!(decode_any(b"", false), Err(Error::NotS3kv)));
    assert!(matches!(decode_any(b"", true), Err(Error::NotS3kv)));
}

#[test]
fn legacy_zlib_bytes_are_not_s3kv() {
    assert!(matches!(
        decode_any(b"\x78\x9c\xcb\x48\xcd\xc9\xc9\x07\x00", false),
        Err(Error::NotS3kv)
    ));
}

#[test]
fn truncation_at_every_length_is_an_error() -> Result<(), Error> {
    for encrypted in [false, true] {
        let stored = three_chunks(encrypted)?;
        for cut in 0..stored.len() {
            let result = decode_any(&stored[..cut], encrypted);
            let name = result.as_ref().map_or_else(error_name, |_| "ok");
            let expected = if cut == 0 { "NotS3kv" } else { "Truncated" };
            assert_eq!(name, expected, "cut at {cut} of {}", stored.len());
        }
    }
    Ok(())
}

#[test]
fn every_flipped_byte_is_an_error() -> Result<(), Error> {
    for encrypted in [false, true] {
        let stored = three_chunks(encrypted)?;
        for position in 0..stored.len() {
            for bit in [0x01_u8, 0x80] {
                let mut damaged = stored.clone();
                damaged[position] ^= bit;
                let result = decode_any(&damaged, encrypted);
                assert!(result.is_err(), "flip {bit:#x} at {position} decoded");
            }
        }
    }
    Ok(())
}

#[test]
fn flipped_chunk_byte_is_corrupt_at_that_chunk() -> Result<(), Error> {
    for encrypted in [false, true] {
        let stored = three_chunks(encrypted)?;
        let header_len = if encrypted { 88 } else { 24 };
        // The first chunk's body starts after the header and its frame.
        let mut damaged = stored.clone();
        damaged[header_len + 4] ^= 1;

        let result = decode_any(&damaged, encrypted);

        let check = if encrypted { "authentication" } else { "checksum" };
        assert!(
            matches!(result, Err(Error::Corrupt { chunk: Some(0), check: c }) if c == check),
            "{result:?}"
        );
    }
    Ok(())
}

#[test]
fn flipped_salt_or_commitment_reads_as_wrong_key() -> Result<(), Error> {
    let stored = three_chunks(true)?;
    for position in [24, 55, 56, 87] {
        let mut damaged = stored.clone();
        damaged[position] ^= 1;

        assert!(matches!(decode_any(&damaged, true), Err(Error::WrongKey)), "{position}");
    }
    Ok(())
}

#[test]
fn swapped_chunks_are_corrupt() -> Result<(), Error> {
    // Two chunks of equal stored length, so the swap keeps every frame and offset valid.
    let data = [text(CHUNK), text(CHUNK)].concat();
    let options = EncodeOptions {
        compression: Compression::None,
        chunk_size_log2: 16,
        ..EncodeOptions::default()
    };
    for encrypted in [false, true] {
        let key = key();
        let stored = encode(&data, &options, encrypted.then_some(&key), IDENTITY)?;
        let header_len = if encrypted { 88 } else { 24 };
        let chunk_len = 4 + CHUNK + 16;
        let first = header_len..header_len + chunk_len;
        let second = header_len + chunk_len..header_len + 2 * chunk_len;
        let mut swapped = stored[..header_len].to_vec();
        swapped.extend_from_slice(&stored[second.clone()]);
        swapped.extend_from_slice(&stored[first]);
        swapped.extend_from_slice(&stored[second.end..]);

        let result = decode_any(&swapped, encrypted);

        assert!(matches!(result, Err(Error::Corrupt { chunk: Some(0), .. })), "{result:?}");
    }
    Ok(())
}

#[test]
fn changed_header_fields_are_refused() -> Result<(), Error> {
    let cases: [(usize, u8, &str); 8] = [
        (8, 2, "Unsupported"),   // version
        (9, 9, "Unsupported"),   // payload kind
        (10, 7, "Unsupported"),  // compression
        (11, 5, "Unsupported"),  // cipher
        (12, 15, "Unsupported"), // chunk size too small
        (12, 25, "Unsupported"), // chunk size too large
        (14, 1, "Unsupported"),  // reserved
        (0, 0x88, "NotS3kv"),    // magic
    ];
    for encrypted in [false, true] {
        let stored = three_chunks(encrypted)?;
        for (offset, value, expected) in cases {
            let mut changed = stored.clone();
            changed[offset] = value;
            let result = decode_any(&changed, encrypted);
            assert_eq!(
                result.as_ref().map_or_else(error_name, |_| "ok"),
                expected,
                "offset {offset}"
            );
        }
    }
    Ok(())
}

#[test]
fn changed_valid_header_field_fails_authentication() -> Result<(), Error> {
    for encrypted in [false, true] {
        let stored = three_chunks(encrypted)?;
        for (offset, value) in [(9, 1), (10, 2), (12, 17)] {
            let mut changed = stored.clone();
            changed[offset] = value;
            let result = decode_any(&changed, encrypted);
            assert!(matches!(result, Err(Error::Corrupt { .. })), "offset {offset}: {result:?}");
        }
    }
    Ok(())
}

#[test]
fn huge_claimed_length_is_refused_before_allocation() -> Result<(), Error> {
    for encrypted in [false, true] {
        let stored =
            encode(b"tiny", &EncodeOptions::default(), encrypted.then_some(&key()), IDENTITY)?;
        for claim in [1_u64 << 40, u64::MAX - 1, 1 << 62] {
            let mut changed = stored.clone();
            changed[16..24].copy_from_slice(&claim.to_le_bytes());
            let result = decode_any(&changed, encrypted);
            assert!(matches!(result, Err(Error::LimitExceeded { .. })), "{claim}: {result:?}");
        }
    }
    Ok(())
}

#[test]
fn plain_object_with_a_key_is_not_encrypted() -> Result<(), Error> {
    let stored = three_chunks(false)?;

    assert!(matches!(decode(&stored, Some(&key()), IDENTITY), Err(Error::NotEncrypted)));
    Ok(())
}

#[test]
fn encrypted_object_without_a_key_needs_one() -> Result<(), Error> {
    let stored = three_chunks(true)?;

    assert!(matches!(decode(&stored, None, IDENTITY), Err(Error::KeyRequired)));
    Ok(())
}

#[test]
fn other_key_is_wrong_key() -> Result<(), Error> {
    let stored = three_chunks(true)?;

    assert!(matches!(decode(&stored, Some(&other_key()), IDENTITY), Err(Error::WrongKey)));
    Ok(())
}

#[test]
fn object_copied_under_another_identity_is_corrupt() -> Result<(), Error> {
    for stored in
        [three_chunks(true)?, encode(b"", &EncodeOptions::default(), Some(&key()), IDENTITY)?]
    {
        for identity in [
            Identity::new("examples", "key2"),
            Identity::new("other", "key1"),
            // The length prefixes keep these apart from ("examples", "key1").
            Identity::new("examplesk", "ey1"),
        ] {
            let result = decode(&stored, Some(&key()), identity);
            assert!(
                matches!(result, Err(Error::Corrupt { check: "authentication", .. })),
                "{result:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn bytes_after_the_footer_are_refused() -> Result<(), Error> {
    for encrypted in [false, true] {
        let mut stored = three_chunks(encrypted)?;
        stored.push(0);
        assert!(matches!(decode_any(&stored, encrypted), Err(Error::Truncated)));
        // Even a second footer does not make a longer object acceptable.
        let tail = stored[stored.len() - 9..stored.len() - 1].to_vec();
        stored.pop();
        stored.extend_from_slice(&tail);
        assert!(decode_any(&stored, encrypted).is_err());
    }
    Ok(())
}

#[test]
fn crafted_writer_matches_the_encoder() -> Result<(), Error> {
    let data = mixed(2 * CHUNK + 5, 11);
    let chunks: Vec<Chunk> = data.chunks(CHUNK).map(Chunk::raw).collect();
    let length = u64::try_from(data.len()).unwrap_or(0);
    let options = EncodeOptions {
        compression: Compression::None,
        chunk_size_log2: 16,
        ..EncodeOptions::default()
    };
    let mut spec = Spec::plain(0, length, chunks);

    assert_eq!(spec.build(), encode(&data, &options, None, IDENTITY)?);
    let salt = [0x5a; 32];
    spec.sealing = Some((*key().as_bytes(), salt, identity_bytes("examples", "key1")));
    assert_eq!(spec.build(), encode_with_salt(&data, &options, &key(), IDENTITY, salt)?);
    Ok(())
}

#[test]
fn streamed_header_without_length_decodes_from_the_index() -> Result<(), Error> {
    let data = text(CHUNK + 10);
    let chunks = vec![Chunk::zstd(&data[..CHUNK]), Chunk::raw(&data[CHUNK..])];
    let mut spec = Spec::plain(1, u64::try_from(data.len()).unwrap_or(0), chunks);
    spec.header_len = u64::MAX;

    let decoded = decode(&spec.build(), None, IDENTITY)?;

    assert_eq!(decoded.plaintext, data);
    assert_eq!(decoded.header.plaintext_len, Some(u64::try_from(data.len()).unwrap_or(0)));
    Ok(())
}

#[test]
fn chunk_that_inflates_past_the_chunk_size_is_limit_exceeded() {
    // The first chunk claims 64 KiB but inflates to 1 MiB.
    let bomb = Chunk::zstd(&vec![0; 1 << 20]);
    let spec = Spec::plain(1, 2 * 65_536, vec![bomb, Chunk::zstd(&[0; CHUNK])]);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(matches!(result, Err(Error::LimitExceeded { .. })), "{result:?}");
}

#[test]
fn last_chunk_that_inflates_past_its_length_is_limit_exceeded() {
    let spec = Spec::plain(2, 65_536 + 100, vec![Chunk::raw(&[1; CHUNK]), lz4(&[0; 1000])]);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(matches!(result, Err(Error::LimitExceeded { .. })), "{result:?}");
}

fn lz4(plaintext: &[u8]) -> Chunk {
    Chunk { compressed: true, data: lz4_flex::block::compress(plaintext) }
}

#[test]
fn chunk_that_inflates_short_is_corrupt() {
    let spec =
        Spec::plain(1, 2 * 65_536, vec![Chunk::zstd(&[0; CHUNK - 1]), Chunk::zstd(&[0; CHUNK])]);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: Some(0), check: "chunk length" })),
        "{result:?}"
    );
}

#[test]
fn short_raw_chunk_before_the_last_is_corrupt() {
    let spec = Spec::plain(0, 65_536 + 1, vec![Chunk::raw(&[1; CHUNK - 1]), Chunk::raw(&[1, 2])]);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: Some(0), check: "body length" })),
        "{result:?}"
    );
}

#[test]
fn compressed_flag_without_compression_is_corrupt() {
    let mut chunk = Chunk::zstd(&[0; 1000]);
    chunk.compressed = true;
    let spec = Spec::plain(0, 1000, vec![chunk]);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: Some(0), check: "frame flags" })),
        "{result:?}"
    );
}

#[test]
fn compressed_body_not_smaller_than_its_plaintext_is_corrupt() {
    // Ten bytes of noise compress to more than ten bytes; a writer would have stored them raw.
    let spec = Spec::plain(1, 10, vec![Chunk::zstd(&noise(10, 1))]);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: Some(0), check: "body length" })),
        "{result:?}"
    );
}

#[test]
fn header_and_index_lengths_that_disagree_are_corrupt() {
    let mut spec = Spec::plain(0, 5, vec![Chunk::raw(b"hello")]);
    spec.header_len = 4;

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: None, check: "plaintext length" })),
        "{result:?}"
    );
}

#[test]
fn index_length_that_needs_another_chunk_count_is_corrupt() {
    let mut spec = Spec::plain(0, 5, vec![Chunk::raw(b"hello")]);
    spec.header_len = u64::MAX;
    spec.index_len = 70_000;

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: None, check: "chunk count" })),
        "{result:?}"
    );
}

#[test]
fn index_count_that_disagrees_with_its_frames_is_corrupt() {
    let mut spec = Spec::plain(0, 5, vec![Chunk::raw(b"hello")]);
    spec.index_count = Some(2);

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(
        matches!(result, Err(Error::Corrupt { chunk: None, check: "chunk count" })),
        "{result:?}"
    );
}

#[test]
fn bytes_between_chunks_and_index_are_corrupt() {
    let mut spec = Spec::plain(0, 5, vec![Chunk::raw(b"hello")]);
    spec.gap = vec![0; 3];

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(matches!(result, Err(Error::Corrupt { chunk: None, check: "layout" })), "{result:?}");
}

#[test]
fn inline_frame_that_disagrees_with_the_index_is_corrupt() {
    let stored = Spec::plain(1, 5, vec![Chunk::raw(b"hello")]).build();
    let mut changed = stored.clone();
    // Set the compressed bit of the inline frame only; the index keeps the raw frame.
    changed[24 + 3] ^= 0x80;

    let result = decode(&changed, None, IDENTITY);

    assert!(matches!(result, Err(Error::Corrupt { chunk: Some(0), check: "frame" })), "{result:?}");
}

#[test]
fn footer_frame_that_disagrees_with_the_index_frame_is_corrupt() -> Result<(), Error> {
    let mut stored = three_chunks(false)?;
    let footer_frame = stored.len() - 8;
    stored[footer_frame] ^= 4;

    let result = decode_any(&stored, false);

    assert!(matches!(result, Err(Error::Corrupt { chunk: None, .. })), "{result:?}");
    Ok(())
}

#[test]
fn text_object_that_is_not_utf8_is_corrupt() {
    let mut spec = Spec::plain(0, 2, vec![Chunk::raw(b"\xc3\x28")]);
    spec.kind = 1;

    let result = decode(&spec.build(), None, IDENTITY);

    assert!(matches!(result, Err(Error::Corrupt { chunk: None, check: "utf-8" })), "{result:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let plain = decode(&bytes, None, IDENTITY);
        let keyed = decode(&bytes, Some(&key()), IDENTITY);

        prop_assert!(plain.is_err() && keyed.is_err());
    }

    #[test]
    fn random_bytes_after_a_header_never_panic(
        encrypted in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
        footer in any::<bool>(),
    ) {
        let stored = three_chunks(encrypted).unwrap_or_default();
        let mut bytes = stored[..if encrypted { 88 } else { 24 }].to_vec();
        bytes.extend_from_slice(&tail);
        if footer {
            bytes.extend_from_slice(&stored[stored.len() - 8..]);
        }

        prop_assert!(decode_any(&bytes, encrypted).is_err());
    }

    #[test]
    fn random_damage_to_a_plain_object_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut stored = three_chunks(false).unwrap_or_default();
        let original = stored.clone();
        for (position, value) in edits {
            let at = position.index(stored.len());
            stored[at] = value;
        }

        let result = decode_any(&stored, false);

        prop_assert!(result.is_err() || stored == original);
    }
}

/// Three raw chunks of equal stored length and what surrounds them, as byte ranges.
fn three_raw_chunks(encrypted: bool) -> Result<(Vec<u8>, usize, usize), Error> {
    let data = mixed(3 * CHUNK, 12);
    let options = EncodeOptions {
        compression: Compression::None,
        chunk_size_log2: 16,
        ..EncodeOptions::default()
    };
    let key = key();
    let stored = encode(&data, &options, encrypted.then_some(&key), IDENTITY)?;
    let header_len = if encrypted { 88 } else { 24 };
    Ok((stored, header_len, 4 + CHUNK + 16))
}

/// Every decoder's error name for `stored`: whole, streaming, and a range over everything.
fn every_decoder(stored: &[u8], encrypted: bool) -> [&'static str; 3] {
    use std::io::Read;
    let key = key();
    let key = encrypted.then_some(&key);
    let name = |result: Result<Vec<u8>, Error>| result.as_ref().map_or_else(error_name, |_| "ok");
    let whole = decode(stored, key, IDENTITY).map(|decoded| decoded.plaintext);
    let streamed =
        s3kv_codec::Decoder::new(stored, key, IDENTITY, &s3kv_codec::DecodeOptions::default())
            .and_then(|mut decoder| {
                let mut out = Vec::new();
                decoder.read_to_end(&mut out)?;
                Ok(out)
            });
    let ranged = s3kv_codec::decode_range(stored, key, IDENTITY, 0..3 * CHUNK as u64);
    [name(whole), name(streamed), name(ranged)]
}

#[test]
fn dropped_duplicated_or_moved_chunks_are_corrupt_for_every_decoder() -> Result<(), Error> {
    for encrypted in [false, true] {
        let (stored, header, chunk) = three_raw_chunks(encrypted)?;
        let part = |i: usize| &stored[header + i * chunk..header + (i + 1) * chunk];
        let head = &stored[..header];
        let tail = &stored[header + 3 * chunk..];
        let layouts: [(&str, Vec<&[u8]>); 4] = [
            ("dropped", vec![head, part(0), part(2), tail]),
            ("duplicated", vec![head, part(0), part(1), part(1), part(2), tail]),
            ("moved", vec![head, part(1), part(2), part(0), tail]),
            ("replaced", vec![head, part(0), part(0), part(2), tail]),
        ];
        for (what, pieces) in layouts {
            let damaged = pieces.concat();
            assert_eq!(every_decoder(&damaged, encrypted), ["Corrupt"; 3], "{what} {encrypted}");
        }
    }
    Ok(())
}

#[test]
fn index_flag_removed_from_the_last_segment_is_an_error_for_every_decoder() -> Result<(), Error> {
    for encrypted in [false, true] {
        let (stored, header, chunk) = three_raw_chunks(encrypted)?;
        let index_frame = header + 3 * chunk;
        let footer_frame = stored.len() - 8;
        for frames in [vec![index_frame], vec![footer_frame], vec![index_frame, footer_frame]] {
            let mut damaged = stored.clone();
            for at in &frames {
                damaged[at + 3] &= !0x40;
            }
            let names = every_decoder(&damaged, encrypted);
            assert!(names.iter().all(|name| *name != "ok"), "{frames:?} {names:?}");
        }
    }
    Ok(())
}

#[test]
fn object_under_another_collection_is_corrupt_for_every_decoder() -> Result<(), Error> {
    let (stored, _, _) = three_raw_chunks(true)?;
    let elsewhere = Identity::new("other collection", IDENTITY.key);

    let whole = decode(&stored, Some(&key()), elsewhere).map(|decoded| decoded.plaintext);
    let ranged = s3kv_codec::decode_range(&stored, Some(&key()), elsewhere, 0..10);

    assert!(matches!(whole, Err(Error::Corrupt { .. })));
    assert!(matches!(ranged, Err(Error::Corrupt { .. })));
    Ok(())
}
