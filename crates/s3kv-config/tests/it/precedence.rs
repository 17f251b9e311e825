//! Which source wins: collection kwargs, connection kwargs, environment (exact case, then
//! uppercase), secrets files (project, then home), defaults.

use std::time::Duration;

use proptest::prelude::*;
use s3kv_config::{Loader, Mode, Secret, Settings};

use crate::support::{SecretsDir, TestResult, isolated, kwargs, vars};

/// The sources, strongest first.
const SOURCES: [&str; 6] = [
    "collection kwargs",
    "connection kwargs",
    "exact env",
    "upper env",
    "project file",
    "home file",
];

/// The parameters the property sets, each with a value per source that tells the sources apart.
const PARAMETERS: [&str; 6] = ["retries", "ttl", "region", "password", "timeout", "prefix"];

/// The value source `source` gives `parameter`, as JSON (for kwargs), as an environment string,
/// and as a TOML right-hand side.
fn value(parameter: &str, source: usize) -> (serde_json::Value, String, String) {
    // Small enough for every parameter's range (retries allow at most 10).
    let number = u64::try_from(source).unwrap_or_default() + 1;
    match parameter {
        "retries" => (number.into(), number.to_string(), number.to_string()),
        // Environment and TOML use humantime strings here, kwargs plain seconds.
        "ttl" | "timeout" => (number.into(), format!("{number}s"), format!("\"{number}s\"")),
        _ => {
            let text = format!("{parameter}-{source}");
            (text.clone().into(), text.clone(), format!("{text:?}"))
        }
    }
}

