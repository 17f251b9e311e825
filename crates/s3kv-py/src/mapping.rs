//! A backend that keeps stored objects in a Python mapping the caller owns, as the original
//! library's `mode="dict"` with `data=` did: `data[<hex collection>][<name>] = stored bytes`.
//!
//! Every operation takes the GIL for the few dict operations it makes, so a check and a write
//! (a create-only put) happen with no other Python thread in between.

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use s3kv::store::{Backend, Capabilities, Entry, Error, ErrorKind, Object, ObjectMeta, PutMode};

const DESCRIPTION: &str = "Python mapping";

/// The caller's mapping of collection folders to mappings of names to stored bytes.
#[derive(Debug)]
pub(crate) struct MappingBackend {
    data: Py<PyAny>,
}

impl MappingBackend {
    pub(crate) fn new(data: Py<PyAny>) -> Self {
        Self { data }
    }
}

/// Splits `<folder>/<name>`; every path the facade writes has exactly this shape.
fn split<'a>(operation: &'static str, path: &'a str) -> Result<(&'a str, &'a str), Error> {
    match path.split_once('/') {
        Some((folder, name)) if !folder.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((folder, name))
        }
        _ => Err(Error::new(
            ErrorKind::InvalidPath,
            operation,
            path,
            DESCRIPTION,
            "a Python mapping holds paths of the form <folder>/<name>",
        )),
    }
}

fn python_error(operation: &'static str, path: &str, error: &PyErr) -> Error {
    Error::new(
        ErrorKind::Other,
        operation,
        path,
        DESCRIPTION,
        format!("the mapping raised {error}"),
    )
}

fn not_found(operation: &'static str, path: &str) -> Error {
    Error::new(ErrorKind::NotFound, operation, path, DESCRIPTION, "no object at this path")
}

fn meta(size: usize) -> ObjectMeta {
    ObjectMeta { size: u64::try_from(size).unwrap_or(u64::MAX), etag: None, last_modified: None }
}

impl MappingBackend {
    /// The stored bytes at `path`, `None` when missing.
    fn read(&self, operation: &'static str, path: &str) -> Result<Option<Bytes>, Error> {
        let (folder, name) = split(operation, path)?;
        Python::attach(|py| {
            let data = self.data.bind(py);
            let lookup = || -> PyResult<Option<Bytes>> {
                let inner = match data.get_item(folder) {
                    Ok(inner) => inner,
                    Err(error) if error.is_instance_of::<PyKeyError>(py) => return Ok(None),
                    Err(error) => return Err(error),
                };
                let stored = match inner.get_item(name) {
                    Ok(stored) => stored,
                    Err(error) if error.is_instance_of::<PyKeyError>(py) => return Ok(None),
                    Err(error) => return Err(error),
                };
                let bytes: Vec<u8> = stored.extract()?;
                Ok(Some(Bytes::from(bytes)))
            };
            lookup().map_err(|error| python_error(operation, path, &error))
        })
    }
}

#[async_trait::async_trait]
impl Backend for MappingBackend {
    fn describe(&self) -> String {
        DESCRIPTION.to_owned()
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::new(1 << 20);
        capabilities.conditional_create = true;
        capabilities
    }

    async fn check(&self) -> Result<(), Error> {
        Python::attach(|py| {
            let data = self.data.bind(py);
            let usable = data
                .hasattr("__getitem__")
                .and_then(|get| Ok(get && data.hasattr("__setitem__")? && data.hasattr("keys")?));
            match usable {
                Ok(true) => Ok(()),
                Ok(false) => Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "check",
                    "",
                    DESCRIPTION,
                    "data= must be a mutable mapping such as a dict",
                )),
                Err(error) => Err(python_error("check", "", &error)),
            }
        })
    }

    async fn get(&self, path: &str) -> Result<Object, Error> {
        let bytes = self.read("get", path)?.ok_or_else(|| not_found("get", path))?;
        Ok(Object { meta: meta(bytes.len()), bytes })
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, Error> {
        let bytes = self.read("head", path)?.ok_or_else(|| not_found("head", path))?;
        Ok(meta(bytes.len()))
    }

    async fn put(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<ObjectMeta, Error> {
        let (folder, name) = split("put", path)?;
        if matches!(mode, PutMode::IfMatch(_)) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "put",
                path,
                DESCRIPTION,
                "a Python mapping keeps no entity tags",
            ));
        }
        Python::attach(|py| {
            let data = self.data.bind(py);
            let write = || -> PyResult<bool> {
                let inner = match data.get_item(folder) {
                    Ok(inner) => inner,
                    Err(error) if error.is_instance_of::<PyKeyError>(py) => {
                        let inner = PyDict::new(py).into_any();
                        data.set_item(folder, &inner)?;
                        inner
                    }
                    Err(error) => return Err(error),
                };
                if mode == PutMode::IfAbsent && inner.contains(name)? {
                    return Ok(false);
                }
                inner.set_item(name, PyBytes::new(py, &bytes))?;
                Ok(true)
            };
            match write() {
                Ok(true) => Ok(meta(bytes.len())),
                Ok(false) => Err(Error::new(
                    ErrorKind::ConditionFailed,
                    "put",
                    path,
                    DESCRIPTION,
                    "an object already exists at this path",
                )),
                Err(error) => Err(python_error("put", path, &error)),
            }
        })
    }

    async fn delete(&self, path: &str) -> Result<(), Error> {
        let (folder, name) = split("delete", path)?;
        Python::attach(|py| {
            let data = self.data.bind(py);
            let remove = || -> PyResult<()> {
                let inner = match data.get_item(folder) {
                    Ok(inner) => inner,
                    Err(error) if error.is_instance_of::<PyKeyError>(py) => return Ok(()),
                    Err(error) => return Err(error),
                };
                if inner.contains(name)? {
                    inner.del_item(name)?;
                }
                Ok(())
            };
            remove().map_err(|error| python_error("delete", path, &error))
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Entry, Error>> {
        // Collections list their own folder (`<hex collection>/`); the mapping is read once,
        // under the GIL, and the snapshot streamed.
        let entries = Python::attach(|py| -> PyResult<Vec<Entry>> {
            let data = self.data.bind(py);
            let mut entries = Vec::new();
            for folder in data.call_method0("keys")?.try_iter()? {
                let folder: String = folder?.extract()?;
                let inner = data.get_item(&folder)?;
                for name in inner.call_method0("keys")?.try_iter()? {
                    let name: String = name?.extract()?;
                    let path = format!("{folder}/{name}");
                    if path.starts_with(prefix) {
                        let size = inner.get_item(&name)?.len().unwrap_or(0);
                        entries.push(Entry { path, meta: meta(size) });
                    }
                }
            }
            Ok(entries)
        });
        match entries {
            Ok(entries) => stream::iter(entries.into_iter().map(Ok)).boxed(),
            Err(error) => {
                stream::once(async move { Err(python_error("list", prefix, &error)) }).boxed()
            }
        }
    }
}
