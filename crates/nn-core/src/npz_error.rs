//! The error of NumPy weights in Saitō's layout, whichever file holds them (`.npz`, pickle), and
//! how its messages print shapes.

use std::path::PathBuf;

use thiserror::Error;

use crate::NnError;

/// Why NumPy weights in Saitō's layout (an `.npz` archive, or a pickled dict of arrays) could not
/// be turned into a network, or written.
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
    #[error("the file holds no W1 array (it has: {found}); expected W1..Wn and b1..bn")]
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
        "the file holds {} but the architecture has {expected} layer{} with weights ({layers}), so it needs {}",
        held(.found, .arrays), if *.expected == 1 { "" } else { "s" }, needed(*.expected)
    )]
    ArrayCount {
        /// Layers with weights in the architecture.
        expected: usize,
        /// The highest `k` of the file's `Wk` and `bk` (0: none).
        found: usize,
        /// The layers with weights, as architecture text (`conv(4,3) relu, dense(10)`).
        layers: String,
        /// The names of the arrays the file holds.
        arrays: Vec<String>,
    },
    /// Shapes fit but the network is invalid (NaN or infinite values, bad activation).
    #[error("invalid network: {0}")]
    Network(#[from] NnError),
    /// The network holds a layer that has no NumPy form (only dense and convolutional layers
    /// have parameters to export).
    #[error(
        "layer {layer} of kind {kind:?} cannot be exported: it has no W, b form (a safetensors file keeps every layer)"
    )]
    UnsupportedLayer {
        /// Index of the layer, from 0.
        layer: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// The architecture holds a batch normalisation, whose running statistics files of `W` and
    /// `b` arrays do not hold: the network would predict with fresh ones.
    #[error(
        "layer {layer} (batchnorm) needs its running mean and variance, which files of W and b arrays do not hold: \
         import such a network from safetensors"
    )]
    NoRunningStatistics {
        /// Index of the layer, from 0.
        layer: usize,
    },
}

/// "12 values", or "more values than 64 bits count".
fn values_text(values: Option<u64>) -> String {
    match values {
        Some(n) => format!("{n} values"),
        None => "more values than 64 bits count".to_string(),
    }
}

/// A shape as NumPy prints it: `(4, 1, 3, 3)`, `(10,)`.
pub(crate) fn tuple(shape: &[u64]) -> String {
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

/// `Some(k)` for `"Wk"` (with `letter = 'W'`) and `k ≥ 1`.
pub(crate) fn numbered(name: &str, letter: char) -> Option<usize> {
    let digits = name.strip_prefix(letter)?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
