//! Everything the facade, the cache and the store log while a password-protected collection is
//! opened, written, read from the cache, revalidated, streamed and deleted: at the most verbose
//! level, no line carries the password, the salt or a stored value.
//!
//! A test binary of its own, so that no other test's threads race the subscriber's
//! installation (`tracing` caches per process whether each statement is wanted).

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use s3kv::{Connection, Loader, PayloadKind};
use serde_json::{Map, Value, json};

const PASSWORD: &str = "password-that-must-never-be-logged";
const SALT: &str = "salt-that-must-never-be-logged";
const VALUE: &str = "value-that-must-never-be-logged";

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[test]
fn no_log_line_carries_a_secret_or_a_value() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A global default, so the runtime's worker threads log into it too.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let kwargs = object(json!({"mode": "dict", "ttl": 0, "salt": SALT}));
        let loader = Loader::new(Some("s3kv_logging"))
            .kwargs(kwargs)
            .env(Vec::new())
            .secrets_files(Vec::new());
        let connection = Connection::open(loader).await.expect("connection");
        let mut options = Map::new();
        options.insert("password".into(), PASSWORD.into());
        let collection = connection.collection("secrets", options).await.expect("opens");
        collection.set("k", PayloadKind::Text, VALUE.as_bytes()).await.expect("set");
        // ttl 0: a read through the cache, revalidated with the store.
        let read = collection.get("k").await.expect("get").expect("a value");
        assert_eq!(read.data, VALUE.as_bytes());
        collection.get_revalidated("k").await.expect("get").expect("a value");
        collection
            .set_reader("s", PayloadKind::Text, io::Cursor::new(VALUE.repeat(1000)), None)
            .await
            .expect("set_reader");
        collection
            .get_writer("s", &[PayloadKind::Text], Vec::new())
            .await
            .expect("get_writer")
            .expect("a value");
        collection.get_many(&["k", "s", "missing"]).await.expect("get_many");
        collection.delete_many(&["k", "s"]).await.expect("delete_many");
        let mut wrong = Map::new();
        wrong.insert("password".into(), "not-it".into());
        connection.collection("secrets", wrong).await.expect_err("wrong password");
    });

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    assert!(log.contains("cache"), "the cache logged nothing: {log}");
    assert!(log.contains("backend operation"), "the store logged nothing: {log}");
    for secret in [PASSWORD, SALT, VALUE] {
        assert!(!log.contains(secret), "{secret} reached the logs:\n{log}");
    }
}
