//! Behaviour only the s3 backend has: bounded failure on a dead endpoint, and a wrong bucket
//! reported as a configuration error.

use std::time::{Duration, Instant};

use s3kv_store::{ErrorKind, S3Settings};

/// A hang guard, not a benchmark: failing must take seconds, not the minutes of an unbounded
/// retry loop. The measured time is printed for the record.
const DEAD_ENDPOINT_BOUND: Duration = Duration::from_secs(15);

#[tokio::test]
async fn dead_endpoint_fails_quickly_and_names_the_endpoint() {
    // Bind a port, then free it: nothing listens there while the test runs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    let endpoint = format!("http://127.0.0.1:{port}");

    let mut settings = S3Settings::new("no-such-bucket");
    settings.endpoint = Some(endpoint.clone());
    settings.access_key = Some("s3kv-test".to_owned());
    settings.secret_key = Some("s3kv-test-secret".to_owned());
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");

    let started = Instant::now();
    let error = tokio::time::timeout(DEAD_ENDPOINT_BOUND * 2, backend.check())
        .await
        .expect("check ends by itself")
        .expect_err("nothing listens there");
    let elapsed = started.elapsed();
    eprintln!("dead endpoint failed after {elapsed:?}: {error}");

    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.is_retryable());
    assert!(error.to_string().contains(&endpoint), "{error}");
    assert!(elapsed < DEAD_ENDPOINT_BOUND, "took {elapsed:?}");

    let get = backend.get("k").await.expect_err("nothing listens there");
    assert_eq!(get.kind(), ErrorKind::Unavailable, "{get}");
    assert!(get.to_string().contains(&endpoint), "{get}");
}

#[tokio::test]
async fn unknown_bucket_check_is_invalid_config() {
    let Some(mut settings) = crate::harness::s3_settings_from_env("") else {
        return;
    };
    settings.bucket = format!("s3kv-missing-{}", crate::harness::unique_name());
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");

    let error = backend.check().await.expect_err("the bucket does not exist");
    assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{error}");
    assert!(error.to_string().contains(&error.backend().to_owned()), "{error}");
    assert!(error.to_string().contains("the bucket does not exist: create it first"), "{error}");
}

/// Set in the environment of the child process that [`credential_probe_child`] runs in.
const CHILD_MARKER: &str = "S3KV_STORE_CREDENTIAL_PROBE_CHILD";

/// Printed by the child when all its checks passed, so the parent knows it really ran.
const CHILD_PASSED: &str = "credential probe passed";

#[test]
fn explicit_keys_never_send_an_ambient_session_token() {
    // The ambient credentials must be in the environment of the process that builds the
    // backend, and changing this process's environment needs `unsafe`; so a child process of
    // this same test binary runs the probe with a prepared environment.
    let home = tempfile::tempdir().expect("temporary home");
    let missing = home.path().join("missing");
    let output = crate::harness::child_test("s3_specific::credential_probe_child")
        .env(CHILD_MARKER, "1")
        .env("HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", "AMBIENTKEY")
        .env("AWS_SECRET_ACCESS_KEY", "ambient-secret")
        .env("AWS_SESSION_TOKEN", "ambient-session-token")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &missing)
        .env("AWS_SHARED_CREDENTIALS_FILE", &missing)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .output()
        .expect("run the child test");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stderr.contains(CHILD_PASSED), "child did not run the probe:\n{stdout}\n{stderr}");
}

/// The child half of [`explicit_keys_never_send_an_ambient_session_token`]; does nothing in an
/// ordinary test run.
#[tokio::test]
async fn credential_probe_child() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }

    let explicit = request_headers(Some(("EXPLICITKEY", "explicit-secret"))).await;
    assert!(explicit.contains("credential=explicitkey/"), "{explicit}");
    assert!(!explicit.contains("x-amz-security-token"), "ambient token sent: {explicit}");
    assert!(!explicit.contains("ambientkey"), "{explicit}");

    // Without explicit keys the ambient ones are used, token included: this shows the probe
    // would see a token if one were sent.
    let ambient = request_headers(None).await;
    assert!(ambient.contains("credential=ambientkey/"), "{ambient}");
    assert!(ambient.contains("x-amz-security-token: ambient-session-token"), "{ambient}");

    eprintln!("{CHILD_PASSED}");
}

