//! The cache's log events carry keys and outcomes, never a value or an entity tag.
//!
//! This test is a binary of its own: tracing decides once per process whether an event site
//! is of interest, and an event site first reached by another test's thread while this test
//! installs its subscriber can stay marked as of no interest, so events would go missing.

use std::{
    fmt::{self, Write as _},
    sync::{Arc, Mutex},
    time::Duration,
};

use s3kv_cache::{Cache, CacheConfig};
use tracing::{
    Event, Metadata, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};

/// Text that only a value's `Debug` output contains.
const MARKER: &str = "value-bytes-that-must-never-be-shown";

/// A cached value whose `Debug` output would give it away.
#[derive(Clone)]
struct Marked;

impl fmt::Debug for Marked {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(MARKER)
    }
}

/// A subscriber that writes every event and span, with all their fields, into one buffer.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<String>>);

impl Recorder {
    fn text(&self) -> String {
        self.0.lock().expect("recorder lock").clone()
    }

    fn write(&self, line: &str) {
        let mut buffer = self.0.lock().expect("recorder lock");
        buffer.push_str(line);
        buffer.push('\n');
    }
}

/// Collects the fields of one event or span as text.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Writing into a String cannot fail.
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.write(&fields.0);
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields("record".to_owned());
        values.record(&mut fields);
        self.write(&fields.0);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("{}", event.metadata().level()));
        event.record(&mut fields);
        self.write(&fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn every_operation_logs_its_key_and_outcome_but_never_the_value() {
    let recorder = Recorder::default();

    tracing::subscriber::with_default(recorder.clone(), || {
        let cache = Cache::new(CacheConfig::new(Duration::from_hours(1))).expect("config");
        cache.insert("photo-key", Marked, Some("etag-text".to_owned()), 10);
        let _ = cache.lookup("photo-key");
        let _ = cache.lookup_revalidating("photo-key");
        cache.revalidated("photo-key", "etag-text");
        let _ = cache.lookup("absent-key");
        cache.insert("big-key", Marked, None, u64::MAX);
        cache.invalidate("photo-key");
        cache.invalidate_all();
    });

    let text = recorder.text();
    for expected in ["fresh", "stale", "miss", "photo-key", "absent-key", "big-key", "DEBUG"] {
        assert!(text.contains(expected), "no {expected:?} in the log:\n{text}");
    }
    assert!(!text.contains(MARKER), "a value reached the log:\n{text}");
    assert!(!text.contains("etag-text"), "an entity tag reached the log:\n{text}");
    assert_eq!(text.lines().filter(|line| line.contains("outcome=")).count(), 3, "{text}");
    // One event for each of the eight calls, the bypassed insert included.
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(text.contains("cache bypass"), "{text}");
}
