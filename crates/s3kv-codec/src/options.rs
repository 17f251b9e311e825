//! What a caller chooses when writing an object: payload kind, compression, chunk size, identity.

use crate::error::Error;

/// The smallest chunk size, as a power of two: 64 KiB.
pub const MIN_CHUNK_SIZE_LOG2: u8 = 16;
/// The largest chunk size, as a power of two: 16 MiB.
pub const MAX_CHUNK_SIZE_LOG2: u8 = 24;
/// The default chunk size, as a power of two: 1 MiB.
pub const DEFAULT_CHUNK_SIZE_LOG2: u8 = 20;
/// The default zstd level: the fastest level that still pays. On JSON-like text level 1
/// stores 18.1% of the input against 17.7% at level 3 for about 1.5 times the encode speed,
/// and level -1 stores 22.3% for no gain in speed (`docs/benchmarks.md`).
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// What the plaintext is, so a reader can turn it back into the right type.
///
/// The codec treats every kind as bytes, except that it checks `Text` is UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadKind {
    /// Raw bytes, kept byte for byte (files, images).
    Bytes,
    /// UTF-8 text.
    Text,
    /// A CBOR data item.
    Cbor,
    /// A Python pickle: opaque to Rust, and never to be unpickled from an untrusted source.
    Pickle,
}

impl PayloadKind {
    /// The byte that stands for this kind in the header.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Bytes => 0,
            Self::Text => 1,
            Self::Cbor => 2,
            Self::Pickle => 3,
        }
    }

    /// The kind a header byte stands for, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Bytes),
            1 => Some(Self::Text),
            2 => Some(Self::Cbor),
            3 => Some(Self::Pickle),
            _ => None,
        }
    }
}

/// How chunks are compressed, with the writer's settings.
///
/// The header records the algorithm only; a chunk that does not shrink is stored as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    None,
    /// Zstandard at the given level (zstd's range, negative levels included).
    Zstd {
        /// The zstd compression level.
        level: i32,
    },
    /// LZ4 block format, as `lz4_flex` writes it, without a size prefix.
    Lz4,
}

impl Default for Compression {
    /// Zstd at [`DEFAULT_ZSTD_LEVEL`].
    fn default() -> Self {
        Self::Zstd { level: DEFAULT_ZSTD_LEVEL }
    }
}

impl Compression {
    /// The algorithm, as the header records it.
    pub fn algorithm(self) -> CompressionAlgorithm {
        match self {
            Self::None => CompressionAlgorithm::None,
            Self::Zstd { .. } => CompressionAlgorithm::Zstd,
            Self::Lz4 => CompressionAlgorithm::Lz4,
        }
    }
}

/// The compression algorithm of an object, as its header records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionAlgorithm {
    /// Chunks are stored as they are.
    None,
    /// Chunks that shrink are Zstandard frames.
    Zstd,
    /// Chunks that shrink are LZ4 blocks.
    Lz4,
}

impl CompressionAlgorithm {
    /// The byte that stands for this algorithm in the header.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Zstd => 1,
            Self::Lz4 => 2,
        }
    }

    /// The algorithm a header byte stands for, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::None),
            1 => Some(Self::Zstd),
            2 => Some(Self::Lz4),
            _ => None,
        }
    }
}

/// How to write an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// What the plaintext is.
    pub kind: PayloadKind,
    /// How to compress chunks.
    pub compression: Compression,
    /// The chunk size as a power of two, in
    /// [`MIN_CHUNK_SIZE_LOG2`]`..=`[`MAX_CHUNK_SIZE_LOG2`].
    pub chunk_size_log2: u8,
    /// How many threads compress and seal chunks at once; 0 means one per core.
    ///
    /// A value of one chunk is always sealed on the calling thread. The stored bytes do not
    /// depend on it.
    pub threads: usize,
}

impl Default for EncodeOptions {
    /// Bytes, zstd at the default level, 1 MiB chunks, one thread per core.
    fn default() -> Self {
        Self {
            kind: PayloadKind::Bytes,
            compression: Compression::default(),
            chunk_size_log2: DEFAULT_CHUNK_SIZE_LOG2,
            threads: 0,
        }
    }
}

impl EncodeOptions {
    /// Options for a payload kind, with the other settings at their defaults.
    pub fn for_kind(kind: PayloadKind) -> Self {
        Self { kind, ..Self::default() }
    }

