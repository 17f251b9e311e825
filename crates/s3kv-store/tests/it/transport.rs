//! The s3 backend's HTTP transport: certificates are checked against what the system trusts,
//! and a proxy named in the environment carries the requests.
//!
//! Both depend on the environment of the process that opens the backend, which a test may not
//! change in its own process (that needs `unsafe`); so each case runs the backend in a child
//! process of this same test binary, with a prepared environment, against a one-off server on
//! loopback in the parent.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use s3kv_store::{ErrorKind, S3Settings};

/// Names what the child checks; unset in an ordinary test run.
const CHILD_CASE: &str = "S3KV_STORE_TRANSPORT_CHILD";

/// The endpoint the child's backend uses.
const CHILD_ENDPOINT: &str = "S3KV_STORE_TRANSPORT_ENDPOINT";

/// Printed by the child when its checks passed, so the parent knows it really ran them.
const CHILD_PASSED: &str = "transport child passed";

/// The body the one-off server answers every request with.
const BODY: &[u8] = b"an object's bytes";

/// Longest a server waits for connections; the child is done long before.
const SERVER_LIFETIME: Duration = Duration::from_mins(1);

/// Every variable through which the environment could name a proxy or trusted certificates.
const AMBIENT: [&str; 10] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

#[test]
fn an_https_endpoint_must_show_a_certificate_the_system_trusts() {
    let server = Server::start(true);
    let endpoint = format!("https://127.0.0.1:{}", server.port);

    let refused = run_child("refused", &endpoint, &[]);
    assert!(refused.success, "{}", refused.output);
    // The same through reqwest, which a proxy variable selects (here one that the endpoint is
    // an exception to).
    let refused = run_child("refused", &endpoint, &proxy_excepting_loopback());
    assert!(refused.success, "{}", refused.output);
    // A file of authorities that is not there stops an https backend from opening, and says so;
    // an http endpoint does not need it.
    let missing = [("SSL_CERT_FILE", std::ffi::OsString::from("/nonexistent/ca.pem"))];
    let child = run_child("unreadable", &endpoint, &missing);
    assert!(child.success, "{}", child.output);
    let plain = Server::start(false);
    let child = run_child("trusted", &format!("http://127.0.0.1:{}", plain.port), &missing);
    assert!(child.success, "{}", child.output);
    assert!(server.requests().is_empty(), "a request got through: {:?}", server.requests());

    // A plain http server at an https endpoint is a setting to fix, said as such.
    let plain = Server::start(false);
    let mistaken = format!("https://127.0.0.1:{}", plain.port);
    let child = run_child("plaintext", &mistaken, &[]);
    assert!(child.success, "{}", child.output);

    let trusted = run_child("trusted", &endpoint, &[("SSL_CERT_FILE", fixture("authority.pem"))]);
    assert!(trusted.success, "{}", trusted.output);
    let requests = server.requests();
    assert!(requests.iter().any(|r| r.starts_with("get /bucket/k ")), "{requests:?}");

    // An authority's own certificate is not a server's, even from a trusted authority.
    let authority = Server::showing_the_authority();
    let endpoint = format!("https://127.0.0.1:{}", authority.port);
    let child = run_child("authority", &endpoint, &[("SSL_CERT_FILE", fixture("authority.pem"))]);
    assert!(child.success, "{}", child.output);

    // An alert from a server that speaks TLS is not a setting: the next try gets through.
    let alerting = Server::alerting_once();
    let endpoint = format!("https://127.0.0.1:{}", alerting.port);
    let trusted = run_child("trusted", &endpoint, &[("SSL_CERT_FILE", fixture("authority.pem"))]);
    assert!(trusted.success, "{}", trusted.output);
    assert_eq!(alerting.requests().len(), 1, "{:?}", alerting.requests());
}

#[test]
fn redirects_are_not_followed() {
    let target = Server::start(false);
    let redirecting = Server::redirecting(format!("http://127.0.0.1:{}/bucket/k", target.port));
    let endpoint = format!("http://127.0.0.1:{}", redirecting.port);
    for extra in [Vec::new(), proxy_excepting_loopback()] {
        let child = run_child("redirected", &endpoint, &extra);
        assert!(child.success, "{}", child.output);
    }
    assert!(!redirecting.requests().is_empty(), "the child never asked");
    assert!(target.requests().is_empty(), "a redirect was followed: {:?}", target.requests());
}

