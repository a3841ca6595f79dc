//! Saving and loading networks in nn-core's versioned JSON model format (`docs/model-format.md`).

use std::fs;
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

use crate::atomic_write::write_atomically;
use crate::{Activation, Dense, Loss, Network, NnError};

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "nn-core-model";
/// The version written by this build, and the only one it reads.
pub const MODEL_VERSION: u32 = 1;

/// Why a model file could not be saved or loaded. Each message names the file and the fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelFileError {
    /// The file could not be read.
    #[error("cannot read model file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file could not be written (the previous file, if any, is left untouched).
    #[error("cannot write model file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file has no content.
    #[error("model file {} is empty", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file ends in the middle of the model.
    #[error("model file {} is truncated: it ends before the model does ({detail})", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the parser stopped.
        detail: String,
    },
    /// The content is not JSON, or not an nn-core model.
    #[error("{} is not an nn-core model file: {detail}", .path.display())]
    NotAModel {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A model file of another version.
    #[error(
        "model file {} has format version {found}, but this build of nn-core reads version {supported} only",
        .path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },
    /// A field is missing, unknown or of the wrong type (an unknown activation, for example).
    #[error("model file {} is malformed: {detail}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The field at fault and where.
        detail: String,
    },
    /// Well-formed, but the network it describes is not valid (shapes, NaN weights, ...).
    #[error("model file {} describes an invalid network: {source}", .path.display())]
    InvalidNetwork {
        /// The file.
        path: PathBuf,
        /// What is wrong with the network.
        source: NnError,
    },
    /// The network holds a layer kind that the format cannot store yet.
    #[error("cannot save layer {layer}: layers of kind {kind:?} have no model-file form yet")]
    UnsupportedLayer {
        /// Index of the layer.
        layer: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// The network holds NaN or infinite parameters (training diverged); saving them would
    /// only produce a file that cannot be loaded.
    #[error("cannot save the network: {0}")]
    NonFinite(NnError),
}

#[derive(Serialize)]
struct ModelOut<'a> {
    format: &'static str,
    version: u32,
    loss: Loss,
    layers: Vec<DenseOut<'a>>,
}

#[derive(Serialize)]
struct DenseOut<'a> {
    kind: &'static str,
    inputs: usize,
    outputs: usize,
    activation: Activation,
    weights: &'a [f32],
    bias: &'a [f32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelIn {
    format: String,
    version: u64,
    loss: Loss,
    layers: Vec<DenseIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseIn {
    kind: String,
    inputs: usize,
    outputs: usize,
    activation: Activation,
    #[serde(deserialize_with = "floats_or_nan")]
    weights: Vec<f32>,
    #[serde(deserialize_with = "floats_or_nan")]
    bias: Vec<f32>,
}

/// Just enough of a file to report its format and version when the rest does not parse.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

/// Reads numbers, turning `null` (how JSON writers spell NaN) into NaN so that validation can
/// name the layer and index instead of the parser reporting a type error.
fn floats_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    let values: Vec<Option<f32>> = Vec::deserialize(deserializer)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f32::NAN)).collect())
}

