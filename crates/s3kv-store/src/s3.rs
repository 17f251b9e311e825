//! The s3 backend: any S3-compatible service, through `OpenDAL` with bounded retries, timeouts and
//! a cap on requests in flight.
//!
//! Two decisions here are about safety rather than convenience. Explicit credentials switch off
//! `OpenDAL`'s loading of AWS variables, files and instance metadata, so an ambient session token
//! is never sent alongside keys it does not belong to. And every wait is bounded: a connect
//! timeout, a per-request timeout and a few short retries, so an unreachable endpoint fails in
//! seconds with its address in the message instead of hanging the app that opened it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opendal::layers::{
    ConcurrentLimitLayer, RetryEvent, RetryInterceptor, RetryLayer, TimeoutLayer,
};
use opendal::services::S3;
use opendal::{HttpTransporter, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;

use crate::operator::{Flavor, OpendalBackend, PROBE_FOLDER, Transfer};
use crate::{Backend, Capabilities, Error, ErrorKind};

/// Longest object key S3 accepts, in bytes, the root prefix included.
const MAX_KEY_BYTES: usize = 1024;

/// Region used when neither the settings nor the environment name one; `OpenDAL` needs one to
/// sign, and S3-compatible servers other than AWS mostly accept this one.
const FALLBACK_REGION: &str = "us-east-1";

/// First retry delay; later ones double, with up to this much random jitter added to each.
const RETRY_MIN_DELAY: Duration = Duration::from_millis(200);

/// Longest retry delay.
const RETRY_MAX_DELAY: Duration = Duration::from_secs(4);

/// How many operations (each of which may send several requests) may be open at once, per
/// request in flight. Listings hold an operation open while a caller reads them, so operations
/// get a far looser cap than requests: the request cap is what protects the service.
const OPERATIONS_PER_REQUEST_SLOT: usize = 16;

/// How requests name the bucket.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Addressing {
    /// Path style for a custom endpoint, virtual-host style for AWS (path style there too when
    /// the bucket name has a dot, which virtual-host style cannot carry over TLS).
    #[default]
    Auto,
    /// `https://endpoint/bucket/key`.
    Path,
    /// `https://bucket.endpoint/key`.
    Virtual,
}

/// Settings of the s3 backend.
///
/// `Debug` prints the secret key and session token as `***`.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket; required.
    pub bucket: String,
    /// Full URL of the service, for example `http://127.0.0.1:9000`; `None` means AWS.
    pub endpoint: Option<String>,
    /// Signing region; `None` reads `AWS_REGION`, then `AWS_DEFAULT_REGION`, then uses
    /// `us-east-1`.
    pub region: Option<String>,
    /// How requests name the bucket.
    pub addressing: Addressing,
    /// Access key id. With `secret_key`, these keys alone are used; without, the usual AWS
    /// environment, files and instance metadata provide credentials.
    pub access_key: Option<String>,
    /// Secret access key; only with `access_key`.
    pub secret_key: Option<String>,
    /// Session token of temporary keys; only with `access_key` and `secret_key`.
    pub session_token: Option<String>,
    /// Prefix under which all paths live, for example `apps/one`; empty for the whole bucket.
    pub root: String,
    /// Longest wait for one request, each retry included.
    pub timeout: Duration,
    /// Longest wait to open a connection.
    pub connect_timeout: Duration,
    /// How many times a failed request that may succeed later is sent again.
    pub retries: u32,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Size of each part of a streamed upload, and of each ranged read of a streamed download,
    /// in bytes: from 5 MiB to 5 GiB, as S3 allows.
    ///
    /// A streamed upload holds about `part_size * (transfer_concurrency + 2)` bytes at once, a
    /// streamed download about `part_size * (transfer_concurrency + 1)`.
    pub part_size: usize,
    /// How many parts of one streamed upload or download are in flight at once: 1 to 64.
    pub transfer_concurrency: usize,
}

impl S3Settings {
    /// Default for [`S3Settings::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default for [`S3Settings::connect_timeout`].
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    /// Default for [`S3Settings::retries`].
    pub const DEFAULT_RETRIES: u32 = 3;
    /// Default for [`S3Settings::max_in_flight`].
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;
    /// Default for [`S3Settings::part_size`]: 8 MiB.
    pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
    /// Smallest [`S3Settings::part_size`]: S3 refuses smaller parts except the last one.
    pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
    /// Largest [`S3Settings::part_size`]: S3's limit for one part, 5 GiB.
    pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
    /// Default for [`S3Settings::transfer_concurrency`].
    pub const DEFAULT_TRANSFER_CONCURRENCY: usize = 4;
    /// Largest [`S3Settings::transfer_concurrency`].
    pub const MAX_TRANSFER_CONCURRENCY: usize = 64;