/// A proxy for every request but those to loopback: it makes the backend use reqwest, which
/// then connects directly.
fn proxy_excepting_loopback() -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("HTTP_PROXY", "http://127.0.0.1:9".into()),
        ("HTTPS_PROXY", "http://127.0.0.1:9".into()),
        ("NO_PROXY", "127.0.0.1".into()),
    ]
}

#[test]
fn a_proxy_named_in_the_environment_carries_the_requests() {
    let proxy = Server::start(false);
    // The endpoint's name does not resolve: only a proxy can reach it.
    let endpoint = "http://s3kv-unreachable.invalid:9000";
    let address = format!("http://127.0.0.1:{}", proxy.port).into();

    let child = run_child("proxied", endpoint, &[("HTTP_PROXY", address)]);
    assert!(child.success, "{}", child.output);
    let requests = proxy.requests();
    let through = format!("get {endpoint}/bucket/k ");
    assert!(requests.iter().any(|r| r.starts_with(&through)), "{requests:?}");
}

/// The child half of the tests above; does nothing in an ordinary test run.
#[tokio::test]
async fn transport_child() {
    let Some(case) = std::env::var_os(CHILD_CASE) else {
        return;
    };
    let endpoint = std::env::var(CHILD_ENDPOINT).expect("the parent names the endpoint");
    let mut settings = S3Settings::new("bucket");
    settings.endpoint = Some(endpoint);
    settings.access_key = Some("s3kv-test".to_owned());
    settings.secret_key = Some("s3kv-test-secret".to_owned());
    settings.region = Some("us-east-1".to_owned());
    let opened = s3kv_store::s3(settings);
    if case.to_str() == Some("unreadable") {
        let error = opened.expect_err("no authority can be read");
        let message = error.to_string();
        assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{message}");
        assert!(message.contains("cannot check the endpoint's TLS certificates"), "{message}");
        assert!(message.contains("SSL_CERT_FILE names /nonexistent/ca.pem"), "{message}");
        eprintln!("{CHILD_PASSED}");
        return;
    }
    let backend = opened.expect("opening sends nothing");

    let started = Instant::now();
    let result = backend.get("k").await;
    match case.to_str() {
        Some("refused") => {
            let error = result.expect_err("the server's authority is not trusted");
            let message = error.to_string();
            assert!(message.contains("certificate was refused"), "{message}");
            assert!(message.contains("UnknownIssuer"), "{message}");
            assert!(message.contains("SSL_CERT_FILE"), "{message}");
            // A certificate that does not check out will not on the next try either: a setting
            // to fix, not a busy service.
            assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{message}");
            assert!(!error.is_retryable(), "{message}");
            assert!(started.elapsed() < Duration::from_secs(5), "retried: {:?}", started.elapsed());
        }
        Some("authority") => {
            let error = result.expect_err("an authority's certificate is not a server's");
            let message = error.to_string();
            assert!(message.contains("marked as an authority's own certificate"), "{message}");
            assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{message}");
        }
        Some("plaintext") => {
            let error = result.expect_err("the server does not speak TLS");
            let message = error.to_string();
            assert!(message.contains("does not answer in TLS"), "{message}");
            assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{message}");
        }
        Some("redirected") => {
            let error = result.expect_err("a redirect is not followed");
            let message = error.to_string();
            assert!(message.contains("answered HTTP 307, a redirect"), "{message}");
        }
        Some("trusted" | "proxied") => {
            let object = result.expect("the server answers");
            assert_eq!(&object.bytes[..], BODY);
            assert_eq!(object.meta.etag.as_deref(), Some("\"e1\""));
        }
        other => panic!("unknown case {other:?}"),
    }
    eprintln!("{CHILD_PASSED}");
}

/// What a child printed, and whether it passed.
struct ChildRun {
    success: bool,
    output: String,
}

