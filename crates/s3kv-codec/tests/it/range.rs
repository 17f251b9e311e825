//! Range reads: any plaintext range decodes to the same bytes as the whole value, from the
//! header, the footer, the index and only the chunks that overlap it.

use proptest::prelude::*;
use s3kv_codec::{
    Compression, EncodeOptions, Error, IndexLocation, RANGE_HEAD_LEN, RANGE_TAIL_LEN, decode_range,
    encode,
};

use crate::support::{IDENTITY, error_name, key, mixed, other_key};

const CHUNK: u64 = 1 << 16;

fn options(compression: Compression) -> EncodeOptions {
    EncodeOptions { compression, chunk_size_log2: 16, threads: 2, ..EncodeOptions::default() }
}

fn slice(stored: &[u8], range: std::ops::Range<u64>) -> &[u8] {
    let start = usize::try_from(range.start).unwrap_or(usize::MAX);
    let end = usize::try_from(range.end).unwrap_or(usize::MAX);
    stored.get(start..end).unwrap_or_default()
}

#[test]
fn plan_fetches_only_the_overlapping_chunks() -> Result<(), Error> {
    let data = mixed(usize::try_from(5 * CHUNK + 10).unwrap_or(0), 1);
    let stored = encode(&data, &options(Compression::None), Some(&key()), IDENTITY)?;
    let len = stored.len() as u64;
    let head = slice(&stored, 0..RANGE_HEAD_LEN);
    let tail = slice(&stored, len - RANGE_TAIL_LEN..len);

    let location = IndexLocation::locate(len, head, tail, Some(&key()), IDENTITY)?;
    let index_range = location.index_range();
    let reader = location.open(slice(&stored, index_range.clone()))?;
    let plan = reader.plan(CHUNK - 1..CHUNK + 1)?;
    let decoded = reader.decode(&plan, slice(&stored, plan.stored.clone()))?;

    // Raw chunks: each is a frame, the chunk and a tag, after an 88-byte header.
    let chunk_stored = 4 + CHUNK + 16;
    assert_eq!(index_range, 88 + 5 * chunk_stored + 4 + 10 + 16..len - 8);
    assert_eq!(plan.chunks, 0..2);
    assert_eq!(plan.stored, 88..88 + 2 * chunk_stored);
    assert_eq!(decoded, data[usize::try_from(CHUNK - 1).unwrap_or(0)..][..2]);
    assert_eq!(reader.plaintext_len(), 5 * CHUNK + 10);
    let empty = reader.plan(3..3)?;
    assert!(empty.stored.is_empty() && reader.decode(&empty, &[])?.is_empty());
    assert!(matches!(reader.plan(0..5 * CHUNK + 11), Err(Error::InvalidInput { .. })));
    Ok(())
}

#[test]
fn damaged_or_foreign_range_reads_are_refused() -> Result<(), Error> {
    let data = mixed(usize::try_from(3 * CHUNK).unwrap_or(0), 2);
    let stored = encode(&data, &options(Compression::Zstd { level: 1 }), Some(&key()), IDENTITY)?;
    let whole = 0..3 * CHUNK;

    let wrong = decode_range(&stored, Some(&other_key()), IDENTITY, whole.clone());
    assert!(matches!(wrong, Err(Error::WrongKey)));
    for cut in [0, 10, 88, 200, stored.len() - 8, stored.len() - 1] {
        let result = decode_range(&stored[..cut], Some(&key()), IDENTITY, whole.clone());
        assert!(result.is_err(), "cut at {cut}");
    }
    for position in (0..stored.len()).step_by(41) {
        let mut damaged = stored.clone();
        damaged[position] ^= 0x04;
        let result = decode_range(&damaged, Some(&key()), IDENTITY, whole.clone());
        let name = result.as_ref().map_or_else(error_name, |_| "ok");
        assert!(name != "ok", "flip at {position}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_range_matches_the_whole_value(
        size in 0_u64..4 * CHUNK + 3,
        a in any::<u64>(),
        b in any::<u64>(),
        compression in prop_oneof![
            Just(Compression::None), Just(Compression::Lz4), Just(Compression::Zstd { level: 1 })
        ],
        with_key in any::<bool>(),
    ) {
        let data = mixed(usize::try_from(size).unwrap_or(0), a ^ b);
        let key = with_key.then(key);
        let stored = encode(&data, &options(compression), key.as_ref(), IDENTITY)?;
        let (start, end) = if size == 0 { (0, 0) } else { (a % (size + 1), b % (size + 1)) };
        let range = start.min(end)..start.max(end);

        let decoded = decode_range(&stored, key.as_ref(), IDENTITY, range.clone())?;

        prop_assert_eq!(decoded, slice(&data, range));
    }
}
