//! The native half of the `s3kv` Python package: connections and collections backed by the
//! Rust facade, with the GIL released for every call that does I/O or codec work.
//!
//! The Python half (`python/s3kv`) turns Python values into payloads and back and gives the
//! collection its `MutableMapping` face; everything else happens here or below.

mod cbor;
mod decoded;
mod files;
mod mapping;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use s3kv::{ErrorKind, Loader, PayloadKind, ReadOutcome};
use serde_json::{Map, Value};

/// The runtime every blocking call of the module runs on: one per process, made on first use.
///
/// A child made by `fork` inherits the parent's runtime without its threads, and would wait on
/// it forever; so a process whose id differs from the runtime's owner makes its own.
fn runtime() -> PyResult<Arc<tokio::runtime::Runtime>> {
    static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);
    let process = std::process::id();
    // Only ever replaced whole, so a poisoned lock still guards a consistent value.
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, runtime)) = slot.as_ref()
        && *owner == process
    {
        return Ok(Arc::clone(runtime));
    }
    // The parent's runtime, if any, has no threads here: dropping it would wait for them.
    if let Some(inherited) = slot.take() {
        std::mem::forget(inherited);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("s3kv")
        .build()
        .map(Arc::new)
        .map_err(|error| {
            PyRuntimeError::new_err(format!("cannot start the s3kv runtime: {error}"))
        })?;
    *slot = Some((process, Arc::clone(&runtime)));
    Ok(runtime)
}

/// Runs `future` to completion with the GIL released, mapping its error to the s3kv exception
/// hierarchy. `owner` is the process that opened the connection the future uses.
fn block_on<T: Send>(
    py: Python<'_>,
    owner: u32,
    future: impl Future<Output = s3kv::Result<T>> + Send,
) -> PyResult<T> {
    block_on_until(py, owner, future, None)
}

/// [`block_on`], also stopping when `stop` (called every [`SIGNAL_CHECK`] with the GIL held)
/// raises: a transfer running on a worker thread, which no signal reaches, is cancelled that
/// way by the thread that waits for it.
fn block_on_until<T: Send>(
    py: Python<'_>,
    owner: u32,
    future: impl Future<Output = s3kv::Result<T>> + Send,
    stop: Option<&Py<PyAny>>,
) -> PyResult<T> {
    if owner != std::process::id() {
        return Err(to_py_err(
            py,
            &s3kv::Error::new(
                ErrorKind::Unsupported,
                "this connection was opened in another process (before a fork): open a new \
                 connection in this process",
            ),
        ));
    }
    // A mapping given as data= runs Python code inside an s3kv call, and so do the function
    // given to modify and a signal handler run while a call waits; that code calling s3kv
    // again would need a runtime inside the runtime.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(to_py_err(
            py,
            &s3kv::Error::new(
                ErrorKind::Unsupported,
                "s3kv was called from inside another s3kv call: from the function given to \
                 modify, from the methods of a mapping given as data=, or from a signal handler \
                 that ran while s3kv waited; none of them may use s3kv itself (read what the \
                 function needs before modify; a signal handler can set a flag that the code \
                 checks after the call)",
            ),
        ));
    }
    let runtime = runtime()?;
    let outcome = py.detach(|| {
        runtime.block_on(async {
            let mut future = std::pin::pin!(future);
            loop {
                tokio::select! {
                    biased;
                    done = &mut future => return done.map_err(Stopped::Failed),
                    () = tokio::time::sleep(SIGNAL_CHECK) => {
                        // Dropping the future cancels the call, as a timeout would.
                        // Runs the Python handler of a signal that arrived (Ctrl-C's raises
                        // `KeyboardInterrupt`), then asks `stop`.
                        Python::attach(|py| {
                            py.check_signals()?;
                            stop.map_or(Ok(()), |stop| stop.call0(py).map(drop))
                        })
                        .map_err(Stopped::Signalled)?;
                    }
                }
            }
        })
    });
    outcome.map_err(|stopped| match stopped {
        Stopped::Failed(error) => to_py_err(py, &error),
        Stopped::Signalled(error) => error,
    })
}

