//! Environment variables `<name>_<param>`: names, case, and parsing strings to each type.

use std::path::PathBuf;
use std::time::Duration;

use s3kv_config::{Addressing, Mode, Secret};

use crate::support::{TestResult, isolated, vars};

#[test]
fn strings_parse_to_each_parameters_type() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[
            ("my_kv_mode", "local"),
            ("my_kv_path", "/mnt/data"),
            ("my_kv_retries", "5"),
            ("my_kv_ttl", "10m"),
            ("my_kv_timeout", "1.5"),
            ("my_kv_connect_timeout", "250ms"),
            ("my_kv_max_in_flight", "4"),
            ("my_kv_cache_size", "64MiB"),
            ("my_kv_allow_pickle", "true"),
            ("my_kv_addressing", "virtual"),
            ("my_kv_salt", "00ff"),
        ]))
        .load()?;

    assert_eq!(settings.mode, Mode::Local);
    assert_eq!(settings.path, PathBuf::from("/mnt/data"));
    assert_eq!(settings.retries, 5);
    assert_eq!(settings.ttl, Some(Duration::from_mins(10)));
    assert_eq!(settings.timeout, Duration::from_millis(1500));
    assert_eq!(settings.connect_timeout, Duration::from_millis(250));
    assert_eq!(settings.max_in_flight, 4);
    assert_eq!(settings.cache_size, 64 << 20);
    assert!(settings.allow_pickle);
    assert_eq!(settings.addressing, Addressing::Virtual);
    // A salt that looks like a number stays the exact string.
    assert_eq!(settings.salt.as_ref().map(Secret::expose), Some("00ff"));
    Ok(())
}

#[test]
fn numeric_looking_secrets_keep_their_text() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[("my_kv_mode", "dict"), ("my_kv_password", "0123"), ("my_kv_salt", "1e3")]))
        .load()?;
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some("0123"));
    assert_eq!(settings.salt.as_ref().map(Secret::expose), Some("1e3"));
    Ok(())
}

#[test]
fn uppercase_variables_are_read() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[("MY_KV_MODE", "s3"), ("MY_KV_BUCKET", "upper-bucket"), ("MY_KV_TTL", "30")]))
        .load()?;
    assert_eq!(settings.bucket.as_deref(), Some("upper-bucket"));
    assert_eq!(settings.ttl, Some(Duration::from_secs(30)));
    Ok(())
}

#[test]
fn exact_case_variable_beats_its_uppercase_twin() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[("MY_KV_MODE", "local"), ("my_kv_mode", "dict")]))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn mixed_case_connection_name_is_matched_exactly_or_uppercased() -> TestResult {
    let exact = isolated(Some("MyKv")).env(vars(&[("MyKv_mode", "dict")])).load()?;
    assert_eq!(exact.mode, Mode::Dict);

    let upper = isolated(Some("MyKv")).env(vars(&[("MYKV_MODE", "dict")])).load()?;
    assert_eq!(upper.mode, Mode::Dict);

    // Neither lowercase nor any other spelling is the connection's.
    let other = isolated(Some("MyKv"))
        .env(vars(&[("mykv_mode", "dict"), ("MyKv_MODE", "dict"), ("MyKv_bucket", "b")]))
        .load()?;
    assert_eq!(other.mode, Mode::S3);
    Ok(())
}

#[test]
fn variables_of_other_connections_are_ignored() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[
            ("my_kv2_mode", "local"),
            ("my_mode", "local"),
            ("my_kv_mode", "dict"),
            ("mode", "local"),
            ("MODE", "local"),
        ]))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn data_variable_is_ignored() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[("my_kv_mode", "dict"), ("my_kv_data", "{}")]))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn session_token_and_keys_come_from_the_environment() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[
            ("my_kv_bucket", "b"),
            ("my_kv_access_key", "AKIA"),
            ("my_kv_secret_key", "secret"),
            ("my_kv_session_token", "token"),
            ("my_kv_endpoint", "http://127.0.0.1:9000"),
            ("my_kv_region", "us-east-1"),
        ]))
        .load()?;
    assert_eq!(settings.access_key.as_deref(), Some("AKIA"));
    assert_eq!(settings.secret_key.as_ref().map(Secret::expose), Some("secret"));
    assert_eq!(settings.session_token.as_ref().map(Secret::expose), Some("token"));
    assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(settings.region.as_deref(), Some("us-east-1"));
    Ok(())
}
