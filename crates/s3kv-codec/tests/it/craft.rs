//! An independent writer of the format, following `docs/format.md` step by step, so tests can
//! build objects the encoder would never write: lying headers, odd frames, bombs.

use aws_lc_rs::{aead, digest, hkdf};
use xxhash_rust::xxh3::Xxh3Default;

/// A chunk to write: its frame flags and the data that goes into its body.
#[derive(Clone)]
pub(crate) struct Chunk {
    pub(crate) compressed: bool,
    pub(crate) data: Vec<u8>,
}

impl Chunk {
    pub(crate) fn raw(data: &[u8]) -> Self {
        Self { compressed: false, data: data.to_vec() }
    }

    pub(crate) fn zstd(plaintext: &[u8]) -> Self {
        let data = zstd::bulk::compress(plaintext, 3).unwrap_or_default();
        Self { compressed: true, data }
    }
}

/// Everything about an object to write, with knobs to make it wrong.
#[derive(Clone)]
pub(crate) struct Spec {
    pub(crate) kind: u8,
    pub(crate) compression: u8,
    pub(crate) chunk_size_log2: u8,
    /// What the header states; `u64::MAX` means unknown.
    pub(crate) header_len: u64,
    /// What the index states.
    pub(crate) index_len: u64,
    pub(crate) chunks: Vec<Chunk>,
    /// Data key, salt and identity bytes for an encrypted object.
    pub(crate) sealing: Option<([u8; 32], [u8; 32], Vec<u8>)>,
    /// Replaces the chunk count written into the index.
    pub(crate) index_count: Option<u64>,
    /// Bytes inserted between the last chunk and the index.
    pub(crate) gap: Vec<u8>,
}

impl Spec {
    /// An unencrypted object of these chunks, lengths stated truthfully.
    pub(crate) fn plain(compression: u8, plaintext_len: u64, chunks: Vec<Chunk>) -> Self {
        Self {
            kind: 0,
            compression,
            chunk_size_log2: 16,
            header_len: plaintext_len,
            index_len: plaintext_len,
            chunks,
            sealing: None,
            index_count: None,
            gap: Vec::new(),
        }
    }

    pub(crate) fn header(&self) -> Vec<u8> {
        let mut header = b"\x89S3KV\r\n\x1a".to_vec();
        let cipher = u8::from(self.sealing.is_some());
        header.extend_from_slice(&[1, self.kind, self.compression, cipher, self.chunk_size_log2]);
        header.extend_from_slice(&[0, 0, 0]);
        header.extend_from_slice(&self.header_len.to_le_bytes());
        if let Some((key, salt, _)) = &self.sealing {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(key);
            header.extend_from_slice(salt);
            header.extend_from_slice(&expand(&prk, b"s3kv v1 key commitment"));
        }
        header
    }

    /// Writes the object.
    pub(crate) fn build(&self) -> Vec<u8> {
        let header = self.header();
        let mut out = header.clone();
        let mut frames = Vec::new();
        for (counter, chunk) in (0_u64..).zip(&self.chunks) {
            let length = u32::try_from(chunk.data.len() + 16).unwrap_or(u32::MAX);
            let frame = if chunk.compressed { length | 1 << 31 } else { length };
            out.extend_from_slice(&frame.to_le_bytes());
            out.extend_from_slice(&self.seal(&header, frame, counter, false, &chunk.data));
            frames.push(frame);
        }
        out.extend_from_slice(&self.gap);

        let count = u64::try_from(frames.len()).unwrap_or(u64::MAX);
        let mut index = self.index_len.to_le_bytes().to_vec();
        index.extend_from_slice(&self.index_count.unwrap_or(count).to_le_bytes());
        for frame in &frames {
            index.extend_from_slice(&frame.to_le_bytes());
        }
        let index_frame = u32::try_from(index.len() + 16).unwrap_or(u32::MAX) | 1 << 30;
        out.extend_from_slice(&index_frame.to_le_bytes());
        out.extend_from_slice(&self.seal(&header, index_frame, count, true, &index));
        out.extend_from_slice(&index_frame.to_le_bytes());
        out.extend_from_slice(b"S3KV");
        out
    }

    /// `data ‖ tag`, sealed as the format describes.
    fn seal(&self, header: &[u8], frame: u32, counter: u64, last: bool, data: &[u8]) -> Vec<u8> {
        let mut nonce = [0_u8; 12];
        nonce[3..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);

        match &self.sealing {
            None => {
                let mut aad = sha256(&[header]).to_vec();
                aad.extend_from_slice(&frame.to_le_bytes());
                let mut hasher = Xxh3Default::new();
                hasher.update(&aad);
                hasher.update(&nonce);
                hasher.update(data);
                let mut body = data.to_vec();
                body.extend_from_slice(&hasher.digest128().to_be_bytes());
                body
            }
            Some((key, salt, identity)) => {
                let mut aad = sha256(&[header, identity]).to_vec();
                aad.extend_from_slice(&frame.to_le_bytes());
                let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(key);
                let object_key = expand(&prk, b"s3kv v1 object key");
                let mut body = data.to_vec();
                if let Ok(unbound) = aead::UnboundKey::new(&aead::AES_256_GCM, &object_key) {
                    let key = aead::LessSafeKey::new(unbound);
                    let nonce = aead::Nonce::assume_unique_for_key(nonce);
                    let sealed =
                        key.seal_in_place_append_tag(nonce, aead::Aad::from(aad), &mut body);
                    assert!(sealed.is_ok());
                }
                body
            }
        }
    }
}

/// The identity bytes: `u32 len ‖ collection ‖ u32 len ‖ key`, little-endian lengths.
pub(crate) fn identity_bytes(collection: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for name in [collection, key] {
        out.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

fn expand(prk: &hkdf::Prk, info: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    let info = [info];
    let filled = prk.expand(&info, hkdf::HKDF_SHA256).and_then(|okm| okm.fill(&mut out));
    assert!(filled.is_ok());
    out
}
