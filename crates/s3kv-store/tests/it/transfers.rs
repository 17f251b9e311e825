//! Conditional reads, batch deletes and streamed transfers on S3 servers, seen on the wire.
//!
//! A recording proxy on 127.0.0.1 between the backend and the server notes each request's
//! method, target and status and the bytes of each response body, so the tests can say how many
//! requests an operation sent and what came back. The tests also read the server's list of
//! open multipart uploads (a request they sign themselves), to show that a failed upload
//! leaves no parts behind.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use s3kv_store::{Backend, BodyStream, ErrorKind, PutMode, S3Settings};

use crate::faults::{closing, content_length, listen, read_head};
use crate::harness::{
    S3Server, given_up_writes_never_land_later, listed, s3_settings, unique_name,
};
use crate::signed;

/// Bounds of the proxy's loops.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The smallest part S3 accepts, so that a few MiB make a multipart upload.
const PART: usize = 5 * 1024 * 1024;

/// One request that went through the proxy, and what came back.
#[derive(Clone, Debug)]
struct Exchange {
    method: String,
    /// Path and query, as sent.
    target: String,
    status: u16,
    /// Bytes after the response head: the body as it crossed the wire.
    body_bytes: u64,
}

/// A forwarding proxy that records every exchange; it stops accepting when dropped.
struct Recorder {
    address: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
    /// Connections accepted and not yet recorded.
    active: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Recorder {
    fn start(upstream: SocketAddr) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicU64::new(0));
        let (thread_log, thread_active) = (Arc::clone(&log), Arc::clone(&active));
        let address = listen(Arc::clone(&stop), move |client| {
            // Counted before forwarding, so before the client can have its answer.
            thread_active.fetch_add(1, Ordering::SeqCst);
            if let Ok(exchange) = forward(client, upstream) {
                thread_log.lock().expect("log lock").push(exchange);
            }
            thread_active.fetch_sub(1, Ordering::SeqCst);
        });
        Self { address, log, active, stop }
    }

    /// Every exchange recorded so far, in the order they ended, clearing the record.
    ///
    /// A client may have its answer before the proxy thread has recorded it, so this first
    /// waits (up to ten seconds) until no accepted connection is left unrecorded.
    fn take(&self) -> Vec<Exchange> {
        for _ in 0..1000 {
            if self.active.load(Ordering::SeqCst) == 0 {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        std::mem::take(&mut *self.log.lock().expect("log lock"))
    }
}

/// Forwards one request (the connection closes after it) and records the exchange.
fn forward(mut client: TcpStream, upstream: SocketAddr) -> io::Result<Exchange> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    let (head, mut body) = read_head(&mut client)?;
    let length = content_length(&head);
    while body.len() < length {
        let mut buffer = vec![0u8; (length - body.len()).min(1024 * 1024)];
        let read = client.read(&mut buffer)?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        body.extend_from_slice(&buffer[..read]);
    }
    let request_line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_owned();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or("").to_owned();
    let target = words.next().unwrap_or("").to_owned();

    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(IO_TIMEOUT))?;
    server.write_all(&closing(&head))?;
    server.write_all(&body)?;
    let (response_head, rest) = read_head(&mut server)?;
    let status_line =
        String::from_utf8_lossy(&response_head).lines().next().unwrap_or("").to_owned();
    let status = status_line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    client.write_all(&closing(&response_head))?;
    client.write_all(&rest)?;
    let copied = io::copy(&mut server, &mut client)?;
    Ok(Exchange { method, target, status, body_bytes: rest.len() as u64 + copied })
}

/// Two backends on one fresh root of a server: one direct, one through a recording proxy.
struct Pair {
    direct: Arc<dyn Backend>,
    proxied: Arc<dyn Backend>,
    recorder: Recorder,
    settings: S3Settings,
}

/// Opens a [`Pair`] on `server` with 5 MiB parts and `concurrency` parts in flight; `None` when
/// the server is not configured.
async fn pair(server: S3Server, concurrency: usize) -> Option<Pair> {
    let root = format!("s3kv-it/{}", unique_name());
    let mut settings = s3_settings(server, &root)?;
    settings.part_size = PART;
    settings.transfer_concurrency = concurrency;
    let direct = s3kv_store::s3(settings.clone()).expect("s3 backend opens");
    direct.check().await.expect("the s3 test server answers");

    let recorder = Recorder::start(upstream(&settings));
    let mut proxied_settings = settings.clone();
    proxied_settings.endpoint = Some(format!("http://{}", recorder.address));
    let proxied = s3kv_store::s3(proxied_settings).expect("s3 backend opens");
    Some(Pair { direct, proxied, recorder, settings })
}

