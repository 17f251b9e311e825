//! The behaviour suite: what every backend must do, written once and run against each.
//!
//! A case gets an empty backend and may assume nothing else about it. Where backends may
//! differ, the case asks [`s3kv_store::Capabilities`] and checks that the backend does what it
//! claims, so no case names a backend.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use s3kv_store::{ErrorKind, PutMode};

use crate::harness::{Fixture, kind_of, listed, paths};

pub(crate) async fn check_of_a_reachable_backend_succeeds(f: &Fixture) {
    f.backend.check().await.expect("check succeeds");
}

pub(crate) async fn put_get_head_and_delete_round_trip(f: &Fixture) {
    let b = &f.backend;
    let value = Bytes::from_static(b"the value");

    let put = b.put("round/trip", value.clone(), PutMode::Overwrite).await.expect("put");
    assert_eq!(put.size, 9);

    let object = b.get("round/trip").await.expect("get");
    assert_eq!(object.bytes, value);
    assert_eq!(object.meta.size, 9);

    let head = b.head("round/trip").await.expect("head");
    assert_eq!(head.size, 9);

    b.delete("round/trip").await.expect("delete");
    assert_eq!(kind_of(b.get("round/trip").await), Some(ErrorKind::NotFound));
    assert_eq!(kind_of(b.head("round/trip").await), Some(ErrorKind::NotFound));
}

pub(crate) async fn get_and_head_of_a_missing_key_are_not_found(f: &Fixture) {
    let b = &f.backend;
    let error = b.get("missing/key").await.expect_err("nothing is stored there");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(error.operation(), "get");
    assert_eq!(error.path(), "missing/key");
    assert_eq!(error.backend(), b.describe());
    assert!(!error.is_retryable());
    assert_eq!(kind_of(b.head("missing/key").await), Some(ErrorKind::NotFound));
}

pub(crate) async fn delete_of_a_missing_key_succeeds_every_time(f: &Fixture) {
    let b = &f.backend;
    b.delete("never/written").await.expect("first delete");
    b.delete("never/written").await.expect("second delete");

    b.put("written/once", Bytes::from_static(b"x"), PutMode::Overwrite).await.expect("put");
    b.delete("written/once").await.expect("delete of the object");
    b.delete("written/once").await.expect("delete again");
}

pub(crate) async fn overwrite_replaces_the_value(f: &Fixture) {
    let b = &f.backend;
    b.put("k", Bytes::from_static(b"first, longer value"), PutMode::Overwrite).await.expect("put");
    b.put("k", Bytes::from_static(b"second"), PutMode::Overwrite).await.expect("overwrite");

    let object = b.get("k").await.expect("get");
    assert_eq!(&object.bytes[..], b"second");
    assert_eq!(b.head("k").await.expect("head").size, 6);
    assert_eq!(listed(b.as_ref(), "").await, paths(&["k"]));
}

pub(crate) async fn empty_value_round_trips(f: &Fixture) {
    let b = &f.backend;
    let put = b.put("empty", Bytes::new(), PutMode::Overwrite).await.expect("put of nothing");
    assert_eq!(put.size, 0);

    let object = b.get("empty").await.expect("get");
    assert!(object.bytes.is_empty());
    assert_eq!(b.head("empty").await.expect("head").size, 0);

    let entries: Vec<_> = b.list("").collect().await;
    assert_eq!(entries.len(), 1);
    let entry = entries.into_iter().next().and_then(Result::ok).expect("one entry");
    assert_eq!((entry.path.as_str(), entry.meta.size), ("empty", 0));
}

pub(crate) async fn if_absent_on_a_new_key_writes_it(f: &Fixture) {
    let b = &f.backend;
    if !b.capabilities().conditional_create {
        let result = b.put("new", Bytes::from_static(b"v"), PutMode::IfAbsent).await;
        assert_eq!(kind_of(result), Some(ErrorKind::Unsupported));
        return;
    }
    b.put("new", Bytes::from_static(b"v"), PutMode::IfAbsent).await.expect("create");
    assert_eq!(&b.get("new").await.expect("get").bytes[..], b"v");
}

