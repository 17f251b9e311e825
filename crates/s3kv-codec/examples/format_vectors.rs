//! Prints the test vectors of `docs/format.md`, so they can be regenerated after a
//! deliberate change: `cargo run -p s3kv-codec --example format_vectors`.
//!
//! Objects are encrypted with a fixed salt through the hidden `encode_with_salt`, which must
//! never be used for real data. The vectors are checked by decoding, so a new zstd or LZ4
//! build that compresses differently still passes.

use std::io::{self, Write};

use s3kv_codec::{
    Compression, DataKey, EncodeOptions, Error, Identity, PayloadKind, encode, encode_with_salt,
    manifest::{KdfParams, Manifest},
};

/// The data key of every encrypted vector: bytes 00 to 1f.
const KEY: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];
/// The key the wrong-key vector tries.
const OTHER_KEY: [u8; 32] = [0xee; 32];
/// The salt of every encrypted vector.
const SALT: [u8; 32] = [0xa5; 32];
const COLLECTION: &str = "examples";
const OBJECT_KEY: &str = "greeting";

/// How a vector gives its plaintext.
enum Plaintext {
    Hex(Vec<u8>),
    Repeat(Vec<u8>, usize),
}

impl Plaintext {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Hex(bytes) => bytes.clone(),
            Self::Repeat(pattern, count) => pattern.repeat(*count),
        }
    }

    fn field(&self) -> String {
        match self {
            Self::Hex(bytes) => format!("hex {}", hex::encode(bytes)).trim_end().to_owned(),
            Self::Repeat(pattern, count) => format!("repeat {} {count}", hex::encode(pattern)),
        }
    }
}

/// A vector that decodes: how it was written and what it holds.
struct Good {
    name: &'static str,
    encrypted: bool,
    kind: PayloadKind,
    compression: Compression,
    chunk_size_log2: u8,
    plaintext: Plaintext,
}

