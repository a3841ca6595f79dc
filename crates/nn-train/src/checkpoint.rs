//! Checkpoints: a network and its training state in one file, written atomically, read back
//! bit for bit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nalgebra::DMatrix;
use nn_core::{
    Activation, Architecture, Dense, LayerSpec, Loss, Network, NnError, RunningStatistics, Shape, Standardization,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::TrainState;

/// The `format` field of every checkpoint file.
pub const CHECKPOINT_FORMAT: &str = "nn-train-checkpoint";
/// The version written by this build. It reads this one and version 1 (dense layers only).
pub const CHECKPOINT_VERSION: u32 = 2;

/// A network with the state of its training: everything [`train`](crate::train) needs to resume.
///
/// The file is JSON: `{"format": "nn-train-checkpoint", "version": 2, "network": {...},
/// "state": {...}}`. Every float array (weights, biases, optimizer buffers, best weights) is a
/// string of 8 hexadecimal digits per value, the value's bits, so that loading restores each
/// value exactly (decimal floats are parsed through `f64` and may round); the rest stays
/// readable. Saving writes a temporary file in the same directory and renames it over the
/// target, so a checkpoint on disk is always complete.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The network, as it was at the end of the last completed step.
    pub network: Network,
    /// The training progress.
    pub state: TrainState,
}

/// Why a checkpoint could not be saved or loaded. Each message names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("cannot read checkpoint {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: io::Error,
    },
    /// The file could not be written (the previous checkpoint, if any, is untouched).
    #[error("cannot write checkpoint {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: io::Error,
    },
    /// The file has no content.
    #[error("checkpoint {} is empty", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file ends before the checkpoint does.
    #[error("checkpoint {} is truncated ({detail})", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the parser stopped.
        detail: String,
    },
    /// Not JSON, or not a checkpoint (a model file, for example).
    #[error("{} is not an nn-train checkpoint: {detail}", .path.display())]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A checkpoint of another format version.
    #[error(
        "checkpoint {} has format version {found}, but this build reads version {supported} only",
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
    /// A field is missing, unknown or of the wrong type.
    #[error("checkpoint {} is malformed: {detail}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The field at fault.
        detail: String,
    },
    /// The network it holds is invalid (shapes, non-finite weights).
    #[error("checkpoint {} holds an invalid network: {source}", .path.display())]
    InvalidNetwork {
        /// The file.
        path: PathBuf,
        /// What is wrong with the network.
        source: NnError,
    },
    /// The training state does not fit the network.
    #[error("checkpoint {} is inconsistent: {detail}", .path.display())]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        detail: String,
    },
    /// The network holds a layer kind that checkpoints cannot store yet.
    #[error("cannot checkpoint layer {layer}: layers of kind {kind:?} are not supported yet")]
    UnsupportedLayer {
        /// Index of the layer.
        layer: usize,
        /// Its kind.
        kind: &'static str,
    },
}

/// The network of version 2: its input shape, then each layer as architecture text with its
/// parameters in order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkBits {
    loss: Loss,
    input: Shape,
    layers: Vec<LayerBits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    standardization: Option<StandardizationBits>,
}

/// The network's input standardisation, when it has one.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StandardizationBits {
    #[serde(with = "crate::bits::vector")]
    mean: Vec<f32>,
    #[serde(with = "crate::bits::vector")]
    deviation: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerBits {
    layer: String,
    #[serde(with = "crate::bits::vectors")]
    parameters: Vec<Vec<f32>>,
    /// A batch normalisation's running statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    statistics: Option<StatisticsBits>,
}

/// Running statistics, exact.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatisticsBits {
    #[serde(with = "crate::bits::vector")]
    mean: Vec<f32>,
    #[serde(with = "crate::bits::vector")]
    variance: Vec<f32>,
    batches_tracked: u64,
}

/// The network of version 1: dense layers only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseNetworkBits {
    loss: Loss,
    layers: Vec<DenseBits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseBits {
    kind: String,
    inputs: usize,
    outputs: usize,
    activation: Activation,
    #[serde(with = "crate::bits::vector")]
    weights: Vec<f32>,
    #[serde(with = "crate::bits::vector")]
    bias: Vec<f32>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u32,
    network: NetworkBits,
    state: &'a TrainState,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    format: String,
    version: u64,
    /// Read once the version is known. Parameters are hex strings, so this costs little.
    network: serde_json::Value,
    state: TrainState,
}

/// Just enough of a file to report its format and version when the rest does not parse.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

