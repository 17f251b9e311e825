//! The configuration examples of the original library's README load as they did there.

use std::path::PathBuf;

use s3kv_config::{Addressing, Loader, Mode, Secret, Settings};

use crate::support::{SecretsDir, TestResult, isolated, kwargs, vars};

/// The secrets.toml example of the original README, verbatim.
const SECRETS_TOML: &str = r#"
[connections.my_kv]
access_key = "XXXXXXXXXXXXXXXXXXXX"
secret_key = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
endpoint   = "https://sfo3.digitaloceanspaces.com" # NOT REQUIRED ON AWS
region = "sfo3"
bucket = "my-bucket-name"
prefix = "something/version-1"  # NOT REQUIRED
password = "my-secret-password" # NOT REQUIRED
salt = "crypto-salt" # NOT REQUIRED

[connections.my_kv2]
mode = "local"
path = "/mnt/data/my-kv2-data"
"#;

/// The environment example of the original README, as a shell would set it.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("my_kv_access_key", "XXXXXXXXXXXXXXXXXXXX"),
    ("my_kv_secret_key", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("my_kv_endpoint", "https://sfo3.digitaloceanspaces.com"),
    ("my_kv_region", "sfo3"),
    ("my_kv_bucket", "my-bucket-name"),
    ("my_kv_prefix", "something/version-1"),
    ("my_kv_password", "my-secret-password"),
    ("my_kv_salt", "crypto-salt"),
    ("my_kv2_mode", "local"),
    ("my_kv2_path", "/mnt/data/my-kv2-data"),
];

fn assert_my_kv(settings: &Settings) {
    assert_eq!(settings.mode, Mode::S3);
    assert_eq!(settings.access_key.as_deref(), Some("XXXXXXXXXXXXXXXXXXXX"));
    assert_eq!(
        settings.secret_key.as_ref().map(Secret::expose),
        Some("ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")
    );
    assert_eq!(settings.endpoint.as_deref(), Some("https://sfo3.digitaloceanspaces.com"));
    assert_eq!(settings.region.as_deref(), Some("sfo3"));
    assert_eq!(settings.bucket.as_deref(), Some("my-bucket-name"));
    assert_eq!(settings.prefix, "something/version-1");
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some("my-secret-password"));
    // The original demanded a hex salt and so rejected its own example; any string is a salt now.
    assert_eq!(settings.salt.as_ref().map(Secret::expose), Some("crypto-salt"));
    assert_eq!(settings.addressing, Addressing::Auto);
    assert!(settings.ttl.is_none());
}

fn assert_my_kv2(settings: &Settings) {
    assert_eq!(settings.mode, Mode::Local);
    assert_eq!(settings.path, PathBuf::from("/mnt/data/my-kv2-data"));
    assert!(settings.password.is_none());
}

#[test]
fn secrets_toml_example_loads_both_connections() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("app", SECRETS_TOML)?;

    let my_kv =
        Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file.clone()]).load()?;
    assert_my_kv(&my_kv);

    let my_kv2 = Loader::new(Some("my_kv2")).env(Vec::new()).secrets_files(vec![file]).load()?;
    assert_my_kv2(&my_kv2);
    Ok(())
}

#[test]
fn environment_example_loads_both_connections() -> TestResult {
    let my_kv = isolated(Some("my_kv")).env(vars(ENVIRONMENT)).load()?;
    assert_my_kv(&my_kv);

    let my_kv2 = isolated(Some("my_kv2")).env(vars(ENVIRONMENT)).load()?;
    assert_my_kv2(&my_kv2);
    Ok(())
}

#[test]
fn connection_kwargs_example_switches_my_kv_to_dict() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("app", SECRETS_TOML)?;
    let settings = Loader::new(Some("my_kv"))
        .env(Vec::new())
        .secrets_files(vec![file])
        .kwargs(kwargs(serde_json::json!({ "mode": "dict" })))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    // The rest of the table still applies, as in the original.
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some("my-secret-password"));
    Ok(())
}

#[test]
fn unnamed_local_connection_example_loads() -> TestResult {
    let settings = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "mode": "local", "path": "data", "password": "xxx" })))
        .load()?;
    assert_eq!(settings.mode, Mode::Local);
    assert_eq!(settings.path, PathBuf::from("data"));
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some("xxx"));
    Ok(())
}

#[test]
fn no_s3_examples_load() -> TestResult {
    let local = isolated(Some("my_kv"))
        .kwargs(kwargs(
            serde_json::json!({ "mode": "local", "path": "path/to/local/data/directory" }),
        ))
        .load()?;
    assert_eq!(local.path, PathBuf::from("path/to/local/data/directory"));

    let dict =
        isolated(Some("my_kv")).kwargs(kwargs(serde_json::json!({ "mode": "dict" }))).load()?;
    assert_eq!(dict.mode, Mode::Dict);
    Ok(())
}

#[test]
fn collection_password_overrides_the_connection_password() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("app", SECRETS_TOML)?;
    let loader = Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file]);
    let settings = loader
        .load_with(kwargs(serde_json::json!({ "password": "password-to-this-collection" })))?;
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some("password-to-this-collection"));
    Ok(())
}
