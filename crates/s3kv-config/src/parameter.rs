//! The accepted parameters: their names, defaults, what each allows, and how values parse.
//!
//! Every source hands values over in its own types: environment variables are always strings,
//! TOML and JSON have numbers. Each parameter therefore parses from a [`Scalar`], so that
//! `retries = 5`, `retries = "5"` and `my_kv_retries=5` all mean the same.

use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Value};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::{Addressing, Mode, Secret, Settings};

/// Every parameter name a source may set, in documentation order.
///
/// `data` is accepted for compatibility (the Python layer uses it in mode dict) and ignored here.
pub const PARAMETERS: &[&str] = &[
    "mode",
    "password",
    "salt",
    "ttl",
    "access_key",
    "secret_key",
    "session_token",
    "endpoint",
    "addressing",
    "region",
    "bucket",
    "prefix",
    "path",
    "data",
    "timeout",
    "connect_timeout",
    "retries",
    "max_in_flight",
    "cache_size",
    "cache_max_value",
    "allow_pickle",
];

/// The names a secrets table accepts: every parameter, plus `type`, which Streamlit reads.
pub(crate) const SECRETS_TABLE_NAMES: &[&str] = &[
    "mode",
    "password",
    "salt",
    "ttl",
    "access_key",
    "secret_key",
    "session_token",
    "endpoint",
    "addressing",
    "region",
    "bucket",
    "prefix",
    "path",
    "data",
    "timeout",
    "connect_timeout",
    "retries",
    "max_in_flight",
    "cache_size",
    "cache_max_value",
    "allow_pickle",
    "type",
];

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub(crate) const DEFAULT_RETRIES: u32 = 3;
/// More retries than this only stretch how long a dead or stalled server takes to be reported:
/// each may wait a whole `timeout`.
pub(crate) const MAX_RETRIES: u32 = 10;
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// The read cache's budget per collection: room for a few thousand typical app values, small
/// beside the memory of a machine that runs a Streamlit app.
pub(crate) const DEFAULT_CACHE_SIZE: u64 = 256 << 20;
/// The smallest cache budget: below one mebibyte a single image would not fit.
pub(crate) const MIN_CACHE_SIZE: u64 = 1 << 20;
/// The largest cache budget; more than any one process should hold in values.
pub(crate) const MAX_CACHE_SIZE: u64 = 1 << 40;

/// The longest duration any parameter accepts.
///
/// Caches and timers downstream add durations to the current time, and some panic or overflow
/// far beyond this; a century is longer than any useful cache lifetime or time limit.
/// Years count 365.25 days, as humantime counts them, so `"100years"` is just accepted.
pub(crate) const MAX_DURATION: Duration = Duration::from_hours(100 * 8766);

/// The most requests in flight a connection accepts; far past what one process can use, and
/// far below the limits of the semaphores that enforce it.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// What the loader needs to know about one parameter.
pub(crate) struct Parameter {
    pub(crate) name: &'static str,
    /// Secret values are never shown, not even in an error about them.
    pub(crate) is_secret: bool,
    /// Whether `<connection>_<name>` environment variables are read for it.
    pub(crate) from_environment: bool,
    /// What the parameter accepts, in words, for error messages.
    pub(crate) expected: &'static str,
}

const A_STRING: &str = "a string";
const A_DURATION: &str = "a number of seconds > 0, or a duration such as \"30s\" or \"2m\" (m or \
     min for minutes; \"M\" would be months), at most 100 years";