pub(crate) async fn if_absent_on_an_existing_key_is_condition_failed(f: &Fixture) {
    let b = &f.backend;
    if !b.capabilities().conditional_create {
        return;
    }
    b.put("taken", Bytes::from_static(b"first"), PutMode::Overwrite).await.expect("put");

    let error = b
        .put("taken", Bytes::from_static(b"second"), PutMode::IfAbsent)
        .await
        .expect_err("the key exists");
    assert_eq!(error.kind(), ErrorKind::ConditionFailed);
    assert_eq!(error.operation(), "put");
    assert_eq!(&b.get("taken").await.expect("get").bytes[..], b"first");
}

pub(crate) async fn if_absent_racing_creators_exactly_one_wins(f: &Fixture) {
    let b = &f.backend;
    if !b.capabilities().conditional_create {
        return;
    }
    let attempts = (0..8u8).map(|i| async move {
        let value = Bytes::from(vec![i; 64 * 1024]);
        (i, b.put("race", value, PutMode::IfAbsent).await)
    });
    let results: Vec<_> = futures::future::join_all(attempts).await;

    let winners: Vec<u8> = results.iter().filter(|(_, r)| r.is_ok()).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    for (_, result) in &results {
        if let Err(error) = result {
            assert_eq!(error.kind(), ErrorKind::ConditionFailed, "{error}");
        }
    }
    let stored = b.get("race").await.expect("get").bytes;
    assert_eq!(stored.len(), 64 * 1024);
    assert!(stored.iter().all(|&byte| byte == winners[0]), "the winner's value is stored");
}

pub(crate) async fn if_match_follows_the_compare_and_swap_capability(f: &Fixture) {
    let b = &f.backend;
    let first = b.put("cas", Bytes::from_static(b"v1"), PutMode::Overwrite).await.expect("put");

    if !b.capabilities().compare_and_swap {
        let etag = first.etag.unwrap_or_else(|| "\"any\"".to_owned());
        let result = b.put("cas", Bytes::from_static(b"v2"), PutMode::IfMatch(etag)).await;
        assert_eq!(kind_of(result), Some(ErrorKind::Unsupported));
        assert_eq!(&b.get("cas").await.expect("get").bytes[..], b"v1");
        return;
    }

    let etag = first.etag.expect("a backend that compares ETags reports them");
    let second = b
        .put("cas", Bytes::from_static(b"v2"), PutMode::IfMatch(etag.clone()))
        .await
        .expect("swap with the current ETag");

    let stale = b.put("cas", Bytes::from_static(b"v3"), PutMode::IfMatch(etag)).await;
    assert_eq!(kind_of(stale), Some(ErrorKind::ConditionFailed));
    assert_eq!(&b.get("cas").await.expect("get").bytes[..], b"v2");

    // The same ETag without its quotes is accepted.
    let bare = second.etag.expect("etag of the swap").trim_matches('"').to_owned();
    b.put("cas", Bytes::from_static(b"v4"), PutMode::IfMatch(bare)).await.expect("bare ETag");
    assert_eq!(&b.get("cas").await.expect("get").bytes[..], b"v4");

    let missing = b.put("cas-missing", Bytes::from_static(b"x"), PutMode::IfMatch("\"e\"".into()));
    assert_eq!(kind_of(missing.await), Some(ErrorKind::ConditionFailed));
    assert_eq!(kind_of(b.head("cas-missing").await), Some(ErrorKind::NotFound));

    let empty = b.put("cas", Bytes::from_static(b"x"), PutMode::IfMatch(String::new())).await;
    assert_eq!(kind_of(empty), Some(ErrorKind::ConditionFailed));
}

