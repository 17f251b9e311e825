//! Gathers every source into one figment, weakest first, and turns the result into settings.
//!
//! Each source becomes one or more figment providers whose metadata names the source exactly
//! ("environment variable `my_kv_mode`"), so that an error about a merged value can say where the
//! winning value came from.

use std::collections::HashMap;
use std::path::PathBuf;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use crate::error::Received;
use crate::parameter::{self, PARAMETERS, Raw, SECRETS_TABLE_NAMES};
use crate::secrets_file;
use crate::{Error, Mode, Settings};

/// A JSON object, the form in which kwargs and a caller's secrets table arrive.
type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Resolves the settings of one named (or unnamed) connection from all its sources.
///
/// Sources, strongest first: collection kwargs ([`Loader::load_with`]), connection kwargs,
/// environment variables `<name>_<param>` (exact case first, then `<NAME>_<PARAM>`), the
/// secrets table `[connections.<name>]`, and the defaults.
/// Nothing is read until [`Loader::load`]; every load reads the environment and files afresh.
// TODO: kwargs, a caller's secrets table and figment's merged values keep secrets in plain
// `String`s that are not zeroed when dropped; only `Settings` zeroes its secrets. Today a
// password can linger in freed memory after a load, as it does in the Python strings it came from.
#[derive(Clone)]
pub struct Loader {
    name: Option<String>,
    kwargs: JsonMap,
    environment: Option<HashMap<String, String>>,
    secrets_table: Option<JsonMap>,
    secrets_files: Option<Vec<PathBuf>>,
}

impl Loader {
    /// A loader for the connection `connection_name`.
    ///
    /// Without a name (or with an empty one), environment variables and secrets are not looked
    /// up, because both are found by the name.
    pub fn new(connection_name: Option<&str>) -> Self {
        Self {
            name: connection_name.filter(|name| !name.is_empty()).map(str::to_owned),
            kwargs: JsonMap::new(),
            environment: None,
            secrets_table: None,
            secrets_files: None,
        }
    }

    /// Sets the connection kwargs, replacing any set before; `null` values count as not given.
    #[must_use]
    pub fn kwargs(mut self, kwargs: serde_json::Map<String, serde_json::Value>) -> Self {
        self.kwargs = kwargs;
        self
    }

