//! Passwords and the collection manifest: the random data key of a collection, wrapped by a
//! key derived from the password, with a key check that tells a wrong password apart.
//!
//! The manifest is small JSON with hex fields (layout in `docs/format.md`, "Manifest"):
//!
//! ```json
//! {"format":"s3kv-manifest","version":1,
//!  "kdf":{"name":"pbkdf2-hmac-sha256","iterations":600000,"salt":"<16 bytes>"},
//!  "key_check":"<32 bytes>",
//!  "wrapped_key":{"cipher":"aes-256-gcm","nonce":"<12 bytes>","ciphertext":"<48 bytes>"}}
//! ```
//!
//! Changing the password rewrites only the manifest ([`Manifest::wrap`] the same key), and
//! the password cost is paid once per unlock, not once per value.

use std::num::NonZeroU32;

use aws_lc_rs::{aead, constant_time, hkdf, pbkdf2};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::{
    error::Error,
    key::{DataKey, KEY_LEN, expand, random},
    options::push_length_prefixed,
};

/// The `format` field of every manifest.
pub const FORMAT: &str = "s3kv-manifest";
/// The manifest version this crate writes and reads.
pub const VERSION: u64 = 1;
/// The PBKDF2 iteration count used unless the caller chooses another (OWASP's figure for
/// PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// The most iterations a manifest may ask for, so a planted manifest cannot stall an unlock.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// The largest manifest read, in bytes; a real one is under 400.
pub const MAX_MANIFEST_LEN: usize = 64 * 1024;

const KDF_NAME: &str = "pbkdf2-hmac-sha256";
const CIPHER_NAME: &str = "aes-256-gcm";
const KDF_SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const WRAPPED_LEN: usize = KEY_LEN + 16;
const CHECK_INFO: &[u8] = b"s3kv v1 manifest check";
const WRAP_INFO: &[u8] = b"s3kv v1 manifest wrap";
const AAD_PREFIX: &[u8] = b"s3kv manifest v1";

/// Password key derivation settings: PBKDF2-HMAC-SHA256 with this many iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Iterations, in `1..=`[`MAX_ITERATIONS`].
    pub iterations: u32,
}

impl Default for KdfParams {
    /// [`DEFAULT_ITERATIONS`].
    fn default() -> Self {
        Self { iterations: DEFAULT_ITERATIONS }
    }
}

impl KdfParams {
    /// The iteration count, if it is within range.
    fn checked_iterations(self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.iterations).filter(|count| count.get() <= MAX_ITERATIONS)
    }
}

/// A collection's manifest: KDF parameters and salt, key check, and the wrapped data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    iterations: u32,
    kdf_salt: [u8; KDF_SALT_LEN],
    key_check: [u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
    wrapped_key: [u8; WRAPPED_LEN],
}

/// The keys derived from a password: one to check it, one to wrap the data key.
struct PasswordKeys {
    check: [u8; KEY_LEN],
    wrap: Zeroizing<[u8; KEY_LEN]>,
}

impl PasswordKeys {
    /// `KEK = PBKDF2-HMAC-SHA256(password, kdf salt ‖ user salt, iterations, 32)`, then
    /// `PRK = HKDF-Extract(no salt, KEK)` and the check and wrap keys expanded from it.
    fn derive(
        password: &[u8],
        user_salt: &[u8],
        kdf_salt: &[u8; KDF_SALT_LEN],
        iterations: NonZeroU32,
    ) -> Result<Self, Error> {
        // The user salt is kept outside the bucket, so it strengthens the password against
        // someone who holds only the bucket; the KDF salt makes each collection's key unique.
        let salt = [kdf_salt.as_slice(), user_salt].concat();
        let mut kek = Zeroizing::new([0_u8; KEY_LEN]);
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password, kek.as_mut());

        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(kek.as_ref());
        let mut check = [0_u8; KEY_LEN];
        expand(&prk, CHECK_INFO, &mut check)?;
        let mut wrap = Zeroizing::new([0_u8; KEY_LEN]);
        expand(&prk, WRAP_INFO, wrap.as_mut())?;
        Ok(Self { check, wrap })
    }

    /// The AES-256-GCM key that wraps the data key.
    fn wrapping_key(&self) -> Result<aead::LessSafeKey, Error> {
        aead::UnboundKey::new(&aead::AES_256_GCM, self.wrap.as_ref())
            .map(aead::LessSafeKey::new)
            .map_err(|_| Error::Internal { what: "aes-256-gcm key setup" })
    }
}

impl Manifest {
    /// Creates a collection's manifest with a new random data key, and returns both.
    ///
    /// `user_salt` is the salt the user configures (empty for none); it is needed again to
    /// unlock.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for iterations out of range or a collection name over
    /// 4 GiB; [`Error::Internal`] if the random number generator fails.
    pub fn create(
        password: &[u8],
        user_salt: &[u8],
        collection: &str,
        params: KdfParams,
    ) -> Result<(Self, DataKey), Error> {
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        random(bytes.as_mut())?;
        let key = DataKey::from_bytes(*bytes);
        let manifest = Self::wrap(&key, password, user_salt, collection, params)?;
        Ok((manifest, key))
    }

