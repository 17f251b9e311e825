//! Every configuration error: it names the parameter, the source and what is allowed.

use s3kv_config::{Error, Loader, PARAMETERS};

use crate::support::{SecretsDir, TestResult, failure, isolated, kwargs, vars};

fn allowed_list() -> String {
    PARAMETERS.join(", ")
}

#[test]
fn unknown_parameter_in_connection_kwargs() -> TestResult {
    let result =
        isolated(Some("my_kv")).kwargs(kwargs(serde_json::json!({ "bukcet": "b" }))).load();
    let message = failure(result)?;
    assert_eq!(
        message,
        format!(
            "unknown parameter `bukcet` in connection kwargs (did you mean `bucket`?); \
             allowed parameters: {}",
            allowed_list()
        )
    );
    Ok(())
}

#[test]
fn unknown_parameter_in_collection_kwargs() -> TestResult {
    let result = isolated(Some("my_kv"))
        .kwargs(kwargs(serde_json::json!({ "mode": "dict" })))
        .load_with(kwargs(serde_json::json!({ "pasword": "x" })));
    let message = failure(result)?;
    assert!(message.starts_with("unknown parameter `pasword` in collection kwargs"), "{message}");
    assert!(message.contains("did you mean `password`?"), "{message}");
    assert!(message.ends_with(&allowed_list()), "{message}");
    Ok(())
}

#[test]
fn unknown_parameter_without_a_near_miss_has_no_suggestion() -> TestResult {
    let result = isolated(None).kwargs(kwargs(serde_json::json!({ "colour": "blue" }))).load();
    let message = failure(result)?;
    assert!(message.starts_with("unknown parameter `colour` in connection kwargs;"), "{message}");
    assert!(!message.contains("did you mean"), "{message}");
    Ok(())
}

#[test]
fn unknown_parameter_in_a_secrets_file_names_the_file_and_allows_type() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "[connections.my_kv]\ntype = \"s3kv.S3KV\"\nacess_key = \"AK\"\n")?;
    let result =
        Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file.clone()]).load();
    let message = failure(result)?;
    let origin = format!("secrets.toml [connections.my_kv] in {}", file.display());
    assert!(
        message.starts_with(&format!("unknown parameter `acess_key` in {origin}")),
        "{message}"
    );
    assert!(message.contains("did you mean `access_key`?"), "{message}");
    assert!(message.ends_with(&format!("{}, type", allowed_list())), "{message}");
    Ok(())
}

#[test]
fn unknown_parameter_in_streamlit_secrets() -> TestResult {
    let result = isolated(Some("my_kv"))
        .secrets_table(kwargs(serde_json::json!({ "type": "S3KV", "max_entries": 3 })))
        .load();
    let message = failure(result)?;
    assert!(
        message.starts_with(
            "unknown parameter `max_entries` in Streamlit secrets [connections.my_kv];"
        ),
        "{message}"
    );
    Ok(())
}

#[test]
fn bad_mode_from_environment() -> TestResult {
    let result = isolated(Some("my_kv")).env(vars(&[("my_kv_mode", "ftp")])).load();
    assert_eq!(
        failure(result)?,
        "invalid mode \"ftp\" from environment variable my_kv_mode: \
         expected one of \"s3\", \"local\", \"dict\""
    );
    Ok(())
}

#[test]
fn bad_addressing_from_uppercase_environment() -> TestResult {
    let result = isolated(Some("my_kv"))
        .env(vars(&[("MY_KV_ADDRESSING", "sideways"), ("my_kv_bucket", "b")]))
        .load();
    assert_eq!(
        failure(result)?,
        "invalid addressing \"sideways\" from environment variable MY_KV_ADDRESSING: \
         expected one of \"auto\", \"path\", \"virtual\", or \"\" for auto"
    );
    Ok(())
}

#[test]
fn bad_ttl_from_collection_kwargs() -> TestResult {
    let result = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "mode": "dict" })))
        .load_with(kwargs(serde_json::json!({ "ttl": "soon" })));
    let message = failure(result)?;
    assert!(
        message.starts_with("invalid ttl \"soon\" from collection kwargs: expected "),
        "{message}"
    );
    assert!(message.contains("a number of seconds >= 0"), "{message}");
    assert!(message.contains("\"10m\""), "{message}");
    Ok(())
}

