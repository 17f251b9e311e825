//! Object names: where a collection's values and manifest live on a backend.
//!
//! The layout is the original library's, so its data is found in place: a value lives at
//! `<hex of collection>/<hex of key>` under the configured prefix, both names UTF-8 encoded and
//! written as lowercase hex. Hex is injective, case-safe on case-insensitive file systems, and
//! holds no `/`, `.` or other character a backend might treat specially. The manifest's name
//! holds letters outside the hex alphabet, so no key can ever map onto it.

use s3kv_store::Capabilities;

use crate::error::{Error, ErrorKind, Result};

/// The manifest's file name inside a collection's directory.
pub(crate) const MANIFEST_NAME: &str = "manifest.s3kv";

/// The names of one collection on a backend.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    /// `<hex collection>/`, the directory every name of this collection starts with.
    directory: String,
    /// The longest encoded key name the backend accepts in this directory.
    max_encoded_key: usize,
}

impl Names {
    /// Lays out the names of `collection` for a backend with `capabilities`.
    ///
    /// # Errors
    ///
    /// `InvalidKey` when the collection name is empty or leaves no room for keys.
    pub(crate) fn new(collection: &str, capabilities: &Capabilities) -> Result<Self> {
        if collection.is_empty() {
            return Err(Error::new(ErrorKind::InvalidKey, "collection name must not be empty"));
        }
        let directory = format!("{}/", hex::encode(collection.as_bytes()));
        let mut max_encoded_key = capabilities.max_path_bytes.saturating_sub(directory.len());
        if let Some(component) = capabilities.max_component_bytes {
            max_encoded_key = max_encoded_key.min(component);
            if directory.len() - 1 > component {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    format!(
                        "collection name is {} bytes in UTF-8; this backend allows at most {} \
                         bytes for a collection name",
                        collection.len(),
                        component / 2
                    ),
                ));
            }
        }
        if max_encoded_key < 2 {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "collection name is too long: it leaves no room for keys on this backend",
            ));
        }
        Ok(Self { directory, max_encoded_key })
    }

    /// The directory every name of this collection starts with, ending in `/`.
    pub(crate) fn directory(&self) -> &str {
        &self.directory
    }

    /// The manifest's path.
    pub(crate) fn manifest(&self) -> String {
        format!("{}{MANIFEST_NAME}", self.directory)
    }

    /// The longest key, in UTF-8 bytes, this collection accepts on its backend.
    pub(crate) fn max_key_bytes(&self) -> usize {
        self.max_encoded_key / 2
    }

    /// The path of `key`'s value.
    ///
    /// # Errors
    ///
    /// `InvalidKey` when the key is empty or longer than the backend allows; the message says
    /// the limit, so the caller learns it before anything is sent.
    pub(crate) fn value(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(Error::new(ErrorKind::InvalidKey, "key must not be empty"));
        }
        if key.len() > self.max_key_bytes() {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!(
                    "key is {} bytes in UTF-8; this backend allows at most {} bytes for a key \
                     in this collection",
                    key.len(),
                    self.max_key_bytes()
                ),
            ));
        }
        Ok(format!("{}{}", self.directory, hex::encode(key.as_bytes())))
    }

    /// The key stored at `path`, or `None` when the path is not a value of this collection
    /// (the manifest, a nested folder, a temporary file, or a name that is not hex of UTF-8).
    pub(crate) fn key_of(&self, path: &str) -> Option<String> {
        let name = path.strip_prefix(&self.directory)?;
        if name.is_empty() || !name.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let bytes = hex::decode(name).ok()?;
        String::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Capabilities {
        s3kv_store::memory().expect("memory backend").capabilities()
    }

    fn s3_like() -> Capabilities {
        let mut capabilities = base();
        capabilities.max_path_bytes = 1024;
        capabilities.max_component_bytes = None;
        capabilities
    }

    fn folder_like() -> Capabilities {
        let mut capabilities = base();
        capabilities.max_path_bytes = 4096;
        capabilities.max_component_bytes = Some(255);
        capabilities
    }

    #[test]
    fn value_names_are_hex_of_collection_and_key_as_the_original_wrote_them() {
        let names = Names::new("examples", &s3_like()).expect("names");
        assert_eq!(names.value("key1").expect("path"), "6578616d706c6573/6b657931");
        assert_eq!(
            names.value("dir/with slash & ünïcode").expect("path"),
            "6578616d706c6573/6469722f7769746820736c617368202620c3bc6ec3af636f6465"
        );
    }

    #[test]
    fn key_of_inverts_value_and_skips_foreign_names() {
        let names = Names::new("c", &s3_like()).expect("names");
        for key in ["a", "ünï/côdé", "a//b", "..", " "] {
            let path = names.value(key).expect("path");
            assert_eq!(names.key_of(&path).as_deref(), Some(key));
        }
        assert_eq!(names.key_of(&names.manifest()), None);
        assert_eq!(names.key_of("63/6a/6b"), None);
        assert_eq!(names.key_of("63/.tmp-6a"), None);
        assert_eq!(names.key_of("64/6a"), None);
        assert_eq!(names.key_of("63/ff"), None, "not UTF-8");
        assert_eq!(names.key_of("63/6A"), None, "upper case is never written");
    }

    #[test]
    fn key_too_long_for_a_file_name_reports_the_limit() {
        let names = Names::new("c", &folder_like()).expect("names");
        assert_eq!(names.max_key_bytes(), 127);
        assert!(names.value(&"k".repeat(127)).is_ok());
        let error = names.value(&"k".repeat(128)).expect_err("too long");
        assert_eq!(error.kind(), ErrorKind::InvalidKey);
        assert!(error.to_string().contains("at most 127 bytes"), "{error}");
    }

    #[test]
    fn key_too_long_for_s3_reports_the_limit() {
        let names = Names::new("c", &s3_like()).expect("names");
        assert_eq!(names.max_key_bytes(), (1024 - 3) / 2);
        let error = names.value(&"k".repeat(600)).expect_err("too long");
        assert!(error.to_string().contains("at most 510 bytes"), "{error}");
    }

    #[test]
    fn empty_key_and_collection_are_refused() {
        assert_eq!(Names::new("", &s3_like()).expect_err("empty").kind(), ErrorKind::InvalidKey);
        let names = Names::new("c", &s3_like()).expect("names");
        assert_eq!(names.value("").expect_err("empty").kind(), ErrorKind::InvalidKey);
    }
}