/// The parameters, in the order of [`PARAMETERS`].
pub(crate) const TABLE: &[Parameter] = &[
    parameter("mode", false, "one of \"s3\", \"local\", \"dict\""),
    parameter("password", true, A_STRING),
    parameter("salt", true, A_STRING),
    parameter(
        "ttl",
        false,
        "a number of seconds >= 0, or a duration such as \"10m\" or \"1h 30m\" (m or min for \
         minutes; \"M\" would be months), at most 100 years, or \"\" for none",
    ),
    parameter("access_key", false, A_STRING),
    parameter("secret_key", true, A_STRING),
    parameter("session_token", true, A_STRING),
    parameter(
        "endpoint",
        false,
        "an http:// or https:// URL without credentials in it, or \"\" for AWS",
    ),
    parameter("addressing", false, "one of \"auto\", \"path\", \"virtual\", or \"\" for auto"),
    parameter("region", false, A_STRING),
    parameter("bucket", false, A_STRING),
    parameter("prefix", false, A_STRING),
    parameter("path", false, A_STRING),
    // The Python layer reads `data` (a mapping object); environment variables cannot carry one.
    Parameter { name: "data", is_secret: false, from_environment: false, expected: "a mapping" },
    parameter("timeout", false, A_DURATION),
    parameter("connect_timeout", false, A_DURATION),
    parameter("retries", false, "a whole number from 0 to 10"),
    parameter("max_in_flight", false, "a whole number from 1 to 4096"),
    parameter(
        "cache_size",
        false,
        "a number of bytes, or a size such as \"64MiB\" or \"1GB\", from 1MiB to 1TiB",
    ),
    parameter(
        "cache_max_value",
        false,
        "a number of bytes, or a size such as \"4MiB\", at most cache_size, or \"\" for an \
         eighth of cache_size",
    ),
    parameter("allow_pickle", false, "true or false (also yes or no, on or off, 1 or 0)"),
];

const fn parameter(name: &'static str, is_secret: bool, expected: &'static str) -> Parameter {
    Parameter { name, is_secret, from_environment: true, expected }
}

/// The entry of `name`, if it is a parameter.
pub(crate) fn find(name: &str) -> Option<&'static Parameter> {
    TABLE.iter().find(|parameter| parameter.name == name)
}

/// The values used when no source sets a parameter, as one layer under all the others.
///
/// Parameters missing here (the optional ones) default to "not set".
pub(crate) fn defaults() -> Dict {
    let mut dict = Dict::new();
    dict.insert("mode".into(), Value::from(Mode::default().as_str()));
    dict.insert("addressing".into(), Value::from(Addressing::default().as_str()));
    dict.insert("prefix".into(), Value::from(""));
    dict.insert("path".into(), Value::from(""));
    dict.insert("timeout".into(), Value::from(DEFAULT_TIMEOUT.as_secs()));
    dict.insert("connect_timeout".into(), Value::from(DEFAULT_CONNECT_TIMEOUT.as_secs()));
    dict.insert("retries".into(), Value::from(DEFAULT_RETRIES));
    dict.insert("max_in_flight".into(), Value::from(DEFAULT_MAX_IN_FLIGHT));
    dict.insert("cache_size".into(), Value::from(DEFAULT_CACHE_SIZE));
    dict.insert("allow_pickle".into(), Value::from(false));
    dict
}

/// The merged parameters as figment extracts them; each field parses with its own rules.
#[derive(Deserialize)]
pub(crate) struct Raw {
    #[serde(deserialize_with = "de_mode")]
    mode: Mode,
    #[serde(default, deserialize_with = "de_secret")]
    password: Option<Secret>,
    #[serde(default, deserialize_with = "de_secret")]
    salt: Option<Secret>,
    #[serde(default, deserialize_with = "de_ttl")]
    ttl: Option<Duration>,
    #[serde(default, deserialize_with = "de_optional_text")]
    access_key: Option<String>,
    #[serde(default, deserialize_with = "de_secret")]
    secret_key: Option<Secret>,
    #[serde(default, deserialize_with = "de_secret")]
    session_token: Option<Secret>,
    #[serde(default, deserialize_with = "de_endpoint")]
    endpoint: Option<String>,
    #[serde(deserialize_with = "de_addressing")]
    addressing: Addressing,
    #[serde(default, deserialize_with = "de_optional_text")]
    region: Option<String>,
    #[serde(default, deserialize_with = "de_optional_text")]
    bucket: Option<String>,
    #[serde(deserialize_with = "de_text")]
    prefix: String,
    #[serde(deserialize_with = "de_text")]
    path: String,
    #[serde(deserialize_with = "de_timeout")]
    timeout: Duration,
    #[serde(deserialize_with = "de_timeout")]
    connect_timeout: Duration,
    #[serde(deserialize_with = "de_retries")]
    retries: u32,
    #[serde(deserialize_with = "de_max_in_flight")]
    max_in_flight: usize,
    #[serde(deserialize_with = "de_cache_size")]
    cache_size: u64,
    #[serde(default, deserialize_with = "de_cache_max_value")]
    cache_max_value: Option<u64>,
    #[serde(deserialize_with = "de_flag")]
    allow_pickle: bool,
}