#[test]
fn negative_ttl_is_rejected() -> TestResult {
    let result =
        isolated(None).kwargs(kwargs(serde_json::json!({ "mode": "dict", "ttl": -1.5 }))).load();
    assert!(failure(result)?.starts_with("invalid ttl -1.5 from connection kwargs"));
    Ok(())
}

#[test]
fn negative_retries_from_a_secrets_file() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "[connections.my_kv]\nmode = \"dict\"\nretries = -1\n")?;
    let result =
        Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file.clone()]).load();
    assert_eq!(
        failure(result)?,
        format!(
            "invalid retries -1 from secrets.toml [connections.my_kv] in {}: \
             expected a whole number from 0 to 10",
            file.display()
        )
    );
    Ok(())
}

#[test]
fn zero_timeout_and_zero_max_in_flight_are_rejected() -> TestResult {
    let timeout =
        isolated(None).kwargs(kwargs(serde_json::json!({ "mode": "dict", "timeout": 0 })));
    assert!(failure(timeout.load())?.starts_with("invalid timeout 0 from connection kwargs"));

    let limit =
        isolated(None).kwargs(kwargs(serde_json::json!({ "mode": "dict", "max_in_flight": 0 })));
    assert!(failure(limit.load())?.ends_with("expected a whole number from 1 to 4096"));

    let limit =
        isolated(None).kwargs(kwargs(serde_json::json!({ "mode": "dict", "max_in_flight": 5000 })));
    assert!(
        failure(limit.load())?.starts_with("invalid max_in_flight 5000 from connection kwargs")
    );
    Ok(())
}

#[test]
fn cache_size_out_of_range_names_the_limits() -> TestResult {
    let small =
        isolated(None).kwargs(kwargs(serde_json::json!({ "mode": "dict", "cache_size": "1KB" })));
    let message = failure(small.load())?;
    assert!(message.starts_with("invalid cache_size \"1KB\" from connection kwargs"), "{message}");
    assert!(message.ends_with("from 1MiB to 1TiB"), "{message}");
    Ok(())
}

#[test]
fn endpoint_without_scheme_is_rejected() -> TestResult {
    let result = isolated(Some("my_kv"))
        .secrets_table(kwargs(serde_json::json!({ "bucket": "b", "endpoint": "sfo3.example.com" })))
        .load();
    assert_eq!(
        failure(result)?,
        "invalid endpoint \"sfo3.example.com\" from Streamlit secrets [connections.my_kv]: \
         expected an http:// or https:// URL without credentials in it, or \"\" for AWS"
    );
    Ok(())
}

#[test]
fn wrong_type_names_the_kind_received() -> TestResult {
    let result = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "mode": "dict", "bucket": { "name": "b" } })))
        .load();
    assert_eq!(
        failure(result)?,
        "invalid bucket (a table) from connection kwargs: expected a string"
    );

    let result = isolated(None).kwargs(kwargs(serde_json::json!({ "mode": true }))).load();
    assert!(failure(result)?.starts_with("invalid mode true from connection kwargs"));
    Ok(())
}

#[test]
fn weaker_bad_value_is_not_reported_when_a_stronger_source_overrides_it() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .env(vars(&[("my_kv_mode", "ftp")]))
        .kwargs(kwargs(serde_json::json!({ "mode": "dict" })))
        .load()?;
    assert_eq!(settings.mode, s3kv_config::Mode::Dict);
    Ok(())
}

#[test]
fn s3_without_bucket_says_where_to_set_it() -> TestResult {
    let result = isolated(Some("my_kv")).load();
    assert_eq!(
        failure(result)?,
        "bucket is required for mode s3 (mode from default): set bucket as a connection \
         kwarg, in the environment variable my_kv_bucket (or MY_KV_BUCKET), \
         or under [connections.my_kv] in secrets.toml"
    );
    Ok(())
}

