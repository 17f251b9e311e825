//! The HTTP transport of the s3 backend: hyper's pooled HTTP/1.1 client over rustls, given
//! `OpenDAL`'s signed requests as they are.
//!
//! `OpenDAL`'s stock transport goes through reqwest, which turns each request's URI back into
//! text and parses it again (twice), runs it through its redirect and retry layers and checks
//! its proxy rules; for a small value that is a fair share of the client's time. This transport
//! hands the request straight to hyper's connection pool. It verifies certificates as reqwest
//! does (the platform's verifier) and keeps idle connections as long. It does not know proxies,
//! so a proxy set in the environment selects reqwest's transport (see [`proxy_configured`]),
//! wrapped so that its failures read and are classed the same. Neither follows redirects: a
//! signed request sent on to another address would no longer match its signature, so a
//! redirect is reported with its status instead.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body::{Body, Frame, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use opendal::raw::{parse_content_encoding, parse_content_length};
use opendal::{Buffer, HttpBody, HttpTransport};
use opendal_http_transport_reqwest::ReqwestTransport;
use rustls_platform_verifier::BuilderVerifierExt;

/// How long an idle connection stays in the pool (reqwest's default too).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The environment variables through which reqwest, and so the stock transport, takes a proxy.
const PROXY_VARIABLES: [&str; 6] =
    ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// Whether the environment, as `lookup` reads it, names a proxy for outgoing requests.
pub(crate) fn proxy_configured(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    PROXY_VARIABLES.iter().any(|name| lookup(name).is_some_and(|value| !value.is_empty()))
}

/// hyper's pooled client, for http and https endpoints.
pub(crate) struct DirectTransport {
    client: Client<HttpsConnector<HttpConnector>, RequestBody>,
}

impl DirectTransport {
    /// A client whose connection attempts give up after `connect_timeout`; `https` says whether
    /// it will be asked for https addresses.
    ///
    /// # Errors
    ///
    /// For `https`, the system's certificate verifier cannot start, and the message says why.
    pub(crate) fn new(connect_timeout: Duration, https: bool) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let tls = match builder.clone().with_platform_verifier() {
            Ok(verifying) => verifying.with_no_client_auth(),
            Err(error) if https => return Err(verifier_failed(&error)),
            // An http endpoint never opens a TLS session: a system without certificates (a
            // small container, say) need not stop it. Without authorities, no server passes.
            Err(_) => {
                builder.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
            }
        };
        let mut http = HttpConnector::new();
        // The TLS layer wraps this connector, so it must accept https addresses too.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // The timer lets the pool close connections that stay idle too long, in the background.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self { client })
    }
}

impl HttpTransport for DirectTransport {
    async fn fetch(
        &self,
        request: http::Request<Buffer>,
    ) -> opendal::Result<http::Response<HttpBody>> {
        let uri = request.uri().clone();
        let head = request.method() == http::Method::HEAD;
        let asked = Asked::of(&request);
        let response = self.client.request(request.map(RequestBody)).await.map_err(|error| {
            send_error(&error).with_operation("http::fetch").with_context("url", &uri)
        })?;
        let (mut parts, body) = response.into_parts();
        // A HEAD answer's length describes the object, not its (empty) body, and a
        // content-encoded body's length is of the encoded bytes.
        let success = parts.status.is_success();
        let size = if head || !success || parse_content_encoding(&parts.headers)?.is_some() {
            None
        } else {
            parse_content_length(&parts.headers)?
        };
        // `OpenDAL` reads the request's URI back from its response for its error messages.
        parts.extensions.insert(uri.clone());
        let named = uri.clone();
        let stream = http_body_util::BodyDataStream::new(body)
            .try_filter(|piece| std::future::ready(!piece.is_empty()))
            .map_ok(Buffer::from)
            .map_err(move |error| {
                let message = causes("read data from http response", &error);
                opendal::Error::new(opendal::ErrorKind::Unexpected, message)
                    .with_operation("http::fetch")
                    .with_context("url", &uri)
                    .set_temporary()
            });
        let body = asked.checked(HttpBody::new(stream, size), success, size, &named)?;
        Ok(http::Response::from_parts(parts, body))
    }
}

/// What a request asked for, which the body of its answer must keep to.
struct Asked {
    /// The bytes of a bounded range (see [`asked_length`]).
    bytes: Option<u64>,
    /// The prefix of a listing (`ListObjectsV2`), `""` for the whole bucket.
    listing: Option<String>,
}

impl Asked {
    fn of(request: &http::Request<Buffer>) -> Self {
        Self { bytes: asked_length(request), listing: listed_prefix(request.uri()) }
    }