/// Sends one `head` to a loopback listener and returns the request head it received, lowercase.
async fn request_headers(keys: Option<(&str, &str)>) -> String {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("one connection");
        socket.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            let read = socket.read(&mut buffer).expect("read the request");
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        let answer = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        socket.write_all(answer).expect("answer");
        String::from_utf8_lossy(&head).to_lowercase()
    });

    let mut settings = S3Settings::new("probe");
    settings.endpoint = Some(format!("http://127.0.0.1:{port}"));
    if let Some((access_key, secret_key)) = keys {
        settings.access_key = Some(access_key.to_owned());
        settings.secret_key = Some(secret_key.to_owned());
    }
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");
    let error = backend.head("k").await.expect_err("the listener answers 404");
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    server.join().expect("listener thread")
}

/// Requests the lying server answers before it stops; a read makes one or a few.
const LIAR_REQUESTS: usize = 20;

/// A loopback server that answers every request with a 200 claiming `claimed` bytes, sends
/// `sent`, and hangs up. Its thread ends after [`LIAR_REQUESTS`] requests or 30 s without one.
fn lying_server(claimed: u64, sent: usize) -> String {
    answering_server(format!("200 OK\r\nETag: \"e\"\r\nContent-Length: {claimed}"), vec![7; sent])
}

