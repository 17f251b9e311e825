//! The native half of the `s3kv` Python package: connections and collections backed by the
//! Rust facade, with the GIL released for every call that does I/O or codec work.
//!
//! The Python half (`python/s3kv`) turns Python values into payloads and back and gives the
//! collection its `MutableMapping` face; everything else happens here or below.

mod mapping;

use std::sync::{Arc, OnceLock};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use s3kv::{ErrorKind, Loader, PayloadKind};
use serde_json::{Map, Value};

/// The runtime every blocking call of the module runs on, made on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("s3kv")
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| PyRuntimeError::new_err(format!("cannot start the s3kv runtime: {error}")))
}

/// Runs `future` to completion with the GIL released, mapping its error to the s3kv exception
/// hierarchy.
fn block_on<T: Send>(
    py: Python<'_>,
    future: impl Future<Output = s3kv::Result<T>> + Send,
) -> PyResult<T> {
    let runtime = runtime()?;
    py.detach(|| runtime.block_on(future)).map_err(|error| to_py_err(py, &error))
}

/// The Python exception class for each error kind, defined in `s3kv/_errors.py` so that a
/// class can derive from both `s3kv.Error` and a builtin such as `KeyError`.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::WrongPassword => "WrongPasswordError",
        ErrorKind::Corrupt => "CorruptValueError",
        ErrorKind::Config => "ConfigError",
        ErrorKind::InvalidKey => "InvalidKeyError",
        ErrorKind::Unsupported => "UnsupportedError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::Backend => "BackendError",
        _ => "Error",
    }
}

/// The one place Rust errors become Python exceptions: the message with its causes, and the
/// context as attributes (`operation`, `collection`, `key`, `backend`, `kind`).
fn to_py_err(py: Python<'_>, error: &s3kv::Error) -> PyErr {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let build = || -> PyResult<PyErr> {
        let class = py.import("s3kv._errors")?.getattr(class_name(error.kind()))?;
        let instance = class.call1((message.clone(),))?;
        let context = error.context();
        let operation = (!context.operation.is_empty()).then_some(context.operation);
        instance.setattr("operation", operation)?;
        instance.setattr("collection", context.collection.as_deref())?;
        instance.setattr("key", context.key.as_deref())?;
        instance.setattr("backend", context.backend.as_deref())?;
        instance.setattr("kind", error.kind().as_str())?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|failure| failure)
}

/// Converts a Python parameter value to JSON for the configuration loader.
fn to_json(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return match value.extract::<i64>() {
            Ok(number) => Ok(Value::from(number)),
            Err(_) => Err(config_error(value.py(), &format!("parameter {name} is out of range"))),
        };
    }
    if let Ok(number) = value.cast::<PyFloat>() {
        return Ok(serde_json::Number::from_f64(number.value()).map_or(Value::Null, Value::Number));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::String(text.to_cow()?.into_owned()));
    }
    if let Ok(table) = value.cast::<PyDict>() {
        return Ok(Value::Object(to_json_map(table)?));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items: PyResult<Vec<Value>> =
            value.try_iter()?.map(|item| to_json(name, &item?)).collect();
        return Ok(Value::Array(items?));
    }
    let type_name = value.get_type().name()?.to_string();
    Err(config_error(
        value.py(),
        &format!(
            "parameter {name} has a value of type {type_name}; expected a str, int, float or bool"
        ),
    ))
}

fn to_json_map(table: &Bound<'_, PyDict>) -> PyResult<Map<String, Value>> {
    let mut map = Map::new();
    for (name, value) in table.iter() {
        let name: String =
            name.extract().map_err(|_| config_error(table.py(), "parameter names must be str"))?;
        let value = to_json(&name, &value)?;
        map.insert(name, value);
    }
    Ok(map)
}

fn config_error(py: Python<'_>, message: &str) -> PyErr {
    to_py_err(py, &s3kv::Error::new(ErrorKind::Config, message))
}

