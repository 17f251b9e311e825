//! Large values decoded straight into the Python object that returns them.
//!
//! A `bytes` made through the binding's safe constructor is zeroed whole before it is filled: for
//! 100 MB that first touch of every page costs about as long as receiving the value, and it
//! happens before the first byte is decoded. Here the object is made uninitialised, and each
//! window is zeroed just before the value is decoded into it, on the thread that decodes while
//! the runtime receives the next parts; so touching the memory overlaps the transfer.

// The C API is the only way to make a `bytes` whose memory is not zeroed first.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use pyo3::exceptions::PyMemoryError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// A new `bytes` (or, for a pickle, a `bytearray`, so that arrays unpickled from it are
/// writable) of `reader`'s length, holding its decoded value.
///
/// A stated length far beyond the stored size (see [`s3kv::ValueReader::allocate_ahead`]: a
/// value that compresses well, or a header that lies) is trusted only once the first window
/// has checked out: that window is decoded into memory of its own first, then copied in.
/// Should Python have no memory for the length then, the value is decoded into memory that
/// grows as its chunks check out, and copied.
///
/// The outer error is the storage's or the value's, for the caller to sort; the inner one is
/// Python's own (no memory for the object).
pub(crate) fn buffer_of(
    py: Python<'_>,
    mut reader: Box<s3kv::ValueReader>,
    writable: bool,
) -> Result<PyResult<Bound<'_, PyAny>>, s3kv::Error> {
    let len = reader.len();
    let mut first = Vec::new();
    if !reader.allocate_ahead() {
        first.resize(s3kv::READ_WINDOW.min(len), 0);
        py.detach(|| reader.read_part(&mut first))?;
        if let Err(error) = py.check_signals() {
            return Ok(Err(error));
        }
    }
    let (object, start) = match new_uninit(py, len, writable) {
        Ok(made) => made,
        Err(_) if !first.is_empty() => return grown(py, reader, first, writable),
        Err(error) => return Ok(Err(error)),
    };
    // SAFETY: `object` owns `len` bytes at `start` and outlives the slice, which is dropped
    // before it is returned; nothing else sees the object until then, and `MaybeUninit` makes
    // no claim about the bytes.
    let memory = unsafe { std::slice::from_raw_parts_mut(start.cast::<MaybeUninit<u8>>(), len) };
    hint_huge_pages(memory);
    let (decoded, memory) = memory.split_at_mut(first.len());
    decoded.copy_from_slice(as_uninit(&first));
    drop(first);

    for window in memory.chunks_mut(s3kv::READ_WINDOW) {
        py.detach(|| reader.read_part(zeroed(window)))?;
        // Ctrl-C between windows: dropping the reader cancels the transfer.
        if let Err(error) = py.check_signals() {
            return Ok(Err(error));
        }
    }
    py.detach(|| reader.finish())?;
    Ok(Ok(object))
}

/// The value whose first window is `first`, decoded into memory that grows as its chunks
/// check out, then copied into a new object.
fn grown(
    py: Python<'_>,
    reader: Box<s3kv::ValueReader>,
    first: Vec<u8>,
    writable: bool,
) -> Result<PyResult<Bound<'_, PyAny>>, s3kv::Error> {
    let data = py.detach(|| reader.into_vec_after(first))?;
    Ok(object_of(py, &data, writable))
}

/// A new `bytearray` (`writable`) or `bytes` holding a copy of `data`; `MemoryError` when
/// Python has no memory for it (the binding's own constructors would panic).
pub(crate) fn object_of<'py>(
    py: Python<'py>,
    data: &[u8],
    writable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (object, start) = new_uninit(py, data.len(), writable)?;
    // SAFETY: `object` owns `data.len()` bytes at `start`, not yet initialised; `data` is a
    // separate allocation, so the two do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), start, data.len()) };
    Ok(object)
}

/// `bytes` as `MaybeUninit` bytes, to copy into memory not yet initialised.
fn as_uninit(bytes: &[u8]) -> &[MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has `u8`'s layout, and initialised bytes are valid ones.
    unsafe { &*(std::ptr::from_ref(bytes) as *const [MaybeUninit<u8>]) }
}

