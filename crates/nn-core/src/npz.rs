//! NumPy `.npz` interop in Saitō's layout: `W1, b1, W2, b2, ...` for the layers with parameters,
//! dense kernels as inputs × outputs (the `x @ W + b` convention), convolution kernels as
//! `(out_channels, in_channels, kh, kw)` (PyTorch's `Conv2d`).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};
use thiserror::Error;
use zip::ZipArchive;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;

use crate::atomic_write::write_atomically;
use crate::{Activation, Architecture, Conv2d, Conv2dParams, Dense, LayerSpec, Loss, Network, NnError};

/// Why a `.npz` archive could not be turned into a network, or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NpzError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file could not be written (a previous file, if any, is left untouched).
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// Not a zip archive, or a damaged one.
    #[error("not a NumPy .npz archive: {0}")]
    NotAnArchive(String),
    /// An array whose `.npy` content cannot be read.
    #[error("array {name} cannot be read: {detail}")]
    BadArray {
        /// The array name (`W2`).
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// An array of integers, strings, objects...
    #[error("array {name} has dtype {dtype}; only float32 and float64 are supported")]
    UnsupportedDtype {
        /// The array name.
        name: String,
        /// NumPy's type string (`<i8`).
        dtype: String,
    },
    /// No `W1` at all.
    #[error("the archive holds no W1 array (it has: {found}); expected W1..Wn and b1..bn")]
    NoLayers {
        /// The array names found.
        found: String,
    },
    /// A gap in the numbering, or a bias without its weights.
    #[error("array {name} is missing ({reason})")]
    Missing {
        /// The missing array.
        name: String,
        /// Why it is expected.
        reason: String,
    },
    /// A weight matrix that is not 2-D.
    #[error("{name} must be 2-D (inputs × outputs) but has shape {shape:?}")]
    NotTwoDimensional {
        /// The array name.
        name: String,
        /// Its shape.
        shape: Vec<u64>,
    },
    /// A bias that is not 1-D (or 1 × n).
    #[error("{name} must be 1-D (or 1 × outputs) but has shape {shape:?}")]
    NotOneDimensional {
        /// The array name.
        name: String,
        /// Its shape.
        shape: Vec<u64>,
    },
    /// `W{k}` does not take the outputs of `W{k-1}`.
    #[error("W{layer} has {rows} rows but W{} has {previous_columns} columns", .layer - 1)]
    ChainMismatch {
        /// `k`, from 2.
        layer: usize,
        /// Rows of `W{k}`.
        rows: usize,
        /// Columns of `W{k-1}`.
        previous_columns: usize,
    },
    /// `b{k}` does not have one value per column of `W{k}`.
    #[error("b{layer} has {len} values but W{layer} has {columns} columns")]
    BiasMismatch {
        /// `k`, from 1.
        layer: usize,
        /// Values in `b{k}`.
        len: usize,
        /// Columns of `W{k}`.
        columns: usize,
    },
    /// An array whose shape does not fit the architecture it is loaded into.
    #[error(
        "{name} has shape {} but layer {layer} of the architecture ({spec}) needs {} {}",
        tuple(.found), tuple(.expected), layout(.expected)
    )]
    ArrayShape {
        /// The array name (`W2`).
        name: String,
        /// Index of the layer in the architecture, from 0.
        layer: usize,
        /// The layer, as architecture text.
        spec: String,
        /// Its shape.
        found: Vec<u64>,
        /// The shape the layer needs.
        expected: Vec<u64>,
    },
    /// More or fewer `Wk`, `bk` arrays than the architecture has layers with parameters.
    #[error(
        "the archive holds {} but the architecture has {expected} layer{} with weights ({layers}), so it needs {}",
        held(.found, .arrays), if *.expected == 1 { "" } else { "s" }, needed(*.expected)
    )]
    ArrayCount {
        /// Layers with weights in the architecture.
        expected: usize,
        /// The highest `k` of the archive's `Wk` and `bk` (0: none).
        found: usize,
        /// The layers with weights, as architecture text (`conv(4,3) relu, dense(10)`).
        layers: String,
        /// The names of the arrays the archive holds.
        arrays: Vec<String>,
    },
    /// Shapes fit but the network is invalid (NaN or infinite values, bad activation).
    #[error("invalid network: {0}")]
    Network(#[from] NnError),
    /// The network holds a layer that has no NumPy form (only dense and convolutional layers
    /// have parameters to export).
    #[error("layer {layer} of kind {kind:?} cannot be exported: it has no W, b form")]
    UnsupportedLayer {
        /// Index of the layer, from 0.
        layer: usize,
        /// Its kind.
        kind: &'static str,
    },
}