fn upstream(settings: &S3Settings) -> SocketAddr {
    let endpoint = settings.endpoint.clone().unwrap_or_default();
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("the test endpoint is http://address:port")
}

/// Sends one unsigned request straight to the server; returns the status and body.
fn raw_request(
    settings: &S3Settings,
    method: &str,
    path: &str,
    query: &[(&str, String)],
) -> (u16, String) {
    let address = upstream(settings);
    let mut stream = TcpStream::connect(address).expect("connect to the server");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    let host = address.to_string();
    let credentials = (
        settings.access_key.as_deref().unwrap_or_default(),
        settings.secret_key.as_deref().unwrap_or_default(),
        settings.region.as_deref().unwrap_or("us-east-1"),
    );
    let signature = signed::headers(method, &host, path, query, credentials).join("\r\n");
    let query: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let target =
        if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) };
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\n{signature}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// Percent-encodes a query value.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// How many multipart uploads the server holds open under the pair's root (a signed
/// `ListMultipartUploads`).
fn open_uploads(settings: &S3Settings) -> usize {
    let prefix = encoded(&format!("{}/", settings.root));
    let path = format!("/{}", settings.bucket);
    let (status, body) =
        raw_request(settings, "GET", &path, &[("prefix", prefix), ("uploads", String::new())]);
    assert_eq!(status, 200, "listing open uploads: {body}");
    body.matches("<Upload>").count()
}

/// A value of `size` bytes that differs from part to part.
fn value_of(size: usize, seed: u8) -> Bytes {
    (0..size).map(|i| u8::try_from((i / 4099 + usize::from(seed)) % 251).unwrap_or(0)).collect()
}

/// A value as a body of 1 MiB pieces.
fn body_of(value: &Bytes) -> BodyStream {
    let pieces: Vec<_> = value.chunks(1024 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(pieces).boxed()
}

fn requests_matching<'a>(log: &'a [Exchange], method: &str, query: &str) -> Vec<&'a Exchange> {
    log.iter().filter(|e| e.method == method && e.target.contains(query)).collect()
}

async fn conditional_get_of_an_unchanged_object_is_one_request_without_a_body(server: S3Server) {
    let Some(pair) = pair(server, 4).await else {
        return;
    };
    let value = value_of(256 * 1024, 1);
    let put = pair.direct.put("cached", value.clone(), PutMode::Overwrite).await.expect("put");
    let etag = put.etag.expect("an entity tag");

    let answer = pair.proxied.get_if_none_match("cached", &etag).await.expect("conditional get");
    assert_eq!(answer, None);
    let log = pair.recorder.take();
    assert_eq!(log.len(), 1, "one request: {log:?}");
    assert_eq!((log[0].method.as_str(), log[0].status, log[0].body_bytes), ("GET", 304, 0));

    let newer = value_of(256 * 1024, 2);
    pair.direct.put("cached", newer.clone(), PutMode::Overwrite).await.expect("overwrite");
    let answer = pair.proxied.get_if_none_match("cached", &etag).await.expect("conditional get");
    assert_eq!(answer.map(|object| object.bytes), Some(newer));
    let log = pair.recorder.take();
    assert_eq!(log.len(), 1, "one request: {log:?}");
    assert_eq!(log[0].status, 200);
    assert!(log[0].body_bytes >= 256 * 1024, "{log:?}");
}

/// Reads a whole stream into one buffer.
async fn streamed(pair: &Pair, path: &str) -> (u64, Vec<u8>) {
    let (meta, mut pieces) = pair.proxied.get_stream(path).await.expect("get stream");
    let mut read = Vec::new();
    while let Some(piece) = pieces.next().await {
        read.extend_from_slice(&piece.expect("a piece reads"));
    }
    (meta.size, read)
}