impl From<Raw> for Settings {
    fn from(raw: Raw) -> Self {
        Self {
            mode: raw.mode,
            password: raw.password,
            salt: raw.salt,
            ttl: raw.ttl,
            access_key: raw.access_key,
            secret_key: raw.secret_key,
            session_token: raw.session_token,
            endpoint: raw.endpoint,
            addressing: raw.addressing,
            region: raw.region,
            bucket: raw.bucket,
            prefix: raw.prefix,
            path: PathBuf::from(raw.path),
            timeout: raw.timeout,
            connect_timeout: raw.connect_timeout,
            retries: raw.retries,
            max_in_flight: raw.max_in_flight,
            cache_size: raw.cache_size,
            cache_max_value: raw.cache_max_value,
            allow_pickle: raw.allow_pickle,
        }
    }
}

/// One configuration value before it is given its parameter's type.
#[derive(Debug, PartialEq)]
pub(crate) enum Scalar {
    Text(String),
    Integer(i128),
    Float(f64),
    Bool(bool),
    Nothing,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a string, a number or a boolean")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
        Ok(Scalar::Integer(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Scalar, E> {
        Ok(Scalar::Integer(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
        Ok(Scalar::Integer(value.into()))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Scalar, E> {
        i128::try_from(value).map(Scalar::Integer).map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(value))
    }

    fn visit_char<E: de::Error>(self, value: char) -> Result<Scalar, E> {
        Ok(Scalar::Text(value.to_string()))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(value))
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Nothing)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Nothing)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scalar, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A value its parameter does not accept; the loader adds the parameter, source and rules.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Parses one scalar with `parse`, turning a rejection into a deserialization error.
///
/// The error's text is never shown: the loader replaces it with the parameter's rules, so no
/// value can leak through it.
fn with<'de, D, T>(deserializer: D, parse: fn(Scalar) -> Result<T, Invalid>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    parse(Scalar::deserialize(deserializer)?).map_err(|Invalid| de::Error::custom("invalid value"))
}

fn de_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Mode, D::Error> {
    with(deserializer, parse_mode)
}

fn de_addressing<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Addressing, D::Error> {
    with(deserializer, parse_addressing)
}

fn de_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    with(deserializer, |scalar| Ok(parse_optional_text(scalar)?.map(Secret::from)))
}

fn de_optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    with(deserializer, parse_optional_text)
}

fn de_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    with(deserializer, parse_text)
}

fn de_endpoint<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    with(deserializer, parse_endpoint)
}

fn de_ttl<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    with(deserializer, parse_ttl)
}

fn de_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    with(deserializer, parse_timeout)
}

fn de_retries<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    with(deserializer, |scalar| match u32::try_from(parse_whole_number(scalar)?) {
        Ok(count @ 0..=MAX_RETRIES) => Ok(count),
        Ok(_) | Err(_) => Err(Invalid),
    })
}

fn de_max_in_flight<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    with(deserializer, |scalar| match usize::try_from(parse_whole_number(scalar)?) {
        Ok(count @ 1..=MAX_IN_FLIGHT) => Ok(count),
        Ok(_) | Err(_) => Err(Invalid),
    })
}

fn de_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    with(deserializer, parse_flag)
}