/// Runs [`transport_child`] in a child process for `case`, with `extra` added to an
/// environment cleared of proxies and certificate locations.
fn run_child(case: &str, endpoint: &str, extra: &[(&str, std::ffi::OsString)]) -> ChildRun {
    let mut command = crate::harness::child_test("transport::transport_child");
    command.env(CHILD_CASE, case).env(CHILD_ENDPOINT, endpoint);
    for name in AMBIENT {
        command.env_remove(name);
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ChildRun {
        success: output.status.success() && stderr.contains(CHILD_PASSED),
        output: format!("child {case}: {}\n{stdout}\n{stderr}", output.status),
    }
}

fn fixture(name: &str) -> std::ffi::OsString {
    let path: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "tls", name].iter().collect();
    path.into_os_string()
}

/// A loopback server that answers every request with [`BODY`] (or a redirect) and keeps the
/// request lines (lowercase) it saw; over TLS when given a configuration. It stops when dropped.
struct Server {
    port: u16,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(tls: bool) -> Self {
        Self::serve(tls.then(|| server_config("server.pem", "server.key")), None, false)
    }

    /// A TLS server that ends its first session at once with a fatal alert, as a server that
    /// is restarting may, and serves every later one.
    fn alerting_once() -> Self {
        Self::serve(Some(server_config("server.pem", "server.key")), None, true)
    }

    /// A plain server that answers every request with a 307 to `location`.
    fn redirecting(location: String) -> Self {
        Self::serve(None, Some(location), false)
    }

    /// A TLS server that shows the test authority's own certificate.
    fn showing_the_authority() -> Self {
        Self::serve(Some(server_config("authority.pem", "authority.key")), None, false)
    }

    fn serve(
        config: Option<Arc<rustls::ServerConfig>>,
        location: Option<String>,
        alert_first: bool,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by_thread, stop_seen) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut alert = alert_first;
            while !stop_seen.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIFETIME {
                match listener.accept() {
                    Ok((socket, _)) if alert => {
                        alert = false;
                        send_alert(socket);
                    }
                    Ok((socket, _)) => {
                        if let Some(line) = answer(socket, config.clone(), location.as_deref()) {
                            seen_by_thread.lock().expect("request list").push(line);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
        });
        Self { port, seen, stop, thread: Some(thread) }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("request list").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads the client's greeting and answers with a fatal `internal_error` alert, then hangs up.
fn send_alert(mut socket: TcpStream) {
    socket.set_nonblocking(false).expect("blocking socket");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let mut greeting = [0u8; 4096];
    let _ = socket.read(&mut greeting);
    // A TLS record: alert (21), version 3.3, length 2, level fatal (2), internal_error (80).
    let _ = socket.write_all(&[21, 3, 3, 0, 2, 2, 80]);
}

/// A TLS server's configuration with the fixture certificate and key of these names.
fn server_config(certificate: &str, key: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(fixture(certificate))
        .expect("server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_file(fixture(key)).expect("server key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key match");
    Arc::new(config)
}

/// Reads one request from `socket` (over TLS with `tls`), answers it with [`BODY`] and returns
/// its request line; `None` when no whole request arrived (a refused TLS handshake).
fn answer(
    socket: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    redirect: Option<&str>,
) -> Option<String> {
    socket.set_nonblocking(false).expect("blocking socket");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    match tls {
        Some(config) => {
            let connection = rustls::ServerConnection::new(config).expect("tls session");
            exchange(rustls::StreamOwned::new(connection, socket), redirect)
        }
        None => exchange(socket, redirect),
    }
}

fn exchange(mut stream: impl Read + Write, redirect: Option<&str>) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
        // As a web server does when a TLS client greets it: a plain refusal.
        if !head[0].is_ascii_alphabetic() {
            let refusal =
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(refusal);
            return None;
        }
    }
    if let Some(location) = redirect {
        let answer = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\
             connection: close\r\n\r\n"
        );
        stream.write_all(answer.as_bytes()).ok()?;
    } else {
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\netag: \"e1\"\r\nconnection: close\r\n\r\n",
            BODY.len()
        );
        stream.write_all(answer.as_bytes()).ok()?;
        stream.write_all(BODY).ok()?;
    }
    stream.flush().ok()?;
    let head = String::from_utf8_lossy(&head).to_lowercase();
    head.lines().next().map(str::to_owned)
}
