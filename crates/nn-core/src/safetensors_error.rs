//! The error of the `safetensors` interop, and how its messages list tensor names.

use std::path::PathBuf;

use thiserror::Error;

use crate::NnError;

/// Why a `.safetensors` file could not be turned into a network, or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SafetensorsError {
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
    /// Not a safetensors file, or a damaged one: a truncated file, a header that is not JSON,
    /// offsets or sizes that do not fit the bytes present.
    #[error("not a valid safetensors file: {0}")]
    NotSafetensors(String),
    /// A tensor the architecture needs is absent.
    #[error(
        "tensor {name} is missing: layer {layer} of the architecture ({spec}) needs it (the file holds: {})",
        list(.found)
    )]
    Missing {
        /// The tensor's name (`7.weight`).
        name: String,
        /// Index of the layer in our architecture, from 0.
        layer: usize,
        /// The layer, as architecture text.
        spec: String,
        /// The names the file holds.
        found: Vec<String>,
    },
    /// The input standardisation's tensors (`input.mean`, `input.deviation`) are incomplete or
    /// of the wrong size.
    #[error("the input standardisation cannot be read: {0}")]
    Standardization(String),
    /// Tensors the architecture has no place for (another architecture's, or a running mean
    /// of a batch normalisation).
    #[error("the file holds tensors the architecture has no place for: {} (it needs: {})", list(.extra), list(.expected))]
    Unexpected {
        /// The tensors without a place.
        extra: Vec<String>,
        /// The names the architecture needs.
        expected: Vec<String>,
    },
    /// A tensor whose shape does not fit the layer it belongs to.
    #[error("tensor {name} has shape {found:?} but layer {layer} of the architecture ({spec}) needs {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// Index of the layer in our architecture, from 0.
        layer: usize,
        /// The layer, as architecture text.
        spec: String,
        /// Its shape.
        found: Vec<usize>,
        /// The shape the layer needs.
        expected: Vec<usize>,
    },
    /// A tensor of integers, or of half precision.
    #[error(
        "tensor {name} has dtype {dtype}; only F32 and F64 are supported (in PyTorch: model.float()), and integers \
         for a batch normalisation's num_batches_tracked"
    )]
    UnsupportedDtype {
        /// The tensor's name.
        name: String,
        /// The file's dtype (`F16`, `I64`).
        dtype: String,
    },
    /// Shapes fit but the network is invalid (NaN or infinite values).
    #[error("invalid network: {0}")]
    Network(#[from] NnError),
    /// The network holds a layer with parameters that has no PyTorch form.
    #[error("layer {layer} of kind {kind:?} cannot be exported: only dense and convolutional layers have parameters")]
    UnsupportedLayer {
        /// Index of the layer, from 0.
        layer: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// The safetensors library refused to write the tensors.
    #[error("cannot encode the tensors as safetensors: {0}")]
    Encode(String),
}

/// `a, b, c`, or `nothing`.
fn list(names: &[String]) -> String {
    if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
}
