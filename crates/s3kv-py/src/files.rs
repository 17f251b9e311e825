//! Python file objects as `std::io` readers and writers, so files stream through the codec
//! without being held in memory.
//!
//! The codec calls them on a worker thread, which takes the GIL for each read or write of up
//! to a chunk. A Python exception raised by the file is kept and raised again to the caller
//! unchanged, instead of becoming an s3kv error that hides it.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The size of the pieces files are read and written in, so progress is reported as a
/// transfer goes on, and Python is called once per piece.
pub(crate) const PIECE: usize = 1 << 20;

/// Where a Python exception of the file waits to be raised again.
pub(crate) type Raised = Arc<Mutex<Option<PyErr>>>;

/// A Python object with `read(n)` or `write(b)`, used from Rust.
pub(crate) struct PyFile {
    file: Py<PyAny>,
    raised: Raised,
}

impl PyFile {
    pub(crate) fn new(file: Py<PyAny>) -> (Self, Raised) {
        let raised = Raised::default();
        (Self { file, raised: Arc::clone(&raised) }, raised)
    }

    fn keep(&self, error: PyErr) -> io::Error {
        let message = format!("the file object raised {error}");
        *self.raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
        io::Error::other(message)
    }
}

impl Read for PyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let piece = self.file.bind(py).call_method1("read", (buf.len(),));
            let piece = piece.map_err(|error| self.keep(error))?;
            let Ok(bytes) = piece.cast::<PyBytes>() else {
                let error = pyo3::exceptions::PyTypeError::new_err(
                    "the file's read() returned something other than bytes: open it in binary \
                     mode ('rb')",
                );
                return Err(self.keep(error));
            };
            let bytes = bytes.as_bytes();
            if bytes.len() > buf.len() {
                let error = pyo3::exceptions::PyValueError::new_err(
                    "the file's read(n) returned more than n bytes",
                );
                return Err(self.keep(error));
            }
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        })
    }
}

impl Write for PyFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let written = self.file.bind(py).call_method1("write", (PyBytes::new(py, data),));
            let written = written.map_err(|error| self.keep(error))?;
            // Raw files may take less than offered and say how much; buffered ones take all and
            // may return None.
            match written.extract::<Option<usize>>() {
                Ok(Some(count)) if count <= data.len() => Ok(count),
                Ok(None) => Ok(data.len()),
                _ => Err(self.keep(pyo3::exceptions::PyValueError::new_err(
                    "the file's write() returned a count it cannot have written",
                ))),
            }
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Python::attach(|py| {
            let file = self.file.bind(py);
            if file.hasattr("flush").map_err(|error| self.keep(error))? {
                file.call_method0("flush").map_err(|error| self.keep(error))?;
            }
            Ok(())
        })
    }
}

/// The file's own exception when it raised one, else `error` as it is.
pub(crate) fn raised_or(raised: &Raised, error: PyErr) -> PyErr {
    raised.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or(error)
}
