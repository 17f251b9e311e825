//! Unit tests of how the loader layers sources and reports errors.

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn json(value: serde_json::Value) -> JsonMap {
    match value {
        serde_json::Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// A loader that reads neither the process environment nor any file.
fn isolated(name: Option<&str>) -> Loader {
    Loader::new(name).env(Vec::new()).secrets_files(Vec::new())
}

#[test]
fn empty_connection_name_counts_as_none() {
    assert_eq!(Loader::new(Some("")).connection_name(), None);
    assert_eq!(Loader::new(Some("my_kv")).connection_name(), Some("my_kv"));
}

#[test]
fn default_secrets_files_start_with_the_project_file() {
    let files = Loader::default_secrets_files();
    assert_eq!(files.first(), Some(&PathBuf::from(".streamlit").join("secrets.toml")));
}

#[test]
fn null_kwargs_count_as_not_given() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .kwargs(json(serde_json::json!({ "mode": "dict", "ttl": null })))
        .secrets_table(json(serde_json::json!({ "ttl": 5 })))
        .load()?;
    assert_eq!(settings.ttl, Some(std::time::Duration::from_secs(5)));
    Ok(())
}

#[test]
fn data_and_type_are_accepted_and_ignored() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .kwargs(json(serde_json::json!({ "mode": "dict", "data": { "a": 1 } })))
        .secrets_table(json(serde_json::json!({ "type": "s3kv.S3KV" })))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn type_is_unknown_in_kwargs() {
    let error = isolated(None).kwargs(json(serde_json::json!({ "type": "x" }))).load().err();
    assert!(
        matches!(error, Some(Error::UnknownParameter { ref parameter, .. }) if parameter == "type")
    );
}

#[test]
fn invalid_value_error_shows_a_value_that_is_not_secret() {
    let error = isolated(None).kwargs(json(serde_json::json!({ "retries": -1 }))).load().err();
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "invalid retries -1 from connection kwargs: expected a whole number from 0 to 10"
    );
}

#[test]
fn invalid_value_error_shows_only_the_kind_of_a_secret() {
    let error = isolated(None)
        .kwargs(json(serde_json::json!({ "mode": "dict", "password": [987_654_321] })))
        .load()
        .err();
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert_eq!(message, "invalid password (a list) from connection kwargs: expected a string");
}

#[test]
fn long_values_are_cut_in_errors() {
    let long = "x".repeat(500);
    let error = isolated(None).kwargs(json(serde_json::json!({ "mode": long }))).load().err();
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(message.len() < 200, "{message}");
    assert!(message.contains("...\""), "{message}");
}

#[test]
fn loader_debug_shows_names_not_values() {
    let loader = isolated(Some("my_kv"))
        .kwargs(json(serde_json::json!({ "password": "kwarg-secret-value" })))
        .secrets_table(json(serde_json::json!({ "secret_key": "table-secret-value" })))
        .env([("my_kv_salt".to_owned(), "env-secret-value".to_owned())]);
    let debug = format!("{loader:?}");
    assert!(debug.contains("password") && debug.contains("secret_key"), "{debug}");
    for secret in ["kwarg-secret-value", "table-secret-value", "env-secret-value"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}