    /// The body of the answer: an error's cut short (see [`error_body`]), a successful one
    /// checked against the range (see [`within_range`]) or the listing's prefix (see
    /// [`listing_within`]).
    fn checked(
        self,
        body: HttpBody,
        success: bool,
        size: Option<u64>,
        uri: &http::Uri,
    ) -> opendal::Result<HttpBody> {
        if !success {
            return Ok(error_body(body));
        }
        let body = within_range(body, size, self.bytes, uri)?;
        Ok(match self.listing {
            Some(prefix) => listing_within(body, prefix, uri.clone()),
            None => body,
        })
    }
}

/// The prefix a `ListObjectsV2` request (`list-type=2`) asks for, decoded; `None` for any other
/// request, or a prefix that does not decode.
fn listed_prefix(uri: &http::Uri) -> Option<String> {
    let mut listing = false;
    let mut prefix = Some(String::new());
    for pair in uri.query()?.split('&') {
        match pair.split_once('=') {
            Some(("list-type", "2")) => listing = true,
            Some(("prefix", value)) => prefix = percent_decoded(value),
            _ => {}
        }
    }
    prefix.filter(|_| listing)
}

/// `text` with its `%XX` escapes decoded; `None` when they are malformed or not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The largest listing page taken: a page holds at most a thousand names of at most 1024
/// bytes each, with their metadata, so about 1.5 MB.
const LIST_PAGE_LIMIT: usize = 16 * 1024 * 1024;

/// A listing page's body, held until it is whole and then refused when it names an object
/// outside `prefix`: the client library takes every listed name to start with the prefix it
/// asked for, cuts the prefix's length off the front of each, and panics on a name shorter than
/// that, while a name from elsewhere of the same length would become a key this collection
/// does not have. A page larger than [`LIST_PAGE_LIMIT`] is refused as it arrives.
fn listing_within(body: HttpBody, prefix: String, uri: http::Uri) -> HttpBody {
    let refused = move |message: String, uri: &http::Uri| {
        let error = opendal::Error::new(opendal::ErrorKind::Unexpected, message);
        error.with_operation("http::fetch").with_context("url", uri)
    };
    body.map_inner(move |mut stream| {
        let page = async move {
            let mut page = Vec::new();
            while let Some(piece) = stream.try_next().await? {
                if page.len() + piece.len() > LIST_PAGE_LIMIT {
                    let limit = LIST_PAGE_LIMIT >> 20;
                    return Err(refused(format!("a listing page over {limit} MiB"), &uri));
                }
                piece.into_iter().for_each(|bytes| page.extend_from_slice(&bytes));
            }
            if let Some(name) = name_outside(&page, &prefix) {
                let message = format!(
                    "the server listed {name:?}, which is outside the prefix {prefix:?} it was \
                     asked for"
                );
                return Err(refused(message, &uri));
            }
            Ok(Buffer::from(page))
        };
        Box::new(Box::pin(futures::stream::once(page)))
    })
}

/// The first `<Key>` of a listing page that does not start with `prefix`, unescaped. A page
/// that is not UTF-8 is left to the XML parser to refuse.
fn name_outside(page: &[u8], prefix: &str) -> Option<String> {
    let mut rest = std::str::from_utf8(page).ok()?;
    while let Some(start) = rest.find("<Key>") {
        rest = &rest[start + "<Key>".len()..];
        let end = rest.find("</Key>")?;
        let name = xml_unescaped(&rest[..end]);
        if !name.starts_with(prefix) {
            return Some(name.into_owned());
        }
        rest = &rest[end..];
    }
    None
}

/// XML text with its entity and character references replaced; a malformed one is kept as it
/// is (the XML parser refuses it).
fn xml_unescaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let replaced = rest.find(';').and_then(|end| {
            let character = match &rest[1..end] {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                reference => {
                    let number = reference.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((character, end))
        });
        if let Some((character, end)) = replaced {
            out.push(character);
            rest = &rest[end + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out.into()
}

/// How many bytes `request` asks for with a bounded `Range` header (`bytes=a-b` or `bytes=-n`);
/// `None` when it asks for the whole object or for everything from an offset.
fn asked_length(request: &http::Request<Buffer>) -> Option<u64> {
    let value = request.headers().get(http::header::RANGE)?.to_str().ok()?;
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), Ok(last)) => last.checked_sub(first)?.checked_add(1),
        (Err(_), Ok(suffix)) if first.is_empty() => Some(suffix),
        _ => None,
    }
}

/// How much of an error answer's body is read. An S3 error document is a few hundred bytes;
/// one the server never ends, or makes huge, must fill neither memory nor the message that
/// quotes it.
const ERROR_BODY_LIMIT: usize = 8 * 1024;

