//! Retries at work: a proxy on 127.0.0.1 between the s3 backend and the test server answers
//! every tenth request with a failure (500, 503 `SlowDown`, a dropped connection) or a stall,
//! and 1,000 mixed operations with default settings still all succeed and read back exactly.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use s3kv_store::{ErrorKind, PutMode};

/// One request in this many is faulted; never two in a row, so an operation's retry meets a
/// working server and the test cannot fail by bad luck.
const FAULT_EVERY: u64 = 10;

/// How long a stalled request waits before it is forwarded: slow, but inside the timeout.
const STALL: Duration = Duration::from_millis(500);

/// Operations in the mix.
const OPERATIONS: u64 = 1000;

/// Keys the operations spread over.
const KEYS: u64 = 40;

/// Bounds of the proxy's loops.
const MAX_CONNECTIONS: u64 = 100_000;
const MAX_HEAD_BYTES: usize = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What the proxy does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Forward,
    InternalError,
    SlowDown,
    Reset,
    Stall,
}

/// Counts of what the proxy did, shared with the test.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    internal_errors: AtomicU64,
    slow_downs: AtomicU64,
    resets: AtomicU64,
    stalls: AtomicU64,
}

impl Counts {
    /// The fault for the next request: every [`FAULT_EVERY`]th one, cycling through the kinds.
    fn next(&self) -> Fault {
        let number = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if !number.is_multiple_of(FAULT_EVERY) {
            return Fault::Forward;
        }
        let (fault, counter) = match (number / FAULT_EVERY) % 4 {
            0 => (Fault::InternalError, &self.internal_errors),
            1 => (Fault::SlowDown, &self.slow_downs),
            2 => (Fault::Reset, &self.resets),
            _ => (Fault::Stall, &self.stalls),
        };
        counter.fetch_add(1, Ordering::SeqCst);
        fault
    }
}

/// A faulting HTTP proxy; it stops accepting when dropped.
struct Proxy {
    address: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Self {
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread_counts = Arc::clone(&counts);
        let address = listen(Arc::clone(&stop), move |client| {
            let _ = serve(client, upstream, &thread_counts);
        });
        Self { address, counts, stop }
    }
}

/// Binds a proxy port on 127.0.0.1 and hands each connection accepted there (at most
/// `MAX_CONNECTIONS`) to `serve`, on a thread of its own, until `stop` is set.
pub(crate) fn listen(
    stop: Arc<AtomicBool>,
    serve: impl Fn(TcpStream) + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    listener.set_nonblocking(true).expect("non-blocking accept");
    let address = listener.local_addr().expect("proxy address");
    let serve = Arc::new(serve);
    thread::spawn(move || {
        let mut accepted = 0;
        while accepted < MAX_CONNECTIONS && !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((client, _)) => {
                    accepted += 1;
                    let serve = Arc::clone(&serve);
                    thread::spawn(move || serve(client));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1));
                }
                Err(_) => break,
            }
        }
    });
    address
}

/// Reads one HTTP message head (through the blank line) and returns it with any body bytes
/// that came along.
pub(crate) fn read_head(stream: &mut TcpStream) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            return Ok((data, rest));
        }
        if data.len() > MAX_HEAD_BYTES {
            return Err(io::Error::other("message head too long"));
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        data.extend_from_slice(&buffer[..read]);
    }
}

/// The head with its `Connection` header replaced by `Connection: close`.
pub(crate) fn closing(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<&str> = text
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

pub(crate) fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Handles one client connection: one request, then the connection closes.
fn serve(mut client: TcpStream, upstream: SocketAddr, counts: &Counts) -> io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    let (head, mut body) = read_head(&mut client)?;
    let length = content_length(&head);
    while body.len() < length {
        let mut buffer = vec![0u8; (length - body.len()).min(64 * 1024)];
        let read = client.read(&mut buffer)?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        body.extend_from_slice(&buffer[..read]);
    }

    let answer = |status: &str, code: &str| {
        let xml = format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code></Error>");
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{xml}",
            xml.len()
        )
    };
    match counts.next() {
        Fault::InternalError => {
            return client
                .write_all(answer("500 Internal Server Error", "InternalError").as_bytes());
        }
        Fault::SlowDown => {
            return client.write_all(answer("503 Slow Down", "SlowDown").as_bytes());
        }
        // The request is read and the connection dropped without a word.
        Fault::Reset => return Ok(()),
        Fault::Stall => thread::sleep(STALL),
        Fault::Forward => {}
    }

    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(IO_TIMEOUT))?;
    server.write_all(&closing(&head))?;
    server.write_all(&body)?;
    let (response_head, rest) = read_head(&mut server)?;
    client.write_all(&closing(&response_head))?;
    client.write_all(&rest)?;
    io::copy(&mut server, &mut client)?;
    Ok(())
}

fn value(key: &str, operation: u64) -> Bytes {
    let unit = format!("{key}@{operation};");
    Bytes::from(unit.repeat(1 + usize::try_from(operation % 97).unwrap_or(0) * 10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_operations_through_a_faulting_proxy_all_succeed() {
    let root = format!("s3kv-it/{}", crate::harness::unique_name());
    let Some(mut settings) = crate::harness::s3_settings_from_env(&root) else {
        return;
    };
    let endpoint = settings.endpoint.clone().unwrap_or_default();
    let upstream: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("the test endpoint is http://address:port");
    let proxy = Proxy::start(upstream);
    settings.endpoint = Some(format!("http://{}", proxy.address));
    let backend = s3kv_store::s3(settings).expect("s3 backend opens");

    let mut model: BTreeMap<String, Bytes> = BTreeMap::new();
    for operation in 0..OPERATIONS {
        let key = format!("k/{:02}", operation * 7 % KEYS);
        match operation % 10 {
            0..=4 => {
                let value = value(&key, operation);
                backend.put(&key, value.clone(), PutMode::Overwrite).await.expect("put");
                model.insert(key, value);
            }
            5..=7 => match (backend.get(&key).await, model.get(&key)) {
                (Ok(object), Some(expected)) => assert_eq!(&object.bytes, expected, "{key}"),
                (Err(error), None) => assert_eq!(error.kind(), ErrorKind::NotFound, "{error}"),
                (got, expected) => {
                    panic!("{key}: got {:?}, expected {expected:?}", got.map(|o| o.meta))
                }
            },
            8 => {
                backend.delete(&key).await.expect("delete");
                model.remove(&key);
            }
            _ => {
                let entries: Vec<_> = backend.list("k/").try_collect().await.expect("list");
                let mut listed: Vec<String> = entries.into_iter().map(|e| e.path).collect();
                listed.sort();
                assert_eq!(listed, model.keys().cloned().collect::<Vec<_>>());
            }
        }
    }

    for (key, expected) in &model {
        assert_eq!(&backend.get(key).await.expect("final get").bytes, expected, "{key}");
    }
    let counts = &proxy.counts;
    let seen = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
    eprintln!(
        "{} requests: {} answered 500, {} SlowDown, {} dropped, {} stalled",
        seen(&counts.requests),
        seen(&counts.internal_errors),
        seen(&counts.slow_downs),
        seen(&counts.resets),
        seen(&counts.stalls)
    );
    for counter in [&counts.internal_errors, &counts.slow_downs, &counts.resets, &counts.stalls] {
        assert!(seen(counter) > 0, "every kind of fault was injected");
    }
}