pub(crate) async fn if_match_racing_increments_all_count(f: &Fixture) {
    const TASKS: u64 = 4;
    const INCREMENTS: u64 = 25;
    let b = &f.backend;
    if !b.capabilities().compare_and_swap {
        return;
    }
    b.put("count", Bytes::from_static(b"0"), PutMode::Overwrite).await.expect("put");

    let task = || async {
        for _ in 0..INCREMENTS {
            let mut landed = false;
            for _ in 0..10_000 {
                let current = b.get("count").await.expect("get");
                let value: u64 =
                    std::str::from_utf8(&current.bytes).expect("text").parse().expect("number");
                let etag = current.meta.etag.expect("etag");
                let next = Bytes::from((value + 1).to_string());
                match b.put("count", next, PutMode::IfMatch(etag)).await {
                    Ok(_) => {
                        landed = true;
                        break;
                    }
                    Err(error) => assert_eq!(error.kind(), ErrorKind::ConditionFailed, "{error}"),
                }
            }
            assert!(landed, "an increment lost 10,000 races in a row");
        }
    };
    futures::future::join_all((0..TASKS).map(|_| task())).await;

    let stored = b.get("count").await.expect("get").bytes;
    assert_eq!(std::str::from_utf8(&stored).expect("text"), (TASKS * INCREMENTS).to_string());
}

pub(crate) async fn etag_of_put_head_and_get_agree(f: &Fixture) {
    let b = &f.backend;
    let put = b.put("tagged", Bytes::from_static(b"x"), PutMode::Overwrite).await.expect("put");
    let head = b.head("tagged").await.expect("head");
    let get = b.get("tagged").await.expect("get");
    assert_eq!(put.etag, head.etag);
    assert_eq!(head.etag, get.meta.etag);
    if b.capabilities().compare_and_swap {
        assert!(head.etag.is_some(), "compare-and-swap needs ETags");
    }
}

pub(crate) async fn list_with_a_prefix_returns_exactly_the_objects_under_it(f: &Fixture) {
    let b = &f.backend;
    let all = ["p/a", "p/b/c", "p/bc", "p/b/d/e", "pa", "q/p/a"];
    for path in all {
        b.put(path, Bytes::from(path), PutMode::Overwrite).await.expect("put");
    }

    let bb = b.as_ref();
    assert_eq!(listed(bb, "").await, paths(&all));
    assert_eq!(listed(bb, "p/").await, paths(&["p/a", "p/b/c", "p/bc", "p/b/d/e"]));
    assert_eq!(listed(bb, "p/b").await, paths(&["p/b/c", "p/bc", "p/b/d/e"]));
    assert_eq!(listed(bb, "p/b/").await, paths(&["p/b/c", "p/b/d/e"]));
    assert_eq!(listed(bb, "p").await, paths(&["p/a", "p/b/c", "p/bc", "p/b/d/e", "pa"]));
    assert_eq!(listed(bb, "p/a").await, paths(&["p/a"]));
    assert_eq!(listed(bb, "nothing/").await, paths(&[]));
    assert_eq!(listed(bb, "nothing").await, paths(&[]));

    let bad: Vec<_> = b.list("/p").collect().await;
    assert_eq!(bad.len(), 1);
    assert_eq!(bad.into_iter().next().map(kind_of), Some(Some(ErrorKind::InvalidPath)));
}

pub(crate) async fn list_of_more_than_a_thousand_keys_returns_every_page(f: &Fixture) {
    const COUNT: usize = 1100;
    let b = &f.backend;
    let expected: std::collections::BTreeSet<String> =
        (0..COUNT).map(|i| format!("many/{i:05}")).collect();

    let puts = stream::iter(expected.iter().cloned())
        .map(|path| async move { b.put(&path, Bytes::new(), PutMode::Overwrite).await })
        .buffer_unordered(32);
    let results: Vec<_> = puts.collect().await;
    assert!(results.iter().all(Result::is_ok), "every put succeeds");
    b.put("manz", Bytes::new(), PutMode::Overwrite).await.expect("neighbour outside the prefix");

    assert_eq!(listed(b.as_ref(), "many/").await, expected);
    assert_eq!(listed(b.as_ref(), "").await.len(), COUNT + 1);
}