/// A shape as NumPy prints it: `(4, 1, 3, 3)`, `(10,)`.
fn tuple(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// What the axes of an expected shape are.
fn layout(shape: &[u64]) -> &'static str {
    match shape.len() {
        4 => "(out_channels, in_channels, kh, kw)",
        2 => "(inputs, outputs)",
        _ => "(outputs,)",
    }
}

/// "W1, b1, W2 (numbered up to 2)", or "no Wk or bk array (it has: x, y)".
fn held(found: &usize, arrays: &[String]) -> String {
    if *found == 0 {
        let list = if arrays.is_empty() { "nothing".to_string() } else { arrays.join(", ") };
        return format!("no Wk or bk array (it has: {list})");
    }
    let numbered: Vec<&str> =
        arrays.iter().map(String::as_str).filter(|n| numbered(n, 'W').or(numbered(n, 'b')).is_some()).collect();
    format!("{} (numbered up to {found})", numbered.join(", "))
}

/// "W1, b1, W2, b2".
fn needed(layers: usize) -> String {
    if layers == 0 {
        return "no array".to_string();
    }
    (1..=layers).map(|k| format!("W{k}, b{k}")).collect::<Vec<_>>().join(", ")
}

/// Reads a network from a `.npz` file; see [`network_from_npz_bytes`].
pub fn import_npz(path: impl AsRef<Path>, hidden: Activation, loss: Loss) -> Result<Network, NpzError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| NpzError::Read { path: path.to_path_buf(), source })?;
    network_from_npz_bytes(&bytes, hidden, loss)
}

/// Builds a network from the bytes of a `.npz` archive holding `W1..Wn` and `b1..bn`.
///
/// `Wk` has shape `inputs × outputs` (NumPy's `x @ W + b`, Keras Dense kernels), float32 or
/// float64, C or Fortran order; `bk` has shape `(outputs,)` or `(1, outputs)`. The archive does
/// not say which functions the network uses, so the caller does: `hidden` follows every layer
/// but the last, whose outputs go through the output function of `loss`. Other arrays are
/// ignored.
pub fn network_from_npz_bytes(bytes: &[u8], hidden: Activation, loss: Loss) -> Result<Network, NpzError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| NpzError::NotAnArchive(e.to_string()))?;
    let names: BTreeSet<String> =
        archive.file_names().filter_map(npyz::npz::array_name_from_file_name).map(str::to_string).collect();
    let layer_count = names.iter().filter_map(|n| numbered(n, 'W')).max().unwrap_or(0);
    if layer_count == 0 {
        return Err(NpzError::NoLayers { found: names.iter().cloned().collect::<Vec<_>>().join(", ") });
    }
    if let Some(extra) = names.iter().filter_map(|n| numbered(n, 'b')).find(|&k| k > layer_count) {
        let reason = format!("b{extra} is present, so the network would have {extra} layers");
        return Err(NpzError::Missing { name: format!("W{extra}"), reason });
    }
    let mut layers = Vec::with_capacity(layer_count);
    let mut previous_columns = None;
    for k in 1..=layer_count {
        let reason = || format!("the archive has W1..W{layer_count}, so it needs every Wk and bk up to {layer_count}");
        let (shape, weights) = read_array(&mut archive, &format!("W{k}"))?
            .ok_or_else(|| NpzError::Missing { name: format!("W{k}"), reason: reason() })?;
        let [rows, columns] = match shape.as_slice() {
            &[r, c] => [r as usize, c as usize],
            _ => return Err(NpzError::NotTwoDimensional { name: format!("W{k}"), shape }),
        };
        if let Some(previous_columns) = previous_columns.filter(|&p| p != rows) {
            return Err(NpzError::ChainMismatch { layer: k, rows, previous_columns });
        }
        previous_columns = Some(columns);
        let (bias_shape, bias) = read_array(&mut archive, &format!("b{k}"))?
            .ok_or_else(|| NpzError::Missing { name: format!("b{k}"), reason: reason() })?;
        if !matches!(bias_shape.as_slice(), [_] | [1, _]) {
            return Err(NpzError::NotOneDimensional { name: format!("b{k}"), shape: bias_shape });
        }
        if bias.len() != columns {
            return Err(NpzError::BiasMismatch { layer: k, len: bias.len(), columns });
        }
        // C-ordered inputs × outputs is, value for value, our column-major outputs × inputs.
        let weights = DMatrix::from_vec(columns, rows, weights);
        let activation = if k == layer_count { Activation::Identity } else { hidden };
        layers.push(Dense::new(weights, DMatrix::from_vec(columns, 1, bias), activation, k - 1)?);
    }
    Ok(Network::from_dense(layers, loss)?)
}

