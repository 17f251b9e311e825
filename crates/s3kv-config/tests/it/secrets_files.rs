//! secrets.toml files: which one wins, what is skipped, and how a broken one is reported.

use std::time::Duration;

use s3kv_config::{Error, Loader, Mode, Secret};

use crate::support::{SecretsDir, TestResult, failure, vars};

#[test]
fn project_file_wins_per_parameter_and_home_file_fills_in() -> TestResult {
    let dir = SecretsDir::new()?;
    let project =
        dir.write("project", "[connections.my_kv]\nmode = \"local\"\npath = \"here\"\n")?;
    let home = dir.write(
        "home",
        "[connections.my_kv]\nmode = \"dict\"\npath = \"there\"\npassword = \"from-home\"\n",
    )?;

    let settings =
        Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![project, home]).load()?;
    assert_eq!(settings.mode, Mode::Local);
    assert_eq!(settings.path, std::path::PathBuf::from("here"));
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some("from-home"));
    Ok(())
}

#[test]
fn missing_files_are_skipped() -> TestResult {
    let dir = SecretsDir::new()?;
    let home = dir.write("home", "[connections.my_kv]\nmode = \"dict\"\nttl = 2.5\n")?;
    let settings = Loader::new(Some("my_kv"))
        .env(Vec::new())
        .secrets_files(vec![dir.absent("project"), home, dir.absent("elsewhere")])
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    assert_eq!(settings.ttl, Some(Duration::from_millis(2500)));
    Ok(())
}

#[test]
fn other_connections_in_the_file_are_ignored() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write(
        "project",
        "[connections.my_kv]\nmode = \"dict\"\n\n\
         [connections.my_kv2]\nmode = \"local\"\nunknown_here = 1\n\n\
         [other]\nx = 1\n",
    )?;
    let settings = Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file]).load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn type_key_is_allowed_in_a_file() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "[connections.my_kv]\ntype = \"s3kv.S3KV\"\nmode = \"dict\"\n")?;
    let settings = Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file]).load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn toml_numbers_and_strings_both_parse() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write(
        "p",
        "[connections.my_kv]\nmode = \"dict\"\nretries = 7\n\
         timeout = \"2m\"\nconnect_timeout = 0.5\n",
    )?;
    let settings = Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file]).load()?;
    assert_eq!(settings.retries, 7);
    assert_eq!(settings.timeout, Duration::from_mins(2));
    assert_eq!(settings.connect_timeout, Duration::from_millis(500));
    Ok(())
}

#[test]
fn environment_beats_secrets_files() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "[connections.my_kv]\nmode = \"local\"\n")?;
    let settings = Loader::new(Some("my_kv"))
        .env(vars(&[("MY_KV_MODE", "dict")]))
        .secrets_files(vec![file])
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn malformed_file_is_an_error_naming_the_file() -> TestResult {
    let dir = SecretsDir::new()?;
    let good = dir.write("project", "[connections.my_kv]\nmode = \"dict\"\n")?;
    let broken = dir.write("home", "[connections.my_kv]\nmode = \"dict\"\nretries = = 3\n")?;

    let result =
        Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![good, broken.clone()]).load();
    let message = failure(result)?;
    assert!(message.starts_with("malformed secrets file "), "{message}");
    assert!(message.contains(&broken.display().to_string()), "{message}");
    assert!(
        message.ends_with(": line 3, column 11: invalid string; expected `\"`, `'`"),
        "{message}"
    );
    Ok(())
}

#[test]
fn unreadable_file_is_an_error_naming_the_file() -> TestResult {
    let dir = SecretsDir::new()?;
    // A directory where the file should be cannot be read as a file.
    let directory = dir.absent("project");
    std::fs::create_dir_all(&directory)?;

    let error =
        Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![directory.clone()]).load();
    match error {
        Err(error @ Error::SecretsFileUnreadable { .. }) => {
            assert!(error.to_string().contains(&directory.display().to_string()), "{error}");
            assert!(std::error::Error::source(&error).is_some());
        }
        other => return Err(format!("expected an unreadable file error, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn file_without_a_connections_table_is_fine() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "api_key = \"other app secret\"\n")?;
    let settings = Loader::new(Some("my_kv"))
        .env(vars(&[("my_kv_mode", "dict")]))
        .secrets_files(vec![file])
        .load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}

#[test]
fn quoted_connection_names_are_found() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "[connections.\"my.kv\"]\nmode = \"dict\"\n")?;
    let settings = Loader::new(Some("my.kv")).env(Vec::new()).secrets_files(vec![file]).load()?;
    assert_eq!(settings.mode, Mode::Dict);
    Ok(())
}