    /// Settings for `bucket` on AWS with ambient credentials and the defaults above.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint: None,
            region: None,
            addressing: Addressing::Auto,
            access_key: None,
            secret_key: None,
            session_token: None,
            root: String::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            part_size: Self::DEFAULT_PART_SIZE,
            transfer_concurrency: Self::DEFAULT_TRANSFER_CONCURRENCY,
        }
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "***");
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("addressing", &self.addressing)
            .field("access_key", &self.access_key)
            .field("secret_key", &redacted(&self.secret_key))
            .field("session_token", &redacted(&self.session_token))
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retries", &self.retries)
            .field("max_in_flight", &self.max_in_flight)
            .field("part_size", &self.part_size)
            .field("transfer_concurrency", &self.transfer_concurrency)
            .finish()
    }
}

/// Everything [`s3`] decides from the settings before touching `OpenDAL`.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    endpoint: String,
    region: String,
    virtual_host: bool,
    /// The root as `OpenDAL` stores it in keys: `a/b/`, or empty.
    key_prefix: String,
    explicit_credentials: bool,
    description: String,
}

/// Opens the s3 backend; nothing is sent until the first operation (call
/// [`Backend::check`] to probe).
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] for an empty bucket, half a credential set, a malformed root, or
/// zero timeouts or request cap.
#[expect(
    clippy::needless_pass_by_value,
    reason = "callers hand the settings over, secrets included, rather than keep a copy"
)]
pub fn s3(settings: S3Settings) -> Result<Arc<dyn Backend>, Error> {
    let plan = plan(&settings, |name| std::env::var(name).ok())?;
    let invalid = |message: &str| {
        Error::new(ErrorKind::InvalidConfig, "open", "", plan.description.as_str(), message)
    };

    let mut builder = S3::default()
        .bucket(&settings.bucket)
        .endpoint(&plan.endpoint)
        .region(&plan.region)
        .root(&plan.key_prefix);
    if plan.virtual_host {
        builder = builder.enable_virtual_host_style();
    }
    if plan.explicit_credentials
        && let (Some(access_key), Some(secret_key)) = (&settings.access_key, &settings.secret_key)
    {
        builder = builder
            .access_key_id(access_key)
            .secret_access_key(secret_key)
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(token) = settings.session_token.as_deref().filter(|t| !t.trim().is_empty()) {
            builder = builder.session_token(token);
        }
    }
    let operator = Operator::new(builder)
        .map_err(|e| invalid("cannot build the s3 service").with_source(e))?;

    // Our own HTTP client, so the connect timeout holds and nothing depends on a process-wide
    // default transport that another library may have installed differently.
    let transport = if transport::proxy_configured(|name| std::env::var_os(name)) {
        // Redirects are not followed on either transport (see `transport.rs`).
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                let cause = transport::causes("cannot build the http client", &e);
                invalid(&format!("{cause}{}", transport::named_authorities()))
            })?;
        HttpTransporter::new(transport::ProxiedTransport(ReqwestTransport::new(client)))
    } else {
        let https = plan.endpoint.starts_with("https://");
        let direct = transport::DirectTransport::new(settings.connect_timeout, https)
            .map_err(|e| invalid(&e))?;
        HttpTransporter::new(direct)
    };
    let context = operator.base_context().with_http_transport(transport);

    // Timeout before retry: each attempt gets its own deadline, and the retry layer never has
    // its future dropped halfway by an outer timeout.
    let retry = RetryLayer::new()
        .with_min_delay(RETRY_MIN_DELAY)
        .with_max_delay(RETRY_MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(usize::try_from(settings.retries).unwrap_or(usize::MAX))
        .with_notify(RetryLog { backend: plan.description.clone() });
    let operations = settings.max_in_flight.saturating_mul(OPERATIONS_PER_REQUEST_SLOT);
    let operator = operator
        .with_context(context)
        .layer(TimeoutLayer::new().with_timeout(settings.timeout).with_io_timeout(settings.timeout))
        .layer(retry)
        .layer(
            ConcurrentLimitLayer::new(operations)
                .with_http_concurrent_limit(settings.max_in_flight),
        );

    let capability = operator.info().capability();
    let mut capabilities = Capabilities::new(MAX_KEY_BYTES.saturating_sub(plan.key_prefix.len()));
    // OpenDAL declares both for every server; the backend probes whether the server honours
    // them (in `check`, or before the first conditional write) and reports what it found.
    capabilities.conditional_create = capability.write_with_if_not_exists;
    capabilities.compare_and_swap = capability.write_with_if_match;
    capabilities.ranged_read = true;
    capabilities.multipart = capability.write_can_multi;
    capabilities.streamed_write = capability.write_can_multi;

    let backend = OpendalBackend::new(
        operator,
        Flavor::S3,
        plan.description,
        capabilities,
        Some(PROBE_FOLDER),
        None,
    )
    .with_transfer(Transfer {
        part_size: settings.part_size,
        concurrency: settings.transfer_concurrency,
    });
    Ok(Arc::new(backend))
}

