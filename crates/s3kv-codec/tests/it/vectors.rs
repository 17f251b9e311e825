//! The test vectors of `docs/format.md`: every object decodes as its vector says, and every
//! `fail_` vector fails with the error it names.

use std::{collections::BTreeMap, path::Path};

use s3kv_codec::{
    CompressionAlgorithm, DataKey, Error, Identity, PayloadKind, decode, manifest::Manifest,
};

use crate::support::error_name;

/// One fenced block: its info string and its fields.
struct Block {
    info: String,
    fields: BTreeMap<String, String>,
}

impl Block {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    fn hex(&self, name: &str) -> Vec<u8> {
        let bytes = hex::decode(self.field(name));
        assert!(bytes.is_ok(), "{}: {name} is not hex", self.field("name"));
        bytes.unwrap_or_default()
    }

    fn key(&self) -> Option<DataKey> {
        let hex = self.hex_or_none("key")?;
        let bytes: Result<[u8; 32], _> = hex.try_into();
        assert!(bytes.is_ok(), "{}: key is not 32 bytes", self.field("name"));
        bytes.ok().map(DataKey::from_bytes)
    }

    fn hex_or_none(&self, name: &str) -> Option<Vec<u8>> {
        (self.field(name) != "none").then(|| self.hex(name))
    }

    fn plaintext(&self) -> Vec<u8> {
        let value = self.field("plaintext");
        let mut words = value.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("hex"), hex, None) => hex::decode(hex.unwrap_or_default()).unwrap_or_default(),
            (Some("repeat"), Some(pattern), Some(count)) => {
                let pattern = hex::decode(pattern).unwrap_or_default();
                pattern.repeat(count.parse().unwrap_or(0))
            }
            _ => panic!("{}: bad plaintext field {value:?}", self.field("name")),
        }
    }
}

/// Reads the fenced blocks whose info string starts with `s3kv-`.
///
/// Inside a block, a line `name value` starts a field; an indented line continues the
/// previous field's value (hex and JSON are wrapped without spaces).
fn blocks() -> Vec<Block> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/format.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let mut last = String::new();

    for line in text.lines() {
        match current.as_mut() {
            None => {
                if let Some(info) =
                    line.strip_prefix("```").filter(|info| info.starts_with("s3kv-"))
                {
                    current = Some(Block { info: info.to_owned(), fields: BTreeMap::new() });
                }
            }
            Some(_) if line == "```" => blocks.extend(current.take()),
            Some(block) if line.starts_with(' ') => {
                if let Some(value) = block.fields.get_mut(&last) {
                    value.push_str(line.trim());
                }
            }
            Some(block) => {
                let (name, value) = line.split_once(' ').unwrap_or((line, ""));
                name.clone_into(&mut last);
                block.fields.insert(last.clone(), value.trim().to_owned());
            }
        }
    }
    blocks
}

fn object_vectors() -> Vec<Block> {
    blocks().into_iter().filter(|block| block.info == "s3kv-vector").collect()
}

#[test]
fn format_md_has_the_required_vectors() {
    let blocks = blocks();
    let names: Vec<&str> = blocks.iter().map(|block| block.field("name")).collect();

    for required in [
        "empty_plain",
        "empty_encrypted",
        "text_plain_raw_chunk",
        "text_encrypted_raw_chunk",
        "zstd_encrypted_compressed_chunk",
        "lz4_plain_compressed_chunk",
        "multi_chunk_encrypted",
        "multi_chunk_plain_lz4",
        "fail_wrong_key",
        "fail_wrong_identity",
        "fail_truncated",
        "fail_flipped_chunk_byte",
        "manifest_unlocks",
        "fail_manifest_wrong_password",
    ] {
        assert!(names.contains(&required), "docs/format.md lacks the vector {required}");
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "vector names repeat");
}

