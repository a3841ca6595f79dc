//! Python pickles of NumPy weights, as the code of Saitō's *Deep Learning from Scratch* writes
//! them: `sample_weight.pkl` (chapter 3) and `save_params`' `params.pkl` (chapters 7 and 8), a
//! dict of arrays named `W1, b1, W2, b2, ...` in the layout of the `.npz` import.
//!
//! Unpickling in Python runs whatever the file names; this reader runs nothing. It is a small
//! stack machine over the opcodes of protocols 2 to 5 that dicts and NumPy arrays need
//! (`pickle/machine.rs`), and the only globals it knows are the ones that rebuild an array
//! (NumPy 1's and 2's `_reconstruct` and `_frombuffer`, `numpy.ndarray`, `numpy.dtype`),
//! `collections.OrderedDict`, and what protocol 2 stores bytes with (`_codecs.encode(text,
//! 'latin1')`, `bytes()`). Any other global is refused by name. The arrays found then become a
//! network exactly as an `.npz` archive's do (`named_arrays.rs`).

mod calls;
mod machine;
mod opcodes;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use thiserror::Error;

use self::value::{Kind, NdArray, Value};
use crate::named_arrays::{Array, MAX_ARRAY_VALUES, NamedArrays, dense_network, fortran_to_c, network_of_architecture};
use crate::npz_error::NpzError;
use crate::{Activation, Architecture, Loss, Network};

