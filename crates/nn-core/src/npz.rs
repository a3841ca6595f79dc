//! NumPy `.npz` interop in Saitō's layout: `W1, b1, W2, b2, ...` for the layers with parameters,
//! dense kernels as inputs × outputs (the `x @ W + b` convention), convolution kernels as
//! `(out_channels, in_channels, kh, kw)` (PyTorch's `Conv2d`).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};
use thiserror::Error;
use zip::ZipArchive;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;

use crate::atomic_write::write_atomically;
use crate::{
    Activation, Architecture, Conv2d, Conv2dParams, Dense, LayerSpec, Loss, MAX_SAMPLE_VALUES, Network, NnError,
};

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
    /// An array whose header declares more bytes than its compressed bytes can inflate to.
    #[error(
        "array {name} cannot be read: its shape {} declares {declared} bytes, more than its {compressed} compressed \
         bytes can hold",
        tuple(.shape)
    )]
    Inflation {
        /// The array name (`W2`).
        name: String,
        /// The shape its header declares.
        shape: Vec<u64>,
        /// The bytes that shape takes.
        declared: u64,
        /// The bytes the archive stores for it.
        compressed: u64,
    },
    /// An array with more values than any network's weights would have.
    #[error("array {name} has shape {}, {}; the limit for weights is {limit} values", tuple(.shape), values_text(*.values))]
    TooManyValues {
        /// The array name (`W2`).
        name: String,
        /// The shape its header declares.
        shape: Vec<u64>,
        /// The values of that shape (`None`: more than 64 bits can count).
        values: Option<u64>,
        /// The most values such an array may hold.
        limit: u64,
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

/// The most a deflate stream expands: 1032 bytes out for one byte in.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Values one array may hold: 2^28 (1 GiB of `f32`), four times what a layer may hold
/// ([`MAX_SAMPLE_VALUES`]), so no real network is refused by it.
const MAX_ARRAY_VALUES: u64 = 1 << 28;

/// Bytes a `.npy` header may take. NumPy writes a few hundred and its own reader refuses more
/// than 10,000 by default; npyz would allocate whatever the 32-bit length says.
const MAX_HEADER_BYTES: usize = 10_000;

/// Brackets a `.npy` header may nest: a dtype and a shape need three; more would only make the
/// header's parser recurse.
const MAX_HEADER_DEPTH: usize = 16;

/// "12 values", or "more values than 64 bits count".
fn values_text(values: Option<u64>) -> String {
    match values {
        Some(n) => format!("{n} values"),
        None => "more values than 64 bits count".to_string(),
    }
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
        // Each shape is checked against the layers before it as soon as its header is read, so
        // that a misshapen array is refused before its data is.
        let check_weights = |shape: &[u64]| match *shape {
            [rows, _] if previous_columns.is_some_and(|p| p as u64 != rows) => Err(NpzError::ChainMismatch {
                layer: k,
                rows: rows as usize,
                previous_columns: previous_columns.unwrap_or(0),
            }),
            // What an architecture allows a dense layer, so that the network can be saved and
            // loaded as a model file.
            [rows, columns] if rows.checked_mul(columns).is_none_or(|n| n > MAX_SAMPLE_VALUES as u64) => {
                Err(NpzError::TooManyValues {
                    name: format!("W{k}"),
                    shape: shape.to_vec(),
                    values: rows.checked_mul(columns),
                    limit: MAX_SAMPLE_VALUES as u64,
                })
            }
            [_, _] => Ok(()),
            _ => Err(NpzError::NotTwoDimensional { name: format!("W{k}"), shape: shape.to_vec() }),
        };
        let (shape, weights) = read_array(&mut archive, &format!("W{k}"), bytes.len(), check_weights)?
            .ok_or_else(|| NpzError::Missing { name: format!("W{k}"), reason: reason() })?;
        let [rows, columns] = match shape.as_slice() {
            &[r, c] => [r as usize, c as usize],
            _ => return Err(NpzError::NotTwoDimensional { name: format!("W{k}"), shape }),
        };
        previous_columns = Some(columns);
        let check_bias = |shape: &[u64]| match *shape {
            [len] | [1, len] if len as usize == columns => Ok(()),
            [len] | [1, len] => Err(NpzError::BiasMismatch { layer: k, len: len as usize, columns }),
            _ => Err(NpzError::NotOneDimensional { name: format!("b{k}"), shape: shape.to_vec() }),
        };
        let (_, bias) = read_array(&mut archive, &format!("b{k}"), bytes.len(), check_bias)?
            .ok_or_else(|| NpzError::Missing { name: format!("b{k}"), reason: reason() })?;
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
#[expect(clippy::missing_panics_doc, reason = "the shape is checked before the weights are reordered")]
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
            // Shapes are checked from the headers, before the data they promise is read.
            let check_weights = |found: &[u64]| match found == weights_shape.as_slice() {
                true => Ok(()),
                false => Err(wrong(format!("W{k}"), found.to_vec(), weights_shape.clone())),
            };
            let (_, weights) = read_array(&mut archive, &format!("W{k}"), bytes.len(), check_weights)?
                .ok_or_else(|| missing(format!("W{k}")))?;
            let check_bias = |found: &[u64]| match found {
                [n] | [1, n] if *n == *outputs as u64 => Ok(()),
                _ => Err(wrong(format!("b{k}"), found.to_vec(), vec![*outputs as u64])),
            };
            let (_, bias) = read_array(&mut archive, &format!("b{k}"), bytes.len(), check_bias)?
                .ok_or_else(|| missing(format!("b{k}")))?;
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

/// The named array, or `None` if the archive lacks it. `check` sees the shape its header
/// declares before anything else is read; `archive_bytes` is the length of the whole archive.
fn read_array(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    archive_bytes: usize,
    check: impl FnOnce(&[u64]) -> Result<(), NpzError>,
) -> Result<Option<Array>, NpzError> {
    let bad = |detail: String| NpzError::BadArray { name: name.to_string(), detail };
    let mut file = match archive.by_name(&npyz::npz::file_name_from_array_name(name)) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(error) => return Err(bad(error.to_string())),
    };
    let stored_bytes = file.size();
    // The archive's sizes are its own word; what it holds for this member is bounded by its length.
    let compressed_bytes = file.compressed_size().min(archive_bytes as u64);
    let header = checked_header(&mut file).map_err(bad)?;
    let npy = NpyFile::new(Cursor::new(header).chain(file)).map_err(|e| bad(format!("bad .npy header: {e}")))?;
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
    check(&shape)?;
    let count = check_size(name, &shape, item_bytes, stored_bytes, compressed_bytes)?;
    let too_short =
        |read: usize| bad(format!("it holds {read} values, not the {count} of its shape {}", tuple(&shape)));
    // Values are converted as they are read: an f64 array never exists whole.
    let mut values = Vec::with_capacity(count as usize);
    if item_bytes == 4 {
        let data = npy.data::<f32>().map_err(|e| bad(e.to_string()))?;
        for value in data {
            values.push(value.map_err(|e| bad(e.to_string()))?);
        }
    } else {
        let data = npy.data::<f64>().map_err(|e| bad(e.to_string()))?;
        for value in data {
            values.push(value.map_err(|e| bad(e.to_string()))? as f32);
        }
    }
    if values.len() as u64 != count {
        return Err(too_short(values.len()));
    }
    let values = match order {
        // Fortran order stores the axes reversed (a 2-D array transposed): back to C order.
        Order::Fortran if shape.len() > 1 => fortran_to_c(&shape, &values),
        _ => values,
    };
    Ok(Some((shape, values)))
}

/// The values of `shape`, once its bytes are known to fit what the archive stores for it
/// (`stored` as it says, `compressed` inflated at most [`MAX_DEFLATE_RATIO`] times) and
/// [`MAX_ARRAY_VALUES`]: checked before anything is allocated for them.
fn check_size(name: &str, shape: &[u64], item_bytes: u64, stored: u64, compressed: u64) -> Result<u64, NpzError> {
    let count = shape.iter().try_fold(1_u64, |n, &d| n.checked_mul(d));
    let declared = count.and_then(|n| n.checked_mul(item_bytes));
    if declared.is_none_or(|bytes| bytes > stored) {
        let detail = format!("its header promises shape {}, more than the {stored} bytes stored", tuple(shape));
        return Err(NpzError::BadArray { name: name.to_string(), detail });
    }
    let declared = declared.unwrap_or(u64::MAX);
    // 1 KiB of slack: a deflate stream of a few bytes may still inflate to a small array.
    if declared > compressed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
        return Err(NpzError::Inflation { name: name.to_string(), shape: shape.to_vec(), declared, compressed });
    }
    match count {
        Some(count) if count <= MAX_ARRAY_VALUES => Ok(count),
        values => Err(NpzError::TooManyValues {
            name: name.to_string(),
            shape: shape.to_vec(),
            values,
            limit: MAX_ARRAY_VALUES,
        }),
    }
}