#[test]
fn good_vectors_decode_to_their_plaintext() -> Result<(), Error> {
    let vectors: Vec<Block> =
        object_vectors().into_iter().filter(|block| block.field("expect") == "ok").collect();
    assert!(vectors.len() >= 8);

    for vector in &vectors {
        let name = vector.field("name");
        let stored = vector.hex("stored");
        let key = vector.key();
        let identity = Identity::new(vector.field("collection"), vector.field("object_key"));

        let decoded = decode(&stored, key.as_ref(), identity)?;

        let plaintext = vector.plaintext();
        assert_eq!(decoded.plaintext, plaintext, "{name}");
        assert_eq!(Some(decoded.kind), kind(vector.field("kind")), "{name}");
        assert_eq!(
            Some(decoded.header.compression),
            compression(vector.field("compression")),
            "{name}"
        );
        assert_eq!(
            decoded.header.chunk_size.trailing_zeros().to_string(),
            vector.field("chunk_log2"),
            "{name}"
        );
        assert_eq!(decoded.header.encrypted, key.is_some(), "{name}");
        if let Some(salt) = vector.hex_or_none("salt") {
            assert_eq!(stored[24..56], salt, "{name}");
        }
        check_first_frame(
            name,
            &stored,
            decoded.header.encoded_len(),
            plaintext.len(),
            decoded.header.chunk_size,
        );
    }
    Ok(())
}

/// The names promise a compressed or raw first chunk, or several chunks: hold them to it.
fn check_first_frame(
    name: &str,
    stored: &[u8],
    header_len: usize,
    plaintext_len: usize,
    chunk_size: u32,
) {
    let frame = stored.get(header_len..header_len + 4).map(|bytes| bytes[3]);
    if name.ends_with("compressed_chunk") {
        assert!(frame.is_some_and(|top| top & 0x80 != 0), "{name}: first chunk is not compressed");
    }
    if name.ends_with("raw_chunk") {
        assert!(frame.is_some_and(|top| top & 0xc0 == 0), "{name}: first chunk is not raw");
    }
    if name.starts_with("multi_chunk") {
        assert!(plaintext_len > usize::try_from(chunk_size).unwrap_or(usize::MAX), "{name}");
    }
}

#[test]
fn fail_vectors_fail_with_their_error() {
    let vectors: Vec<Block> = object_vectors()
        .into_iter()
        .filter(|block| block.field("name").starts_with("fail_"))
        .collect();
    assert!(vectors.len() >= 10);

    for vector in &vectors {
        let key = vector.key();
        let identity = Identity::new(vector.field("collection"), vector.field("object_key"));

        let result = decode(&vector.hex("stored"), key.as_ref(), identity);

        let got = result.as_ref().map_or_else(error_name, |_| "ok");
        assert_eq!(got, vector.field("expect"), "{}", vector.field("name"));
    }
}

#[test]
fn manifest_vectors_unlock_or_fail_as_stated() -> Result<(), Error> {
    let vectors: Vec<Block> =
        blocks().into_iter().filter(|block| block.info == "s3kv-manifest-vector").collect();
    assert!(vectors.len() >= 2);

    for vector in &vectors {
        let manifest = Manifest::from_bytes(vector.field("manifest").as_bytes())?;
        let user_salt = vector.hex("user_salt");

        let result = manifest.unlock(
            vector.field("password").as_bytes(),
            &user_salt,
            vector.field("collection"),
        );

        match vector.field("expect") {
            "ok" => assert_eq!(
                result?.as_bytes().as_slice(),
                vector.hex("data_key"),
                "{}",
                vector.field("name")
            ),
            expected => {
                let got = result.as_ref().map_or_else(error_name, |_| "ok");
                assert_eq!(got, expected, "{}", vector.field("name"));
            }
        }
    }
    Ok(())
}

fn kind(name: &str) -> Option<PayloadKind> {
    match name {
        "bytes" => Some(PayloadKind::Bytes),
        "text" => Some(PayloadKind::Text),
        "cbor" => Some(PayloadKind::Cbor),
        "pickle" => Some(PayloadKind::Pickle),
        _ => None,
    }
}

fn compression(name: &str) -> Option<CompressionAlgorithm> {
    match name {
        "none" => Some(CompressionAlgorithm::None),
        "zstd" => Some(CompressionAlgorithm::Zstd),
        "lz4" => Some(CompressionAlgorithm::Lz4),
        _ => None,
    }
}