/// How often a call that waits on I/O lets Python handle a signal (Ctrl-C raises
/// `KeyboardInterrupt` within this time rather than when the call ends).
const SIGNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Why [`block_on`] returned without a value.
enum Stopped {
    /// The call failed.
    Failed(s3kv::Error),
    /// A signal handler raised (Ctrl-C): the call was cancelled.
    Signalled(PyErr),
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
        ErrorKind::Io => "FileError",
        ErrorKind::OutOfMemory => "OutOfMemoryError",
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
        return serde_json::Number::from_f64(number.value()).map(Value::Number).ok_or_else(|| {
            config_error(value.py(), &format!("parameter {name} must be a finite number"))
        });
    }
    if let Ok(text) = value.cast::<PyString>() {
        // The text may be a password: the error names the parameter, never the value.
        return text.to_cow().map(|text| Value::String(text.into_owned())).map_err(|_| {
            config_error(
                value.py(),
                &format!(
                    "parameter {name} is not valid text: it holds a lone surrogate, which UTF-8 \
                     cannot encode"
                ),
            )
        });
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
        None => block_on(py, std::process::id(), s3kv::Connection::open(loader))?,
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
            block_on(
                py,
                std::process::id(),
                s3kv::Connection::with_backend(loader, settings, backend),
            )?
        }
    };
    Ok(Connection { inner, process: std::process::id() })
}

/// Encodes Python plain data as CBOR (the `cbor` serializer).
#[pyfunction]
fn cbor_dumps<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = value.py();
    let data = cbor::dumps(value).map_err(|failure| cbor_error(py, failure))?;
    Ok(PyBytes::new(py, &data))
}

/// Decodes a CBOR payload into Python plain data.
#[pyfunction]
fn cbor_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    cbor::loads(py, data).map_err(|failure| cbor_error(py, failure))
}

fn cbor_error(py: Python<'_>, failure: cbor::Failure) -> PyErr {
    match failure {
        cbor::Failure::Unsupported(message) => {
            to_py_err(py, &s3kv::Error::new(ErrorKind::Unsupported, message))
        }
        cbor::Failure::Corrupt(message) => {
            to_py_err(py, &s3kv::Error::new(ErrorKind::Corrupt, message))
        }
        cbor::Failure::Python(error) => error,
    }
}

/// Seconds since the Unix epoch, as Python's `datetime.fromtimestamp` takes them.
fn timestamp(time: Option<SystemTime>) -> Option<f64> {
    time.and_then(|time| time.duration_since(UNIX_EPOCH).ok()).map(|since| since.as_secs_f64())
}

fn kind_name(kind: PayloadKind) -> &'static str {
    match kind {
        PayloadKind::Bytes => "bytes",
        PayloadKind::Text => "text",
        PayloadKind::Cbor => "cbor",
        PayloadKind::Pickle => "pickle",
        _ => "unknown",
    }
}

fn compression_name(compression: Option<s3kv::CompressionAlgorithm>) -> &'static str {
    match compression {
        None => "zlib",
        Some(s3kv::CompressionAlgorithm::None) => "none",
        Some(s3kv::CompressionAlgorithm::Zstd) => "zstd",
        Some(s3kv::CompressionAlgorithm::Lz4) => "lz4",
        Some(_) => "unknown",
    }
}

/// A read value as Python receives it: kind code, payload, whether the original library wrote
/// it, and whether it may be unpickled. The payload of a pickle is a `bytearray`, so arrays
/// unpickled from its out-of-band buffers are writable without another copy; a large text (read
/// through [`found_streamed`]) is already a `str`; others are `bytes`.
type Found<'py> = (u8, Bound<'py, PyAny>, bool, bool);