    /// Reads environment variables from `vars` instead of the process environment.
    #[must_use]
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.environment = Some(vars.into_iter().collect());
        self
    }

    /// Uses the caller's `[connections.<name>]` table (Streamlit's) instead of secrets.toml files.
    #[must_use]
    pub fn secrets_table(mut self, table: serde_json::Map<String, serde_json::Value>) -> Self {
        self.secrets_table = Some(table);
        self
    }

    /// Reads secrets from these files, the first one strongest, instead of
    /// [`Loader::default_secrets_files`]; a file that does not exist is skipped.
    #[must_use]
    pub fn secrets_files(mut self, paths: Vec<PathBuf>) -> Self {
        self.secrets_files = Some(paths);
        self
    }

    /// The connection's name, if it has one.
    pub fn connection_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The secrets.toml files Streamlit reads, strongest first: `.streamlit/secrets.toml` in the
    /// current directory, then `.streamlit/secrets.toml` in the home directory.
    pub fn default_secrets_files() -> Vec<PathBuf> {
        let mut files = vec![PathBuf::from(".streamlit").join("secrets.toml")];
        if let Some(home) = std::env::home_dir() {
            files.push(home.join(".streamlit").join("secrets.toml"));
        }
        files
    }

    /// The settings of the connection.
    ///
    /// # Errors
    ///
    /// An unknown parameter, a value its parameter does not accept, a missing bucket in mode
    /// s3, or a secrets.toml file that exists but cannot be read or parsed.
    pub fn load(&self) -> Result<Settings, Error> {
        self.resolve(None)
    }

    /// The settings of one collection: the connection's, overridden by `collection_kwargs`.
    ///
    /// # Errors
    ///
    /// As [`Loader::load`].
    pub fn load_with(
        &self,
        collection_kwargs: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Settings, Error> {
        self.resolve(Some(collection_kwargs))
    }

    fn resolve(&self, collection_kwargs: Option<JsonMap>) -> Result<Settings, Error> {
        let figment = self.figment(collection_kwargs)?;

        let raw: Raw = figment.extract().map_err(|error| invalid_value(&figment, &error))?;
        let settings = Settings::from(raw);

        self.check(&settings, &figment)?;
        Ok(settings)
    }

    /// Every source as one figment; later merges override earlier ones.
    fn figment(&self, collection_kwargs: Option<JsonMap>) -> Result<Figment, Error> {
        let mut figment = Figment::from(Layer::new("default", parameter::defaults()));

        for layer in self.secrets_layers()?.into_iter().rev() {
            figment = figment.merge(layer);
        }
        for layer in self.environment_layers()? {
            figment = figment.merge(layer);
        }
        figment =
            figment.merge(Layer::from_json("connection kwargs", self.kwargs.clone(), PARAMETERS)?);
        if let Some(kwargs) = collection_kwargs {
            figment = figment.merge(Layer::from_json("collection kwargs", kwargs, PARAMETERS)?);
        }
        Ok(figment)
    }

    /// The secrets layers, strongest first.
    fn secrets_layers(&self) -> Result<Vec<Layer>, Error> {
        if let Some(table) = &self.secrets_table {
            let origin = match &self.name {
                Some(name) => format!("Streamlit secrets [connections.{name}]"),
                None => "Streamlit secrets".to_owned(),
            };
            return Ok(vec![Layer::from_json(&origin, table.clone(), SECRETS_TABLE_NAMES)?]);
        }

        let Some(name) = &self.name else { return Ok(Vec::new()) };
        let files = self.secrets_files.clone().unwrap_or_else(Self::default_secrets_files);
        let mut layers = Vec::new();
        for path in files {
            if let Some(table) = secrets_file::connection_table(&path, name)? {
                let origin = format!("secrets.toml [connections.{name}] in {}", path.display());
                layers.push(Layer::from_toml(&origin, &table)?);
            }
        }
        Ok(layers)
    }

    /// One layer per environment variable found, weakest first: an exact-case variable
    /// overrides its all-uppercase twin.
    fn environment_layers(&self) -> Result<Vec<Layer>, Error> {
        let Some(name) = &self.name else { return Ok(Vec::new()) };

        let mut layers = Vec::new();
        for parameter in parameter::TABLE.iter().filter(|parameter| parameter.from_environment) {
            let exact = format!("{name}_{}", parameter.name);
            let upper = exact.to_uppercase();
            for variable in [upper, exact] {
                if let Some(value) = self.variable(&variable, parameter.name)? {
                    let origin = format!("environment variable {variable}");
                    let mut dict = Dict::new();
                    dict.insert(parameter.name.to_owned(), Value::from(value));
                    layers.push(Layer::new(&origin, dict));
                }
            }
        }
        Ok(layers)
    }

    /// The value of one environment variable, from the given set or the process.
    fn variable(&self, variable: &str, parameter: &'static str) -> Result<Option<String>, Error> {
        if let Some(environment) = &self.environment {
            return Ok(environment.get(variable).cloned());
        }
        match std::env::var_os(variable) {
            None => Ok(None),
            Some(value) => value.into_string().map(Some).map_err(|_| Error::InvalidValue {
                parameter,
                origin: format!("environment variable {variable}"),
                received: Received::Unknown,
                expected: "valid UTF-8 text",
            }),
        }
    }

    /// Checks what no single parameter can check alone.
    fn check(&self, settings: &Settings, figment: &Figment) -> Result<(), Error> {
        if settings.mode != Mode::S3 {
            return Ok(());
        }
        let missing = |parameter: &'static str, needed: String| Error::MissingParameter {
            parameter,
            needed,
            where_to_set: self.where_to_set(parameter),
        };

        if settings.bucket.is_none() {
            let needed = format!("for mode s3 (mode from {})", origin_of(figment, "mode"));
            return Err(missing("bucket", needed));
        }

        // Keys go in pairs, and a session token only with them: the S3 backend would refuse
        // the connection anyway, but only here is it known where each value came from.
        let with = |parameter: &str| {
            format!("with {parameter} ({parameter} from {})", origin_of(figment, parameter))
        };
        match (&settings.access_key, &settings.secret_key, &settings.session_token) {
            (Some(_), None, _) => Err(missing("secret_key", with("access_key"))),
            (None, Some(_), _) => Err(missing("access_key", with("secret_key"))),
            (None, None, Some(_)) => Err(missing("access_key", with("session_token"))),
            _ => Ok(()),
        }
    }

    fn where_to_set(&self, parameter: &str) -> String {
        match &self.name {
            Some(name) => format!(
                "as a connection kwarg, in the environment variable \
                 {name}_{parameter} (or {}), or under [connections.{name}] in secrets.toml",
                format!("{name}_{parameter}").to_uppercase()
            ),
            None => "as a connection kwarg (environment variables and \
                     secrets.toml are read only for a named connection)"
                .to_owned(),
        }
    }
}

/// Shows the name and which parameters each source sets, never their values.
impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("name", &self.name)
            .field("kwargs", &self.kwargs.keys().collect::<Vec<_>>())
            .field("environment", &self.environment.as_ref().map(|_| "given"))
            .field(
                "secrets_table",
                &self.secrets_table.as_ref().map(|table| table.keys().collect::<Vec<_>>()),
            )
            .field("secrets_files", &self.secrets_files)
            .finish()
    }
}

