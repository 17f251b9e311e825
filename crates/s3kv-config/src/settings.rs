//! The resolved settings of one connection or collection, and the small types they are made of.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// Where a connection keeps its objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// An S3 bucket (configuration string `"s3"`), the default as in the original library.
    #[default]
    S3,
    /// A local directory (`"local"`).
    Local,
    /// Memory, or a mapping the Python caller passes as `data` (`"dict"`).
    Dict,
}

impl Mode {
    /// The configuration string of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Local => "local",
            Self::Dict => "dict",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How requests name the bucket: in the path or in the host name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Addressing {
    /// Let the S3 backend choose (configuration strings `""` and `"auto"`).
    #[default]
    Auto,
    /// `https://endpoint/bucket/key` (`"path"`).
    Path,
    /// `https://bucket.endpoint/key` (`"virtual"`).
    Virtual,
}

impl Addressing {
    /// The configuration string of the addressing style.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Path => "path",
            Self::Virtual => "virtual",
        }
    }
}

impl std::fmt::Display for Addressing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string: zeroed when dropped, and never shown by `Debug`.
///
/// There is deliberately no `Display` and no `PartialEq`: reading the secret is an explicit
/// [`Secret::expose`] call at the one place that needs it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself, for the code that derives keys or signs requests with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Every setting of a connection, resolved from all sources and checked.
///
/// [`crate::Loader`] builds it; `docs/configuration.md` describes each field under the name of
/// its parameter. `Debug` shows every field but the secrets, which print as `Secret(***)`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Where objects live (`mode`).
    pub mode: Mode,
    /// The password of encrypted collections (`password`); `None` means no encryption.
    pub password: Option<Secret>,
    /// A salt mixed into the password's key derivation (`salt`); any string.
    pub salt: Option<Secret>,
    /// How long a read value stays cached (`ttl`); `None` means no caching.
    pub ttl: Option<Duration>,
    /// The S3 access key id (`access_key`).
    pub access_key: Option<String>,
    /// The S3 secret access key (`secret_key`).
    pub secret_key: Option<Secret>,
    /// A temporary S3 session token that goes with the keys above (`session_token`).
    pub session_token: Option<Secret>,
    /// The S3 endpoint URL (`endpoint`); `None` means AWS.
    pub endpoint: Option<String>,
    /// Path-style or virtual-host-style requests (`addressing`).
    pub addressing: Addressing,
    /// The S3 region (`region`).
    pub region: Option<String>,
    /// The S3 bucket (`bucket`); always `Some` in mode s3.
    pub bucket: Option<String>,
    /// A prefix for every object name in the bucket (`prefix`), as given.
    pub prefix: String,
    /// The directory of mode local (`path`); empty means the current directory.
    pub path: PathBuf,
    /// The time limit of one S3 request (`timeout`).
    pub timeout: Duration,
    /// The time limit to open a connection to the S3 endpoint (`connect_timeout`).
    pub connect_timeout: Duration,
    /// How many times a failed S3 request that may succeed later is retried (`retries`).
    pub retries: u32,
    /// The most backend requests one connection has in flight at once (`max_in_flight`).
    pub max_in_flight: usize,
    /// The most bytes of decoded values one collection's read cache holds (`cache_size`); only
    /// used when `ttl` is set.
    pub cache_size: u64,
    /// The largest decoded value the read cache keeps (`cache_max_value`); `None` means an eighth
    /// of `cache_size`. Larger values are read from the backend every time.
    pub cache_max_value: Option<u64>,
    /// Whether pickles that nothing authenticates may be unpickled (`allow_pickle`): those of
    /// unencrypted collections and of the original library, on S3.
    pub allow_pickle: bool,
}

impl Settings {
    /// Settings of mode dict, with every other parameter at its default.
    pub fn dict() -> Self {
        Self { mode: Mode::Dict, ..Self::default() }
    }

    /// Settings of mode local in `path`, with every other parameter at its default.
    pub fn local(path: impl Into<PathBuf>) -> Self {
        Self { mode: Mode::Local, path: path.into(), ..Self::default() }
    }

    /// Settings of mode s3 on `bucket`, with every other parameter at its default.
    pub fn s3(bucket: impl Into<String>) -> Self {
        Self { mode: Mode::S3, bucket: Some(bucket.into()), ..Self::default() }
    }
}

/// The documented defaults.
///
/// Mode s3 needs a bucket, which has no default: [`crate::Loader`] reports it missing, but a
/// `Settings` built by hand from `default()` is not checked.
impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::S3,
            password: None,
            salt: None,
            ttl: None,
            access_key: None,
            secret_key: None,
            session_token: None,
            endpoint: None,
            addressing: Addressing::Auto,
            region: None,
            bucket: None,
            prefix: String::new(),
            path: PathBuf::new(),
            timeout: crate::parameter::DEFAULT_TIMEOUT,
            connect_timeout: crate::parameter::DEFAULT_CONNECT_TIMEOUT,
            retries: crate::parameter::DEFAULT_RETRIES,
            max_in_flight: crate::parameter::DEFAULT_MAX_IN_FLIGHT,
            cache_size: crate::parameter::DEFAULT_CACHE_SIZE,
            cache_max_value: None,
            allow_pickle: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn settings_debug_hides_every_secret() {
        let mut settings = Settings::s3("bucket-name");
        settings.password = Some("pw-value-1".into());
        settings.salt = Some("salt-value-2".into());
        settings.secret_key = Some("secret-key-value-3".into());
        settings.session_token = Some("token-value-4".into());
        settings.access_key = Some("AKIAEXAMPLE".into());

        let debug = format!("{settings:?}");
        let pretty = format!("{settings:#?}");
        for text in [&debug, &pretty] {
            for secret in ["pw-value-1", "salt-value-2", "secret-key-value-3", "token-value-4"] {
                assert!(!text.contains(secret), "{text}");
            }
            assert!(text.contains("Secret(***)"), "{text}");
            assert!(text.contains("AKIAEXAMPLE"), "{text}");
            assert!(text.contains("bucket-name"), "{text}");
        }
    }

    #[test]
    fn default_settings_match_the_documented_defaults() {
        let settings = Settings::default();
        assert_eq!(settings.mode, Mode::S3);
        assert_eq!(settings.addressing, Addressing::Auto);
        assert_eq!(settings.prefix, "");
        assert_eq!(settings.path, PathBuf::new());
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(settings.connect_timeout, Duration::from_secs(3));
        assert_eq!(settings.retries, 3);
        assert_eq!(settings.max_in_flight, 16);
        assert!(settings.ttl.is_none() && settings.bucket.is_none() && settings.password.is_none());
    }

    #[test]
    fn mode_and_addressing_print_their_configuration_strings() {
        assert_eq!(Mode::S3.to_string(), "s3");
        assert_eq!(Mode::Local.to_string(), "local");
        assert_eq!(Mode::Dict.to_string(), "dict");
        assert_eq!(Addressing::Auto.to_string(), "auto");
        assert_eq!(Addressing::Path.to_string(), "path");
        assert_eq!(Addressing::Virtual.to_string(), "virtual");
    }
}
