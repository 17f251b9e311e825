//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points the fuzz
//! targets call, so every input the fuzzer kept, and every crash fixed, stays a test.

use std::{fs, path::Path};

use s3kv_codec::fuzzing;

/// The entry point of a fuzz target.
type Entry = fn(&[u8]);

fn replay(target: &str, run: Entry) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let entries = fs::read_dir(&dir).map(|entries| entries.flatten().collect::<Vec<_>>());
    let entries = entries.unwrap_or_default();
    for entry in &entries {
        let bytes = fs::read(entry.path()).unwrap_or_default();
        run(&bytes);
    }
    entries.len()
}

#[test]
fn fuzz_corpus_replays_without_a_panic() {
    let targets: [(&str, Entry); 5] = [
        ("header", fuzzing::header),
        ("chunk", fuzzing::chunk),
        ("object", fuzzing::object),
        ("stream", fuzzing::stream),
        ("range", fuzzing::range),
    ];
    for (target, run) in targets {
        assert!(replay(target, run) > 0, "no corpus for fuzz target {target}");
    }
}
