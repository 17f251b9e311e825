//! Helpers shared by the integration tests: isolated loaders, kwargs and temporary secrets files.

use std::path::PathBuf;

use s3kv_config::Loader;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A JSON object from a `json!` literal; anything else gives an empty map.
pub(crate) fn kwargs(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// A loader that sees no process environment and no secrets.toml file.
pub(crate) fn isolated(name: Option<&str>) -> Loader {
    Loader::new(name).env(Vec::new()).secrets_files(Vec::new())
}

/// Environment variables from `(name, value)` pairs.
pub(crate) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// A temporary directory holding secrets files; removed when dropped.
pub(crate) struct SecretsDir {
    dir: tempfile::TempDir,
}

impl SecretsDir {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self { dir: tempfile::tempdir()? })
    }

    /// Writes `content` to `<dir>/<folder>/.streamlit/secrets.toml` and returns that path.
    pub(crate) fn write(&self, folder: &str, content: &str) -> std::io::Result<PathBuf> {
        let streamlit = self.dir.path().join(folder).join(".streamlit");
        std::fs::create_dir_all(&streamlit)?;
        let path = streamlit.join("secrets.toml");
        std::fs::write(&path, content)?;
        Ok(path)
    }

    /// A path in the directory where no file exists.
    pub(crate) fn absent(&self, folder: &str) -> PathBuf {
        self.dir.path().join(folder).join(".streamlit").join("secrets.toml")
    }
}

/// The message of a load that was expected to fail.
pub(crate) fn failure(
    result: Result<s3kv_config::Settings, s3kv_config::Error>,
) -> Result<String, String> {
    match result {
        Ok(settings) => Err(format!("loading succeeded: {settings:?}")),
        Err(error) => Ok(error.to_string()),
    }
}