impl NetworkBits {
    fn of(network: &Network) -> Self {
        let layers = network
            .layers()
            .iter()
            .map(|layer| LayerBits {
                layer: layer.spec().to_string(),
                parameters: layer.parameters().iter().map(|p| p.as_slice().to_vec()).collect(),
                statistics: layer.running_statistics().map(|s| StatisticsBits {
                    mean: s.mean.clone(),
                    variance: s.variance.clone(),
                    batches_tracked: s.batches_tracked,
                }),
            })
            .collect();
        let standardization = network
            .standardization()
            .map(|s| StandardizationBits { mean: s.mean().to_vec(), deviation: s.deviation().to_vec() });
        NetworkBits { loss: network.loss(), input: network.input_shape(), layers, standardization }
    }

    fn into_network(self, path: &Path) -> Result<Network, CheckpointError> {
        let malformed = |detail: String| CheckpointError::Malformed { path: path.to_path_buf(), detail };
        let invalid = |source| CheckpointError::InvalidNetwork { path: path.to_path_buf(), source };
        let mut specs = Vec::with_capacity(self.layers.len());
        let mut parameters = Vec::new();
        let mut statistics = Vec::new();
        let mut shape = self.input;
        if !shape.is_allowed() {
            return Err(malformed(format!("the input shape {shape} is empty or too large")));
        }
        for (index, layer) in self.layers.into_iter().enumerate() {
            let spec: LayerSpec = layer.layer.parse().map_err(|error| malformed(format!("layer {index}: {error}")))?;
            let shapes = spec.parameter_shapes(shape, index).map_err(invalid)?;
            if shapes.len() != layer.parameters.len() {
                return Err(malformed(format!(
                    "layer {index} ({}) has {} parameter arrays, it needs {}",
                    layer.layer,
                    layer.parameters.len(),
                    shapes.len()
                )));
            }
            for ((name, (rows, cols)), values) in shapes.into_iter().zip(layer.parameters) {
                if Some(values.len()) != rows.checked_mul(cols) {
                    return Err(malformed(format!(
                        "layer {index} ({}) needs {rows}x{cols} {name} values but holds {}",
                        layer.layer,
                        values.len()
                    )));
                }
                parameters.push(DMatrix::from_vec(rows, cols, values));
            }
            if let Some(bits) = layer.statistics {
                let running = RunningStatistics {
                    mean: bits.mean,
                    variance: bits.variance,
                    batches_tracked: bits.batches_tracked,
                };
                statistics.push((index, running));
            }
            shape = spec.output_shape(shape, index).map_err(invalid)?;
            specs.push(spec);
        }
        let mut network = Architecture { input: self.input, layers: specs }
            .with_parameters(self.loss, parameters)
            .map_err(invalid)?;
        let kept = statistics.iter().map(|(index, _)| *index).collect::<Vec<_>>();
        let wanted: Vec<usize> =
            (0..network.layers().len()).filter(|&i| network.layers()[i].running_statistics().is_some()).collect();
        if kept != wanted {
            return Err(malformed(format!(
                "running statistics are kept for layers {kept:?}, but the layers that keep them are {wanted:?}"
            )));
        }
        for (index, running) in statistics {
            network.set_running_statistics(index, running).map_err(invalid)?;
        }
        if let Some(bits) = self.standardization {
            let standardization = Standardization::new(bits.mean, bits.deviation).map_err(invalid)?;
            network.set_standardization(Some(standardization)).map_err(invalid)?;
        }
        Ok(network)
    }
}

impl DenseNetworkBits {
    fn into_network(self, path: &Path) -> Result<Network, CheckpointError> {
        let malformed = |detail: String| CheckpointError::Malformed { path: path.to_path_buf(), detail };
        let invalid = |source| CheckpointError::InvalidNetwork { path: path.to_path_buf(), source };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.into_iter().enumerate() {
            if layer.kind != "dense" {
                return Err(malformed(format!("layer {index} has unknown kind {:?}", layer.kind)));
            }
            let (rows, cols) = (layer.outputs, layer.inputs);
            if Some(layer.weights.len()) != rows.checked_mul(cols) || layer.bias.len() != rows {
                return Err(malformed(format!(
                    "layer {index} declares {cols} inputs and {rows} outputs but holds {} weights and {} biases",
                    layer.weights.len(),
                    layer.bias.len()
                )));
            }
            let weights = DMatrix::from_vec(rows, cols, layer.weights);
            let bias = DMatrix::from_vec(rows, 1, layer.bias);
            layers.push(Dense::new(weights, bias, layer.activation).map_err(|e| invalid(e.at_layer(index)))?);
        }
        Network::from_dense(layers, self.loss).map_err(invalid)
    }
}

