//! Every backend operation emits one debug event with its operation, path, size and time, and
//! no event or span ever carries a stored value.
//!
//! A test binary of its own: `tracing` decides once per process whether each log statement is
//! wanted, and a thread of another test reaching a statement while the recorder is being
//! installed could leave it switched off for the whole run.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use s3kv_store::PutMode;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The tests of this binary take turns: each installs its own recorder, and `tracing`'s
/// per-process cache of which statements are wanted is rebuilt whenever one is installed.
static SERIAL: Mutex<()> = Mutex::new(());

/// A value no log line may contain.
const SECRET_VALUE: &[u8] = b"value-that-must-never-be-logged";

/// One recorded event or span: its name and every field as `name=value`.
#[derive(Debug, Default)]
struct Recorded {
    events: Vec<Vec<String>>,
    spans: Vec<Vec<String>>,
}

/// A subscriber that keeps every event and span field in memory.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Recorded>>);

/// Collects the fields of one event or span as text.
struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(vec![format!("span={}", span.metadata().name())]);
        span.record(&mut fields);
        let mut recorded = self.0.lock().expect("recorder lock");
        recorded.spans.push(fields.0);
        Id::from_u64(u64::try_from(recorded.spans.len()).expect("few spans"))
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields(Vec::new());
        values.record(&mut fields);
        self.0.lock().expect("recorder lock").spans.push(fields.0);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(vec![format!("level={}", event.metadata().level())]);
        event.record(&mut fields);
        self.0.lock().expect("recorder lock").events.push(fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn each_operation_emits_one_debug_event_without_the_value() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let recorder = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");

    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let backend = s3kv_store::memory().expect("memory backend");
            let value = Bytes::from_static(SECRET_VALUE);
            backend.put("k", value, PutMode::Overwrite).await.expect("put");
            backend.get("k").await.expect("get");
            backend.head("k").await.expect("head");
            let listed: Vec<_> = backend.list("").try_collect().await.expect("list");
            assert_eq!(listed.len(), 1);
            backend.delete("k").await.expect("delete");
            backend.get("k").await.expect_err("deleted");
        });
    });

    let log = recorder.0.lock().expect("recorder lock");
    let operations: Vec<&str> = log
        .events
        .iter()
        .filter_map(|fields| fields.iter().find_map(|f| f.strip_prefix("operation=")))
        .collect();
    assert_eq!(operations, ["\"put\"", "\"get\"", "\"head\"", "\"list\"", "\"delete\"", "\"get\""]);

    let put = &log.events[0];
    for expected in ["level=DEBUG", "path=\"k\"", "size=31", "outcome=\"ok\""] {
        assert!(put.iter().any(|f| f == expected), "{expected} missing from {put:?}");
    }
    assert!(put.iter().any(|f| f.starts_with("elapsed_ms=")), "{put:?}");
    let missing = log.events.last().expect("events");
    assert!(missing.iter().any(|f| f == "outcome=\"not found\""), "{missing:?}");

    let text = String::from_utf8_lossy(SECRET_VALUE);
    let everything = format!("{:?}", *log);
    assert!(!everything.contains(text.as_ref()), "a value reached the logs: {everything}");
}

#[test]
fn batch_ranged_conditional_and_streamed_operations_emit_one_debug_event_each() {
    use futures::StreamExt;

    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);

    let recorder = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");

    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let backend = s3kv_store::memory().expect("memory backend");
            let body = futures::stream::iter([Ok(Bytes::from_static(SECRET_VALUE))]).boxed();
            let put = backend.put_stream("k", body, PutMode::Overwrite).await.expect("put");
            let etag = put.etag.expect("etag");
            assert_eq!(backend.get_if_none_match("k", &etag).await.expect("get"), None);
            backend.get_range("k", 0..5).await.expect("range");
            let (_, pieces) = backend.get_stream("k").await.expect("stream");
            let _: Vec<_> = pieces.collect().await;
            backend.delete_many(&["k".to_owned(), "other".to_owned()]).await.expect("delete");
        });
    });

    let log = recorder.0.lock().expect("recorder lock");
    let operations: Vec<&str> = log
        .events
        .iter()
        .filter_map(|fields| fields.iter().find_map(|f| f.strip_prefix("operation=")))
        .collect();
    assert_eq!(
        operations,
        [
            "\"put_stream\"",
            "\"get_if_none_match\"",
            "\"get_range\"",
            "\"get_stream\"",
            "\"delete_many\""
        ]
    );
    for event in &log.events {
        assert!(event.iter().any(|f| f == "level=DEBUG"), "{event:?}");
        assert!(event.iter().any(|f| f.starts_with("elapsed_ms=")), "{event:?}");
    }
    let put = &log.events[0];
    assert!(put.iter().any(|f| f == "size=31"), "{put:?}");
    let delete = log.events.last().expect("events");
    assert!(delete.iter().any(|f| f == "count=2"), "{delete:?}");

    let text = String::from_utf8_lossy(SECRET_VALUE);
    let everything = format!("{:?}", *log);
    assert!(!everything.contains(text.as_ref()), "a value reached the logs: {everything}");
}

#[cfg(feature = "s3")]
#[test]
fn each_retry_is_one_warning_without_secrets() {
    use std::io::{Read, Write};

    const SECRET_KEY: &str = "retry-secret-that-must-never-be-logged";

    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);

    // A server that answers `503 SlowDown` once, then `404`: one retry, then a final answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let server = std::thread::spawn(move || {
        let xml = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code></Error>";
        let answers = [
            format!(
                "HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{xml}",
                xml.len()
            ),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
        ];
        for answer in answers {
            let (mut socket, _) = listener.accept().expect("a connection");
            socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
            let mut head = Vec::new();
            let mut buffer = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                let read = socket.read(&mut buffer).expect("read the request");
                if read == 0 {
                    break;
                }
                head.extend_from_slice(&buffer[..read]);
            }
            socket.write_all(answer.as_bytes()).expect("answer");
        }
    });

    let mut settings = s3kv_store::S3Settings::new("retries");
    settings.endpoint = Some(format!("http://127.0.0.1:{port}"));
    settings.access_key = Some("AKIDRETRY".to_owned());
    settings.secret_key = Some(SECRET_KEY.to_owned());
    let recorder = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let result = tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let backend = s3kv_store::s3(settings).expect("opening sends nothing");
            backend.head("k").await
        })
    });
    server.join().expect("server thread");
    assert_eq!(result.err().map(|e| e.kind()), Some(s3kv_store::ErrorKind::NotFound));

    let log = recorder.0.lock().expect("recorder lock");
    let warnings: Vec<_> =
        log.events.iter().filter(|fields| fields.iter().any(|f| f == "level=WARN")).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0];
    for field in ["backend=", "operation=", "attempt=", "retry_after_ms="] {
        assert!(warning.iter().any(|f| f.starts_with(field)), "{field} missing: {warning:?}");
    }
    let everything = format!("{:?}", *log);
    assert!(!everything.contains(SECRET_KEY), "a secret reached the logs: {everything}");
}