/// A `.npy` header that is not safe to hand to a parser: longer than a few kilobytes, nested too
/// deep, or declaring more values than 64 bits count.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct NpyHeaderError(String);

/// Reads the header of one `.npy` array (magic, version, length and text) from `reader`,
/// refusing one that npyz could not parse safely (it allocates what the length field says and
/// multiplies the shape unchecked). Give npyz `Cursor::new(header).chain(reader)`; a header
/// that is not `.npy` at all is returned as read, for npyz to say why.
pub fn read_npy_header(reader: &mut impl Read) -> Result<Vec<u8>, NpyHeaderError> {
    checked_header(reader).map_err(NpyHeaderError)
}

/// The magic, version, length and text of a `.npy` header, read from `file` and checked so that
/// npyz can parse them safely: a length within [`MAX_HEADER_BYTES`], brackets nested at most
/// [`MAX_HEADER_DEPTH`] deep, and integers whose product fits 64 bits (npyz multiplies the
/// shape's dimensions unchecked, which overflows in a debug build).
fn checked_header(file: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut header = Vec::with_capacity(128);
    file.by_ref().take(12).read_to_end(&mut header).map_err(|e| format!("bad .npy header: {e}"))?;
    let (length, start) = match header.get(6) {
        Some(1) if header.len() >= 10 => (u64::from(u16::from_le_bytes([header[8], header[9]])), 10),
        Some(2 | 3) if header.len() >= 12 => {
            (u64::from(u32::from_le_bytes([header[8], header[9], header[10], header[11]])), 12)
        }
        // Not a header npyz reads: it says why.
        _ => return Ok(header),
    };
    if length > MAX_HEADER_BYTES as u64 {
        return Err(format!("its .npy header is {length} bytes; the limit is {MAX_HEADER_BYTES}"));
    }
    let wanted = start + length as usize;
    let more = wanted.saturating_sub(header.len()) as u64;
    file.take(more).read_to_end(&mut header).map_err(|e| format!("bad .npy header: {e}"))?;
    let text = header.get(start..wanted).unwrap_or(&[]);
    let mut depth = 0_usize;
    for &byte in text {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_HEADER_DEPTH {
            return Err(format!("its .npy header nests brackets more than {MAX_HEADER_DEPTH} deep"));
        }
    }
    // Every integer of the header, the shape's among them: if their product fits, so does
    // the shape's (zeros count as ones, for npyz multiplies in order).
    let fits = integers(text).try_fold(1_u64, |product, n| product.checked_mul(n?.max(1)));
    if fits.is_none() {
        return Err("its .npy header declares a shape of more values than 64 bits count".to_string());
    }
    Ok(header)
}