/// A connection to one backend.
#[pyclass(frozen, module = "s3kv._s3kv")]
struct Connection {
    inner: s3kv::Connection,
    /// The process that opened it; another process (a fork) must open its own.
    process: u32,
}

#[pymethods]
impl Connection {
    /// Opens a collection; `options` may set `password`, `salt`, `ttl` and `allow_pickle`.
    fn collection(
        &self,
        py: Python<'_>,
        name: &str,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Collection> {
        let options = to_json_map(options)?;
        let inner = block_on(py, self.process, self.inner.collection(name, options))?;
        Ok(Collection { inner, process: self.process })
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
    /// The process that opened it; another process (a fork) must open its own.
    process: u32,
}

#[pymethods]
impl Collection {
    /// The payload kind code, the bytes, whether the original library wrote it and whether it
    /// may be unpickled; `None` when the key has no value.
    /// With `revalidate`, a cached value is checked with the backend whatever its age.
    #[pyo3(signature = (key, revalidate = false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        revalidate: bool,
    ) -> PyResult<Option<Found<'py>>> {
        let mut attempt = 1;
        loop {
            let opened = block_on(py, self.process, self.inner.open_value(key, revalidate))?;
            let reader = match opened {
                None => return Ok(None),
                Some(s3kv::Opened::Whole(value)) => return self.found(py, &value).map(Some),
                Some(s3kv::Opened::Stream(reader)) => reader,
            };
            match ReadOutcome::of(found_streamed(py, reader), attempt) {
                ReadOutcome::Done(found) => return found.transpose(),
                ReadOutcome::Again => attempt += 1,
                ReadOutcome::Failed(error) => return Err(to_py_err(py, &error)),
            }
        }
    }