/// A new `bytes` or `bytearray` of `len` bytes, not yet initialised, and where its bytes are.
fn new_uninit(py: Python<'_>, len: usize, writable: bool) -> PyResult<(Bound<'_, PyAny>, *mut u8)> {
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| PyMemoryError::new_err("the value is too large for a Python object"))?;
    // SAFETY: a null source asks for an object of `size` bytes left unset; the GIL is held.
    let raw = unsafe {
        if writable {
            ffi::PyByteArray_FromStringAndSize(std::ptr::null(), size)
        } else {
            ffi::PyBytes_FromStringAndSize(std::ptr::null(), size)
        }
    };
    // SAFETY: `raw` is a new reference, or null with an exception set.
    let object = unsafe { Bound::from_owned_ptr_or_err(py, raw)? };
    // SAFETY: `raw` is a live object of the type asked for; these return its buffer.
    let start = unsafe {
        if writable { ffi::PyByteArray_AsString(raw) } else { ffi::PyBytes_AsString(raw) }
    };
    if start.is_null() {
        let missing = || PyMemoryError::new_err("the new object has no buffer");
        return Err(PyErr::take(py).unwrap_or_else(missing));
    }
    Ok((object, start.cast::<u8>()))
}

/// `window` zeroed, as plain bytes the decoder can write into.
fn zeroed(window: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    window.fill(MaybeUninit::new(0));
    // SAFETY: every byte was just initialised, and `MaybeUninit<u8>` has `u8`'s layout.
    unsafe { &mut *(std::ptr::from_mut(window) as *mut [u8]) }
}

/// Asks Linux to back the buffer with huge pages where it is aligned to them: one page fault
/// per 2 MiB instead of 512, which is most of the cost of touching new memory on a virtual
/// machine. Only a hint, so a refusal changes nothing.
#[cfg(target_os = "linux")]
fn hint_huge_pages(memory: &mut [MaybeUninit<u8>]) {
    const HUGE_PAGE: usize = 2 << 20;
    let start = memory.as_mut_ptr() as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let end = (start + memory.len()) / HUGE_PAGE * HUGE_PAGE;
    if end <= aligned {
        return;
    }
    // SAFETY: the range lies inside `memory`; the advice changes how pages are backed, never
    // what they hold.
    unsafe {
        libc::madvise(aligned as *mut libc::c_void, end - aligned, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn hint_huge_pages(_memory: &mut [MaybeUninit<u8>]) {}

/// A new `str` holding `reader`'s text, built a window at a time: each piece is decoded with
/// the GIL released and appended to the string, which Python grows in place while it has no
/// other reference. So the value is held once as a string, not also as its UTF-8 bytes.
///
/// Python copies the string once where a piece needs wider characters than the text so far
/// (ASCII then accents, or accents then emoji); only then is it held twice for a moment.
///
/// Errors as [`buffer_of`]'s.
pub(crate) fn text_of(
    py: Python<'_>,
    mut reader: Box<s3kv::ValueReader>,
) -> Result<PyResult<Bound<'_, PyAny>>, s3kv::Error> {
    let mut text: Option<Bound<'_, PyAny>> = None;
    loop {
        let reading = &mut *reader;
        let Some(piece) = py.detach(move || reading.next_text())? else { break };
        if let Err(error) = py.check_signals() {
            return Ok(Err(error));
        }
        let piece = PyString::new(py, piece).into_any();
        text = Some(match text.take() {
            None => piece,
            Some(left) => match appended(left, &piece) {
                Ok(joined) => joined,
                Err(error) => return Ok(Err(error)),
            },
        });
    }
    Ok(Ok(text.unwrap_or_else(|| PyString::new(py, "").into_any())))
}

/// `left` with `right` appended, in place when Python can resize `left`.
fn appended<'py>(
    left: Bound<'py, PyAny>,
    right: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = left.py();
    let mut raw = left.into_ptr();
    // SAFETY: both are `str` objects and the GIL is held; the call takes the reference to
    // `left` and leaves a new one to the result in its place, or null with an exception set.
    unsafe {
        ffi::PyUnicode_Append(&raw mut raw, right.as_ptr());
        Bound::from_owned_ptr_or_err(py, raw)
    }
}