fn de_cache_max_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    with(deserializer, parse_cache_max_value)
}

fn de_cache_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    with(deserializer, parse_cache_size)
}

pub(crate) fn parse_mode(scalar: Scalar) -> Result<Mode, Invalid> {
    let Scalar::Text(text) = scalar else { return Err(Invalid) };
    match text.trim().to_ascii_lowercase().as_str() {
        "s3" => Ok(Mode::S3),
        "local" => Ok(Mode::Local),
        "dict" => Ok(Mode::Dict),
        _ => Err(Invalid),
    }
}

pub(crate) fn parse_addressing(scalar: Scalar) -> Result<Addressing, Invalid> {
    let Scalar::Text(text) = scalar else { return Err(Invalid) };
    match text.trim().to_ascii_lowercase().as_str() {
        // The original library documents '' as auto.
        "" | "auto" => Ok(Addressing::Auto),
        "path" => Ok(Addressing::Path),
        "virtual" => Ok(Addressing::Virtual),
        _ => Err(Invalid),
    }
}

/// A string where `""` means "not set", as in the original library.
pub(crate) fn parse_optional_text(scalar: Scalar) -> Result<Option<String>, Invalid> {
    match scalar {
        Scalar::Nothing => Ok(None),
        Scalar::Text(text) if text.is_empty() => Ok(None),
        Scalar::Text(text) => Ok(Some(text)),
        Scalar::Integer(_) | Scalar::Float(_) | Scalar::Bool(_) => Err(Invalid),
    }
}

/// A string where `""` is a value of its own (the empty prefix, the current directory).
pub(crate) fn parse_text(scalar: Scalar) -> Result<String, Invalid> {
    match scalar {
        Scalar::Nothing => Ok(String::new()),
        Scalar::Text(text) => Ok(text),
        Scalar::Integer(_) | Scalar::Float(_) | Scalar::Bool(_) => Err(Invalid),
    }
}

pub(crate) fn parse_endpoint(scalar: Scalar) -> Result<Option<String>, Invalid> {
    let Some(endpoint) = parse_optional_text(scalar)? else { return Ok(None) };

    // Without a scheme an S3 client cannot tell http from https; the original failed the same
    // way, later and less clearly.
    let lower = endpoint.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    // Credentials in the URL (`https://user:secret@host`) would show wherever the endpoint is
    // named, in messages and logs; they belong in access_key and secret_key.
    let authority = rest.map(|rest| rest.split('/').next().unwrap_or_default());
    match (rest, authority) {
        (Some(host), Some(authority))
            if !host.is_empty() && !host.starts_with('/') && !authority.contains('@') =>
        {
            Ok(Some(endpoint))
        }
        _ => Err(Invalid),
    }
}

/// A cache lifetime: `""` or nothing means no caching; zero is allowed.
pub(crate) fn parse_ttl(scalar: Scalar) -> Result<Option<Duration>, Invalid> {
    match scalar {
        Scalar::Nothing => Ok(None),
        Scalar::Text(text) if text.trim().is_empty() => Ok(None),
        other => parse_duration(other).map(Some),
    }
}

/// A time limit, which must be positive.
pub(crate) fn parse_timeout(scalar: Scalar) -> Result<Duration, Invalid> {
    let duration = parse_duration(scalar)?;
    if duration.is_zero() { Err(Invalid) } else { Ok(duration) }
}