    /// The read cache's counters as a dict, or `None` when the collection has no cache.
    fn cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(stats) = self.inner.cache_stats() else { return Ok(None) };
        let table = PyDict::new(py);
        table.set_item("hits", stats.hits)?;
        table.set_item("misses", stats.misses)?;
        table.set_item("stale_reads", stats.stale_reads)?;
        table.set_item("revalidations", stats.revalidations)?;
        table.set_item("inserts", stats.inserts)?;
        table.set_item("bypassed", stats.bypassed)?;
        table.set_item("evictions", stats.evictions)?;
        table.set_item("entries", stats.entries)?;
        table.set_item("bytes", stats.bytes)?;
        Ok(Some(table))
    }

    /// The values of `keys` in order, as [`Collection::get`] returns each, read with a bounded
    /// number of requests in flight.
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: Vec<String>,
    ) -> PyResult<Vec<Option<Found<'py>>>> {
        let borrowed: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = block_on(py, self.process, self.inner.get_many(&borrowed))?;
        // Each decoded buffer is dropped once its Python object is made, so the batch is held
        // twice only one value at a time.
        values
            .into_iter()
            .map(|value| value.map(|value| self.found(py, &value)).transpose())
            .collect()
    }

    /// Stores `data` with payload kind code `kind`; the buffer is shared, not copied, so a
    /// large value is encoded while it is written.
    fn set(&self, py: Python<'_>, key: &str, kind: u8, data: PyBackedBytes) -> PyResult<()> {
        let kind = kind_from_code(py, kind)?;
        block_on(py, self.process, self.inner.set_bytes(key, kind, Bytes::from_owner(data)))
    }

    /// Stores every `(key, kind, data)`, with a bounded number of requests in flight.
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn set_many(&self, py: Python<'_>, items: Vec<(String, u8, PyBackedBytes)>) -> PyResult<()> {
        let mut batch = Vec::with_capacity(items.len());
        for (key, kind, data) in &items {
            batch.push((key.as_str(), kind_from_code(py, *kind)?, &data[..]));
        }
        block_on(py, self.process, self.inner.set_many(&batch))
    }

    /// Stores `data` only if `key` has no value; returns whether it wrote.
    fn set_if_absent(&self, py: Python<'_>, key: &str, kind: u8, data: &[u8]) -> PyResult<bool> {
        let kind = kind_from_code(py, kind)?;
        block_on(py, self.process, self.inner.set_if_absent(key, kind, data))
    }

    /// Read-modify-write, safe between processes: `change(found)` gets the value read (as `get`
    /// returns it, or `None`) and returns `(kind, data)` to store; it is called again when
    /// another writer changed the value meanwhile. An exception of `change` stops the update and
    /// is raised unchanged; nothing is stored then.
    fn update(&self, py: Python<'_>, key: &str, change: Py<PyAny>) -> PyResult<()> {
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let slot = Arc::clone(&raised);
        let collection = self.inner.clone();
        let call = move |value: Option<&s3kv::Value>| -> Option<(PayloadKind, Vec<u8>)> {
            Python::attach(|py| {
                let found = value.map(|value| found_of(&collection, py, value)).transpose();
                let result =
                    found.and_then(|found| change.bind(py).call1((found,))).and_then(|result| {
                        let (code, data): (u8, PyBackedBytes) = result.extract()?;
                        Ok((kind_from_code(py, code)?, data.to_vec()))
                    });
                result
                    .map_err(|error| {
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                    })
                    .ok()
            })
        };
        let updated = block_on(py, self.process, self.inner.update(key, call));
        if let Some(error) = raised.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(error);
        }
        updated.map(drop)
    }

    /// Deletes the key; returns whether it existed.
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        block_on(py, self.process, self.inner.delete(key))
    }

    /// Deletes every key; returns how many existed.
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn delete_many(&self, py: Python<'_>, keys: Vec<String>) -> PyResult<usize> {
        let borrowed: Vec<&str> = keys.iter().map(String::as_str).collect();
        block_on(py, self.process, self.inner.delete_many(&borrowed))
    }

    fn contains(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        block_on(py, self.process, self.inner.contains(key))
    }

    /// Every key that starts with `prefix`, in UTF-8 byte order.
    #[pyo3(signature = (prefix = ""))]
    fn keys(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
        block_on(py, self.process, self.inner.keys_with_prefix(prefix))
    }

    /// `(key, stored size, last modified as Unix seconds or None)` of every key that starts
    /// with `prefix`, in no particular order.
    #[pyo3(signature = (prefix = ""))]
    fn list(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<(String, u64, Option<f64>)>> {
        let listed = block_on(py, self.process, self.inner.list(prefix))?;
        Ok(listed
            .into_iter()
            .map(|entry| (entry.key, entry.size, timestamp(entry.last_modified)))
            .collect())
    }

    /// What is stored at `key`, as a dict, or `None` when the key has no value.
    fn info<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(info) = block_on(py, self.process, self.inner.info(key))? else {
            return Ok(None);
        };
        let table = PyDict::new(py);
        table.set_item("stored_size", info.stored_size)?;
        table.set_item("plain_size", info.plain_size)?;
        table.set_item("last_modified", timestamp(info.last_modified))?;
        table.set_item("etag", info.etag)?;
        table.set_item("kind", kind_name(info.kind))?;
        table.set_item("compression", compression_name(info.compression))?;
        table.set_item("encrypted", info.encrypted)?;
        table.set_item("legacy", info.legacy)?;
        Ok(Some(table))
    }

    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        block_on(py, self.process, self.inner.len())
    }

    /// Stores everything `file.read(n)` yields, streamed in chunks, with payload kind code
    /// `kind`; returns how many bytes were stored. `length`, when given, is checked; `stop`, as
    /// for [`block_on_until`].
    #[pyo3(signature = (key, kind, file, length = None, stop = None))]
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn set_file(
        &self,
        py: Python<'_>,
        key: &str,
        kind: u8,
        file: Py<PyAny>,
        length: Option<u64>,
        stop: Option<Py<PyAny>>,
    ) -> PyResult<u64> {
        let kind = kind_from_code(py, kind)?;
        let (reader, raised) = files::PyFile::new(file);
        // Python is called once per piece, not once per small read of the codec.
        let reader = std::io::BufReader::with_capacity(files::PIECE, reader);
        let storing = self.inner.set_reader(key, kind, reader, length);
        block_on_until(py, self.process, storing, stop.as_ref())
            .map_err(|error| files::raised_or(&raised, error))
    }

    /// Writes the value of `key` to `file.write`, streamed in chunks, if its kind code is one
    /// of `kinds`; returns `(bytes written, kind code)`, or `None` when the key has no value;
    /// `stop`, as for [`block_on_until`].
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    #[pyo3(signature = (key, kinds, file, stop = None))]
    fn get_file(
        &self,
        py: Python<'_>,
        key: &str,
        kinds: Vec<u8>,
        file: Py<PyAny>,
        stop: Option<Py<PyAny>>,
    ) -> PyResult<Option<(u64, u8)>> {
        let kinds =
            kinds.iter().map(|&code| kind_from_code(py, code)).collect::<PyResult<Vec<_>>>()?;
        let (writer, raised) = files::PyFile::new(file);
        let writer = std::io::BufWriter::with_capacity(files::PIECE, writer);
        let reading = self.inner.get_writer(key, &kinds, writer);
        let streamed = block_on_until(py, self.process, reading, stop.as_ref())
            .map_err(|error| files::raised_or(&raised, error))?;
        Ok(streamed.map(|streamed| (streamed.len, streamed.kind.to_byte())))
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

impl Collection {
    fn found<'py>(&self, py: Python<'py>, value: &s3kv::Value) -> PyResult<Found<'py>> {
        found_of(&self.inner, py, value)
    }
}

