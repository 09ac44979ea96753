//! Native fast path of `opsanalytics.firehose.transform_record`.
//!
//! It gives byte-for-byte the outcome the Python reference gives, or hands the record back (`None`) when it
//! cannot be certain: odd numbers, non-ASCII text under a regular expression, any error.

mod decode;
mod json;
mod logevent;
mod output;
mod pytext;
mod timestamp;
mod transform;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

pub use transform::{transform, Outcome};

/// Transform the base64 data of one Firehose record.
///
/// Returns `(ndjson, dt, hour, log_events)` for an Ok outcome, the reason string of a Dropped one, or None
/// when the record is left to the Python path.
#[pyfunction]
fn transform_record<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let input = if let Ok(text) = data.cast::<PyString>() {
        match text.to_str() {
            Ok(text) => text.as_bytes(),
            Err(_) => return Ok(None),
        }
    } else if let Ok(bytes) = data.cast::<PyBytes>() {
        bytes.as_bytes()
    } else {
        return Ok(None);
    };
    // A bug here must cost speed, not an outcome: a panic hands the record to Python like any other doubt.
    let outcome = std::panic::catch_unwind(|| transform(input)).unwrap_or(Outcome::Defer);
    Ok(match outcome {
        Outcome::Ok {
            data,
            dt,
            hour,
            log_events,
        } => Some(
            (PyBytes::new(py, &data), dt, hour, log_events)
                .into_pyobject(py)?
                .into_any(),
        ),
        Outcome::Dropped(reason) => Some(PyString::new(py, reason).into_any()),
        Outcome::Defer => None,
    })
}

/// `base64.b64encode(data).decode("ascii")`, written straight into the new string.
#[pyfunction]
fn b64encode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyString>> {
    base64_string(py, data)
}

fn base64_string<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let length = data.len().div_ceil(3) * 4;
    let size = pyo3::ffi::Py_ssize_t::try_from(length)?;
    // SAFETY: PyUnicode_New(size, 127) returns a new compact ASCII string whose data buffer holds exactly
    // `size` one-byte characters; every byte is written below before the string is handed to Python.
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_New(size, 127);
        if ptr.is_null() {
            return Err(PyErr::fetch(py));
        }
        let buffer = std::slice::from_raw_parts_mut(pyo3::ffi::PyUnicode_DATA(ptr).cast::<u8>(), length);
        decode::encode_base64(data, buffer);
        Ok(Bound::from_owned_ptr(py, ptr).cast_into_unchecked())
    }
}

#[pymodule]
fn opsanalytics_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(transform_record, module)?)?;
    module.add_function(wrap_pyfunction!(b64encode, module)?)?;
    Ok(())
}