/// Why a pickle could not be turned into a network.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The bytes do not start as a pickle of protocol 2 or later does.
    #[error(
        "not a Python pickle of protocol 2 to 5: it starts with byte {first:#04x}, where such a pickle starts with \
         0x80 (pickles of protocol 0 and 1 are not read: save with protocol 2 or later)"
    )]
    NotAPickle {
        /// The first byte.
        first: u8,
    },
    /// A protocol this reader does not know.
    #[error("pickle protocol {protocol} is not read; only protocols 2 to 5 are")]
    Protocol {
        /// The protocol the file declares.
        protocol: u8,
    },
    /// The file ends inside an opcode's argument.
    #[error("the pickle ends inside {opcode} at byte {offset}: the file is truncated")]
    Truncated {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
    },
    /// The file ends before the `STOP` that ends every pickle.
    #[error("the pickle ends at byte {offset} without its STOP: the file is truncated")]
    NoStop {
        /// The length of the file.
        offset: usize,
    },
    /// Bytes after `STOP`.
    #[error("{count} byte{} follow the pickle's end (its STOP at byte {stop})", if *.count == 1 { "" } else { "s" })]
    TrailingBytes {
        /// Where `STOP` is.
        stop: usize,
        /// The bytes after it.
        count: usize,
    },
    /// An opcode that pickles of NumPy arrays do not use (or no opcode at all).
    #[error("byte {offset}: opcode {opcode:#04x} is not one that pickles of NumPy arrays use")]
    Opcode {
        /// The byte.
        opcode: u8,
        /// Where it is.
        offset: usize,
    },
    /// A global other than NumPy's array globals: unpickling it in Python could run anything.
    #[error(
        "refusing to load `{}.{}`: a pickle of NumPy arrays needs only numpy's array globals",
        .module.escape_debug(),
        .name.escape_debug()
    )]
    RefusedGlobal {
        /// The module the pickle names.
        module: String,
        /// The name in that module.
        name: String,
    },
    /// An opcode whose operands are not what NumPy's pickles give it.
    #[error("byte {offset} ({opcode}): {detail}")]
    Invalid {
        /// Where the opcode starts.
        offset: usize,
        /// The opcode's name.
        opcode: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The pickle holds something other than a dict of arrays.
    #[error("the pickle holds {found}, not a dict of arrays")]
    NotADict {
        /// What it holds ("a list").
        found: &'static str,
    },
    /// The arrays do not make a network (the same errors as an `.npz` archive's).
    #[error(transparent)]
    Weights(#[from] NpzError),
}

/// Reads a network from a pickle file; see [`network_from_pickle_bytes`].
pub fn import_pickle(path: impl AsRef<Path>, hidden: Activation, loss: Loss) -> Result<Network, PickleError> {
    network_from_pickle_bytes(&read(path.as_ref())?, hidden, loss)
}

/// Builds a dense network from the bytes of a pickled dict holding `W1..Wn` and `b1..bn`, as
/// [`network_from_npz_bytes`](crate::network_from_npz_bytes) does from an `.npz`: `Wk` is
/// `inputs × outputs`, `bk` `(outputs,)` or `(1, outputs)`, float32 or float64 of either byte
/// order, C or Fortran order; `hidden` follows every layer but the last, whose outputs go
/// through the output function of `loss`; other entries are ignored.
pub fn network_from_pickle_bytes(bytes: &[u8], hidden: Activation, loss: Loss) -> Result<Network, PickleError> {
    Ok(dense_network(&mut PickledArrays::decode(bytes)?, hidden, loss)?)
}

/// Reads a network of the given architecture from a pickle file; see
/// [`network_from_pickle_bytes_with_architecture`].
pub fn import_pickle_with_architecture(
    path: impl AsRef<Path>,
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, PickleError> {
    network_from_pickle_bytes_with_architecture(&read(path.as_ref())?, architecture, loss)
}

/// Builds a network of `architecture` from the bytes of a pickled dict in Saitō's layout, as
/// [`network_from_npz_bytes_with_architecture`](crate::network_from_npz_bytes_with_architecture)
/// does from an `.npz`: `W1, b1, W2, b2, ...` for the layers with parameters, a convolution's
/// `Wk` `(filters, channels, kh, kw)`, a dense layer's `(inputs, outputs)`.
pub fn network_from_pickle_bytes_with_architecture(
    bytes: &[u8],
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, PickleError> {
    Ok(network_of_architecture(&mut PickledArrays::decode(bytes)?, architecture, loss)?)
}

fn read(path: &Path) -> Result<Vec<u8>, PickleError> {
    fs::read(path).map_err(|source| PickleError::Read { path: path.to_path_buf(), source })
}

/// The entries of a pickled dict, by name: arrays, or anything else under a name that a network
/// may ask for (and then be told it is not an array).
struct PickledArrays {
    entries: BTreeMap<String, Value>,
}

impl PickledArrays {
    /// Runs the pickle and keeps its dict's entries named by text (`str`, or `bytes` of UTF-8 as
    /// Python 2 wrote names); a later entry for a name replaces an earlier one, as in Python.
    fn decode(bytes: &[u8]) -> Result<PickledArrays, PickleError> {
        let dict = match machine::load(bytes)? {
            Value::Dict(dict) => dict,
            other => return Err(PickleError::NotADict { found: other.kind() }),
        };
        let dict = Rc::unwrap_or_clone(dict);
        let mut entries = BTreeMap::new();
        for (key, value) in dict.items {
            let name = match &key {
                Value::Str(text) => text.to_string(),
                Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => text.to_string(),
                    Err(_) => continue,
                },
                _ => continue,
            };
            entries.insert(name, value);
        }
        Ok(PickledArrays { entries })
    }
}

impl NamedArrays for PickledArrays {
    fn names(&self) -> BTreeSet<String> {
        self.entries.keys().cloned().collect()
    }

    fn read(
        &mut self,
        name: &str,
        check: impl FnOnce(&[u64]) -> Result<(), NpzError>,
    ) -> Result<Option<Array>, NpzError> {
        let bad = |detail: String| NpzError::BadArray { name: name.to_string(), detail };
        let array = match self.entries.get(name) {
            None => return Ok(None),
            Some(Value::Array(cell)) => {
                let array = cell.take();
                cell.set(array.clone());
                array.ok_or_else(|| bad("the pickle never gives this array its data".to_string()))?
            }
            Some(other) => return Err(bad(format!("it is {}, not a NumPy array", other.kind()))),
        };
        if array.dtype.kind != Kind::Float || !matches!(array.dtype.size, 4 | 8) {
            return Err(NpzError::UnsupportedDtype { name: name.to_string(), dtype: array.dtype.to_string() });
        }
        check(&array.shape)?;
        let count = array.count();
        if count > MAX_ARRAY_VALUES {
            return Err(NpzError::TooManyValues {
                name: name.to_string(),
                shape: array.shape.clone(),
                values: Some(count),
                limit: MAX_ARRAY_VALUES,
            });
        }
        let values = floats(&array);
        let values = if array.fortran && array.shape.len() > 1 { fortran_to_c(&array.shape, &values) } else { values };
        Ok(Some((array.shape.clone(), values)))
    }
}

/// The values of a float32 or float64 array as `f32`, in the order its bytes hold them.
fn floats(array: &NdArray) -> Vec<f32> {
    let big = array.dtype.big_endian;
    if array.dtype.size == 4 {
        let to_f32 = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) }
        };
        array.data.chunks_exact(4).map(to_f32).collect()
    } else {
        let to_f32 = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
            (if big { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) }) as f32
        };
        array.data.chunks_exact(8).map(to_f32).collect()
    }
}

#[cfg(test)]
mod tests;
