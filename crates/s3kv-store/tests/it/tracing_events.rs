//! Every backend operation emits one debug event with its operation, path, size and time, and
//! no event or span ever carries a stored value.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use s3kv_store::PutMode;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

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