impl Checkpoint {
    /// Saves this checkpoint to `path` atomically; see [`save_checkpoint`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        save_checkpoint(&self.network, &self.state, path)
    }

    /// Loads a checkpoint written by [`save`](Checkpoint::save) or [`save_checkpoint`],
    /// checking everything: format, version, shapes, finite weights, and that the state fits
    /// the network.
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| CheckpointError::Read { path: path.to_path_buf(), source })?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// The checkpoint's file content.
    #[expect(clippy::missing_panics_doc, reason = "writing to a Vec cannot fail")]
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut bytes = Vec::new();
        write_checkpoint(&self.network, &self.state, &mut bytes).expect("writing to a Vec cannot fail");
        Ok(bytes)
    }

    /// Parses a checkpoint's file content; `path` is used in error messages only.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint, CheckpointError> {
        let owned_path = || path.to_path_buf();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(CheckpointError::Empty { path: owned_path() });
        }
        let file: FileIn = serde_json::from_slice(bytes).map_err(|error| explain_parse_error(bytes, error, path))?;
        if file.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::NotACheckpoint {
                path: owned_path(),
                detail: format!("its format is {:?}", file.format),
            });
        }
        if file.version == 0 || file.version > u64::from(CHECKPOINT_VERSION) {
            return Err(CheckpointError::UnsupportedVersion {
                path: owned_path(),
                found: file.version,
                supported: CHECKPOINT_VERSION,
            });
        }
        let malformed = |error: serde_json::Error| CheckpointError::Malformed {
            path: owned_path(),
            detail: format!("network: {error}"),
        };
        let network = if file.version == 1 {
            serde_json::from_value::<DenseNetworkBits>(file.network).map_err(malformed)?.into_network(path)?
        } else {
            serde_json::from_value::<NetworkBits>(file.network).map_err(malformed)?.into_network(path)?
        };
        file.state
            .check_fits(&network)
            .map_err(|detail| CheckpointError::Inconsistent { path: owned_path(), detail })?;
        Ok(Checkpoint { network, state: file.state })
    }
}

/// Saves `network` and `state` as a checkpoint at `path`, atomically: the data goes to a new
/// temporary file in the same directory, which is synced and then renamed over `path`, so the
/// file at `path` is always either the previous checkpoint or the complete new one.
///
/// Takes references so that an [`Observer`](crate::Observer) can save from `on_epoch_end`
/// without copying the network.
pub fn save_checkpoint(network: &Network, state: &TrainState, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    write_atomically(path, |writer| write_checkpoint(network, state, writer))
        .map_err(|source| CheckpointError::Write { path: path.to_path_buf(), source })
}

/// The crate's one way of writing a file: `write` fills a temporary file in the same
/// directory, which is synced and renamed over `path`, then the directory is synced. On any
/// error the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = temporary_path(path)?;
    let result = (|| {
        let file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        write(&mut writer)?;
        let file = writer.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // Make the rename itself durable where directories can be synced; best effort.
        if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = File::open(directory).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

fn write_checkpoint(network: &Network, state: &TrainState, writer: &mut impl Write) -> io::Result<()> {
    let network = NetworkBits::of(network);
    let file = FileOut { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, network, state };
    serde_json::to_writer(&mut *writer, &file)?;
    writer.flush()
}

/// `dir/.name.tmp-PID-N`, unique within the process and between processes.
fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(".{}.tmp-{}-{unique}", name.to_string_lossy(), std::process::id())))
}

/// Sorts a parse failure into truncated, not-a-checkpoint, wrong version or malformed.
fn explain_parse_error(bytes: &[u8], error: serde_json::Error, path: &Path) -> CheckpointError {
    use serde_json::error::Category;
    let path = path.to_path_buf();
    let detail = error.to_string();
    match error.classify() {
        Category::Eof => CheckpointError::Truncated { path, detail },
        Category::Io | Category::Syntax => {
            CheckpointError::NotACheckpoint { path, detail: format!("not valid JSON: {detail}") }
        }
        Category::Data if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
            CheckpointError::NotACheckpoint { path, detail: "the JSON is not an object".to_string() }
        }
        Category::Data => match serde_json::from_slice::<Header>(bytes) {
            Ok(Header { format: Some(format), .. }) if format != CHECKPOINT_FORMAT => {
                CheckpointError::NotACheckpoint { path, detail: format!("its format is {format:?}") }
            }
            Ok(Header { version: Some(found), .. }) if found == 0 || found > u64::from(CHECKPOINT_VERSION) => {
                CheckpointError::UnsupportedVersion { path, found, supported: CHECKPOINT_VERSION }
            }
            Ok(Header { format: None, .. }) => CheckpointError::NotACheckpoint {
                path,
                detail: format!("no \"format\": {CHECKPOINT_FORMAT:?} field ({detail})"),
            },
            _ => CheckpointError::Malformed { path, detail },
        },
    }
}
