//! Objects written by `st_s3kv_connection` 0.1.0 (in `tests/data/legacy`, described by its
//! MANIFEST.json) decode to the pickle bytes that library stored.

use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use s3kv_codec::{
    Error, is_s3kv_object,
    legacy::{self, LegacyKey},
};
use serde::Deserialize;

use crate::support::error_name;

#[derive(Deserialize)]
struct Manifest {
    objects: Vec<Entry>,
}

/// One stored value, named as MANIFEST.json names its fields.
#[derive(Deserialize)]
struct Entry {
    password: String,
    salt_hex: String,
    key: String,
    object_path: String,
    pickle_sha256: String,
}

impl Entry {
    fn stored(&self) -> Vec<u8> {
        std::fs::read(directory().join(&self.object_path)).unwrap_or_default()
    }

    fn key(&self) -> Result<Option<LegacyKey>, Error> {
        if self.password.is_empty() {
            return Ok(None);
        }
        LegacyKey::derive(&self.password, &self.salt_hex).map(Some)
    }
}

fn directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy")
}

fn objects() -> Vec<Entry> {
    let text = std::fs::read(directory().join("MANIFEST.json")).unwrap_or_default();
    let manifest: Option<Manifest> = serde_json::from_slice(&text).ok();
    manifest.map(|manifest| manifest.objects).unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

#[test]
fn every_legacy_object_decodes_to_its_pickle() -> Result<(), Error> {
    let objects = objects();
    assert_eq!(objects.len(), 7);

    for object in &objects {
        let stored = object.stored();
        assert!(!stored.is_empty(), "{}", object.object_path);
        assert!(!is_s3kv_object(&stored));

        let pickle = legacy::decode(&stored, object.key()?.as_ref())?;

        assert_eq!(sha256_hex(&pickle), object.pickle_sha256, "{}", object.key);
        // Every value was pickled with protocol 2 or later, which opens with PROTO.
        assert_eq!(pickle.first(), Some(&0x80), "{}", object.key);
    }
    Ok(())
}

#[test]
fn wrong_password_is_wrong_key() -> Result<(), Error> {
    let wrong = LegacyKey::derive("not the password", "")?;
    let salted_wrong = LegacyKey::derive("my-secret-password", "")?;
    for object in objects().iter().filter(|object| !object.password.is_empty()) {
        let stored = object.stored();

        for key in [&wrong, &salted_wrong] {
            let result = legacy::decode(&stored, Some(key));
            assert!(matches!(result, Err(Error::WrongKey)), "{}: {result:?}", object.key);
        }
    }
    Ok(())
}

#[test]
fn encrypted_object_without_a_key_needs_one() {
    for object in objects().iter().filter(|object| !object.password.is_empty()) {
        let result = legacy::decode(&object.stored(), None);

        assert_eq!(
            result.as_ref().map_or_else(error_name, |_| "ok"),
            "KeyRequired",
            "{}",
            object.key
        );
    }
}

#[test]
fn plain_object_with_a_key_is_not_encrypted() -> Result<(), Error> {
    let key = LegacyKey::derive("password-to-this-collection", "")?;
    for object in objects().iter().filter(|object| object.password.is_empty()) {
        let stored = object.stored();
        // This one is 32 bytes long, so its length alone looks encrypted.
        assert_eq!(stored.len() % 16, 0);

        let result = legacy::decode(&stored, Some(&key));

        assert!(matches!(result, Err(Error::NotEncrypted)), "{result:?}");
    }
    Ok(())
}

#[test]
fn output_past_the_limit_is_limit_exceeded() -> Result<(), Error> {
    for object in &objects() {
        let stored = object.stored();
        let key = object.key()?;
        let full = legacy::decode(&stored, key.as_ref())?.len();
        let full = u64::try_from(full).unwrap_or(u64::MAX);

        let exact = legacy::decode_with_limit(&stored, key.as_ref(), full);
        let short = legacy::decode_with_limit(&stored, key.as_ref(), full - 1);

        assert!(exact.is_ok(), "{}", object.key);
        assert!(matches!(short, Err(Error::LimitExceeded { .. })), "{}: {short:?}", object.key);
    }
    Ok(())
}

#[test]
fn damaged_or_foreign_bytes_are_errors_not_panics() -> Result<(), Error> {
    let key = LegacyKey::derive("password-to-this-collection", "")?;
    for object in &objects() {
        let stored = object.stored();
        for cut in 0..stored.len() {
            assert!(legacy::decode(&stored[..cut], None).is_err());
            assert!(legacy::decode(&stored[..cut], Some(&key)).is_err());
        }
        for position in 0..stored.len() {
            let mut damaged = stored.clone();
            damaged[position] ^= 0x40;
            // Anything but a panic; ECB without authentication may even decode.
            let _ = legacy::decode(&damaged, Some(&key));
            let _ = legacy::decode(&damaged, None);
        }
    }
    Ok(())
}
