//! Sealing and opening chunk and index bodies: AES-256-GCM with a key, an XXH3-128 checksum
//! without one, both bound to the header (and, with a key, to the object's identity).

use aws_lc_rs::{aead, digest};
use xxhash_rust::xxh3::Xxh3Default;

use crate::{
    error::Error,
    frame::{Frame, NONCE_LEN, TAG_LEN, nonce},
    key::ObjectKeys,
};

/// Length of the AAD: the header digest and the frame.
const AAD_LEN: usize = 32 + 4;

/// Which segment of an object a body is, which fixes its nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Data chunk number `n` (nonce counter `n`, last flag 0).
    Chunk(u64),
    /// The index record after `n` chunks (nonce counter `n`, last flag 1).
    Index(u64),
}

impl Segment {
    /// The segment's nonce.
    fn nonce(self) -> [u8; NONCE_LEN] {
        match self {
            Self::Chunk(counter) => nonce(counter, false),
            Self::Index(counter) => nonce(counter, true),
        }
    }

    /// The chunk number for error reports, `None` for the index.
    pub(crate) fn chunk(self) -> Option<u64> {
        match self {
            Self::Chunk(counter) => Some(counter),
            Self::Index(_) => None,
        }
    }
}

/// How the bodies of one object are sealed.
enum Protection {
    /// Cipher 0: a checksum that detects damage, not tampering.
    Checksum,
    /// Cipher 1: AES-256-GCM under the object key.
    Aead(aead::LessSafeKey),
}

/// Everything needed to seal or open the bodies of one object; shared, read-only, by every
/// chunk, so chunks can be handled in any order or in parallel.
pub(crate) struct Sealer {
    protection: Protection,
    /// SHA-256 of the header bytes, followed by the identity bytes when encrypted.
    header_digest: [u8; 32],
}

impl Sealer {
    /// The sealer of an unencrypted object: the header is bound, the identity is not.
    pub(crate) fn checksum(header: &[u8]) -> Self {
        Self { protection: Protection::Checksum, header_digest: sha256(&[header]) }
    }

    /// The sealer of an encrypted object: header and identity are both bound.
    pub(crate) fn aead(keys: ObjectKeys, header: &[u8], identity: &[u8]) -> Self {
        Self { protection: Protection::Aead(keys.aead), header_digest: sha256(&[header, identity]) }
    }

    /// The AAD of a body: the header digest, then the frame in front of the body.
    fn aad(&self, frame: Frame) -> [u8; AAD_LEN] {
        let mut aad = [0_u8; AAD_LEN];
        aad[..32].copy_from_slice(&self.header_digest);
        aad[32..].copy_from_slice(&frame.to_bytes());
        aad
    }

    /// Seals `out[start..]` in place and appends the tag or checksum.
    ///
    /// Each segment of an object must be sealed once: its nonce is fixed by its position.
    pub(crate) fn seal(
        &self,
        out: &mut Vec<u8>,
        start: usize,
        segment: Segment,
        frame: Frame,
    ) -> Result<(), Error> {
        let aad = self.aad(frame);
        let nonce = segment.nonce();
        let data = out.get_mut(start..).ok_or(Error::Internal { what: "seal offset" })?;

        let tag = match &self.protection {
            Protection::Checksum => checksum(&aad, &nonce, data),
            Protection::Aead(key) => {
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                let tag = key
                    .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), data)
                    .map_err(|_| Error::Internal { what: "aes-256-gcm seal" })?;
                let mut bytes = [0_u8; TAG_LEN];
                bytes.copy_from_slice(tag.as_ref());
                bytes
            }
        };
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Checks a body and returns its data: borrowed from `body` without a key, decrypted
    /// into `scratch` with one.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] with "authentication" (a key) or "checksum" (none) when the body,
    /// its frame, its position, the header or (with a key) the identity has changed.
    pub(crate) fn open<'a>(
        &self,
        body: &'a [u8],
        scratch: &'a mut Vec<u8>,
        segment: Segment,
        frame: Frame,
    ) -> Result<&'a [u8], Error> {
        let aad = self.aad(frame);
        let nonce = segment.nonce();
        let data_len = body
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::corrupt(segment.chunk(), "body length"))?;

        match &self.protection {
            Protection::Checksum => {
                let (data, stored) = body.split_at(data_len);
                if checksum(&aad, &nonce, data) == stored {
                    Ok(data)
                } else {
                    Err(Error::corrupt(segment.chunk(), "checksum"))
                }
            }
            Protection::Aead(key) => {
                scratch.clear();
                scratch.extend_from_slice(body);
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                key.open_in_place(nonce, aead::Aad::from(aad), scratch)
                    .map(|data| &*data)
                    .map_err(|_| Error::corrupt(segment.chunk(), "authentication"))
            }
        }
    }
}