impl Good {
    fn stored(&self) -> Result<Vec<u8>, Error> {
        let options = EncodeOptions {
            kind: self.kind,
            compression: self.compression,
            chunk_size_log2: self.chunk_size_log2,
            threads: 1,
        };
        let identity = Identity::new(COLLECTION, OBJECT_KEY);
        let plaintext = self.plaintext.bytes();
        if self.encrypted {
            encode_with_salt(&plaintext, &options, &DataKey::from_bytes(KEY), identity, SALT)
        } else {
            encode(&plaintext, &options, None, identity)
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let goods = good_vectors();
    let mut out = io::stdout().lock();
    let mut stored_of = std::collections::HashMap::new();
    for good in &goods {
        let stored = good.stored()?;
        let key = if good.encrypted { hex::encode(KEY) } else { "none".to_owned() };
        let compression = match good.compression.algorithm() {
            s3kv_codec::CompressionAlgorithm::Zstd => "zstd",
            s3kv_codec::CompressionAlgorithm::Lz4 => "lz4",
            _ => "none",
        };
        let kind = match good.kind {
            PayloadKind::Text => "text",
            PayloadKind::Cbor => "cbor",
            PayloadKind::Pickle => "pickle",
            _ => "bytes",
        };
        let fields = [
            ("name", good.name.to_owned()),
            ("expect", "ok".to_owned()),
            ("key", key),
            ("collection", COLLECTION.to_owned()),
            ("object_key", OBJECT_KEY.to_owned()),
            ("kind", kind.to_owned()),
            ("compression", compression.to_owned()),
            ("chunk_log2", good.chunk_size_log2.to_string()),
            ("salt", if good.encrypted { hex::encode(SALT) } else { "none".to_owned() }),
            ("plaintext", good.plaintext.field()),
        ];
        write_vector(&mut out, &fields, &stored)?;
        stored_of.insert(good.name, stored);
    }

    for (name, expect, source, key, object_key, change) in fail_vectors() {
        let mut stored = stored_of.get(source).cloned().unwrap_or_default();
        change(&mut stored);
        let fields = [
            ("name", name.to_owned()),
            ("expect", expect.to_owned()),
            ("key", key.map_or_else(|| "none".to_owned(), hex::encode)),
            ("collection", COLLECTION.to_owned()),
            ("object_key", object_key.to_owned()),
        ];
        write_vector(&mut out, &fields, &stored)?;
    }

    write_manifest_vector(&mut out)?;
    Ok(())
}

fn good_vectors() -> Vec<Good> {
    let text = b"hello, s3kv".to_vec();
    vec![
        Good {
            name: "empty_plain",
            encrypted: false,
            kind: PayloadKind::Bytes,
            compression: Compression::default(),
            chunk_size_log2: 20,
            plaintext: Plaintext::Hex(Vec::new()),
        },
        Good {
            name: "empty_encrypted",
            encrypted: true,
            kind: PayloadKind::Bytes,
            compression: Compression::default(),
            chunk_size_log2: 20,
            plaintext: Plaintext::Hex(Vec::new()),
        },
        Good {
            name: "text_plain_raw_chunk",
            encrypted: false,
            kind: PayloadKind::Text,
            compression: Compression::default(),
            chunk_size_log2: 20,
            plaintext: Plaintext::Hex(text.clone()),
        },
        Good {
            name: "text_encrypted_raw_chunk",
            encrypted: true,
            kind: PayloadKind::Text,
            compression: Compression::default(),
            chunk_size_log2: 20,
            plaintext: Plaintext::Hex(text),
        },
        Good {
            name: "zstd_encrypted_compressed_chunk",
            encrypted: true,
            kind: PayloadKind::Pickle,
            compression: Compression::Zstd { level: 3 },
            chunk_size_log2: 20,
            plaintext: Plaintext::Repeat(b"s3kv ".to_vec(), 200),
        },
        Good {
            name: "lz4_plain_compressed_chunk",
            encrypted: false,
            kind: PayloadKind::Cbor,
            compression: Compression::Lz4,
            chunk_size_log2: 18,
            plaintext: Plaintext::Repeat(b"\x82\x01\x02".to_vec(), 100),
        },
        // 65,541 bytes in 64 KiB chunks: a compressed chunk, then a raw 5-byte last chunk.
        Good {
            name: "multi_chunk_encrypted",
            encrypted: true,
            kind: PayloadKind::Bytes,
            compression: Compression::Zstd { level: 3 },
            chunk_size_log2: 16,
            plaintext: Plaintext::Repeat(b"chunked".to_vec(), 9363),
        },
        Good {
            name: "multi_chunk_plain_lz4",
            encrypted: false,
            kind: PayloadKind::Bytes,
            compression: Compression::Lz4,
            chunk_size_log2: 16,
            plaintext: Plaintext::Repeat(b"chunked".to_vec(), 18_725),
        },
    ]
}

/// A failing vector: name, expected error, the vector it damages, the key and object key
/// to decode with, and the damage.
type Fail =
    (&'static str, &'static str, &'static str, Option<[u8; 32]>, &'static str, fn(&mut Vec<u8>));

fn fail_vectors() -> Vec<Fail> {
    let text = "text_encrypted_raw_chunk";
    vec![
        ("fail_wrong_key", "WrongKey", text, Some(OTHER_KEY), OBJECT_KEY, |_| {}),
        ("fail_wrong_identity", "Corrupt", text, Some(KEY), "another key", |_| {}),
        ("fail_key_required", "KeyRequired", text, None, OBJECT_KEY, |_| {}),
        (
            "fail_not_encrypted",
            "NotEncrypted",
            "text_plain_raw_chunk",
            Some(KEY),
            OBJECT_KEY,
            |_| {},
        ),
        ("fail_flipped_chunk_byte", "Corrupt", text, Some(KEY), OBJECT_KEY, |stored| {
            stored[88 + 4] ^= 0x01;
        }),
        (
            "fail_flipped_plain_byte",
            "Corrupt",
            "text_plain_raw_chunk",
            None,
            OBJECT_KEY,
            |stored| {
                stored[24 + 4] ^= 0x01;
            },
        ),
        (
            "fail_flipped_index_byte",
            "Corrupt",
            "multi_chunk_encrypted",
            Some(KEY),
            OBJECT_KEY,
            |stored| {
                let at = stored.len() - 8 - 16 - 1;
                stored[at] ^= 0x80;
            },
        ),
        ("fail_truncated", "Truncated", "multi_chunk_encrypted", Some(KEY), OBJECT_KEY, |stored| {
            stored.truncate(stored.len() - 10);
        }),
        (
            "fail_dropped_last_chunk",
            "Corrupt",
            "multi_chunk_plain_lz4",
            None,
            OBJECT_KEY,
            |stored| {
                // Cut the raw 3-byte last chunk (frame, data, checksum) out from before the index
                // (frame, length, count, three frames, checksum); the index still lists it.
                let index_len = 4 + 16 + 3 * 4 + 16;
                let end = stored.len() - 8 - index_len;
                stored.drain(end - (4 + 3 + 16)..end);
            },
        ),
        (
            "fail_unsupported_version",
            "Unsupported",
            "text_plain_raw_chunk",
            None,
            OBJECT_KEY,
            |stored| {
                stored[8] = 2;
            },
        ),
        (
            "fail_huge_claimed_length",
            "LimitExceeded",
            "text_plain_raw_chunk",
            None,
            OBJECT_KEY,
            |stored| {
                stored[16..24].copy_from_slice(&(1_u64 << 40).to_le_bytes());
            },
        ),
        ("fail_not_s3kv", "NotS3kv", "text_plain_raw_chunk", None, OBJECT_KEY, |stored| {
            *stored = b"\x78\x9c\xcb\x48\xcd\xc9\xc9\x07\x00\x06\x2c\x02\x15".to_vec();
        }),
    ]
}

fn write_vector(out: &mut impl Write, fields: &[(&str, String)], stored: &[u8]) -> io::Result<()> {
    writeln!(out, "```s3kv-vector")?;
    for (name, value) in fields {
        write_field(out, name, value)?;
    }
    write_field(out, "stored", &hex::encode(stored))?;
    writeln!(out, "```")?;
    writeln!(out)
}

/// Writes `name value`, with long values wrapped at 64 characters onto indented lines.
fn write_field(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    let mut lines = wrap(value);
    writeln!(out, "{name:<12}{}", lines.next().unwrap_or_default())?;
    for line in lines {
        writeln!(out, "{:<12}{line}", "")?;
    }
    Ok(())
}

fn wrap(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.char_indices().nth(64).map_or(rest.len(), |(at, _)| at);
        let (line, tail) = rest.split_at(cut);
        rest = tail;
        Some(line)
    })
}

fn write_manifest_vector(out: &mut impl Write) -> Result<(), Box<dyn std::error::Error>> {
    let key = DataKey::from_bytes(KEY);
    let manifest = Manifest::wrap(
        &key,
        b"correct horse",
        b"pepper",
        COLLECTION,
        KdfParams { iterations: 1000 },
    )?;
    let json = String::from_utf8(manifest.to_bytes())?;
    for (name, expect, password) in [
        ("manifest_unlocks", "ok", "correct horse"),
        ("fail_manifest_wrong_password", "WrongKey", "battery staple"),
    ] {
        writeln!(out, "```s3kv-manifest-vector")?;
        write_field(out, "name", name)?;
        write_field(out, "expect", expect)?;
        write_field(out, "password", password)?;
        write_field(out, "user_salt", &hex::encode(b"pepper"))?;
        write_field(out, "collection", COLLECTION)?;
        write_field(out, "data_key", &hex::encode(KEY))?;
        write_field(out, "manifest", &json)?;
        writeln!(out, "```")?;
        writeln!(out)?;
    }
    Ok(())
}