/// The model as JSON text (what [`save_model`] writes).
pub fn model_to_json(network: &Network) -> Result<String, ModelFileError> {
    let mut layers = Vec::with_capacity(network.layers().len());
    for (index, layer) in network.layers().iter().enumerate() {
        let dense = layer
            .as_any()
            .downcast_ref::<Dense>()
            .ok_or(ModelFileError::UnsupportedLayer { layer: index, kind: layer.kind() })?;
        for (name, values) in [("weights", dense.weights()), ("bias", dense.bias())] {
            if let Some((i, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(ModelFileError::NonFinite(NnError::NonFinite { layer: index, name, index: i, value }));
            }
        }
        layers.push(DenseOut {
            kind: "dense",
            inputs: dense.weights().ncols(),
            outputs: dense.weights().nrows(),
            activation: dense.activation(),
            weights: dense.weights().as_slice(),
            bias: dense.bias().as_slice(),
        });
    }
    let model = ModelOut { format: MODEL_FORMAT, version: MODEL_VERSION, loss: network.loss(), layers };
    Ok(serde_json::to_string(&model).expect("serialising plain numbers and strings cannot fail"))
}

/// Parses a model from JSON text; `path` is used in error messages only.
pub fn model_from_json(text: &[u8], path: &Path) -> Result<Network, ModelFileError> {
    let path = path.to_path_buf();
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ModelFileError::Empty { path });
    }
    let model: ModelIn = match serde_json::from_slice(text) {
        Ok(model) => model,
        Err(error) => return Err(explain_parse_error(text, error, path)),
    };
    if model.format != MODEL_FORMAT {
        return Err(ModelFileError::NotAModel { path, detail: format!("its format is {:?}", model.format) });
    }
    if model.version != u64::from(MODEL_VERSION) {
        return Err(ModelFileError::UnsupportedVersion { path, found: model.version, supported: MODEL_VERSION });
    }
    let mut layers = Vec::with_capacity(model.layers.len());
    for (index, layer) in model.layers.into_iter().enumerate() {
        if layer.kind != "dense" {
            let detail = format!("layer {index} has unknown kind {:?} (this version knows \"dense\")", layer.kind);
            return Err(ModelFileError::Malformed { path, detail });
        }
        let (rows, cols) = (layer.outputs, layer.inputs);
        for (name, len, expected) in [("weights", layer.weights.len(), rows * cols), ("bias", layer.bias.len(), rows)] {
            if len != expected {
                let detail = format!(
                    "layer {index} declares {cols} inputs and {rows} outputs, so {expected} {name} values, but holds {len}"
                );
                return Err(ModelFileError::Malformed { path, detail });
            }
        }
        let weights = DMatrix::from_vec(rows, cols, layer.weights);
        let bias = DMatrix::from_vec(rows, 1, layer.bias);
        let dense = Dense::new(weights, bias, layer.activation, index)
            .map_err(|source| ModelFileError::InvalidNetwork { path: path.clone(), source })?;
        layers.push(dense);
    }
    Network::from_dense(layers, model.loss).map_err(|source| ModelFileError::InvalidNetwork { path, source })
}

/// Sorts a parse failure into truncated, not-a-model, wrong version or malformed.
fn explain_parse_error(text: &[u8], error: serde_json::Error, path: PathBuf) -> ModelFileError {
    use serde_json::error::Category;
    let detail = error.to_string();
    match error.classify() {
        Category::Eof => ModelFileError::Truncated { path, detail },
        Category::Io | Category::Syntax => {
            ModelFileError::NotAModel { path, detail: format!("not valid JSON: {detail}") }
        }
        Category::Data if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
            ModelFileError::NotAModel { path, detail: "the JSON is not an object".to_string() }
        }
        Category::Data => match serde_json::from_slice::<Header>(text) {
            Ok(Header { format: Some(format), .. }) if format != MODEL_FORMAT => {
                ModelFileError::NotAModel { path, detail: format!("its format is {format:?}") }
            }
            Ok(Header { version: Some(found), .. }) if found != u64::from(MODEL_VERSION) => {
                ModelFileError::UnsupportedVersion { path, found, supported: MODEL_VERSION }
            }
            Ok(Header { format: None, .. }) => {
                ModelFileError::NotAModel { path, detail: format!("no \"format\": {MODEL_FORMAT:?} field ({detail})") }
            }
            _ => ModelFileError::Malformed { path, detail },
        },
    }
}

/// Saves a network to `path` atomically: the file is either the complete new model or left as
/// it was.
pub fn save_model(network: &Network, path: impl AsRef<Path>) -> Result<(), ModelFileError> {
    let path = path.as_ref();
    let json = model_to_json(network)?;
    write_atomically(path, json.as_bytes()).map_err(|source| ModelFileError::Write { path: path.to_path_buf(), source })
}

/// Loads a network saved by [`save_model`], checking everything: version, shapes, finite
/// values, known activations.
pub fn load_model(path: impl AsRef<Path>) -> Result<Network, ModelFileError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| ModelFileError::Read { path: path.to_path_buf(), source })?;
    model_from_json(&bytes, path)
}