#[test]
fn s3_without_bucket_names_the_source_of_the_mode() -> TestResult {
    let result = isolated(Some("my_kv")).env(vars(&[("my_kv_mode", "s3")])).load();
    let message = failure(result)?;
    assert!(message.contains("(mode from environment variable my_kv_mode)"), "{message}");
    Ok(())
}

#[test]
fn s3_without_bucket_on_an_unnamed_connection_points_to_kwargs() -> TestResult {
    let result = isolated(None).load();
    assert_eq!(
        failure(result)?,
        "bucket is required for mode s3 (mode from default): set bucket as a connection \
         kwarg (environment variables and secrets.toml are read only for a named \
         connection)"
    );
    Ok(())
}

#[test]
fn empty_bucket_counts_as_missing() -> TestResult {
    let result = isolated(None).kwargs(kwargs(serde_json::json!({ "bucket": "" }))).load();
    assert!(failure(result)?.starts_with("bucket is required for mode s3"));
    Ok(())
}

#[test]
fn errors_report_the_parameter_they_are_about() {
    let unknown = isolated(None).kwargs(kwargs(serde_json::json!({ "bukcet": 1 }))).load().err();
    assert_eq!(unknown.as_ref().and_then(Error::parameter), Some("bukcet"));

    let invalid = isolated(None).kwargs(kwargs(serde_json::json!({ "retries": "x" }))).load().err();
    assert_eq!(invalid.as_ref().and_then(Error::parameter), Some("retries"));

    let missing = isolated(None).load().err();
    assert_eq!(missing.as_ref().and_then(Error::parameter), Some("bucket"));
}

#[test]
fn access_key_without_secret_key_names_where_the_key_came_from() -> TestResult {
    let result = isolated(Some("my_kv"))
        .env(vars(&[("my_kv_bucket", "b"), ("my_kv_access_key", "AKIA")]))
        .load();
    assert_eq!(
        failure(result)?,
        "secret_key is required with access_key (access_key from environment variable \
         my_kv_access_key): set secret_key as a connection kwarg, in the \
         environment variable my_kv_secret_key (or MY_KV_SECRET_KEY), or under \
         [connections.my_kv] in secrets.toml"
    );
    Ok(())
}

#[test]
fn secret_key_without_access_key_is_reported() -> TestResult {
    let result = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "bucket": "b", "secret_key": "s", "access_key": "" })))
        .load();
    let message = failure(result)?;
    assert!(
        message.starts_with(
            "access_key is required with secret_key (secret_key from connection kwargs): "
        ),
        "{message}"
    );
    Ok(())
}

#[test]
fn session_token_without_keys_is_reported() -> TestResult {
    let result = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "bucket": "b", "session_token": "t" })))
        .load();
    let message = failure(result)?;
    assert!(message.starts_with("access_key is required with session_token"), "{message}");
    Ok(())
}

#[test]
fn unpaired_keys_do_not_matter_outside_mode_s3() -> TestResult {
    let settings = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "mode": "local", "access_key": "AKIA" })))
        .load()?;
    assert_eq!(settings.access_key.as_deref(), Some("AKIA"));
    Ok(())
}

#[test]
fn retries_past_ten_are_refused_with_the_range() {
    let error = Loader::new(None)
        .kwargs(kwargs(serde_json::json!({"mode": "dict", "retries": 1_000_000})))
        .env(Vec::new())
        .secrets_files(Vec::new())
        .load()
        .expect_err("too many retries");
    assert!(error.to_string().contains("from 0 to 10"), "{error}");
}

#[test]
fn credentials_in_the_endpoint_are_refused_and_never_shown() {
    let error = Loader::new(None)
        .kwargs(kwargs(serde_json::json!({
            "mode": "s3", "bucket": "b", "endpoint": "https://user:topsecret@s3.example.com/x"
        })))
        .env(Vec::new())
        .secrets_files(Vec::new())
        .load()
        .expect_err("credentials in the URL");
    assert!(error.to_string().contains("without credentials"), "{error}");
    assert!(!error.to_string().contains("topsecret"), "{error}");
}
