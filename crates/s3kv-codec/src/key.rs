//! Key material: the collection's data key, and the per-object key schedule derived from it.

use std::fmt;

use aws_lc_rs::{aead, constant_time, hkdf};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::Error;

/// Length of a data key, an object key, a salt and a commitment, in bytes.
pub(crate) const KEY_LEN: usize = 32;

/// HKDF info for the per-object AES-256-GCM key.
const OBJECT_KEY_INFO: &[u8] = b"s3kv v1 object key";
/// HKDF info for the key commitment stored in the header.
const COMMITMENT_INFO: &[u8] = b"s3kv v1 key commitment";

/// A collection's 32-byte data key, from which every object key is derived.
///
/// The bytes are zeroed on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_LEN]);

impl DataKey {
    /// A new random key from the system's secure random number generator.
    ///
    /// # Panics
    ///
    /// Panics if the system random number generator fails, which it does not once the
    /// process has started; there is no safe key to return instead.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; KEY_LEN];
        #[allow(clippy::expect_used, reason = "no key can be made without randomness")]
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator failed");
        Self(bytes)
    }

    /// A key from its bytes, for example unwrapped from a manifest.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes. Keep them out of logs and error messages.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("DataKey(..)")
    }
}

/// The keys of one object, derived from the data key and the object's salt.
pub(crate) struct ObjectKeys {
    /// The AES-256-GCM key that seals every chunk and the index.
    pub(crate) aead: aead::LessSafeKey,
    /// The commitment to that key, as stored in the header.
    pub(crate) commitment: [u8; KEY_LEN],
}

impl ObjectKeys {
    /// Runs the key schedule: `PRK = HKDF-Extract(salt, data key)`, then the object key and
    /// commitment are HKDF-Expand of the PRK with their own info strings.
    ///
    /// The salt must be fresh and random for each object written with the same data key:
    /// the nonces restart at zero in every object, so a repeated salt would repeat
    /// (key, nonce) pairs and break AES-GCM.
    pub(crate) fn derive(data_key: &DataKey, salt: &[u8; KEY_LEN]) -> Result<Self, Error> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(data_key.as_bytes());

        let mut object_key = Zeroizing::new([0_u8; KEY_LEN]);
        expand(&prk, OBJECT_KEY_INFO, object_key.as_mut())?;
        let mut commitment = [0_u8; KEY_LEN];
        expand(&prk, COMMITMENT_INFO, &mut commitment)?;

        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, object_key.as_ref())
            .map_err(|_| Error::Internal { what: "aes-256-gcm key setup" })?;
        Ok(Self { aead: aead::LessSafeKey::new(unbound), commitment })
    }

    /// Compares a stored commitment with this key's, in constant time.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKey`] when they differ.
    pub(crate) fn verify_commitment(&self, stored: &[u8]) -> Result<(), Error> {
        constant_time::verify_slices_are_equal(&self.commitment, stored)
            .map_err(|_| Error::WrongKey)
    }
}

/// Fills `out` with `HKDF-Expand(PRK, info, out.len())`; `out` is at most 32 bytes here.
pub(crate) fn expand(prk: &hkdf::Prk, info: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let info = [info];
    prk.expand(&info, OutputLength(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| Error::Internal { what: "hkdf expand" })
}

/// An HKDF output length, as `aws-lc-rs` wants it.
struct OutputLength(usize);

impl hkdf::KeyType for OutputLength {
    fn len(&self) -> usize {
        self.0
    }
}

/// Fills a buffer from the system's secure random number generator.
pub(crate) fn random(out: &mut [u8]) -> Result<(), Error> {
    aws_lc_rs::rand::fill(out).map_err(|_| Error::Internal { what: "random number generator" })
}

#[cfg(test)]
mod tests {
    use super::{DataKey, ObjectKeys};
    use crate::error::Error;

    #[test]
    fn data_key_debug_hides_the_bytes() {
        let key = DataKey::from_bytes([7; 32]);

        assert_eq!(format!("{key:?}"), "DataKey(..)");
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(DataKey::generate().as_bytes(), DataKey::generate().as_bytes());
    }

    #[test]
    fn commitment_depends_on_key_and_salt() {
        let key = DataKey::from_bytes([1; 32]);
        let other = DataKey::from_bytes([2; 32]);

        let base = ObjectKeys::derive(&key, &[0; 32]).map(|keys| keys.commitment).ok();
        let other_key = ObjectKeys::derive(&other, &[0; 32]).map(|keys| keys.commitment).ok();
        let other_salt = ObjectKeys::derive(&key, &[9; 32]).map(|keys| keys.commitment).ok();

        assert!(base.is_some());
        assert_ne!(base, other_key);
        assert_ne!(base, other_salt);
    }

    #[test]
    fn mismatching_commitment_is_wrong_key() -> Result<(), Error> {
        let keys = ObjectKeys::derive(&DataKey::from_bytes([1; 32]), &[0; 32])?;

        assert!(keys.verify_commitment(&keys.commitment).is_ok());
        assert!(matches!(keys.verify_commitment(&[0; 32]), Err(Error::WrongKey)));
        assert!(matches!(keys.verify_commitment(&[]), Err(Error::WrongKey)));
        Ok(())
    }
}