/// A loopback server that answers every request with `status_and_headers` (the status line's
/// code and text, then header lines) and `body`, and hangs up. Its thread ends after
/// [`LIAR_REQUESTS`] requests or 30 s without one.
fn answering_server(status_and_headers: String, body: Vec<u8>) -> String {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("local address");
    listener.set_nonblocking(true).expect("non-blocking accept");
    std::thread::spawn(move || {
        let (mut answered, mut idle_since) = (0, Instant::now());
        while answered < LIAR_REQUESTS && idle_since.elapsed() < Duration::from_secs(30) {
            let Ok((mut socket, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = socket.set_nonblocking(false);
            let _ = socket.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = [0_u8; 16 * 1024];
            let _ = socket.read(&mut request);
            let head = format!("HTTP/1.1 {status_and_headers}\r\nConnection: close\r\n\r\n");
            let _ = socket.write_all(head.as_bytes());
            let _ = socket.write_all(&body);
            (answered, idle_since) = (answered + 1, Instant::now());
        }
    });
    format!("http://{address}")
}

/// Settings for a loopback test server at `endpoint`, with `retries`.
fn loopback(endpoint: String, retries: u32) -> S3Settings {
    let mut settings = S3Settings::new("b");
    settings.endpoint = Some(endpoint);
    settings.access_key = Some("s3kv-test".to_owned());
    settings.secret_key = Some("s3kv-test-secret".to_owned());
    settings.retries = retries;
    settings
}

/// How a streamed read of `k` ends: with an error, within a minute.
async fn streamed_read_refused(settings: S3Settings, why: &str) -> s3kv_store::Error {
    use futures::TryStreamExt;

    let backend = s3kv_store::s3(settings).expect("opening sends nothing");
    let read = async {
        let (_, body) = backend.get_stream("k").await?;
        body.try_collect::<Vec<_>>().await
    };
    tokio::time::timeout(Duration::from_mins(1), read)
        .await
        .expect("the read ends by itself")
        .expect_err(why)
}

#[tokio::test]
async fn a_server_claiming_exabytes_costs_an_error_not_the_memory_it_claims() {
    // hyper refuses lengths past `i64::MAX` itself.
    for claimed in [i64::MAX.unsigned_abs(), 1 << 56, 1 << 50, (1 << 20) + 1] {
        let settings = loopback(lying_server(claimed, 100), 0);
        let error =
            streamed_read_refused(settings.clone(), "100 bytes are not the size claimed").await;
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{claimed}: {error}");
        let backend = s3kv_store::s3(settings).expect("opening sends nothing");
        let get = backend.get("k").await.expect_err("nor as a whole read");
        assert_eq!(get.kind(), ErrorKind::Unavailable, "{claimed}: {get}");
    }
}

#[tokio::test]
async fn a_server_that_ignores_ranges_is_refused_not_believed() {
    const PART: usize = 5 * 1024 * 1024;
    let size = 12 * 1024 * 1024;
    // The whole object for every part, or a part and a bit before hanging up: either hands over
    // more than a part asked for. Believed, the first gives a stream longer than the object;
    // the second, retried, had the client library count past the end of the range.
    for sent in [size, PART + 1024 * 1024] {
        let mut settings = loopback(lying_server(size as u64, sent), 2);
        settings.part_size = PART;
        let error =
            streamed_read_refused(settings, "parts longer than asked are not handed out").await;
        assert!(error.to_string().contains("ignored or misread the requested range"), "{error}");
    }
}

#[tokio::test]
async fn an_error_answer_is_read_only_as_far_as_its_message_needs() {
    // An error document that goes on for 64 MiB.
    let sent = 64 << 20;
    let head = format!("500 Internal Server Error\r\nContent-Length: {sent}");
    let settings = loopback(answering_server(head, vec![b'A'; sent]), 0);
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");

    let error = tokio::time::timeout(Duration::from_mins(1), backend.get("k"))
        .await
        .expect("the read ends by itself")
        .expect_err("the server answers 500");
    let message = error.to_string();
    assert!(message.len() < 32 * 1024, "a message of {} bytes", message.len());
}

/// A `ListObjectsV2` answer naming `keys`, with `more` (`IsTruncated` and a token) inside.
fn list_page(more: &str, keys: &[&str]) -> String {
    use std::fmt::Write;

    let mut objects = String::new();
    for key in keys {
        let _ = write!(
            objects,
            "<Contents><Key>{key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>\
             <ETag>\"e\"</ETag><Size>1</Size></Contents>"
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
         <MaxKeys>1000</MaxKeys>{more}{objects}</ListBucketResult>"
    )
}

/// A backend for a server that answers every request with `page`, under `root`.
fn listing_server(page: String, root: &str) -> std::sync::Arc<dyn s3kv_store::Backend> {
    let head = format!("200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}", page.len());
    let mut settings = loopback(answering_server(head, page.into_bytes()), 0);
    root.clone_into(&mut settings.root);
    s3kv_store::s3(settings).expect("opening sends nothing")
}

/// How a listing of everything under `root` from a server that answers every request with
/// `page` ends: with an error, within a minute.
async fn listing_refused(page: String, root: &str) -> s3kv_store::Error {
    use futures::TryStreamExt;

    let backend = listing_server(page, root);
    tokio::time::timeout(Duration::from_mins(1), backend.list("").try_collect::<Vec<_>>())
        .await
        .expect("the listing ends by itself")
        .expect_err("the listing is refused")
}

#[tokio::test]
async fn a_listing_whose_pages_never_advance_ends_with_an_error() {
    // Every page is the first one again: its token repeats, or it has none.
    for token in ["<NextContinuationToken>same</NextContinuationToken>", ""] {
        let page = list_page(&format!("<IsTruncated>true</IsTruncated>{token}"), &["a", "b"]);
        let listed = listing_refused(page, "").await;
        assert!(listed.to_string().contains("came back to a name"), "{token:?}: {listed}");
    }
}

#[tokio::test]
async fn a_listed_name_outside_the_prefix_is_refused_not_cut_to_fit() {
    // Shorter than the root (the client library would panic on it), and longer with another
    // start (it would lose the root's length from its front and pass for a key under it).
    for name in ["a", "elsewhe/k"] {
        let page = list_page("<IsTruncated>false</IsTruncated>", &[name]);
        let listed = listing_refused(page, "victim").await;
        assert!(listed.to_string().contains("outside the prefix"), "{name}: {listed}");
    }
}

#[tokio::test]
async fn a_listing_page_beyond_any_real_size_is_refused_as_it_arrives() {
    let padding = format!("{}<Name>", " ".repeat(20 << 20));
    let page = list_page("<IsTruncated>false</IsTruncated>", &["a"]).replace("<Name>", &padding);
    let listed = listing_refused(page, "").await;
    assert!(listed.to_string().contains("a listing page over 16 MiB"), "{listed}");
}