/// Reads a network of the given architecture from a `.npz` file; see
/// [`network_from_npz_bytes_with_architecture`].
pub fn import_npz_with_architecture(
    path: impl AsRef<Path>,
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, NpzError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| NpzError::Read { path: path.to_path_buf(), source })?;
    network_from_npz_bytes_with_architecture(&bytes, architecture, loss)
}

/// Builds a network of `architecture` from the bytes of a `.npz` archive in Saitō's layout:
/// `W1, b1, W2, b2, ...` for the layers with parameters, in order. A convolution's `Wk` is
/// `(filters, channels, kh, kw)` (PyTorch's and Saitō's kernels), a dense layer's `(inputs,
/// outputs)`; `bk` is `(outputs,)` or `(1, outputs)`; float32 or float64. Each array is checked
/// against the shape the architecture needs, and the error names the array, the shape found and
/// the shape expected.
pub fn network_from_npz_bytes_with_architecture(
    bytes: &[u8],
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, NpzError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| NpzError::NotAnArchive(e.to_string()))?;
    let names: BTreeSet<String> =
        archive.file_names().filter_map(npyz::npz::array_name_from_file_name).map(str::to_string).collect();
    let highest = names.iter().filter_map(|n| numbered(n, 'W').max(numbered(n, 'b'))).max().unwrap_or(0);
    let with_weights: Vec<String> =
        architecture.layers.iter().filter(|l| l.parameter_count() > 0).map(LayerSpec::to_string).collect();
    if highest != with_weights.len() {
        // Numbered arrays in numeric order (W2 before W10), the others after them.
        let mut arrays: Vec<String> = names.iter().cloned().collect();
        arrays.sort_by_key(|n| (numbered(n, 'W').or(numbered(n, 'b')).unwrap_or(usize::MAX), n.starts_with('b')));
        return Err(NpzError::ArrayCount {
            expected: with_weights.len(),
            found: highest,
            layers: with_weights.join(", "),
            arrays,
        });
    }
    let mut shape = architecture.input;
    let mut parameters = Vec::new();
    let mut k = 0;
    for (index, spec) in architecture.layers.iter().enumerate() {
        let shapes = spec.parameter_shapes(shape, index)?;
        if let [(_, (outputs, inputs)), _] = shapes.as_slice() {
            k += 1;
            let conv = match *spec {
                LayerSpec::Conv { filters, kernel, stride, padding, .. } => {
                    Some(Conv2dParams::new(shape, filters, kernel, stride, padding, index)?)
                }
                _ => None,
            };
            let weights_shape: Vec<u64> = match &conv {
                Some(params) => params.channels_first_kernel_shape().map(|d| d as u64).to_vec(),
                None => vec![*inputs as u64, *outputs as u64],
            };
            let wrong = |name: String, found: Vec<u64>, expected: Vec<u64>| NpzError::ArrayShape {
                name,
                layer: index,
                spec: spec.to_string(),
                found,
                expected,
            };
            let missing = |name: String| NpzError::Missing {
                reason: format!("layer {index} ({spec}) is layer {k} with weights"),
                name,
            };
            let (found, weights) =
                read_array(&mut archive, &format!("W{k}"))?.ok_or_else(|| missing(format!("W{k}")))?;
            if found != weights_shape {
                return Err(wrong(format!("W{k}"), found, weights_shape));
            }
            let (found, bias) = read_array(&mut archive, &format!("b{k}"))?.ok_or_else(|| missing(format!("b{k}")))?;
            if !matches!(found.as_slice(), [n] | [1, n] if *n == *outputs as u64) {
                return Err(wrong(format!("b{k}"), found, vec![*outputs as u64]));
            }
            let weights = match &conv {
                Some(params) => params.weights_from_channels_first(&weights).expect("the shape was checked above"),
                // C-ordered inputs × outputs is, value for value, our column-major outputs × inputs.
                None => DMatrix::from_vec(*outputs, *inputs, weights),
            };
            parameters.extend([weights, DMatrix::from_vec(*outputs, 1, bias)]);
        }
        shape = spec.output_shape(shape, index)?;
    }
    Ok(architecture.with_parameters(loss, parameters)?)
}