/// The value source `source` gives `parameter`, rendered like [`observed`].
fn rendered(parameter: &str, source: usize) -> String {
    let (json, _, _) = value(parameter, source);
    match json {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// What the settings hold for `parameter`, rendered like the values above.
fn observed(settings: &Settings, parameter: &str) -> Option<String> {
    match parameter {
        "retries" => Some(settings.retries.to_string()),
        "ttl" => settings.ttl.map(|ttl| ttl.as_secs().to_string()),
        "timeout" => Some(settings.timeout.as_secs().to_string()),
        "region" => settings.region.clone(),
        "password" => settings.password.as_ref().map(|secret| secret.expose().to_owned()),
        "prefix" => Some(settings.prefix.clone()),
        _ => None,
    }
}

/// The default of `parameter`, rendered like [`observed`].
fn default(parameter: &str) -> Option<String> {
    match parameter {
        "retries" => Some("3".to_owned()),
        "timeout" => Some("30".to_owned()),
        "prefix" => Some(String::new()),
        _ => None,
    }
}

/// Loads with every parameter set by the sources its mask selects, and checks the winner.
fn check(masks: &[[bool; 6]; 6]) -> Result<(), TestCaseError> {
    let mut collection = serde_json::Map::new();
    let mut connection = kwargs(serde_json::json!({ "bucket": "b" }));
    let mut environment = Vec::new();
    let mut project = vec!["[connections.my_kv]\n".to_owned()];
    let mut home = vec!["[connections.my_kv]\n".to_owned()];

    for (parameter, mask) in PARAMETERS.iter().zip(masks) {
        for (source, _) in mask.iter().enumerate().filter(|(_, set)| **set) {
            let (json, text, toml) = value(parameter, source);
            match source {
                0 => drop(collection.insert((*parameter).to_owned(), json)),
                1 => drop(connection.insert((*parameter).to_owned(), json)),
                2 => environment.push((format!("my_kv_{parameter}"), text)),
                3 => environment.push((format!("MY_KV_{}", parameter.to_uppercase()), text)),
                4 => project.push(format!("{parameter} = {toml}\n")),
                _ => home.push(format!("{parameter} = {toml}\n")),
            }
        }
    }

    let dir = SecretsDir::new().map_err(|error| TestCaseError::fail(error.to_string()))?;
    let project =
        dir.write("project", &project.concat()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let home = dir.write("home", &home.concat()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let settings = Loader::new(Some("my_kv"))
        .kwargs(connection)
        .env(environment)
        .secrets_files(vec![project, home])
        .load_with(collection)
        .map_err(|error| TestCaseError::fail(error.to_string()))?;

    for (parameter, mask) in PARAMETERS.iter().zip(masks) {
        let expected = match mask.iter().position(|set| *set) {
            Some(source) => Some(rendered(parameter, source)),
            None => default(parameter),
        };
        let winner = mask.iter().position(|set| *set).map_or("default", |source| SOURCES[source]);
        prop_assert_eq!(observed(&settings, parameter), expected, "{} from {}", parameter, winner);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn strongest_source_that_sets_a_parameter_wins(masks in any::<[[bool; 6]; 6]>()) {
        check(&masks)?;
    }
}

#[test]
fn every_single_source_alone_is_read() -> TestResult {
    for (source, name) in SOURCES.iter().enumerate() {
        let mut masks = [[false; 6]; 6];
        for mask in &mut masks {
            mask[source] = true;
        }
        check(&masks).map_err(|error| format!("{name}: {error}"))?;
    }
    Ok(())
}

#[test]
fn collection_kwargs_override_connection_kwargs_only_for_that_load() -> TestResult {
    let loader = isolated(Some("my_kv")).kwargs(kwargs(serde_json::json!({
        "mode": "dict", "password": "connection", "ttl": 60
    })));

    let collection = loader.load_with(kwargs(serde_json::json!({ "password": "collection" })))?;
    assert_eq!(collection.password.as_ref().map(Secret::expose), Some("collection"));
    assert_eq!(collection.ttl, Some(Duration::from_mins(1)));

    let connection = loader.load()?;
    assert_eq!(connection.password.as_ref().map(Secret::expose), Some("connection"));
    Ok(())
}

#[test]
fn empty_string_overrides_a_weaker_source_and_means_not_set() -> TestResult {
    let settings = isolated(Some("my_kv"))
        .secrets_table(kwargs(serde_json::json!({
            "mode": "dict", "password": "from-secrets", "salt": "s", "endpoint": "https://e",
            "region": "r", "access_key": "a", "ttl": 5
        })))
        .env(vars(&[("my_kv_password", "")]))
        .kwargs(kwargs(serde_json::json!({ "salt": "", "endpoint": "", "region": "" })))
        .load_with(kwargs(serde_json::json!({ "access_key": "", "ttl": "" })))?;

    assert!(settings.password.is_none());
    assert!(settings.salt.is_none());
    assert!(settings.endpoint.is_none());
    assert!(settings.region.is_none());
    assert!(settings.access_key.is_none());
    assert!(settings.ttl.is_none());
    Ok(())
}

#[test]
fn caller_secrets_table_replaces_the_files() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("project", "[connections.my_kv]\nmode = \"local\"\nretries = 9\n")?;
    let settings = Loader::new(Some("my_kv"))
        .env(Vec::new())
        .secrets_files(vec![file])
        .secrets_table(kwargs(serde_json::json!({ "mode": "dict" })))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    assert_eq!(settings.retries, 3);
    Ok(())
}

#[test]
fn unnamed_connection_reads_neither_environment_nor_files() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("project", "[connections.my_kv]\nmode = \"s3\"\nbroken = [\n")?;
    let settings = Loader::new(None)
        .env(vars(&[("my_kv_mode", "s3"), ("_mode", "s3"), ("MODE", "s3")]))
        .secrets_files(vec![file])
        .kwargs(kwargs(serde_json::json!({ "mode": "dict" })))
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn nothing_set_but_a_bucket_gives_the_defaults() -> TestResult {
    let settings =
        isolated(Some("my_kv")).kwargs(kwargs(serde_json::json!({ "bucket": "b" }))).load()?;
    let defaults = Settings::default();
    assert_eq!(settings.mode, Mode::S3);
    assert_eq!(settings.addressing, defaults.addressing);
    assert_eq!(settings.prefix, "");
    assert_eq!(settings.path, std::path::PathBuf::new());
    assert_eq!(settings.timeout, Duration::from_secs(30));
    assert_eq!(settings.connect_timeout, Duration::from_secs(3));
    assert_eq!(settings.retries, 3);
    assert_eq!(settings.max_in_flight, 16);
    assert!(settings.ttl.is_none() && settings.password.is_none() && settings.salt.is_none());
    assert!(settings.endpoint.is_none() && settings.region.is_none());
    assert!(settings.access_key.is_none() && settings.secret_key.is_none());
    assert!(settings.session_token.is_none());
    Ok(())
}