    /// Wraps an existing data key under a password, with a fresh KDF salt and nonce: this is
    /// how a password changes without rewriting any value.
    ///
    /// # Errors
    ///
    /// As [`Manifest::create`].
    pub fn wrap(
        data_key: &DataKey,
        password: &[u8],
        user_salt: &[u8],
        collection: &str,
        params: KdfParams,
    ) -> Result<Self, Error> {
        let iterations = params.checked_iterations().ok_or_else(|| {
            Error::invalid(format!(
                "kdf iterations {} are outside 1..={MAX_ITERATIONS}",
                params.iterations
            ))
        })?;
        let aad = aad(collection)?;
        let mut kdf_salt = [0_u8; KDF_SALT_LEN];
        random(&mut kdf_salt)?;
        let mut nonce = [0_u8; NONCE_LEN];
        random(&mut nonce)?;

        let keys = PasswordKeys::derive(password, user_salt, &kdf_salt, iterations)?;
        let mut sealed = Zeroizing::new(data_key.as_bytes().to_vec());
        // A fresh random nonce per wrap: each wrapping key is used for one seal only anyway,
        // since the KDF salt is fresh too.
        keys.wrapping_key()?
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut *sealed,
            )
            .map_err(|_| Error::Internal { what: "aes-256-gcm seal" })?;
        let wrapped_key = sealed
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal { what: "wrapped key length" })?;

        Ok(Self {
            iterations: iterations.get(),
            kdf_salt,
            key_check: keys.check,
            nonce,
            wrapped_key,
        })
    }

    /// Unwraps the data key with the password.
    ///
    /// This runs the password KDF: it takes as long as the manifest's iteration count asks.
    ///
    /// # Errors
    ///
    /// [`Error::WrongKey`] when the password or user salt do not match (the key check is
    /// compared first, in constant time); [`Error::Corrupt`] when the key check matches but
    /// the wrapped key fails authentication, as it does for a manifest copied from another
    /// collection.
    pub fn unlock(
        &self,
        password: &[u8],
        user_salt: &[u8],
        collection: &str,
    ) -> Result<DataKey, Error> {
        let iterations = KdfParams { iterations: self.iterations }
            .checked_iterations()
            .ok_or_else(|| Error::limit(format!("manifest kdf iterations {}", self.iterations)))?;
        let aad = aad(collection)?;

        let keys = PasswordKeys::derive(password, user_salt, &self.kdf_salt, iterations)?;
        constant_time::verify_slices_are_equal(&keys.check, &self.key_check)
            .map_err(|_| Error::WrongKey)?;

        let mut opened = Zeroizing::new(self.wrapped_key.to_vec());
        let plaintext = keys
            .wrapping_key()?
            .open_in_place(
                aead::Nonce::assume_unique_for_key(self.nonce),
                aead::Aad::from(aad),
                &mut opened,
            )
            .map_err(|_| Error::corrupt(None, "manifest authentication"))?;
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        if plaintext.len() != KEY_LEN {
            return Err(Error::corrupt(None, "manifest key length"));
        }
        bytes.copy_from_slice(plaintext);
        Ok(DataKey::from_bytes(*bytes))
    }

    /// The KDF parameters this manifest was made with.
    pub fn kdf_params(&self) -> KdfParams {
        KdfParams { iterations: self.iterations }
    }

    /// The manifest as JSON bytes, fields in a fixed order, hex in lowercase.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Every value is a fixed name, a number or hex, so no escaping is ever needed.
        format!(
            concat!(
                r#"{{"format":"{}","version":{},"#,
                r#""kdf":{{"name":"{}","iterations":{},"salt":"{}"}},"#,
                r#""key_check":"{}","#,
                r#""wrapped_key":{{"cipher":"{}","nonce":"{}","ciphertext":"{}"}}}}"#
            ),
            FORMAT,
            VERSION,
            KDF_NAME,
            self.iterations,
            hex::encode(self.kdf_salt),
            hex::encode(self.key_check),
            CIPHER_NAME,
            hex::encode(self.nonce),
            hex::encode(self.wrapped_key),
        )
        .into_bytes()
    }

    /// Reads a manifest, checking every field.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for another format, version, KDF or cipher;
    /// [`Error::LimitExceeded`] for more than [`MAX_ITERATIONS`] iterations or more than
    /// [`MAX_MANIFEST_LEN`] bytes; [`Error::Corrupt`] for anything else out of place (bad
    /// JSON, unknown fields, wrong lengths, zero iterations).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(Error::limit(format!(
                "a manifest of {} bytes is larger than {MAX_MANIFEST_LEN}",
                bytes.len()
            )));
        }
        let json = |_| Error::corrupt(None, "manifest json");

        // Format and version first: a later version may change everything else.
        let probe: Probe = serde_json::from_slice(bytes).map_err(json)?;
        if probe.format != FORMAT {
            return Err(Error::unsupported(format!("manifest format {}", shorten(&probe.format))));
        }
        if probe.version != VERSION {
            return Err(Error::unsupported(format!("manifest version {}", probe.version)));
        }

        let stored: StoredManifest = serde_json::from_slice(bytes).map_err(json)?;
        if stored.kdf.name != KDF_NAME {
            return Err(Error::unsupported(format!("manifest kdf {}", shorten(&stored.kdf.name))));
        }
        if stored.wrapped_key.cipher != CIPHER_NAME {
            return Err(Error::unsupported(format!(
                "manifest cipher {}",
                shorten(&stored.wrapped_key.cipher)
            )));
        }
        let iterations = match u32::try_from(stored.kdf.iterations) {
            Ok(0) => return Err(Error::corrupt(None, "manifest kdf iterations")),
            Ok(count) if count <= MAX_ITERATIONS => count,
            _ => {
                return Err(Error::limit(format!(
                    "manifest kdf iterations {} are more than {MAX_ITERATIONS}",
                    stored.kdf.iterations
                )));
            }
        };

        Ok(Self {
            iterations,
            kdf_salt: decode_hex(&stored.kdf.salt, "manifest kdf salt")?,
            key_check: decode_hex(&stored.key_check, "manifest key check")?,
            nonce: decode_hex(&stored.wrapped_key.nonce, "manifest nonce")?,
            wrapped_key: decode_hex(&stored.wrapped_key.ciphertext, "manifest wrapped key")?,
        })
    }
}