/// The value of every integer literal of `text` as Python writes them (`12`, `1_000`, `0x1f`,
/// `0o7`, `0b1`), `None` for one beyond 64 bits. Integers inside strings count too, which only
/// makes the caller more careful; floats (`1e9`, `2.5`) and words are skipped.
fn integers(text: &[u8]) -> impl Iterator<Item = Option<u64>> + '_ {
    text.split(|b| !(b.is_ascii_alphanumeric() || *b == b'_')).filter_map(|token| {
        let (radix, digits) = match token {
            [b'0', b'x' | b'X', rest @ ..] => (16, rest),
            [b'0', b'o' | b'O', rest @ ..] => (8, rest),
            [b'0', b'b' | b'B', rest @ ..] => (2, rest),
            [b'0'..=b'9', ..] => (10, token),
            _ => return None,
        };
        let digits: Option<Vec<u32>> =
            digits.iter().filter(|&&b| b != b'_').map(|&b| (b as char).to_digit(radix)).collect();
        let digits = digits?;
        Some(digits.iter().try_fold(0_u64, |n, &d| n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))))
    })
}

/// The values of a Fortran-ordered array (first index fastest) in C order (last index fastest).
/// `values.len()` is the product of `shape`.
fn fortran_to_c(shape: &[u64], values: &[f32]) -> Vec<f32> {
    if values.is_empty() {
        // A zero among the axes: the strides of the others could overflow, and nothing moves.
        return Vec::new();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bounded_by_the_stored_bytes_the_compressed_bytes_and_an_absolute_cap() {
        let error = check_size("W1", &[1 << 15, 1 << 14], 4, u64::MAX, u64::MAX).unwrap_err();
        assert!(matches!(error, NpzError::TooManyValues { values: Some(0x2000_0000), .. }), "{error}");
        assert_eq!(
            error.to_string(),
            "array W1 has shape (32768, 16384), 536870912 values; the limit for weights is 268435456 values"
        );
        let error = check_size("b1", &[1000], 8, 8000, 6).unwrap_err();
        assert_eq!(
            error.to_string(),
            "array b1 cannot be read: its shape (1000,) declares 8000 bytes, more than its 6 compressed bytes can hold"
        );
        assert_eq!(check_size("b1", &[0, 5], 4, 0, 0).unwrap(), 0);
        assert!(matches!(check_size("b1", &[u64::MAX, 2], 4, u64::MAX, u64::MAX), Err(NpzError::BadArray { .. })));
        assert_eq!(check_size("b1", &[10, 3], 4, 120, 1).unwrap(), 30);
    }

    #[test]
    fn every_integer_of_a_header_is_counted() {
        let read = |text: &str| integers(text.as_bytes()).collect::<Vec<_>>();
        assert_eq!(
            read("{'descr': '<f4', 'shape': (3, 1_000, 0x10, 0o7, 0b11), 2.5, 1e9}"),
            [Some(3), Some(1000), Some(16), Some(7), Some(3), Some(2), Some(5)]
        );
        assert_eq!(read("(18446744073709551616,)"), [None]);
    }
}