impl Sealer {
    /// Seals `slot[..data_len]` in place and writes the tag or checksum right after it.
    pub(crate) fn seal_slot(
        &self,
        slot: &mut [u8],
        data_len: usize,
        segment: Segment,
        frame: Frame,
    ) -> Result<(), Error> {
        let aad = self.aad(frame);
        let nonce = segment.nonce();
        let (data, rest) =
            slot.split_at_mut_checked(data_len).ok_or(Error::Internal { what: "seal slot" })?;
        let tag_out = rest.get_mut(..TAG_LEN).ok_or(Error::Internal { what: "seal slot" })?;
        match &self.protection {
            Protection::Checksum => tag_out.copy_from_slice(&checksum(&aad, &nonce, data)),
            Protection::Aead(key) => {
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                let tag = key
                    .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), data)
                    .map_err(|_| Error::Internal { what: "aes-256-gcm seal" })?;
                tag_out.copy_from_slice(tag.as_ref());
            }
        }
        Ok(())
    }

    /// Checks a body and writes its data into `out`, which must be exactly the data's
    /// length: copied without a key, decrypted straight into place with one.
    ///
    /// # Errors
    ///
    /// As [`Sealer::open`]; `out` may hold garbage after an error.
    pub(crate) fn open_into(
        &self,
        body: &[u8],
        out: &mut [u8],
        segment: Segment,
        frame: Frame,
    ) -> Result<(), Error> {
        let aad = self.aad(frame);
        let nonce = segment.nonce();
        let (data, tag) = body
            .split_at_checked(out.len())
            .filter(|(_, tag)| tag.len() == TAG_LEN)
            .ok_or(Error::corrupt(segment.chunk(), "body length"))?;

        match &self.protection {
            Protection::Checksum => {
                if checksum(&aad, &nonce, data) != tag {
                    return Err(Error::corrupt(segment.chunk(), "checksum"));
                }
                out.copy_from_slice(data);
                Ok(())
            }
            Protection::Aead(key) => {
                let nonce = aead::Nonce::assume_unique_for_key(nonce);
                key.open_separate_gather(nonce, aead::Aad::from(aad), data, tag, out)
                    .map_err(|_| Error::corrupt(segment.chunk(), "authentication"))
            }
        }
    }
}

/// SHA-256 of the concatenated parts.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0_u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// XXH3-128 of `aad ‖ nonce ‖ data`, big-endian.
fn checksum(aad: &[u8], nonce: &[u8], data: &[u8]) -> [u8; TAG_LEN] {
    let mut hasher = Xxh3Default::new();
    hasher.update(aad);
    hasher.update(nonce);
    hasher.update(data);
    hasher.digest128().to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::{Sealer, Segment};
    use crate::{DataKey, Error, frame::Frame, key::ObjectKeys};

    fn sealers() -> Result<[Sealer; 2], Error> {
        let keys = ObjectKeys::derive(&DataKey::from_bytes([5; 32]), &[6; 32])?;
        Ok([Sealer::checksum(b"header"), Sealer::aead(keys, b"header", b"identity")])
    }

    #[test]
    fn sealed_body_opens_and_any_change_is_corrupt() -> Result<(), Error> {
        for sealer in sealers()? {
            let frame = Frame::data(false, 5 + 16)?;
            let mut body = b"hello".to_vec();
            sealer.seal(&mut body, 0, Segment::Chunk(2), frame)?;
            let mut scratch = Vec::new();

            let opened = sealer.open(&body, &mut scratch, Segment::Chunk(2), frame)?.to_vec();
            let moved = sealer.open(&body, &mut scratch, Segment::Chunk(3), frame).map(<[u8]>::len);
            let last = sealer.open(&body, &mut scratch, Segment::Index(2), frame).map(<[u8]>::len);
            let reframed = Frame::data(true, 21)?;
            let other_frame =
                sealer.open(&body, &mut scratch, Segment::Chunk(2), reframed).map(<[u8]>::len);
            body[0] ^= 1;
            let flipped =
                sealer.open(&body, &mut scratch, Segment::Chunk(2), frame).map(<[u8]>::len);

            assert_eq!(opened, b"hello");
            assert!(matches!(moved, Err(Error::Corrupt { chunk: Some(3), .. })));
            assert!(matches!(last, Err(Error::Corrupt { chunk: None, .. })));
            assert!(matches!(other_frame, Err(Error::Corrupt { chunk: Some(2), .. })));
            assert!(matches!(flipped, Err(Error::Corrupt { chunk: Some(2), .. })));
        }
        Ok(())
    }

    #[test]
    fn body_shorter_than_a_tag_is_corrupt() -> Result<(), Error> {
        for sealer in sealers()? {
            let frame = Frame::data(false, 15)?;
            let mut scratch = Vec::new();
            let result = sealer.open(&[0; 15], &mut scratch, Segment::Chunk(0), frame);
            assert!(matches!(result, Err(Error::Corrupt { chunk: Some(0), .. })));
        }
        Ok(())
    }
}