/// The first [`ERROR_BODY_LIMIT`] bytes of an error answer's body, ending there.
fn error_body(body: HttpBody) -> HttpBody {
    body.map_inner(|stream| {
        Box::new(futures::StreamExt::scan(stream, ERROR_BODY_LIMIT, |left, piece| {
            let piece = match piece {
                Ok(_) if *left == 0 => None,
                Ok(piece) => {
                    let kept = piece.len().min(*left);
                    *left -= kept;
                    Some(Ok(piece.slice(..kept)))
                }
                Err(error) => Some(Err(error)),
            };
            std::future::ready(piece)
        }))
    })
}

/// The body of a successful answer to a request for `asked` bytes: refused when its `size` is
/// larger, and cut off with an error as soon as more than `asked` bytes arrive when its size is
/// not given. Without `asked`, the body as it is.
///
/// A server that ignores the range (or lies about it) must not hand over more than was asked
/// for: the layers above count what a broken answer delivered to resume past it, and a count
/// beyond the range is more than they can take. The refusal is not temporary, since the same
/// server will answer the same way again.
fn within_range(
    body: HttpBody,
    size: Option<u64>,
    asked: Option<u64>,
    uri: &http::Uri,
) -> opendal::Result<HttpBody> {
    let Some(asked) = asked else { return Ok(body) };
    if let Some(size) = size.filter(|size| *size > asked) {
        return Err(longer_than_asked(asked, size, uri));
    }
    let uri = uri.clone();
    Ok(body.map_inner(move |stream| {
        let mut left = Some(asked);
        Box::new(futures::StreamExt::map(stream, move |piece| {
            let piece = piece?;
            left = left.and_then(|left| left.checked_sub(piece.len() as u64));
            match left {
                Some(_) => Ok(piece),
                None => Err(longer_than_asked(asked, asked.saturating_add(1), &uri)),
            }
        }))
    }))
}

fn longer_than_asked(asked: u64, sent: u64, uri: &http::Uri) -> opendal::Error {
    let message = format!(
        "the server answered a request for {asked} bytes with {sent} or more (it ignored or \
         misread the requested range)"
    );
    opendal::Error::new(opendal::ErrorKind::Unexpected, message)
        .with_operation("http::fetch")
        .with_context("url", uri)
}

/// `what` followed by `error` and each of its sources: hyper's own text (`client error
/// (Connect)`) does not say what went wrong, its sources do (`Connection refused`, `invalid peer
/// certificate: UnknownIssuer`).
pub(crate) fn causes(what: &str, error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = what.to_owned();
    for cause in chain(error) {
        let text = cause.to_string();
        // Wrappers often repeat their source's text; say it once.
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Why a request could not be sent, as `OpenDAL` classes it.
///
/// A TLS session that fails on the endpoint's certificate, or because the endpoint does not
/// speak TLS, or shares no version or cipher with this client, is a setting to fix (the
/// endpoint's scheme or port, or the authorities this system trusts), not a busy service:
/// another try would fail the same way. So is a request hyper refused to send. Anything else (a
/// refused or reset connection, a timeout, a server that hung up or sent a TLS alert) may be gone
/// on the next try.
fn send_error(error: &(dyn std::error::Error + 'static)) -> opendal::Error {
    use opendal::ErrorKind::{ConfigInvalid, Unexpected};

    if let Some(tls) = chain(error).find_map(|cause| cause.downcast_ref::<rustls::Error>()) {
        let setting = match tls {
            rustls::Error::InvalidCertificate(problem) => Some(certificate_refused(problem)),
            rustls::Error::InvalidMessage(_) => Some(
                "the endpoint does not answer in TLS (is it an http endpoint, or the wrong port?)"
                    .to_owned(),
            ),
            rustls::Error::PeerIncompatible(_) => {
                Some("the endpoint and this client share no TLS version or cipher".to_owned())
            }
            _ => None,
        };
        if let Some(what) = setting {
            return opendal::Error::new(ConfigInvalid, causes(&what, error));
        }
    }
    let refused = chain(error)
        .any(|cause| cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_user));
    if refused {
        return opendal::Error::new(
            Unexpected,
            causes("the http request could not be sent", error),
        );
    }
    opendal::Error::new(Unexpected, causes("send http request", error)).set_temporary()
}

/// What to say when the system's certificate verifier cannot start: most often no authority
/// could be read, from the system or from the files the environment names.
fn verifier_failed(error: &rustls::Error) -> String {
    format!("cannot check the endpoint's TLS certificates: {error}{}", named_authorities())
}

/// What the environment names as trusted authorities, to follow a message of certificates
/// that could not be loaded; empty when it names none.
pub(crate) fn named_authorities() -> String {
    let mut said = String::new();
    for name in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(value) = std::env::var_os(name) {
            said = format!(
                "{said} ({name} names {}: it must hold PEM certificates this process can read)",
                std::path::Path::new(&value).display()
            );
        }
    }
    said
}

/// What to say of a certificate the verifier refused.
fn certificate_refused(problem: &rustls::CertificateError) -> String {
    let mut what = "the endpoint's TLS certificate was refused".to_owned();
    if format!("{problem:?}").contains("CaUsedAsEndEntity") {
        what.push_str(
            " (it is marked as an authority's own certificate, as `openssl req -x509` makes \
             them; the server must show one an authority issued)",
        );
    }
    if matches!(problem, rustls::CertificateError::UnknownIssuer) {
        what.push_str(
            " (it comes from an authority this system does not trust; a file of trusted \
             authorities can be named with SSL_CERT_FILE)",
        );
    }
    what
}

/// `error` and the errors under it, first to last.
///
/// An I/O error shows the error it wraps but gives that error's source as its own; here the
/// wrapped error itself (often another I/O error) comes next.
fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| {
        match cause.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        }
    })
}