/// Checks the settings and works out endpoint, region, addressing and key prefix.
///
/// `env` reads an environment variable; tests pass their own.
fn plan(settings: &S3Settings, env: impl Fn(&str) -> Option<String>) -> Result<Plan, Error> {
    let endpoint = settings.endpoint.as_deref().map(|e| e.trim().trim_end_matches('/'));
    let endpoint = endpoint.filter(|e| !e.is_empty());
    let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let region = non_empty(&settings.region)
        .or_else(|| env("AWS_REGION").filter(|v| !v.is_empty()))
        .or_else(|| env("AWS_DEFAULT_REGION").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| FALLBACK_REGION.to_owned());
    let endpoint = match endpoint {
        Some(endpoint) => lowercase_scheme(endpoint),
        None => format!("https://s3.{region}.amazonaws.com"),
    };

    let root = settings.root.trim_matches('/');
    let key_prefix = if root.is_empty() { String::new() } else { format!("{root}/") };
    let mut description = format!("s3 bucket `{}` at {endpoint}", settings.bucket);
    if !key_prefix.is_empty() {
        description = format!("{description} under `{key_prefix}`");
    }
    let invalid = |message: String| {
        Err(Error::new(ErrorKind::InvalidConfig, "open", "", description.as_str(), message))
    };

    if settings.bucket.trim().is_empty() {
        return invalid("the bucket name is empty".to_owned());
    }
    if let Some(problem) = crate::path::root_problem(root) {
        return invalid(format!("the root prefix is malformed: {problem}"));
    }
    let access_key = non_empty(&settings.access_key);
    let secret_key = non_empty(&settings.secret_key);
    let explicit_credentials = match (&access_key, &secret_key, non_empty(&settings.session_token))
    {
        (Some(_), Some(_), _) => true,
        (None, None, None) => false,
        (Some(_), None, _) => return invalid("an access key is set without its secret key".into()),
        (None, Some(_), _) => return invalid("a secret key is set without its access key".into()),
        (None, None, Some(_)) => {
            return invalid("a session token is set without an access key and secret key".into());
        }
    };
    if settings.timeout.is_zero() || settings.connect_timeout.is_zero() {
        return invalid("timeouts must be longer than zero".to_owned());
    }
    if settings.max_in_flight == 0 {
        return invalid("at least one request must be allowed in flight".to_owned());
    }
    let part_size = u64::try_from(settings.part_size).unwrap_or(u64::MAX);
    if settings.part_size < S3Settings::MIN_PART_SIZE || part_size > S3Settings::MAX_PART_SIZE {
        return invalid(format!(
            "the part size is {} bytes; S3 allows from {} (5 MiB) to {} (5 GiB)",
            settings.part_size,
            S3Settings::MIN_PART_SIZE,
            S3Settings::MAX_PART_SIZE
        ));
    }
    if !(1..=S3Settings::MAX_TRANSFER_CONCURRENCY).contains(&settings.transfer_concurrency) {
        return invalid(format!(
            "the transfer concurrency is {}; it must be from 1 to {}",
            settings.transfer_concurrency,
            S3Settings::MAX_TRANSFER_CONCURRENCY
        ));
    }

    let virtual_host = match settings.addressing {
        Addressing::Path => false,
        Addressing::Virtual => true,
        Addressing::Auto => settings.endpoint.is_none() && !settings.bucket.contains('.'),
    };
    Ok(Plan { endpoint, region, virtual_host, key_prefix, explicit_credentials, description })
}

/// `endpoint` with its scheme in lower case: a URL's scheme is not case-sensitive, but the
/// HTTP client takes only `http` and `https` as written so.
fn lowercase_scheme(endpoint: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => endpoint.to_owned(),
    }
}

/// Logs each retry as a warning, naming the backend, the operation and the cause.
struct RetryLog {
    backend: String,
}

impl RetryInterceptor for RetryLog {
    fn intercept(&self, event: RetryEvent<'_>) {
        tracing::warn!(
            backend = %self.backend,
            operation = event.op.into_static(),
            attempt = event.attempt,
            retry_after_ms = u64::try_from(event.retry_after.as_millis()).unwrap_or(u64::MAX),
            error = %event.err,
            "retrying backend request"
        );
    }
}

mod transport;

#[cfg(test)]
mod tests;
