//! Just enough HTTP/1.1 to ask a test server on loopback whether it is up and to make a bucket.
//!
//! A client library would be a large dependency for two bodiless requests; this sends one
//! request per connection and reads only the status line.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// The most of a response that is read before the connection is dropped.
const RESPONSE_LIMIT: u64 = 64 * 1024;

/// Sends a request without a body and returns the response's status code.
///
/// # Errors
///
/// The connection fails or times out, or the answer is not HTTP.
pub(crate) fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;

    let mut reader = BufReader::new(stream.take(RESPONSE_LIMIT));
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = parse_status_line(&status_line).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP answer: {status_line:?}"))
    })?;

    // Reading the rest lets the server finish its write instead of meeting a reset.
    io::copy(&mut reader, &mut io::sink())?;
    Ok(status)
}

/// The code of a status line such as `HTTP/1.1 200 OK`.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader, Write},
        net::TcpListener,
        thread,
        time::Duration,
    };

    use super::{parse_status_line, request};

    #[test]
    fn status_line_gives_its_code() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 404 Not Found\r\n"), Some(404));
    }

    #[test]
    fn non_http_answer_has_no_code() {
        assert_eq!(parse_status_line(""), None);
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH_9.6\r\n"), None);
        assert_eq!(parse_status_line("HTTP/1.1 20 OK\r\n"), None);
    }

    #[test]
    fn request_to_loopback_server_returns_its_status() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut first_line = String::new();
            reader.read_line(&mut first_line).expect("read request");
            let mut line = String::new();
            while reader.read_line(&mut line).expect("read header") > 2 {
                line.clear();
            }
            let mut stream = reader.into_inner();
            stream
                .write_all(b"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\nno")
                .expect("write");
            first_line
        });

        let status = request(address, "PUT", "/bucket", Duration::from_secs(5));
        assert_eq!(status.expect("request"), 409);
        assert_eq!(server.join().expect("server thread"), "PUT /bucket HTTP/1.1\r\n");
    }
}
