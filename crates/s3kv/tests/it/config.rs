//! Bad configuration fails when the connection opens, with an error that names what is wrong
//! and what is allowed, and nothing is written.

use std::time::{Duration, Instant};

use s3kv::{Connection, ErrorKind};
use serde_json::{Map, json};

use crate::backends::{loader, password};

fn kwargs(value: serde_json::Value) -> Map<String, serde_json::Value> {
    let serde_json::Value::Object(map) = value else { panic!("a JSON object") };
    map
}

#[tokio::test]
async fn unknown_mode_names_the_allowed_modes() {
    let error = Connection::open(loader(kwargs(json!({"mode": "ftp"})))).await.expect_err("bad");
    assert_eq!(error.kind(), ErrorKind::Config);
    let message = error.to_string();
    for word in ["mode", "ftp", "s3", "local", "dict"] {
        assert!(message.contains(word), "{message}");
    }
}

#[tokio::test]
async fn unknown_parameter_is_named() {
    let error = Connection::open(loader(kwargs(json!({"mode": "dict", "pasword": "x"}))))
        .await
        .expect_err("bad");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("pasword"), "{error}");
    assert!(!error.to_string().contains("\"x\""), "{error}");
}

#[tokio::test]
async fn s3_without_bucket_says_bucket_is_required() {
    let error = Connection::open(loader(kwargs(json!({"mode": "s3"})))).await.expect_err("bad");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("bucket"), "{error}");
}

#[tokio::test]
async fn connection_parameters_are_refused_on_a_collection() {
    let connection =
        Connection::open(loader(kwargs(json!({"mode": "dict"})))).await.expect("opens");
    let error = connection
        .collection("c", kwargs(json!({"bucket": "b"})))
        .await
        .expect_err("bucket is a connection parameter");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("connection parameter"), "{error}");
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_fails_quickly_and_is_named() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let error = Connection::open(loader(kwargs(json!({
        "mode": "s3", "bucket": "b", "endpoint": endpoint,
        "access_key": "test-access", "secret_key": "test-secret-key",
    }))))
    .await
    .expect_err("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(error.kind(), ErrorKind::Backend, "{error}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(!error.to_string().contains("test-secret-key"), "{error}");
}

#[tokio::test]
async fn a_wrong_password_writes_nothing() {
    let folder = tempfile::tempdir().expect("folder");
    let path = folder.path().to_string_lossy().into_owned();
    let options = kwargs(json!({"mode": "local", "path": path}));
    let connection = Connection::open(loader(options.clone())).await.expect("opens");
    connection.collection("c", password("right")).await.expect("creates the manifest");
    let before = snapshot(folder.path());

    let other = Connection::open(loader(options)).await.expect("opens");
    other.collection("c", password("wrong")).await.expect_err("wrong password");
    assert_eq!(snapshot(folder.path()), before);
}

fn snapshot(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push((path.display().to_string(), std::fs::read(&path).expect("file")));
            }
        }
    }
    files.sort();
    files
}