/// A duration from a number of seconds (integer or fractional, as a number or a string) or
/// from a human-readable string such as `"10m"` or `"1h 30m"`.
pub(crate) fn parse_duration(scalar: Scalar) -> Result<Duration, Invalid> {
    let duration = match scalar {
        Scalar::Integer(seconds) => {
            u64::try_from(seconds).map(Duration::from_secs).map_err(|_| Invalid)
        }
        Scalar::Float(seconds) => seconds_to_duration(seconds),
        Scalar::Text(text) => {
            let text = text.trim();
            if let Ok(seconds) = text.parse::<u64>() {
                Ok(Duration::from_secs(seconds))
            } else if let Ok(seconds) = text.parse::<f64>() {
                seconds_to_duration(seconds)
            } else if months_written_as_m(text) {
                // humantime reads "M" as months; "10M" for ten minutes would cache for ten
                // months. Months are never a sensible ttl or timeout: refuse rather than guess.
                Err(Invalid)
            } else {
                humantime::parse_duration(text).map_err(|_| Invalid)
            }
        }
        Scalar::Bool(_) | Scalar::Nothing => Err(Invalid),
    }?;
    if duration > MAX_DURATION { Err(Invalid) } else { Ok(duration) }
}

/// Whether a duration string uses the unit `M` (months to humantime, minutes to many people).
fn months_written_as_m(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(at, &byte)| {
        let before = at.checked_sub(1).map(|previous| bytes[previous]);
        let after = bytes.get(at + 1);
        byte == b'M'
            && before.is_some_and(|previous| previous.is_ascii_digit() || previous == b' ')
            && after.is_none_or(|next| !next.is_ascii_alphabetic())
    })
}

fn seconds_to_duration(seconds: f64) -> Result<Duration, Invalid> {
    // `try_from_secs_f64` rejects negative, infinite and NaN values as well as overflow.
    Duration::try_from_secs_f64(seconds).map_err(|_| Invalid)
}

/// A count: an integer, or a string of digits, never negative.
pub(crate) fn parse_whole_number(scalar: Scalar) -> Result<u64, Invalid> {
    match scalar {
        Scalar::Integer(count) => u64::try_from(count).map_err(|_| Invalid),
        Scalar::Text(text) => text.trim().parse::<u64>().map_err(|_| Invalid),
        Scalar::Float(_) | Scalar::Bool(_) | Scalar::Nothing => Err(Invalid),
    }
}

/// A yes-or-no switch: a boolean, or the strings `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`
/// in any case, as environment variables carry it.
pub(crate) fn parse_flag(scalar: Scalar) -> Result<bool, Invalid> {
    match scalar {
        Scalar::Bool(flag) => Ok(flag),
        Scalar::Integer(0) => Ok(false),
        Scalar::Integer(1) => Ok(true),
        Scalar::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(Invalid),
        },
        Scalar::Integer(_) | Scalar::Float(_) | Scalar::Nothing => Err(Invalid),
    }
}

/// A cache budget in bytes, from [`MIN_CACHE_SIZE`] to [`MAX_CACHE_SIZE`].
pub(crate) fn parse_cache_size(scalar: Scalar) -> Result<u64, Invalid> {
    let bytes = match scalar {
        Scalar::Text(text) => parse_size(&text)?,
        other => parse_whole_number(other)?,
    };
    if (MIN_CACHE_SIZE..=MAX_CACHE_SIZE).contains(&bytes) { Ok(bytes) } else { Err(Invalid) }
}

/// The largest value a read cache keeps: a size of at least one byte, or nothing (`""`) for the
/// default share of the budget. Whether it fits the budget is checked with the budget.
pub(crate) fn parse_cache_max_value(scalar: Scalar) -> Result<Option<u64>, Invalid> {
    let bytes = match scalar {
        Scalar::Nothing => return Ok(None),
        Scalar::Text(text) if text.trim().is_empty() => return Ok(None),
        Scalar::Text(text) => parse_size(&text)?,
        other => parse_whole_number(other)?,
    };
    if (1..=MAX_CACHE_SIZE).contains(&bytes) { Ok(Some(bytes)) } else { Err(Invalid) }
}

/// A size such as `"1048576"`, `"64MiB"`, `"64 MB"` or `"1gib"`: a whole number and an optional
/// unit, decimal (`KB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`).
pub(crate) fn parse_size(text: &str) -> Result<u64, Invalid> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| Invalid)?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(Invalid),
    };
    number.checked_mul(multiplier).ok_or(Invalid)
}

#[cfg(test)]
mod tests;