/// The AAD of the wrapped key: a label and the collection name, length-prefixed.
fn aad(collection: &str) -> Result<Vec<u8>, Error> {
    let mut aad = AAD_PREFIX.to_vec();
    push_length_prefixed(&mut aad, collection, "collection name")?;
    Ok(aad)
}

/// Hex of exactly `N` bytes, or [`Error::Corrupt`] naming the field.
fn decode_hex<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], Error> {
    let mut out = [0_u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| Error::corrupt(None, field))?;
    Ok(out)
}

/// A stored string for an error message, cut short so a hostile manifest cannot flood it.
fn shorten(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    format!("{cut:?}")
}

/// The two fields read before anything else.
#[derive(Deserialize)]
struct Probe {
    format: String,
    version: u64,
}

/// The manifest as stored; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredManifest {
    #[serde(rename = "format")]
    _format: String,
    #[serde(rename = "version")]
    _version: u64,
    kdf: StoredKdf,
    key_check: String,
    wrapped_key: StoredWrappedKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKdf {
    name: String,
    iterations: u64,
    salt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredWrappedKey {
    cipher: String,
    nonce: String,
    ciphertext: String,
}

#[cfg(test)]
mod tests {
    use super::{KdfParams, Manifest};
    use crate::Error;

    const FAST: KdfParams = KdfParams { iterations: 10 };

    #[test]
    fn created_manifest_unlocks_to_the_same_key() -> Result<(), Error> {
        let (manifest, key) = Manifest::create(b"secret", b"pepper", "things", FAST)?;

        let unlocked =
            Manifest::from_bytes(&manifest.to_bytes())?.unlock(b"secret", b"pepper", "things")?;

        assert_eq!(unlocked.as_bytes(), key.as_bytes());
        Ok(())
    }

    #[test]
    fn json_has_the_documented_shape() -> Result<(), Error> {
        let (manifest, _) = Manifest::create(b"secret", b"", "things", FAST)?;

        let value: serde_json::Value = serde_json::from_slice(&manifest.to_bytes())
            .map_err(|_| Error::corrupt(None, "json"))?;

        assert_eq!(value["format"], "s3kv-manifest");
        assert_eq!(value["version"], 1);
        assert_eq!(value["kdf"]["name"], "pbkdf2-hmac-sha256");
        assert_eq!(value["kdf"]["iterations"], 10);
        assert_eq!(value["kdf"]["salt"].as_str().map(str::len), Some(32));
        assert_eq!(value["key_check"].as_str().map(str::len), Some(64));
        assert_eq!(value["wrapped_key"]["cipher"], "aes-256-gcm");
        assert_eq!(value["wrapped_key"]["nonce"].as_str().map(str::len), Some(24));
        assert_eq!(value["wrapped_key"]["ciphertext"].as_str().map(str::len), Some(96));
        Ok(())
    }

    #[test]
    fn iterations_out_of_range_are_invalid_input() {
        for iterations in [0, 10_000_001] {
            let result = Manifest::create(b"p", b"", "c", KdfParams { iterations });
            assert!(matches!(result, Err(Error::InvalidInput { .. })), "{iterations}");
        }
    }
}