pub(crate) async fn list_of_ten_thousand_keys_returns_every_one(f: &Fixture) {
    const COUNT: usize = 10_000;
    let b = &f.backend;
    let expected: std::collections::BTreeSet<String> =
        (0..COUNT).map(|i| format!("big/{:02}/{i:05}", i % 97)).collect();

    let puts = stream::iter(expected.iter().cloned())
        .map(|path| async move { b.put(&path, Bytes::new(), PutMode::Overwrite).await })
        .buffer_unordered(32);
    let failed = puts.filter(|result| std::future::ready(result.is_err())).count().await;
    assert_eq!(failed, 0, "every put succeeds");

    assert_eq!(listed(b.as_ref(), "big/").await, expected);
    assert_eq!(
        listed(b.as_ref(), "big/05/").await.len(),
        expected.iter().filter(|p| p.starts_with("big/05/")).count()
    );
}

pub(crate) async fn list_reports_sizes_and_never_folders(f: &Fixture) {
    let b = &f.backend;
    b.put("dir/one", Bytes::from_static(b"1"), PutMode::Overwrite).await.expect("put");
    b.put("dir/sub/three", Bytes::from_static(b"333"), PutMode::Overwrite).await.expect("put");

    let mut entries: Vec<_> = b
        .list("dir/")
        .map(|entry| entry.expect("entry"))
        .map(|entry| (entry.path, entry.meta.size))
        .collect()
        .await;
    entries.sort();
    assert_eq!(entries, [("dir/one".to_owned(), 1), ("dir/sub/three".to_owned(), 3)]);
}

pub(crate) async fn odd_key_characters_round_trip_and_list(f: &Fixture) {
    let b = &f.backend;
    let odd = [
        "odd/plus+sign",
        "odd/100%",
        "odd/%20encoded-looking",
        "odd/k=v&x=y",
        "odd/with space",
        "odd/question?mark",
        "odd/#hash",
        "odd/ünïcødé/日本語/😀",
        "odd/tilde~and'quote\"",
        "odd/.hidden",
        "odd/..dots..",
    ];
    for path in odd {
        b.put(path, Bytes::from(path), PutMode::Overwrite).await.expect(path);
    }
    for path in odd {
        let object = b.get(path).await.expect(path);
        assert_eq!(object.bytes, Bytes::from(path), "{path}");
        assert_eq!(b.head(path).await.expect(path).size, path.len() as u64);
    }
    assert_eq!(listed(b.as_ref(), "odd/").await, paths(&odd));
    assert_eq!(listed(b.as_ref(), "odd/ünïcødé/").await, paths(&["odd/ünïcødé/日本語/😀"]));
    for path in odd {
        b.delete(path).await.expect(path);
    }
    assert!(listed(b.as_ref(), "odd/").await.is_empty());
}

pub(crate) async fn folder_of_an_object_is_not_an_object(f: &Fixture) {
    let b = &f.backend;
    b.put("d/x", Bytes::from_static(b"x"), PutMode::Overwrite).await.expect("put");

    assert_eq!(kind_of(b.get("d").await), Some(ErrorKind::NotFound));
    assert_eq!(kind_of(b.head("d").await), Some(ErrorKind::NotFound));
    b.delete("d").await.expect("deleting the folder name deletes nothing");
    assert_eq!(listed(b.as_ref(), "d").await, paths(&["d/x"]));
}