    /// Checks the options, returning the chunk size in bytes.
    pub(crate) fn validate(&self) -> Result<u32, Error> {
        let log2 = self.chunk_size_log2;
        if !(MIN_CHUNK_SIZE_LOG2..=MAX_CHUNK_SIZE_LOG2).contains(&log2) {
            return Err(Error::invalid(format!(
                "chunk_size_log2 {log2} is outside {MIN_CHUNK_SIZE_LOG2}..={MAX_CHUNK_SIZE_LOG2}"
            )));
        }

        if let Compression::Zstd { level } = self.compression {
            let range = zstd::zstd_safe::min_c_level()..=zstd::zstd_safe::max_c_level();
            if !range.contains(&level) {
                return Err(Error::invalid(format!(
                    "zstd level {level} is outside {}..={}",
                    range.start(),
                    range.end()
                )));
            }
        }

        Ok(1_u32 << log2)
    }
}

/// Where an object lives: its collection and key name.
///
/// Encryption binds the identity into every chunk, so an encrypted object copied under another
/// collection or key fails to decode. Unencrypted objects do not bind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The collection name.
    pub collection: &'a str,
    /// The key name within the collection.
    pub key: &'a str,
}

impl<'a> Identity<'a> {
    /// An identity from a collection and a key name.
    pub const fn new(collection: &'a str, key: &'a str) -> Self {
        Self { collection, key }
    }

    /// The identity's bytes as bound into the AAD: `u32 len ‖ collection ‖ u32 len ‖ key`,
    /// lengths little-endian.
    pub(crate) fn to_bytes(self) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::with_capacity(8 + self.collection.len() + self.key.len());
        push_length_prefixed(&mut bytes, self.collection, "collection name")?;
        push_length_prefixed(&mut bytes, self.key, "key name")?;
        Ok(bytes)
    }
}

/// Appends `u32 little-endian length ‖ bytes` of a name.
pub(crate) fn push_length_prefixed(out: &mut Vec<u8>, name: &str, what: &str) -> Result<(), Error> {
    let length = u32::try_from(name.len())
        .map_err(|_| Error::invalid(format!("{what} is longer than 4 GiB")))?;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Compression, CompressionAlgorithm, EncodeOptions, Identity, PayloadKind};

    #[test]
    fn payload_kind_bytes_round_trip_and_unknown_is_none() {
        for kind in [PayloadKind::Bytes, PayloadKind::Text, PayloadKind::Cbor, PayloadKind::Pickle]
        {
            assert_eq!(PayloadKind::from_byte(kind.to_byte()), Some(kind));
        }
        assert_eq!(PayloadKind::from_byte(4), None);
    }

    #[test]
    fn compression_bytes_round_trip_and_unknown_is_none() {
        for algorithm in
            [CompressionAlgorithm::None, CompressionAlgorithm::Zstd, CompressionAlgorithm::Lz4]
        {
            assert_eq!(CompressionAlgorithm::from_byte(algorithm.to_byte()), Some(algorithm));
        }
        assert_eq!(CompressionAlgorithm::from_byte(3), None);
    }

    #[test]
    fn default_options_are_bytes_zstd_level_1_and_one_mebibyte_chunks() {
        let options = EncodeOptions::default();

        assert_eq!(options.kind, PayloadKind::Bytes);
        assert_eq!(options.compression, Compression::Zstd { level: 1 });
        assert_eq!(options.validate().ok(), Some(1 << 20));
    }

    #[test]
    fn chunk_size_and_zstd_level_out_of_range_are_invalid_input() {
        let small = EncodeOptions { chunk_size_log2: 15, ..EncodeOptions::default() };
        let large = EncodeOptions { chunk_size_log2: 25, ..EncodeOptions::default() };
        let level = EncodeOptions { compression: Compression::Zstd { level: 99 }, ..small.clone() };

        assert!(small.validate().is_err());
        assert!(large.validate().is_err());
        assert!(level.validate().is_err());
    }

    #[test]
    fn identity_bytes_are_length_prefixed_little_endian() {
        let bytes = Identity::new("ab", "c").to_bytes().ok();

        assert_eq!(bytes, Some(b"\x02\x00\x00\x00ab\x01\x00\x00\x00c".to_vec()));
    }
}