/// `Some(k)` for `"Wk"` (with `letter = 'W'`) and `k ≥ 1`.
fn numbered(name: &str, letter: char) -> Option<usize> {
    let digits = name.strip_prefix(letter)?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An array's shape and its values as `f32` in C order.
type Array = (Vec<u64>, Vec<f32>);

/// The named array, or `None` if the archive lacks it.
fn read_array(archive: &mut ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Option<Array>, NpzError> {
    let bad = |detail: String| NpzError::BadArray { name: name.to_string(), detail };
    let file = match archive.by_name(&npyz::npz::file_name_from_array_name(name)) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(error) => return Err(bad(error.to_string())),
    };
    let stored_bytes = file.size();
    let npy = NpyFile::new(file).map_err(|e| bad(format!("bad .npy header: {e}")))?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let type_str = match npy.dtype() {
        DType::Plain(type_str) => type_str,
        other => return Err(NpzError::UnsupportedDtype { name: name.to_string(), dtype: other.descr() }),
    };
    let item_bytes = type_str.size_field();
    if type_str.type_char() != TypeChar::Float || !matches!(item_bytes, 4 | 8) {
        return Err(NpzError::UnsupportedDtype { name: name.to_string(), dtype: type_str.to_string() });
    }
    // Check the header against the stored size before allocating what it promises.
    let count = shape.iter().try_fold(1_u64, |n, &d| n.checked_mul(d));
    match count.and_then(|n| n.checked_mul(item_bytes)) {
        Some(bytes) if bytes <= stored_bytes => {}
        _ => {
            return Err(bad(format!("its header promises shape {shape:?}, more than the {stored_bytes} bytes stored")));
        }
    }
    let values: Vec<f32> = if item_bytes == 4 {
        npy.into_vec::<f32>().map_err(|e| bad(e.to_string()))?
    } else {
        npy.into_vec::<f64>().map_err(|e| bad(e.to_string()))?.into_iter().map(|v| v as f32).collect()
    };
    if count != Some(values.len() as u64) {
        let shape = tuple(&shape);
        return Err(bad(format!(
            "it holds {} values, not the {} of its shape {shape}",
            values.len(),
            count.unwrap_or(0)
        )));
    }
    let values = match order {
        // Fortran order stores the axes reversed (a 2-D array transposed): back to C order.
        Order::Fortran if shape.len() > 1 => fortran_to_c(&shape, &values),
        _ => values,
    };
    Ok(Some((shape, values)))
}

/// The values of a Fortran-ordered array (first index fastest) in C order (last index fastest).
/// `values.len()` is the product of `shape`.
fn fortran_to_c(shape: &[u64], values: &[f32]) -> Vec<f32> {
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    // The Fortran stride of each axis.
    let strides: Vec<usize> = shape.iter().scan(1, |stride, &d| Some(std::mem::replace(stride, *stride * d))).collect();
    let mut index = vec![0; shape.len()];
    let mut offset = 0;
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        out.push(values[offset]);
        // The next index in C order: the last axis fastest.
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < shape[axis] {
                break;
            }
            offset -= strides[axis] * shape[axis];
            index[axis] = 0;
        }
    }
    out
}