pub(crate) async fn malformed_paths_are_invalid_path(f: &Fixture) {
    let b = &f.backend;
    for path in ["", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", ".."] {
        let put = b.put(path, Bytes::from_static(b"x"), PutMode::Overwrite).await;
        assert_eq!(kind_of(put), Some(ErrorKind::InvalidPath), "put {path:?}");
        assert_eq!(kind_of(b.get(path).await), Some(ErrorKind::InvalidPath), "get {path:?}");
        assert_eq!(kind_of(b.head(path).await), Some(ErrorKind::InvalidPath), "head {path:?}");
        assert_eq!(kind_of(b.delete(path).await), Some(ErrorKind::InvalidPath), "delete {path:?}");
    }
    assert!(listed(b.as_ref(), "").await.is_empty(), "nothing was written");
}

pub(crate) async fn path_at_the_length_limit_round_trips_and_one_byte_more_is_invalid(f: &Fixture) {
    let b = &f.backend;
    let capabilities = b.capabilities();
    let limit = capabilities.max_path_bytes;
    let part = capabilities.max_component_bytes.unwrap_or(limit);

    let path = path_of_length(limit, part);
    assert_eq!(path.len(), limit);
    b.put(&path, Bytes::from_static(b"long"), PutMode::Overwrite).await.expect("path at the limit");
    assert_eq!(&b.get(&path).await.expect("get").bytes[..], b"long");
    assert_eq!(listed(b.as_ref(), "").await, paths(&[&path]));
    b.delete(&path).await.expect("delete");

    let longer = format!("{path}z");
    let put = b.put(&longer, Bytes::from_static(b"x"), PutMode::Overwrite).await;
    assert_eq!(kind_of(put), Some(ErrorKind::InvalidPath));

    if let Some(part) = capabilities.max_component_bytes {
        let at_limit = format!("a/{}", "p".repeat(part));
        b.put(&at_limit, Bytes::from_static(b"x"), PutMode::Overwrite).await.expect("longest part");
        let too_long = format!("a/{}", "p".repeat(part + 1));
        let put = b.put(&too_long, Bytes::from_static(b"x"), PutMode::Overwrite).await;
        assert_eq!(kind_of(put), Some(ErrorKind::InvalidPath));
    }
}

/// A valid path of exactly `length` bytes, in parts of at most `part` bytes (at least 2).
fn path_of_length(length: usize, part: usize) -> String {
    let mut path = String::with_capacity(length);
    loop {
        let room = length - path.len();
        if room <= part {
            path.push_str(&"x".repeat(room));
            return path;
        }
        // Taking a whole part here would leave nothing after the `/`, an empty part.
        let take = if room == part + 1 { part - 1 } else { part };
        path.push_str(&"x".repeat(take));
        path.push('/');
    }
}

pub(crate) async fn get_if_none_match_is_none_until_the_value_changes(f: &Fixture) {
    let b = &f.backend;
    let first = b.put("cached", Bytes::from_static(b"one"), PutMode::Overwrite).await.expect("put");
    let etag = first.etag.expect("every backend here reports entity tags");

    let unchanged = b.get_if_none_match("cached", &etag).await.expect("conditional get");
    assert_eq!(unchanged, None, "an unchanged object is not sent again");
    let bare = etag.trim_matches('"');
    assert_eq!(b.get_if_none_match("cached", bare).await.expect("bare tag"), None);

    let second =
        b.put("cached", Bytes::from_static(b"two!"), PutMode::Overwrite).await.expect("put");
    let changed = b.get_if_none_match("cached", &etag).await.expect("conditional get");
    let changed = changed.expect("a changed object is sent");
    assert_eq!(&changed.bytes[..], b"two!");
    assert_eq!(changed.meta.size, 4);
    assert_eq!(changed.meta.etag, second.etag, "the tag is the new value's");
    assert_ne!(changed.meta.etag.as_deref(), Some(etag.as_str()));

    let empty = b.get_if_none_match("cached", "").await.expect("an empty tag matches nothing");
    assert_eq!(empty.map(|object| object.bytes), Some(Bytes::from_static(b"two!")));
}