/// reqwest's transport, for a proxy set in the environment, with its failures said and classed
/// as [`DirectTransport`]'s are.
pub(crate) struct ProxiedTransport(pub(crate) ReqwestTransport);

impl HttpTransport for ProxiedTransport {
    async fn fetch(
        &self,
        request: http::Request<Buffer>,
    ) -> opendal::Result<http::Response<HttpBody>> {
        let (uri, asked) = (request.uri().clone(), Asked::of(&request));
        let response = self.0.fetch(request).await.map_err(|error| {
            // The stock transport puts the failure under a bare "send http request".
            match std::error::Error::source(&error) {
                Some(cause) if error.kind() == opendal::ErrorKind::Unexpected => {
                    let again = send_error(cause);
                    if again.kind() == opendal::ErrorKind::ConfigInvalid {
                        return again;
                    }
                    opendal::Error::new(error.kind(), causes(error.message(), cause))
                        .with_temporary(error.is_temporary())
                }
                _ => error,
            }
        })?;
        let encoded = parse_content_encoding(response.headers())?.is_some();
        let size = if encoded { None } else { parse_content_length(response.headers())? };
        let (parts, body) = response.into_parts();
        // reqwest's body keeps the stated size, so an error body cut short reads as a short
        // answer rather than as the server's error: bounded all the same.
        let body = asked.checked(body, parts.status.is_success(), size, &uri)?;
        Ok(http::Response::from_parts(parts, body))
    }
}

/// A request body: the pieces of an `OpenDAL` buffer, which knows its exact length.
pub(crate) struct RequestBody(Buffer);

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.next().map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_request_gives_its_decoded_prefix() {
        let uri = |text: &str| text.parse::<http::Uri>().expect("a uri");
        let listed = uri("http://h/b?list-type=2&prefix=a%2Fb%20c%C3%BC%2F&max-keys=10");
        assert_eq!(listed_prefix(&listed).as_deref(), Some("a/b cü/"));
        assert_eq!(listed_prefix(&uri("http://h/b?list-type=2")).as_deref(), Some(""));
        assert_eq!(listed_prefix(&uri("http://h/b/k?x-id=GetObject")), None);
        assert_eq!(listed_prefix(&uri("http://h/b?list-type=2&prefix=%zz")), None);
        assert_eq!(percent_decoded("%e2%82%ac"), Some("€".to_owned()));
        assert_eq!(percent_decoded("%ff"), None, "not UTF-8");
    }

    #[test]
    fn names_are_unescaped_before_they_are_compared() {
        assert_eq!(xml_unescaped("a&amp;b&lt;&#x41;&#66;&apos;"), "a&b<AB'");
        assert_eq!(xml_unescaped("&bogus; & &#xZZ;"), "&bogus; & &#xZZ;");
        let page = "<ListBucketResult><Prefix>p/</Prefix><Contents><Key>p/&amp;1</Key></Contents>\
                    <Contents><Key>p/2</Key></Contents></ListBucketResult>";
        assert_eq!(name_outside(page.as_bytes(), "p/"), None);
        assert_eq!(name_outside(page.as_bytes(), "p/&"), Some("p/2".to_owned()));
        assert_eq!(name_outside(b"<Contents><Key>a</Key></Contents>", "root/"), Some("a".into()));
    }
}
