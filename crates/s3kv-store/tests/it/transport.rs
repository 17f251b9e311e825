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
    let backend = s3kv_store::s3(settings).expect("opening sends nothing");

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
        Some("plaintext") => {
            let error = result.expect_err("the server does not speak TLS");
            let message = error.to_string();
            assert!(message.contains("TLS with the endpoint failed"), "{message}");
            assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{message}");
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
    let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--exact", "transport::transport_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_CASE, case)
        .env(CHILD_ENDPOINT, endpoint);
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

/// A loopback server that answers every request with [`BODY`] and keeps the request lines
/// (lowercase) it saw; over TLS with the fixture certificate when asked. It stops when dropped.
struct Server {
    port: u16,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(tls: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let config = tls.then(server_config);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by_thread, stop_seen) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !stop_seen.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIFETIME {
                match listener.accept() {
                    Ok((socket, _)) => {
                        if let Some(line) = answer(socket, config.clone()) {
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

fn server_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server key");
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
fn answer(socket: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) -> Option<String> {
    socket.set_nonblocking(false).expect("blocking socket");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    match tls {
        Some(config) => {
            let connection = rustls::ServerConnection::new(config).expect("tls session");
            exchange(rustls::StreamOwned::new(connection, socket))
        }
        None => exchange(socket),
    }
}

fn exchange(mut stream: impl Read + Write) -> Option<String> {
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
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\netag: \"e1\"\r\nconnection: close\r\n\r\n",
        BODY.len()
    );
    stream.write_all(answer.as_bytes()).ok()?;
    stream.write_all(BODY).ok()?;
    stream.flush().ok()?;
    let head = String::from_utf8_lossy(&head).to_lowercase();
    head.lines().next().map(str::to_owned)
}