pub(crate) async fn get_if_none_match_of_a_missing_key_is_not_found(f: &Fixture) {
    let b = &f.backend;
    let result = b.get_if_none_match("missing/key", "\"0123\"").await;
    assert_eq!(kind_of(result), Some(ErrorKind::NotFound));
    let result = b.get_if_none_match("a//b", "\"0123\"").await;
    assert_eq!(kind_of(result), Some(ErrorKind::InvalidPath));
}

pub(crate) async fn get_range_is_clamped_at_the_end_and_empty_past_it(f: &Fixture) {
    let b = &f.backend;
    let value: Bytes = (0..=255u8).cycle().take(1000).collect::<Vec<u8>>().into();
    b.put("ranged", value.clone(), PutMode::Overwrite).await.expect("put");

    let inside = b.get_range("ranged", 10..20).await.expect("inside");
    assert_eq!(inside, value.slice(10..20));
    let whole = b.get_range("ranged", 0..1000).await.expect("whole");
    assert_eq!(whole, value);
    let overlapping = b.get_range("ranged", 990..2000).await.expect("overlapping the end");
    assert_eq!(overlapping, value.slice(990..));
    let open_ended = b.get_range("ranged", 500..u64::MAX).await.expect("to the end");
    assert_eq!(open_ended, value.slice(500..));

    assert!(b.get_range("ranged", 5..5).await.expect("empty").is_empty());
    assert!(b.get_range("ranged", 1000..1010).await.expect("at the end").is_empty());
    assert!(b.get_range("ranged", 4000..5000).await.expect("past the end").is_empty());

    assert_eq!(kind_of(b.get_range("missing", 0..10).await), Some(ErrorKind::NotFound));
    assert_eq!(kind_of(b.get_range("missing", 3..3).await), Some(ErrorKind::NotFound));
    assert_eq!(kind_of(b.get_range("/bad", 0..1).await), Some(ErrorKind::InvalidPath));
}

pub(crate) async fn delete_many_removes_existing_keys_and_ignores_missing_ones(f: &Fixture) {
    let b = &f.backend;
    let existing: Vec<String> = (0..30).map(|i| format!("batch/{i:02}")).collect();
    for path in &existing {
        b.put(path, Bytes::from(path.clone()), PutMode::Overwrite).await.expect("put");
    }
    b.put("kept", Bytes::from_static(b"k"), PutMode::Overwrite).await.expect("put");

    let mut batch = existing.clone();
    batch.extend((0..10).map(|i| format!("batch/missing-{i}")));
    batch.push(existing[0].clone());
    b.delete_many(&batch).await.expect("delete many");
    assert_eq!(listed(b.as_ref(), "").await, paths(&["kept"]));

    b.delete_many(&batch).await.expect("deleting them again");
    b.delete_many(&[]).await.expect("deleting nothing");
}

pub(crate) async fn delete_many_with_a_malformed_path_removes_nothing(f: &Fixture) {
    let b = &f.backend;
    b.put("a", Bytes::from_static(b"a"), PutMode::Overwrite).await.expect("put");
    let batch = vec!["a".to_owned(), "b//c".to_owned()];
    let error = b.delete_many(&batch).await.expect_err("a malformed path");
    assert_eq!(error.kind(), ErrorKind::InvalidPath);
    assert_eq!(error.path(), "b//c");
    assert_eq!(listed(b.as_ref(), "").await, paths(&["a"]));
}

/// Size of the streamed values: several parts at the smallest S3 part size, and not a multiple
/// of any block size.
const STREAMED_BYTES: usize = 40 * 1024 * 1024 + 12_345;

