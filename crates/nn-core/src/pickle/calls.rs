//! `REDUCE` and `BUILD` for the globals of [`Global`]: what NumPy's `__reduce__` and
//! `__setstate__` do for an array and a dtype, written out for the plain number arrays a weight
//! file holds. Each returns why it refuses, and the machine adds where.

use std::cell::Cell;
use std::rc::Rc;

use super::value::{Dtype, Entries, Global, NdArray, Value};

/// Axes an array may have (NumPy's own limit).
const MAX_AXES: usize = 64;

/// The value of `global(*args)`.
pub(super) fn call(global: Global, args: &[Value]) -> Result<Value, String> {
    match (global, args) {
        // The shape and type code NumPy passes are placeholders: BUILD gives the real ones.
        (Global::Reconstruct, [Value::Global(Global::NdArray), _, _]) => Ok(Value::Array(Rc::new(Cell::new(None)))),
        (Global::Dtype, [code, flags @ ..]) if flags.len() <= 2 => match text(code).and_then(Dtype::parse) {
            Some(dtype) => Ok(Value::Dtype(Rc::new(Cell::new(dtype)))),
            None => Err(format!(
                "dtype {} is not one of NumPy's number types (f2, f4, f8, i1 to i8, u1 to u8, b1)",
                text(code).map_or_else(|| code.kind().to_string(), |t| format!("{t:?}"))
            )),
        },
        (Global::FromBuffer, [buffer, Value::Dtype(dtype), shape, Value::Str(order)]) => {
            let Value::Bytes(data) = buffer else {
                return Err(format!("_frombuffer is given {} instead of bytes", buffer.kind()));
            };
            let fortran = match &**order {
                "C" => false,
                "F" => true,
                other => return Err(format!("_frombuffer is given the order {other:?}; NumPy writes C or F")),
            };
            let array = NdArray::new(shape_of(shape)?, dtype.get(), fortran, data.clone())?;
            Ok(Value::Array(Rc::new(Cell::new(Some(Rc::new(array))))))
        }
        (Global::OrderedDict, []) => Ok(Value::Dict(Rc::new(Entries::default()))),
        (Global::Encode, [Value::Str(text), Value::Str(encoding)]) if &**encoding == "latin1" => latin1(text),
        (Global::Bytes, []) => Ok(Value::Bytes(Rc::from(&[][..]))),
        _ => Err(format!("{} is not called so by NumPy's pickles (with {})", name(global), kinds(args))),
    }
}

/// `BUILD`: gives `target` (a dtype or an array made by `_reconstruct`) its `state`.
pub(super) fn build(target: &Value, state: &Value) -> Result<(), String> {
    let Value::Tuple(items) = state else {
        return Err(format!("BUILD is given {} as state, where NumPy gives a tuple", state.kind()));
    };
    match (target, items.items.as_slice()) {
        // (version, byte order, subarray, names, fields, item size, alignment, flags[, metadata])
        (Value::Dtype(cell), [Value::Int(3 | 4), order, rest @ ..]) => {
            let order = text(order).ok_or("a dtype's byte order is not text")?;
            if !rest.iter().take(3).all(|v| matches!(v, Value::None)) {
                return Err("a dtype with fields or a subarray is not an array of numbers".to_string());
            }
            let mut dtype = cell.get();
            dtype.big_endian = match (order, dtype.size) {
                (">", _) => true,
                ("<" | "=", _) | ("|", 1) => false,
                _ => return Err(format!("byte order {order:?} for a dtype of {} bytes", dtype.size)),
            };
            cell.set(dtype);
            Ok(())
        }
        (Value::Dtype(_), _) => Err("a dtype's state is not the one NumPy writes (version 3 or 4)".to_string()),
        // (version, shape, dtype, is_fortran, data), or without the version in older files.
        (Value::Array(cell), [Value::Int(1), shape, dtype, fortran, data] | [shape, dtype, fortran, data]) => {
            let Value::Dtype(dtype) = dtype else {
                return Err(format!("an array's state gives {} as its dtype", dtype.kind()));
            };
            let fortran = match fortran {
                Value::Bool(b) => *b,
                Value::Int(n @ (0 | 1)) => *n == 1,
                other => return Err(format!("an array's state gives {} as its Fortran flag", other.kind())),
            };
            let Value::Bytes(data) = data else {
                return Err(format!("an array's state gives {} as its data: not an array of numbers", data.kind()));
            };
            let array = NdArray::new(shape_of(shape)?, dtype.get(), fortran, data.clone())?;
            cell.set(Some(Rc::new(array)));
            Ok(())
        }
        (Value::Array(_), _) => Err("an array's state is not the one NumPy writes (version 1)".to_string()),
        (other, _) => Err(format!("BUILD on {}: only dtypes and arrays are built", other.kind())),
    }
}

/// A shape: a tuple of at most [`MAX_AXES`] sizes, each at least 0.
fn shape_of(value: &Value) -> Result<Vec<u64>, String> {
    let Value::Tuple(items) = value else {
        return Err(format!("a shape is a tuple, not {}", value.kind()));
    };
    if items.items.len() > MAX_AXES {
        return Err(format!("a shape of {} axes; NumPy allows {MAX_AXES}", items.items.len()));
    }
    items
        .items
        .iter()
        .map(|item| match item {
            Value::Int(n) => u64::try_from(*n).map_err(|_| format!("a shape with the size {n}")),
            Value::BigInt => Err("a shape with a size beyond 64 bits".to_string()),
            other => Err(format!("a shape holds {}, not a size", other.kind())),
        })
        .collect()
}

/// The text of a `str`, or of `bytes` of UTF-8 (a Python 2 `str`, as NumPy under Python 2 wrote
/// dtype codes and byte orders).
fn text(value: &Value) -> Option<&str> {
    match value {
        Value::Str(text) => Some(text),
        Value::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// `text.encode('latin1')`: one byte per character, each at most U+00FF.
fn latin1(text: &str) -> Result<Value, String> {
    let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    let bytes = bytes.ok_or("_codecs.encode is given text beyond Latin-1")?;
    Ok(Value::Bytes(Rc::from(bytes)))
}

/// The global's Python name.
fn name(global: Global) -> &'static str {
    match global {
        Global::Reconstruct => "numpy's _reconstruct",
        Global::NdArray => "numpy.ndarray",
        Global::Dtype => "numpy.dtype",
        Global::FromBuffer => "numpy's _frombuffer",
        Global::OrderedDict => "collections.OrderedDict",
        Global::Encode => "_codecs.encode",
        Global::Bytes => "bytes",
    }
}

/// "a str, an int": the arguments of a call, for messages.
fn kinds(args: &[Value]) -> String {
    if args.is_empty() {
        return "no arguments".to_string();
    }
    args.iter().map(Value::kind).collect::<Vec<_>>().join(", ")
}
