//! Values written by the original `st_s3kv_connection` library are read in place.

use s3kv::{Connection, PayloadKind};
use serde_json::json;

use crate::backends::{loader, password};

/// The original's objects, kept beside the codec's tests.
fn vectors() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../s3kv-codec/tests/data/legacy")
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("vectors") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copied");
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[tokio::test]
async fn the_original_librarys_values_are_read_in_place() {
    let folder = tempfile::tempdir().expect("folder");
    copy_tree(&vectors(), folder.path());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors().join("MANIFEST.json")).expect("manifest"))
            .expect("json");
    let path = folder.path().to_string_lossy().into_owned();
    let kwargs = json!({"mode": "local", "path": path}).as_object().cloned().expect("object");
    let connection = Connection::open(loader(kwargs)).await.expect("opens");

    let objects = manifest["objects"].as_array().expect("objects");
    assert!(objects.len() >= 7);
    for object in objects {
        let name = object["collection"].as_str().expect("collection");
        let secret = object["password"].as_str().expect("password");
        let mut options = if secret.is_empty() { serde_json::Map::new() } else { password(secret) };
        let salt = object["salt_hex"].as_str().expect("salt");
        if !salt.is_empty() {
            options.insert("salt".into(), salt.into());
        }
        let collection = connection.collection(name, options).await.expect("opens");
        let key = object["key"].as_str().expect("key");
        let value = collection.get(key).await.expect("readable").expect("present");
        assert_eq!(value.kind, PayloadKind::Pickle);
        assert!(value.legacy);
        assert_eq!(sha256_hex(&value.data), object["pickle_sha256"].as_str().expect("sha"));
        assert!(collection.keys().await.expect("keys").contains(&key.to_owned()));
        let info = collection.info(key).await.expect("info").expect("present");
        assert!(info.legacy && info.kind == PayloadKind::Pickle && info.plain_size.is_none());
        assert_eq!(info.encrypted, !secret.is_empty(), "key {key:?}");
    }
}

#[tokio::test]
async fn a_wrong_password_for_the_original_librarys_values_is_refused_when_opening() {
    let folder = tempfile::tempdir().expect("folder");
    copy_tree(&vectors(), folder.path());
    let path = folder.path().to_string_lossy().into_owned();
    let kwargs = json!({"mode": "local", "path": path}).as_object().cloned().expect("object");
    let connection = Connection::open(loader(kwargs)).await.expect("opens");

    let error = connection.collection("examples", password("typo")).await.expect_err("typo");
    assert_eq!(error.kind(), s3kv::ErrorKind::WrongPassword, "{error}");
    let manifest = folder.path().join(hex::encode("examples")).join("manifest.s3kv");
    assert!(!manifest.exists(), "a refused password writes no manifest");

    let error = connection.collection("plain", password("any")).await.expect_err("plain values");
    assert_eq!(error.kind(), s3kv::ErrorKind::WrongPassword, "{error}");

    let right = connection
        .collection("examples", password("password-to-this-collection"))
        .await
        .expect("the right password opens");
    assert!(right.get("key1").await.expect("readable").is_some());
    assert!(manifest.exists());
}
