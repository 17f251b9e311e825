//! CBOR for Python plain data: the `cbor` serializer of a collection, and the reader of CBOR
//! payloads whoever wrote them, so values are shared with programs in other languages.
//!
//! Only plain data converts: `None`, `bool`, `int`, `float`, `str`, `bytes`, `bytearray`,
//! lists, tuples and dicts of these. Depth is bounded both ways: a self-referencing list would
//! otherwise recurse forever, and a hostile stored value could exhaust the stack.

use ciborium::value::{Integer, Value};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

/// The deepest nesting converted; ciborium's own reader stops at 256 as well.
const MAX_DEPTH: usize = 256;

/// Why a conversion failed, for the caller to raise as the right s3kv error.
pub(crate) enum Failure {
    /// The Python value is not plain data, or nests too deep.
    Unsupported(String),
    /// The stored bytes are not one well-formed CBOR item.
    Corrupt(String),
    /// Python itself failed (memory, a dict key that is not hashable).
    Python(PyErr),
}

impl From<PyErr> for Failure {
    fn from(error: PyErr) -> Self {
        Self::Python(error)
    }
}

/// Encodes a Python value as one CBOR item.
pub(crate) fn dumps(value: &Bound<'_, PyAny>) -> Result<Vec<u8>, Failure> {
    let item = to_cbor(value, 0)?;
    let mut out = Vec::new();
    ciborium::into_writer(&item, &mut out)
        .map_err(|error| Failure::Unsupported(format!("cannot write CBOR: {error}")))?;
    Ok(out)
}

/// Decodes one CBOR item into Python values.
pub(crate) fn loads<'py>(py: Python<'py>, data: &[u8]) -> Result<Bound<'py, PyAny>, Failure> {
    let mut rest = data;
    let item: Value = ciborium::from_reader(&mut rest)
        .map_err(|error| Failure::Corrupt(format!("stored CBOR is malformed: {error}")))?;
    if !rest.is_empty() {
        return Err(Failure::Corrupt(format!(
            "stored CBOR has {} bytes after its one item",
            rest.len()
        )));
    }
    from_cbor(py, &item, 0)
}

fn to_cbor(value: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Failure> {
    if depth > MAX_DEPTH {
        return Err(Failure::Unsupported(format!(
            "value nests deeper than {MAX_DEPTH} levels (or refers to itself); CBOR cannot hold it"
        )));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        let number: i128 = value.extract().map_err(|_| {
            Failure::Unsupported("an int does not fit in the 65 bits CBOR integers hold".into())
        })?;
        let integer = Integer::try_from(number).map_err(|_| {
            Failure::Unsupported("an int does not fit in the 65 bits CBOR integers hold".into())
        })?;
        return Ok(Value::Integer(integer));
    }
    if let Ok(number) = value.cast::<PyFloat>() {
        return Ok(Value::Float(number.value()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::Text(text.to_cow()?.into_owned()));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Value::Bytes(bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(Value::Bytes(bytes.to_vec()));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items: Result<Vec<Value>, Failure> =
            value.try_iter()?.map(|item| to_cbor(&item?, depth + 1)).collect();
        return Ok(Value::Array(items?));
    }
    if let Ok(table) = value.cast::<PyDict>() {
        let mut entries = Vec::with_capacity(table.len());
        for (key, item) in table.iter() {
            entries.push((to_cbor(&key, depth + 1)?, to_cbor(&item, depth + 1)?));
        }
        return Ok(Value::Map(entries));
    }
    let type_name = value.get_type().name()?.to_string();
    Err(Failure::Unsupported(format!(
        "serializer \"cbor\" stores None, bool, int, float, str, bytes, list, tuple and dict; \
         not {type_name}"
    )))
}

fn from_cbor<'py>(
    py: Python<'py>,
    item: &Value,
    depth: usize,
) -> Result<Bound<'py, PyAny>, Failure> {
    if depth > MAX_DEPTH {
        return Err(Failure::Corrupt(format!("stored CBOR nests deeper than {MAX_DEPTH} levels")));
    }
    let object = match item {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Integer(integer) => {
            let Ok(number) = i128::from(*integer).into_pyobject(py);
            number.into_any()
        }
        Value::Float(number) => PyFloat::new(py, *number).into_any(),
        Value::Text(text) => PyString::new(py, text).into_any(),
        Value::Bytes(bytes) => PyBytes::new(py, bytes).into_any(),
        // Tags (dates, big numbers) carry a plain item; it is returned without the tag.
        Value::Tag(_, inner) => from_cbor(py, inner, depth + 1)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for entry in items {
                list.append(from_cbor(py, entry, depth + 1)?)?;
            }
            list.into_any()
        }
        Value::Map(entries) => {
            let table = PyDict::new(py);
            for (key, entry) in entries {
                let mut key = from_cbor(py, key, depth + 1)?;
                // An array as a key (valid CBOR) becomes a tuple, the hashable Python sequence.
                if let Ok(list) = key.cast::<PyList>() {
                    key = PyTuple::new(py, list.iter())?.into_any();
                }
                table.set_item(key, from_cbor(py, entry, depth + 1)?)?;
            }
            table.into_any()
        }
        _ => return Err(Failure::Corrupt("stored CBOR holds an item of an unknown type".into())),
    };
    Ok(object)
}