/// A read value as Python receives it (see [`Found`]).
fn found_of<'py>(
    collection: &s3kv::Collection,
    py: Python<'py>,
    value: &s3kv::Value,
) -> PyResult<Found<'py>> {
    let trusted = collection.pickle_allowed(value);
    let data = payload_object(py, value.kind, &value.data)?;
    Ok((value.kind.to_byte(), data, value.legacy, trusted))
}

/// The Python object for a payload's bytes: a `bytearray` for a pickle (so that arrays
/// unpickled from it are writable), `bytes` for every other kind. `MemoryError` when Python
/// has no memory for it.
fn payload_object<'py>(
    py: Python<'py>,
    kind: PayloadKind,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    decoded::object_of(py, data, kind == PayloadKind::Pickle)
}

/// A large value as Python receives it (see [`Found`]): the Python object is made once, at the
/// length the value's header states, and the value is decoded straight into it with the GIL
/// released, so the value is held once plus the chunks in flight; a text becomes a `str` piece
/// by piece. A stated length far beyond the stored size (see
/// [`s3kv::ValueReader::allocate_ahead`]) is trusted only once the first window checked out
/// (see [`decoded::buffer_of`]).
///
/// The outer error is the storage's or the value's, for the caller to sort; the inner one is
/// Python's own (no memory for the object).
fn found_streamed(
    py: Python<'_>,
    reader: Box<s3kv::ValueReader>,
) -> Result<PyResult<Found<'_>>, s3kv::Error> {
    let (kind, trusted) = (reader.kind(), reader.pickle_allowed());
    let data = if kind == PayloadKind::Text {
        decoded::text_of(py, reader)?
    } else {
        decoded::buffer_of(py, reader, kind == PayloadKind::Pickle)?
    };
    Ok(data.map(|data| (kind.to_byte(), data, false, trusted)))
}

/// The `s3kv._s3kv` extension module.
#[pymodule]
fn _s3kv(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(connect, module)?)?;
    module.add_function(wrap_pyfunction!(cbor_dumps, module)?)?;
    module.add_function(wrap_pyfunction!(cbor_loads, module)?)?;
    module.add_class::<Connection>()?;
    module.add_class::<Collection>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