/// Writes the network as a `.npz` NumPy reads with `np.load`; see [`network_to_npz_bytes`].
pub fn export_npz(network: &Network, path: impl AsRef<Path>) -> Result<(), NpzError> {
    let path = path.as_ref();
    let bytes = network_to_npz_bytes(network)?;
    write_atomically(path, &bytes).map_err(|source| NpzError::Write { path: path.to_path_buf(), source })
}

/// The network as `.npz` bytes in Saitō's layout: for each layer with parameters, in order, a
/// float32 `Wk` (dense: `inputs × outputs`, so that `x @ W1 + b1` reproduces it in NumPy;
/// convolution: `(filters, channels, kh, kw)`) and `bk` of shape `(outputs,)`, uncompressed like
/// `np.savez`. The architecture is not stored: the reader names it, as with
/// [`network_from_npz_bytes_with_architecture`].
pub fn network_to_npz_bytes(network: &Network) -> Result<Vec<u8>, NpzError> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut k = 0;
    for (index, layer) in network.layers().iter().enumerate() {
        if layer.parameters().is_empty() {
            continue;
        }
        k += 1;
        let (weights_shape, weights, bias) = if let Some(dense) = layer.as_any().downcast_ref::<Dense>() {
            let (outputs, inputs) = dense.weights().shape();
            (vec![inputs as u64, outputs as u64], dense.weights().as_slice().to_vec(), dense.bias())
        } else if let Some(conv) = layer.as_any().downcast_ref::<Conv2d>() {
            let shape = conv.params().channels_first_kernel_shape().map(|d| d as u64).to_vec();
            (shape, conv.weights_channels_first(), conv.bias())
        } else {
            return Err(NpzError::UnsupportedLayer { layer: index, kind: layer.kind() });
        };
        write_array(&mut zip, &format!("W{k}"), &weights_shape, &weights, options)?;
        write_array(&mut zip, &format!("b{k}"), &[bias.len() as u64], bias.as_slice(), options)?;
    }
    let cursor = zip.finish().map_err(|e| NpzError::Write { path: PathBuf::new(), source: e.into() })?;
    Ok(cursor.into_inner())
}

/// Appends one float32 C-order `.npy` member to the archive.
fn write_array<W: Write + std::io::Seek>(
    zip: &mut zip::ZipWriter<W>,
    name: &str,
    shape: &[u64],
    values: &[f32],
    options: SimpleFileOptions,
) -> Result<(), NpzError> {
    let io_error = |source: std::io::Error| NpzError::Write { path: PathBuf::from(name), source };
    zip.start_file(npyz::npz::file_name_from_array_name(name), options).map_err(|e| io_error(e.into()))?;
    let mut writer =
        npyz::WriteOptions::<f32>::new().default_dtype().shape(shape).writer(&mut *zip).begin_nd().map_err(io_error)?;
    writer.extend(values.iter().copied()).map_err(io_error)?;
    writer.finish().map_err(io_error)
}
