//! Secrets (`password`, `salt`, `secret_key`, `session_token`) never show in `Debug` or errors.

use s3kv_config::{Error, Loader, Secret};

use crate::support::{SecretsDir, TestResult, isolated, kwargs, vars};

/// Distinctive secret values, one per parameter and source, so any leak is found by search.
const SECRETS: [(&str, &str); 4] = [
    ("password", "pw-7f3a9c"),
    ("salt", "salt-51d0e2"),
    ("secret_key", "sk-c0ffee42"),
    ("session_token", "tok-9b8a7c"),
];

fn assert_no_secret(text: &str) {
    for (_, secret) in SECRETS {
        assert!(!text.contains(secret), "secret {secret} leaked: {text}");
        // Also the fragments a truncating renderer could leave.
        assert!(!text.contains(&secret[..secret.len() - 1]), "secret prefix leaked: {text}");
    }
}

fn assert_error_hides_secrets(error: &Error) {
    assert_no_secret(&error.to_string());
    assert_no_secret(&format!("{error:?}"));
    assert_no_secret(&format!("{error:#?}"));
}

fn secret_kwargs(suffix: &str) -> serde_json::Map<String, serde_json::Value> {
    SECRETS
        .iter()
        .map(|(name, value)| ((*name).to_owned(), format!("{value}{suffix}").into()))
        .collect()
}

#[test]
fn settings_debug_hides_secrets_from_every_source() -> TestResult {
    let dir = SecretsDir::new()?;
    let toml: String = SECRETS
        .iter()
        .map(|(name, value)| format!("{name} = \"{value}-file\"\n"))
        .collect::<Vec<_>>()
        .concat();
    let file = dir.write("p", &format!("[connections.my_kv]\nmode = \"dict\"\n{toml}"))?;

    let environment: Vec<(String, String)> = SECRETS
        .iter()
        .map(|(name, value)| (format!("MY_KV_{}", name.to_uppercase()), format!("{value}-env")))
        .collect();
    let loader = Loader::new(Some("my_kv"))
        .secrets_files(vec![file])
        .env(environment)
        .kwargs(secret_kwargs("-connection"));

    for settings in [loader.load()?, loader.load_with(secret_kwargs("-collection"))?] {
        assert_no_secret(&format!("{settings:?}"));
        assert_no_secret(&format!("{settings:#?}"));
        assert_eq!(format!("{settings:?}").matches("Secret(***)").count(), 4);
    }
    assert_no_secret(&format!("{loader:?}"));
    Ok(())
}

#[test]
fn secrets_are_still_readable_through_expose() -> TestResult {
    let settings = isolated(None)
        .kwargs(kwargs(serde_json::json!({ "mode": "dict" })))
        .load_with(secret_kwargs(""))?;
    assert_eq!(settings.password.as_ref().map(Secret::expose), Some(SECRETS[0].1));
    assert_eq!(settings.salt.as_ref().map(Secret::expose), Some(SECRETS[1].1));
    assert_eq!(settings.secret_key.as_ref().map(Secret::expose), Some(SECRETS[2].1));
    assert_eq!(settings.session_token.as_ref().map(Secret::expose), Some(SECRETS[3].1));
    Ok(())
}

#[test]
fn errors_about_a_secret_never_show_it() {
    // A secret of the wrong type: the error may say its kind, never its content.
    for (name, value) in SECRETS {
        let wrapped = serde_json::json!({ "mode": "dict", name: { "nested": value } });
        let error = isolated(None).kwargs(kwargs(wrapped)).load().err();
        let error = error.unwrap_or_else(|| panic!("{name} as a table was accepted"));
        assert!(
            error.to_string().starts_with(&format!("invalid {name} (a table) from")),
            "{error}"
        );
        assert_error_hides_secrets(&error);

        let listed = serde_json::json!({ "mode": "dict", name: [value] });
        let error = isolated(None).kwargs(kwargs(listed)).load().err();
        let error = error.unwrap_or_else(|| panic!("{name} as a list was accepted"));
        assert_error_hides_secrets(&error);
    }
}

#[test]
fn other_errors_while_secrets_are_set_never_show_them() {
    let mut with_secrets = secret_kwargs("");

    // An unknown parameter next to the secrets.
    with_secrets.insert("bukcet".to_owned(), "b".into());
    let error = isolated(None).kwargs(with_secrets.clone()).load().err();
    assert!(matches!(error, Some(Error::UnknownParameter { .. })));
    error.iter().for_each(assert_error_hides_secrets);

    // A bad value next to the secrets, from the environment.
    with_secrets.remove("bukcet");
    let error = isolated(Some("my_kv"))
        .kwargs(with_secrets.clone())
        .env(vars(&[("my_kv_mode", "ftp")]))
        .load()
        .err();
    assert!(matches!(error, Some(Error::InvalidValue { .. })));
    error.iter().for_each(assert_error_hides_secrets);

    // A missing bucket with every secret set.
    let error = isolated(Some("my_kv")).kwargs(with_secrets).load().err();
    assert!(matches!(error, Some(Error::MissingParameter { .. })));
    error.iter().for_each(assert_error_hides_secrets);
}

#[test]
fn malformed_secrets_file_error_never_quotes_the_file() -> TestResult {
    let dir = SecretsDir::new()?;
    let cases = [
        format!("[connections.my_kv]\npassword = \"{}\n", SECRETS[0].1),
        format!("[connections.my_kv]\nsalt = {}\n", SECRETS[1].1),
        format!("[connections.my_kv]\nsecret_key = \"{}\" junk\n", SECRETS[2].1),
        format!(
            "[connections.my_kv]\nsession_token = \"{0}\"\nsession_token = \"{0}\"\n",
            SECRETS[3].1
        ),
    ];
    for (index, content) in cases.iter().enumerate() {
        let file = dir.write(&format!("case-{index}"), content)?;
        let error =
            Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file]).load().err();
        assert!(
            matches!(error, Some(Error::SecretsFileMalformed { .. })),
            "case {index}: {error:?}"
        );
        error.iter().for_each(assert_error_hides_secrets);
    }
    Ok(())
}

#[test]
fn wrong_type_secret_in_a_file_shows_only_its_kind() -> TestResult {
    let dir = SecretsDir::new()?;
    let file = dir.write("p", "[connections.my_kv]\nmode = \"dict\"\npassword = 731946285\n")?;
    let error = Loader::new(Some("my_kv")).env(Vec::new()).secrets_files(vec![file]).load().err();
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(message.starts_with("invalid password (a number) from secrets.toml"), "{message}");
    assert!(!message.contains("731946285"), "{message}");
    Ok(())
}