fn kind_from_code(py: Python<'_>, code: u8) -> PyResult<PayloadKind> {
    PayloadKind::from_byte(code).ok_or_else(|| {
        to_py_err(
            py,
            &s3kv::Error::new(
                ErrorKind::Unsupported,
                format!("payload kind {code} is not one of 0 bytes, 1 text, 2 cbor, 3 pickle"),
            ),
        )
    })
}

/// Opens a connection. `secrets` is the `[connections.<name>]` table when the caller read it
/// itself (Streamlit); otherwise `secrets.toml` files are read when `read_secret_files`.
/// `data`, in mode dict, is a mapping of the caller's that holds the stored objects.
#[pyfunction]
#[pyo3(signature = (name, kwargs, secrets = None, read_secret_files = true, data = None))]
fn connect(
    py: Python<'_>,
    name: Option<&str>,
    kwargs: &Bound<'_, PyDict>,
    secrets: Option<&Bound<'_, PyDict>>,
    read_secret_files: bool,
    data: Option<Py<PyAny>>,
) -> PyResult<Connection> {
    let mut loader = Loader::new(name).kwargs(to_json_map(kwargs)?);
    if let Some(secrets) = secrets {
        loader = loader.secrets_table(to_json_map(secrets)?);
    }
    if !read_secret_files {
        loader = loader.secrets_files(Vec::new());
    }
    let inner = match data {
        None => block_on(py, s3kv::Connection::open(loader))?,
        Some(data) => {
            let settings = loader.load().map_err(|error| to_py_err(py, &error.into()))?;
            if settings.mode != s3kv::Mode::Dict {
                return Err(config_error(
                    py,
                    &format!(
                        "data= holds the stored values only in mode dict, but mode is {}",
                        settings.mode.as_str()
                    ),
                ));
            }
            let backend = Arc::new(mapping::MappingBackend::new(data));
            block_on(py, s3kv::Connection::with_backend(loader, settings, backend))?
        }
    };
    Ok(Connection { inner })
}

/// A connection to one backend.
#[pyclass(frozen, module = "s3kv._s3kv")]
struct Connection {
    inner: s3kv::Connection,
}

#[pymethods]
impl Connection {
    /// Opens a collection; `options` may set `password`, `salt` and `ttl`.
    fn collection(
        &self,
        py: Python<'_>,
        name: &str,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Collection> {
        let options = to_json_map(options)?;
        let inner = block_on(py, self.inner.collection(name, options))?;
        Ok(Collection { inner })
    }

    /// Where the data lives, for messages: backend kind and location, never a secret.
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn __repr__(&self) -> String {
        format!("<s3kv connection to {}>", self.inner.describe())
    }
}

/// One collection: string keys to payloads of a kind.
#[pyclass(frozen, module = "s3kv._s3kv")]
struct Collection {
    inner: s3kv::Collection,
}

#[pymethods]
impl Collection {
    /// The payload kind code, the bytes and whether the original library wrote it, or `None`.
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
    ) -> PyResult<Option<(u8, Bound<'py, PyBytes>, bool)>> {
        let value = block_on(py, self.inner.get(key))?;
        Ok(value.map(|value| (value.kind.to_byte(), PyBytes::new(py, &value.data), value.legacy)))
    }

    /// Stores `data` with payload kind code `kind`.
    fn set(&self, py: Python<'_>, key: &str, kind: u8, data: &[u8]) -> PyResult<()> {
        let kind = kind_from_code(py, kind)?;
        block_on(py, self.inner.set(key, kind, data))
    }

    /// Deletes the key; returns whether it existed.
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        block_on(py, self.inner.delete(key))
    }

    fn contains(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        block_on(py, self.inner.contains(key))
    }

    /// Every key, in UTF-8 byte order.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        block_on(py, self.inner.keys())
    }

    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        block_on(py, self.inner.len())
    }

    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    #[getter]
    fn encrypted(&self) -> bool {
        self.inner.is_encrypted()
    }

    #[getter]
    fn max_key_bytes(&self) -> usize {
        self.inner.max_key_bytes()
    }
}

/// The `s3kv._s3kv` extension module.
#[pymodule]
fn _s3kv(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(connect, module)?)?;
    module.add_class::<Connection>()?;
    module.add_class::<Collection>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
