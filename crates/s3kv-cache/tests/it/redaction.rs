//! No value ever reaches the cache's `Debug` output or its log events; keys and outcomes do.

use std::{
    fmt::{self, Write as _},
    sync::{Arc, Mutex},
};

use s3kv_cache::{Cache, CacheConfig, Lookup};
use tracing::{
    Event, Metadata, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};

use crate::support::{ManualClock, TTL};

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
fn debug_output_shows_config_and_stats_but_no_value() {
    let cache = Cache::with_clock(CacheConfig::new(TTL), ManualClock::new()).expect("config");
    cache.insert("k", Marked, Some("e1".to_owned()), 10);
    let lookup = cache.lookup("k");
    assert!(matches!(lookup, Lookup::Fresh(_)));

    let text = format!("{cache:?} {lookup:?} {:?}", cache.lookup_revalidating("k"));
    assert!(text.contains("max_bytes") && text.contains("hits: 1"), "{text}");
    assert!(!text.contains(MARKER), "{text}");
}

#[test]
fn every_operation_logs_its_key_and_outcome_but_never_the_value() {
    let recorder = Recorder::default();
    let clock = ManualClock::new();

    tracing::subscriber::with_default(recorder.clone(), || {
        let cache = Cache::with_clock(CacheConfig::new(TTL), clock.clone()).expect("config");
        cache.insert("photo-key", Marked, Some("etag-text".to_owned()), 10);
        let _ = cache.lookup("photo-key");
        clock.advance(TTL);
        let _ = cache.lookup("photo-key");
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
}