async fn streamed_read_of_one_part_is_one_get_and_no_head(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    let small = value_of(64 * 1024, 8);
    pair.direct.put("one-part", small.clone(), PutMode::Overwrite).await.expect("put");
    let (size, read) = streamed(&pair, "one-part").await;
    assert_eq!((size, read.as_slice()), (small.len() as u64, &small[..]));
    let log = pair.recorder.take();
    assert_eq!(log.len(), 1, "one request: {log:?}");
    assert_eq!((log[0].method.as_str(), log[0].status), ("GET", 200), "{log:?}");

    // Past one part: the plain GET gives the first, ranged GETs the two others; still no HEAD.
    let large = value_of(2 * PART + 1000, 9);
    pair.direct.put_stream("three-parts", body_of(&large), PutMode::Overwrite).await.expect("put");
    pair.recorder.take();
    let (size, read) = streamed(&pair, "three-parts").await;
    assert_eq!(size, large.len() as u64);
    assert!(read == large, "the parts come back in order");
    // The plain GET is given up after its first part; the proxy records only exchanges it
    // relayed to the end, which that GET is when the proxy wrote the whole answer into the
    // socket's buffers before the client hung up. Exchanges are recorded as they end, so on a
    // busy machine it may come after the two ranged parts.
    let log = pair.recorder.take();
    assert!(requests_matching(&log, "HEAD", "").is_empty(), "{log:?}");
    let mut gets = requests_matching(&log, "GET", "");
    if let Some(plain) = gets.iter().position(|e| e.status == 200) {
        gets.remove(plain);
    }
    assert_eq!(gets.iter().map(|e| e.status).collect::<Vec<_>>(), [206, 206], "{log:?}");
    let sizes: u64 = gets.iter().map(|e| e.body_bytes).sum();
    assert_eq!(sizes, (PART + 1000) as u64, "{log:?}");
}

async fn delete_many_of_2500_keys_sends_three_batch_requests(server: S3Server) {
    let Some(pair) = pair(server, 4).await else {
        return;
    };
    let existing: Vec<String> = (0..2000).map(|i| format!("many/{i:04}")).collect();
    let direct = &pair.direct;
    let puts = stream::iter(existing.iter())
        .map(|path| async move { direct.put(path, Bytes::new(), PutMode::Overwrite).await })
        .buffer_unordered(32);
    let failed = puts.filter(|result| std::future::ready(result.is_err())).count().await;
    assert_eq!(failed, 0, "every put succeeds");

    let mut batch = existing.clone();
    batch.extend((0..500).map(|i| format!("many/missing-{i:03}")));
    pair.proxied.delete_many(&batch).await.expect("delete many");

    let log = pair.recorder.take();
    let deletes = requests_matching(&log, "POST", "?delete");
    assert_eq!(deletes.len(), 3, "one DeleteObjects per 1000 keys: {log:?}");
    assert_eq!(log.len(), 3, "nothing else was sent: {log:?}");
    assert!(deletes.iter().all(|e| e.status == 200), "{deletes:?}");
    assert!(listed(direct.as_ref(), "").await.is_empty(), "every key is gone");
}