/// A value whose bytes all differ from their neighbours' at any part boundary.
fn streamed_value(seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut value = Vec::with_capacity(STREAMED_BYTES);
    while value.len() < STREAMED_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        value.extend_from_slice(&state.to_le_bytes());
    }
    value.truncate(STREAMED_BYTES);
    value.into()
}

/// The value as a body of uneven pieces, from one byte to a few MiB.
fn uneven_body(value: &Bytes) -> s3kv_store::BodyStream {
    let sizes = [1, 7, 65_536, 3 * 1024 * 1024 + 5, 999, 1024 * 1024];
    let mut pieces = Vec::new();
    let mut offset = 0;
    for size in sizes.iter().cycle() {
        if offset >= value.len() {
            break;
        }
        let end = (offset + size).min(value.len());
        pieces.push(Ok(value.slice(offset..end)));
        offset = end;
    }
    stream::iter(pieces).boxed()
}

/// Reads a whole stream into memory.
async fn read_all(b: &dyn s3kv_store::Backend, path: &str) -> (s3kv_store::ObjectMeta, Bytes) {
    let (meta, mut pieces) = b.get_stream(path).await.expect("get stream");
    let mut collected = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
    while let Some(piece) = pieces.next().await {
        collected.extend_from_slice(&piece.expect("a piece"));
    }
    (meta, collected.into())
}

pub(crate) async fn put_stream_and_get_stream_round_trip_a_large_value(f: &Fixture) {
    let b = &f.backend;
    let value = streamed_value(1);
    let put = b.put_stream("large", uneven_body(&value), PutMode::Overwrite).await.expect("put");
    assert_eq!(put.size, value.len() as u64);

    let head = b.head("large").await.expect("head");
    assert_eq!(head.size, value.len() as u64);
    assert_eq!(head.etag, put.etag, "put_stream reports the stored object's tag");

    let (meta, read) = read_all(b.as_ref(), "large").await;
    assert_eq!(meta.size, value.len() as u64);
    assert_eq!(meta.etag, head.etag);
    assert!(read == value, "the streamed value reads back byte for byte");

    let middle = b.get_range("large", 20_000_000..20_000_100).await.expect("range");
    assert_eq!(middle, value.slice(20_000_000..20_000_100));
    assert_eq!(b.get_if_none_match("large", &meta.etag.unwrap_or_default()).await.ok(), Some(None));
}

pub(crate) async fn put_stream_of_small_and_empty_values_round_trips(f: &Fixture) {
    let b = &f.backend;
    let small = stream::iter([Ok(Bytes::from_static(b"sm")), Ok(Bytes::from_static(b"all"))]);
    b.put_stream("small", small.boxed(), PutMode::Overwrite).await.expect("put");
    assert_eq!(&b.get("small").await.expect("get").bytes[..], b"small");
    let (_, read) = read_all(b.as_ref(), "small").await;
    assert_eq!(&read[..], b"small");

    let put = b.put_stream("nothing", stream::empty().boxed(), PutMode::Overwrite).await;
    assert_eq!(put.expect("put of nothing").size, 0);
    let (meta, read) = read_all(b.as_ref(), "nothing").await;
    assert_eq!((meta.size, read.len()), (0, 0));

    assert_eq!(kind_of(b.get_stream("missing").await), Some(ErrorKind::NotFound));
    let bad = b.put_stream("a//b", stream::empty().boxed(), PutMode::Overwrite).await;
    assert_eq!(kind_of(bad), Some(ErrorKind::InvalidPath));
}