/// One source's parameters, as a figment provider named after the source.
struct Layer {
    origin: String,
    dict: Dict,
}

impl Layer {
    fn new(origin: &str, dict: Dict) -> Self {
        Self { origin: origin.to_owned(), dict }
    }

    /// A layer from kwargs or a caller's secrets table: every name must be in `allowed`.
    fn from_json(
        origin: &str,
        map: JsonMap,
        allowed: &'static [&'static str],
    ) -> Result<Self, Error> {
        let mut dict = Dict::new();
        for (name, value) in map {
            let parameter = accepted(&name, origin, allowed)?;
            if value.is_null() {
                continue;
            }
            if let Some(parameter) = parameter {
                let value = to_value(&value, parameter, origin)?;
                dict.insert(name, value);
            }
        }
        Ok(Self::new(origin, dict))
    }

    /// A layer from a secrets.toml table: every name must be a parameter or `type`.
    fn from_toml(origin: &str, table: &toml::Table) -> Result<Self, Error> {
        let mut dict = Dict::new();
        for (name, value) in table {
            if let Some(parameter) = accepted(name, origin, SECRETS_TABLE_NAMES)? {
                dict.insert(name.clone(), to_value(value, parameter, origin)?);
            }
        }
        Ok(Self::new(origin, dict))
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Checks a name against the source's allowed names; returns the parameter to keep, or `None`
/// for a name that is allowed but not used here (`type`, and `data`, which Python handles).
fn accepted(
    name: &str,
    origin: &str,
    allowed: &'static [&'static str],
) -> Result<Option<&'static parameter::Parameter>, Error> {
    if !allowed.contains(&name) {
        return Err(Error::unknown(name, origin, allowed));
    }
    Ok(parameter::find(name).filter(|parameter| parameter.name != "data"))
}

fn to_value(
    value: &impl serde::Serialize,
    parameter: &'static parameter::Parameter,
    origin: &str,
) -> Result<Value, Error> {
    Value::serialize(value).map_err(|_| Error::InvalidValue {
        parameter: parameter.name,
        origin: origin.to_owned(),
        received: Received::Unknown,
        expected: parameter.expected,
    })
}

/// The name of the source whose value for `parameter` won.
fn origin_of(figment: &Figment, parameter: &str) -> String {
    figment.find_metadata(parameter).map_or_else(|| "default".to_owned(), |m| m.name.to_string())
}

/// Turns figment's error about one field into ours, with the parameter's rules.
///
/// Figment's own message is dropped: it may quote the value, and the value may be a secret.
fn invalid_value(figment: &Figment, error: &figment::Error) -> Error {
    let origin = error
        .metadata
        .as_ref()
        .map_or_else(|| "an unknown source".to_owned(), |metadata| metadata.name.to_string());
    let Some(parameter) = error.path.first().and_then(|name| parameter::find(name)) else {
        return Error::InvalidValue {
            parameter: "configuration",
            origin,
            received: Received::Unknown,
            expected: "the parameters listed in docs/configuration.md",
        };
    };

    let received = match figment.find_value(parameter.name) {
        Ok(value) if parameter.is_secret => Received::Kind(kind_of(&value)),
        // An endpoint refused for holding `user:secret@` must not show the secret it holds.
        Ok(Value::String(_, text)) if parameter.name == "endpoint" && text.contains('@') => {
            Received::Kind("a URL with credentials")
        }
        Ok(value) => show(&value),
        Err(_) => Received::Unknown,
    };
    Error::InvalidValue {
        parameter: parameter.name,
        origin,
        received,
        expected: parameter.expected,
    }
}

/// A short rendering of a value that is not secret: strings quoted and cut, scalars as they are.
fn show(value: &Value) -> Received {
    const LIMIT: usize = 60;
    match value {
        Value::String(_, text) => {
            let mut shown: String = text.chars().take(LIMIT).collect();
            if shown.len() < text.len() {
                shown.push_str("...");
            }
            Received::Value(format!("{shown:?}"))
        }
        Value::Num(..) | Value::Bool(..) | Value::Char(..) => {
            serde_json::to_string(value).map_or(Received::Kind(kind_of(value)), Received::Value)
        }
        Value::Empty(..) | Value::Dict(..) | Value::Array(..) => Received::Kind(kind_of(value)),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Num(..) => "a number",
        Value::Bool(..) => "a boolean",
        Value::Empty(..) => "nothing",
        Value::Dict(..) => "a table",
        Value::Array(..) => "a list",
    }
}

#[cfg(test)]
mod tests;