async fn failed_body_aborts_the_multipart_upload(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    let value = value_of(3 * PART, 3);
    let failing = body_of(&value)
        .chain(stream::once(async { Err(io::Error::other("the source broke")) }))
        .boxed();
    let error = pair.proxied.put_stream("broken", failing, PutMode::Overwrite).await;
    assert_eq!(error.err().map(|e| e.kind()), Some(ErrorKind::Other));

    let log = pair.recorder.take();
    // Parts still in flight when the body fails are cancelled, so how many reached the server
    // varies; the upload itself was opened, and must be aborted.
    assert_eq!(requests_matching(&log, "POST", "?uploads").len(), 1, "{log:?}");
    let aborts = requests_matching(&log, "DELETE", "uploadId=");
    assert_eq!(aborts.len(), 1, "the upload is aborted: {log:?}");
    assert_eq!(aborts[0].status, 204);
    assert!(requests_matching(&log, "POST", "uploadId=").is_empty(), "never completed");
    let head = pair.direct.head("broken").await;
    assert_eq!(head.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
    assert_eq!(open_uploads(&pair.settings), 0, "no parts are left on the server");
}

async fn create_only_upload_on_an_existing_key_is_refused_and_leaves_nothing(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    pair.direct.put("taken", Bytes::from_static(b"first"), PutMode::Overwrite).await.expect("put");
    pair.proxied.check().await.expect("check probes the conditions");
    pair.recorder.take();

    let value = value_of(3 * PART, 4);
    let result = pair.proxied.put_stream("taken", body_of(&value), PutMode::IfAbsent).await;
    // The first large conditional write also probes multipart conditions in the reserved folder.
    let log: Vec<_> =
        pair.recorder.take().into_iter().filter(|e| e.target.contains("/taken")).collect();
    let stored = pair.direct.get("taken").await.expect("get");
    assert_eq!(&stored.bytes[..], b"first", "the stored value is untouched");

    if pair.direct.capabilities().conditional_create {
        // moto: the condition is checked when the upload completes; the upload is then aborted.
        assert_eq!(result.err().map(|e| e.kind()), Some(ErrorKind::ConditionFailed));
        let completes = requests_matching(&log, "POST", "uploadId=");
        assert_eq!(completes.iter().map(|e| e.status).collect::<Vec<_>>(), [412], "{log:?}");
        let aborts = requests_matching(&log, "DELETE", "uploadId=");
        assert_eq!(aborts.iter().map(|e| e.status).collect::<Vec<_>>(), [204], "{log:?}");
        assert_eq!(open_uploads(&pair.settings), 0, "no parts are left on the server");
    } else {
        // Garage ignores `If-None-Match`, so the write is refused before anything is sent.
        assert_eq!(result.err().map(|e| e.kind()), Some(ErrorKind::Unsupported));
        assert!(log.is_empty(), "nothing was sent: {log:?}");
    }
}

async fn large_swap_on_a_stale_or_missing_tag_never_overwrites(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    let first = pair.direct.put("cas", Bytes::from_static(b"v1"), PutMode::Overwrite).await;
    let stale = first.expect("put").etag.expect("an entity tag");
    pair.direct.put("cas", Bytes::from_static(b"v2"), PutMode::Overwrite).await.expect("put");
    pair.proxied.check().await.expect("check probes the conditions");
    pair.recorder.take();

    let value = value_of(3 * PART, 8);
    let cases = [("cas", stale.clone()), ("missing", stale)];
    for (path, etag) in cases {
        let result = pair.proxied.put_stream(path, body_of(&value), PutMode::IfMatch(etag)).await;
        let error = result.expect_err("a stale or missing tag never swaps");
        let log: Vec<_> =
            pair.recorder.take().into_iter().filter(|e| !e.target.contains(".s3kv-tmp")).collect();
        match error.kind() {
            // The server honours `If-Match` on uploads: the lost upload was aborted.
            ErrorKind::ConditionFailed => {
                let aborts = requests_matching(&log, "DELETE", "uploadId=");
                assert_eq!(aborts.iter().map(|e| e.status).collect::<Vec<_>>(), [204], "{log:?}");
            }
            // The server ignores conditions on uploads (moto 5.2 ignores `If-Match` when an
            // upload completes) or at all (Garage): refused before the upload starts.
            ErrorKind::Unsupported => {
                assert!(log.is_empty(), "nothing was sent for {path}: {log:?}");
                if pair.direct.capabilities().compare_and_swap {
                    assert!(error.message().contains("multipart"), "{error}");
                }
            }
            other => panic!("{path}: {other}: {error}"),
        }
        assert_eq!(open_uploads(&pair.settings), 0, "no parts are left on the server");
    }
    assert_eq!(&pair.direct.get("cas").await.expect("get").bytes[..], b"v2");
    let missing = pair.direct.head("missing").await;
    assert_eq!(missing.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
}

async fn stream_of_a_replaced_object_fails_instead_of_mixing(server: S3Server) {
    let Some(pair) = pair(server, 1).await else {
        return;
    };
    let old = value_of(4 * PART, 5);
    let new = value_of(4 * PART, 6);
    pair.direct.put_stream("moving", body_of(&old), PutMode::Overwrite).await.expect("put");

    let (meta, mut pieces) = pair.proxied.get_stream("moving").await.expect("get stream");
    assert_eq!(meta.size, old.len() as u64);
    let first = pieces.next().await.expect("a first piece").expect("the first piece reads");
    assert_eq!(first, old.slice(..first.len()));
    pair.direct.put_stream("moving", body_of(&new), PutMode::Overwrite).await.expect("overwrite");

    let mut read = first.len();
    let mut failure = None;
    while let Some(piece) = pieces.next().await {
        match piece {
            Ok(piece) => {
                assert_eq!(piece, old.slice(read..read + piece.len()), "only old bytes");
                read += piece.len();
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let error = failure.expect("a replaced object fails the stream");
    assert_eq!(error.kind(), ErrorKind::ConditionFailed, "{error}");
    assert!(read < old.len(), "the stream ended early");
    let log = pair.recorder.take();
    assert!(requests_matching(&log, "GET", "").iter().any(|e| e.status == 412), "{log:?}");
}

/// A large plain write whose key is deleted while it uploads either lands whole (AWS and moto:
/// the later write wins) or fails with nothing stored (Garage drops the open upload of a
/// deleted key): as a lost race, or as a part it could not send; never a "not found".
async fn upload_raced_by_a_delete_lands_whole_or_is_a_conflict(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    pair.direct.put("raced", Bytes::from_static(b"old"), PutMode::Overwrite).await.expect("put");
    let value = value_of(5 * PART, 9);
    // Three parts, then the body waits until the key was deleted, then the rest. The writer
    // keeps a part back until it knows another follows, so the third starts the upload.
    let (deleted, wait) = tokio::sync::oneshot::channel::<()>();
    let head = body_of(&value.slice(..3 * PART));
    let tail = body_of(&value.slice(3 * PART..));
    let resume = stream::once(async move {
        wait.await.map(|()| Bytes::new()).map_err(|_| io::Error::other("the test gave up"))
    });
    let body = head.chain(resume).chain(tail).boxed();
    let upload = {
        let backend = Arc::clone(&pair.direct);
        tokio::spawn(async move { backend.put_stream("raced", body, PutMode::Overwrite).await })
    };
    let mut opened = false;
    for _ in 0..200 {
        if open_uploads(&pair.settings) == 1 {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(opened, "the upload was opened");
    pair.direct.delete("raced").await.expect("delete");
    deleted.send(()).expect("the body still waits");
    let outcome = tokio::time::timeout(IO_TIMEOUT, upload).await.expect("in time").expect("joins");

    let stored = pair.direct.get("raced").await;
    match outcome {
        Ok(meta) => {
            assert_eq!(meta.size, value.len() as u64);
            assert_eq!(stored.expect("the later write is stored").bytes, value);
        }
        // Garage answers the next part `NoSuchUpload`, or, when it answers before the part's
        // body is in and closes the connection, the part cannot be sent at all.
        Err(error) => {
            match error.kind() {
                ErrorKind::ConditionFailed => {
                    assert!(error.to_string().contains("deleted while"), "{error}");
                }
                ErrorKind::Unavailable => {}
                other => panic!("{other}: {error}"),
            }
            assert_eq!(stored.err().map(|e| e.kind()), Some(ErrorKind::NotFound), "nothing stored");
        }
    }
    if server == S3Server::Garage {
        // Proves the case is reached: Garage is the server that drops the upload.
        assert!(pair.direct.head("raced").await.is_err(), "Garage dropped the upload");
    }
    assert_eq!(open_uploads(&pair.settings), 0, "no parts are left on the server");
}

/// How many uploads stay open once the aborts that finish in the background had up to ten
/// seconds to do so.
async fn open_uploads_once_settled(settings: &S3Settings) -> usize {
    let mut open = open_uploads(settings);
    for _ in 0..100 {
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = open_uploads(settings);
    }
    open
}

/// A caller that stops waiting at any moment of a large upload (a timeout, Ctrl-C) leaves no
/// open upload behind, even when it stops while the request that opens the upload is in flight.
async fn an_upload_given_up_at_any_moment_leaves_no_parts(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    let value = value_of(4 * PART, 10);
    let delays_ms = [1, 3, 6, 10, 15, 20, 30, 45, 60, 80, 110, 150, 200];
    for (index, delay_ms) in delays_ms.into_iter().enumerate() {
        let path = format!("given-up-{index}");
        let put = pair.proxied.put_stream(&path, body_of(&value), PutMode::Overwrite);
        let _ = tokio::time::timeout(Duration::from_millis(delay_ms), put).await;
    }
    let open = open_uploads_once_settled(&pair.settings).await;
    assert_eq!(open, 0, "uploads given up on were all aborted");
}

/// An upload given up on once its whole body was handed over still completes, in the
/// background; a write of the same path made after giving up waits for it, so it lands after.
async fn an_upload_given_up_on_never_lands_after_a_later_write(server: S3Server) {
    let Some(pair) = pair(server, 2).await else {
        return;
    };
    let value = value_of(2 * PART + 1000, 12);
    let given_up = given_up_writes_never_land_later(pair.direct.as_ref(), "k", &value, true).await;
    assert!(given_up > 0, "no upload was given up on");
    let open = open_uploads_once_settled(&pair.settings).await;
    assert_eq!(open, 0, "uploads given up on were all aborted or completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_upload_is_aborted_in_the_background() {
    let Some(pair) = pair(S3Server::Main, 2).await else {
        return;
    };
    // The body sends three parts' worth and then never ends; the caller gives up waiting.
    let value = value_of(3 * PART, 7);
    let stalled = body_of(&value).chain(stream::pending()).boxed();
    let put = pair.proxied.put_stream("abandoned", stalled, PutMode::Overwrite);
    let gave_up = tokio::time::timeout(Duration::from_secs(3), put).await;
    assert!(gave_up.is_err(), "the put cannot finish");

    let mut log = pair.recorder.take();
    assert_eq!(requests_matching(&log, "POST", "?uploads").len(), 1, "{log:?}");
    for _ in 0..100 {
        if !requests_matching(&log, "DELETE", "uploadId=").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        log.extend(pair.recorder.take());
    }
    let aborts = requests_matching(&log, "DELETE", "uploadId=");
    assert_eq!(aborts.iter().map(|e| e.status).collect::<Vec<_>>(), [204], "{log:?}");
    assert_eq!(open_uploads(&pair.settings), 0, "no parts are left on the server");
}

async fn open_uploads_are_seen_by_the_listing_that_the_tests_trust(server: S3Server) {
    let root = format!("s3kv-it/{}", unique_name());
    let Some(settings) = s3_settings(server, &root) else {
        return;
    };
    let path = format!("/{}/{}", settings.bucket, encoded_path(&format!("{root}/k")));
    let (status, body) = raw_request(&settings, "POST", &path, &[("uploads", String::new())]);
    assert_eq!(status, 200, "{body}");
    let upload_id = body
        .split_once("<UploadId>")
        .and_then(|(_, rest)| rest.split_once("</UploadId>"))
        .map(|(id, _)| id.to_owned())
        .expect("an upload id");
    assert_eq!(open_uploads(&settings), 1);

    let (status, body) =
        raw_request(&settings, "DELETE", &path, &[("uploadId", encoded(&upload_id))]);
    assert_eq!(status, 204, "{body}");
    assert_eq!(open_uploads(&settings), 0);
}

/// A key that starts with `/` (the original library wrote them with its default empty prefix)
/// must not make a backend without a root panic: `OpenDAL` panics on such a listed name.
async fn a_key_with_a_leading_slash_never_panics_a_rootless_backend(server: S3Server) {
    let Some(settings) = s3_settings(server, "") else {
        return;
    };
    let name = format!("/{}/legacy", unique_name());
    let path = format!("/{}{}", settings.bucket, encoded_path(&name));
    let (status, body) = raw_request(&settings, "PUT", &path, &[]);
    assert_eq!(status, 200, "planting {name}: {body}");

    let backend = s3kv_store::s3(settings.clone()).expect("backend opens");
    let checked = backend.check().await;
    // The first entries of the root, as far as the listing goes: a name the client cannot
    // represent ends it with an error, never a panic.
    let listed: Vec<_> = backend.list("").take(20).collect().await;
    let (status, body) = raw_request(&settings, "DELETE", &path, &[]);
    assert!(status == 204 || status == 200, "removing {name}: {status} {body}");

    checked.expect("check does not list the root");
    for entry in listed {
        if let Err(error) = entry {
            assert_eq!(error.kind(), ErrorKind::Other, "{error}");
            assert!(error.to_string().contains("starts with `/`"), "{error}");
        }
    }
}

/// Percent-encodes a key for a request path, keeping its `/`.
fn encoded_path(key: &str) -> String {
    key.split('/').map(encoded).collect::<Vec<_>>().join("/")
}

/// Instantiates each case above once per S3 server.
macro_rules! on_each_server {
    ($($case:ident),* $(,)?) => {
        mod main_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::harness::S3Server::Main).await;
                }
            )*
        }
        mod garage {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::harness::S3Server::Garage).await;
                }
            )*
        }
    };
}

on_each_server!(
    conditional_get_of_an_unchanged_object_is_one_request_without_a_body,
    streamed_read_of_one_part_is_one_get_and_no_head,
    delete_many_of_2500_keys_sends_three_batch_requests,
    failed_body_aborts_the_multipart_upload,
    create_only_upload_on_an_existing_key_is_refused_and_leaves_nothing,
    large_swap_on_a_stale_or_missing_tag_never_overwrites,
    stream_of_a_replaced_object_fails_instead_of_mixing,
    upload_raced_by_a_delete_lands_whole_or_is_a_conflict,
    an_upload_given_up_at_any_moment_leaves_no_parts,
    an_upload_given_up_on_never_lands_after_a_later_write,
    open_uploads_are_seen_by_the_listing_that_the_tests_trust,
    a_key_with_a_leading_slash_never_panics_a_rootless_backend,
);