pub(crate) async fn put_stream_whose_body_fails_stores_nothing(f: &Fixture) {
    let b = &f.backend;
    let value = streamed_value(2);
    let failing = uneven_body(&value.slice(..24 * 1024 * 1024))
        .chain(stream::once(async { Err(std::io::Error::other("the source broke")) }))
        .boxed();
    let error = b.put_stream("broken", failing, PutMode::Overwrite).await.expect_err("body fails");
    assert_eq!(error.kind(), ErrorKind::Other, "{error}");
    assert_eq!(kind_of(b.head("broken").await), Some(ErrorKind::NotFound));
    assert!(listed(b.as_ref(), "").await.is_empty(), "nothing was stored");

    // An old value stays as it was.
    b.put("kept", Bytes::from_static(b"old"), PutMode::Overwrite).await.expect("put");
    let failing = stream::iter([Ok(Bytes::from_static(b"new")), Err(std::io::Error::other("x"))]);
    let result = b.put_stream("kept", failing.boxed(), PutMode::Overwrite).await;
    assert_eq!(kind_of(result), Some(ErrorKind::Other));
    assert_eq!(&b.get("kept").await.expect("get").bytes[..], b"old");
}

pub(crate) async fn put_stream_follows_the_conditional_capabilities(f: &Fixture) {
    let b = &f.backend;
    let capabilities = b.capabilities();
    let first =
        b.put("taken", Bytes::from_static(b"first"), PutMode::Overwrite).await.expect("put");
    let body = || uneven_body(&Bytes::from_static(b"second value"));

    let create = b.put_stream("taken", body(), PutMode::IfAbsent).await;
    let expected = if capabilities.conditional_create {
        ErrorKind::ConditionFailed
    } else {
        ErrorKind::Unsupported
    };
    assert_eq!(kind_of(create), Some(expected));
    assert_eq!(&b.get("taken").await.expect("get").bytes[..], b"first");

    let etag = first.etag.expect("an entity tag");
    let swap = b.put_stream("taken", body(), PutMode::IfMatch(etag.clone())).await;
    if !capabilities.compare_and_swap {
        assert_eq!(kind_of(swap), Some(ErrorKind::Unsupported));
        assert_eq!(&b.get("taken").await.expect("get").bytes[..], b"first");
        return;
    }
    let swapped = swap.expect("swap with the current tag");
    assert_eq!(&b.get("taken").await.expect("get").bytes[..], b"second value");
    let stale = b.put_stream("taken", body(), PutMode::IfMatch(etag)).await;
    assert_eq!(kind_of(stale), Some(ErrorKind::ConditionFailed));
    assert_eq!(b.head("taken").await.expect("head").etag, swapped.etag);

    let missing = b.put_stream("nowhere", body(), PutMode::IfMatch("\"e\"".into())).await;
    assert_eq!(kind_of(missing), Some(ErrorKind::ConditionFailed));
    assert_eq!(kind_of(b.head("nowhere").await), Some(ErrorKind::NotFound));

    if capabilities.conditional_create {
        b.put_stream("fresh", body(), PutMode::IfAbsent).await.expect("create");
        assert_eq!(&b.get("fresh").await.expect("get").bytes[..], b"second value");
    }
}

pub(crate) async fn get_stream_never_mixes_two_values(f: &Fixture) {
    let b = &f.backend;
    let old = streamed_value(3);
    let new = streamed_value(4);
    b.put_stream("moving", uneven_body(&old), PutMode::Overwrite).await.expect("put");

    let (meta, mut pieces) = b.get_stream("moving").await.expect("get stream");
    let mut read = Vec::new();
    let first = pieces.next().await.expect("a first piece").expect("the first piece reads");
    read.extend_from_slice(&first);
    b.put_stream("moving", uneven_body(&new), PutMode::Overwrite).await.expect("overwrite");

    let mut failure = None;
    while let Some(piece) = pieces.next().await {
        match piece {
            Ok(piece) => read.extend_from_slice(&piece),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if let Some(error) = failure {
        assert_eq!(error.kind(), ErrorKind::ConditionFailed, "{error}");
    } else {
        assert!(read == old, "a stream that ends well holds the value it started with");
        assert_eq!(meta.size, old.len() as u64);
    }
    let (_, now) = read_all(b.as_ref(), "moving").await;
    assert!(now == new, "a new stream reads the new value");
}
