//! Saving and loading networks in nn-core's versioned JSON model format (described in
//! `docs/model-format.md`, which the crate documentation shows as [`crate::model_format`]).

use std::fs;
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;

use crate::atomic_write::write_atomically;
use crate::error::check_finite;
use crate::model_file_schema::{DenseIn, Header, LayerIn, LayerOut, ModelIn, ModelOut, StandardizationOut};
use crate::{
    Dense, Layer, LayerSpec, ModelFileError, Network, NnError, RunningStatistics, Standardization, TrainingRecord,
};

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "nn-core-model";
/// The newest version, written by this build for networks with batch normalisation (whose
/// running statistics came with it); other networks are written as version 2, which earlier
/// builds read. It reads this one and every earlier one (version 1 held dense layers only).
pub const MODEL_VERSION: u32 = 3;

/// The version a network is written as: 3 if it keeps running statistics, 2 otherwise.
fn version_for(network: &Network) -> u32 {
    if network.normalises_batches() { 3 } else { 2 }
}

/// The model as JSON text (what [`save_model`] writes).
pub fn model_to_json(network: &Network) -> Result<String, ModelFileError> {
    trained_model_to_json(network, None)
}

/// The model and the record of its training as JSON text (what [`save_trained_model`] writes).
#[expect(clippy::missing_panics_doc, reason = "numbers and strings always serialise")]
pub fn trained_model_to_json(network: &Network, training: Option<&TrainingRecord>) -> Result<String, ModelFileError> {
    let mut layers = Vec::with_capacity(network.layers().len());
    for (index, layer) in network.layers().iter().enumerate() {
        let parameters = layer.parameters();
        let named_parameters = layer.parameter_names().iter().copied().zip(parameters.iter().copied());
        check_finite(index, named_parameters).map_err(ModelFileError::NonFinite)?;
        // The file names parameters as the architecture does (a batch normalisation's scale and
        // shift are its `weights` and `bias`, as in PyTorch).
        let file_names: Vec<&str> = layer
            .spec()
            .parameter_shapes(layer.input_shape(), index)
            .map_err(ModelFileError::NonFinite)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let named = |wanted: &str| file_names.iter().position(|&name| name == wanted).map(|i| parameters[i].as_slice());
        if parameters.len() != file_names.len()
            || parameters.len() != usize::from(named("weights").is_some()) + usize::from(named("bias").is_some())
        {
            return Err(ModelFileError::UnsupportedLayer { layer: index, kind: layer.kind() });
        }
        let statistics = layer.running_statistics();
        layers.push(LayerOut {
            layer: layer.spec().to_string(),
            weights: named("weights"),
            bias: named("bias"),
            running_mean: statistics.map(|s| s.mean.as_slice()),
            running_var: statistics.map(|s| s.variance.as_slice()),
            num_batches_tracked: statistics.map(|s| s.batches_tracked),
        });
    }
    let model = ModelOut {
        format: MODEL_FORMAT,
        version: version_for(network),
        loss: network.loss(),
        input: network.input_shape(),
        layers,
        standardization: network
            .standardization()
            .map(|s| StandardizationOut { mean: s.mean(), deviation: s.deviation() }),
        training,
    };
    Ok(serde_json::to_string(&model).expect("serialising plain numbers and strings cannot fail"))
}

/// Parses a model from JSON text (any version up to [`MODEL_VERSION`]); `path` is used in error
/// messages only.
pub fn model_from_json(text: &[u8], path: &Path) -> Result<Network, ModelFileError> {
    model_and_record_from_json(text, path).map(|(network, _)| network)
}

/// Parses a model and the record of its training, if the file holds one (version 2 files
/// written by [`save_trained_model`] do); `path` is used in error messages only.
pub fn model_and_record_from_json(
    text: &[u8],
    path: &Path,
) -> Result<(Network, Option<TrainingRecord>), ModelFileError> {
    let path = path.to_path_buf();
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ModelFileError::Empty { path });
    }
    let header: ModelIn<serde::de::IgnoredAny> = match serde_json::from_slice(text) {
        Ok(header) => header,
        Err(error) => return Err(explain_parse_error(text, error, path)),
    };
    if header.format != MODEL_FORMAT {
        return Err(crate::committee_file::other_format(text, &header.format, path));
    }
    match header.version {
        1 => match serde_json::from_slice(text) {
            Ok(model) => dense_model(model, path).map(|network| (network, None)),
            Err(error) => Err(ModelFileError::Malformed { path, detail: error.to_string() }),
        },
        version @ (2 | 3) => match serde_json::from_slice::<ModelIn<LayerIn>>(text) {
            Ok(mut model) => {
                let training = model.training.take();
                layered_model(model, version, path).map(|network| (network, training))
            }
            Err(error) => Err(ModelFileError::Malformed { path, detail: error.to_string() }),
        },
        found => Err(ModelFileError::UnsupportedVersion { path, found, supported: MODEL_VERSION }),
    }
}

/// Version 1: dense layers, each with its sizes and activation.
fn dense_model(model: ModelIn<DenseIn>, path: PathBuf) -> Result<Network, ModelFileError> {
    let malformed = |detail: String| ModelFileError::Malformed { path: path.clone(), detail };
    if model.input.is_some() || model.training.is_some() || model.standardization.is_some() {
        let field = match (&model.input, &model.training) {
            (Some(_), _) => "input",
            (None, Some(_)) => "training",
            (None, None) => "standardization",
        };
        return Err(malformed(format!("unknown field `{field}` in a version 1 file")));
    }
    let mut layers = Vec::with_capacity(model.layers.len());
    for (index, layer) in model.layers.into_iter().enumerate() {
        if layer.kind != "dense" {
            let detail = format!("layer {index} has unknown kind {:?} (version 1 knows \"dense\")", layer.kind);
            return Err(malformed(detail));
        }
        let (rows, cols) = (layer.outputs, layer.inputs);
        // The sizes are the file's word: their product may overflow.
        let sizes = [("weights", layer.weights.len(), rows.checked_mul(cols)), ("bias", layer.bias.len(), Some(rows))];
        for (name, len, expected) in sizes {
            if Some(len) != expected {
                let expected = expected.map_or("more than 64 bits count".to_string(), |n| n.to_string());
                let detail = format!(
                    "layer {index} declares {cols} inputs and {rows} outputs, so {expected} {name} values, but holds {len}"
                );
                return Err(malformed(detail));
            }
        }
        let weights = DMatrix::from_vec(rows, cols, layer.weights);
        let bias = DMatrix::from_vec(rows, 1, layer.bias);
        let dense = Dense::new_at(weights, bias, layer.activation, index)
            .map_err(|source| ModelFileError::InvalidNetwork { path: path.clone(), source })?;
        layers.push(dense);
    }
    Network::from_dense(layers, model.loss).map_err(|source| ModelFileError::InvalidNetwork { path, source })
}

/// Versions 2 and 3: the input shape, then each layer as architecture text with its parameters
/// (and in version 3, a batch normalisation's running statistics).
fn layered_model(model: ModelIn<LayerIn>, version: u64, path: PathBuf) -> Result<Network, ModelFileError> {
    let malformed = |detail: String| ModelFileError::Malformed { path: path.clone(), detail };
    let invalid = |source| ModelFileError::InvalidNetwork { path: path.clone(), source };
    let input = model.input.ok_or_else(|| malformed("missing field `input`".to_string()))?;
    if !input.is_allowed() {
        return Err(malformed(format!("the input shape {input} is empty or too large")));
    }
    let mut shape = input;
    let mut layers: Vec<Box<dyn Layer>> = Vec::with_capacity(model.layers.len());
    for (index, mut layer) in model.layers.into_iter().enumerate() {
        let spec: LayerSpec = layer.layer.parse().map_err(|error| malformed(format!("layer {index}: {error}")))?;
        // Sizes come from the description: check them before the values.
        let mut parameters = Vec::new();
        for (name, (rows, cols)) in spec.parameter_shapes(shape, index).map_err(invalid)? {
            let values = match name {
                "weights" => layer.weights.take(),
                _ => layer.bias.take(),
            };
            let values = values.ok_or_else(|| malformed(format!("layer {index} ({}) has no {name}", layer.layer)))?;
            if Some(values.len()) != rows.checked_mul(cols) {
                return Err(malformed(format!(
                    "layer {index} ({}) needs {rows}x{cols} {name} values, but holds {}",
                    layer.layer,
                    values.len()
                )));
            }
            parameters.push(DMatrix::from_vec(rows, cols, values));
        }
        if let Some(name) = [("weights", &layer.weights), ("bias", &layer.bias)].iter().find(|(_, v)| v.is_some()) {
            return Err(malformed(format!("layer {index} ({}) has no parameter named {:?}", layer.layer, name.0)));
        }
        let mut built = spec.with_parameters(shape, parameters, index).map_err(invalid)?;
        let statistics =
            [layer.running_mean.is_some(), layer.running_var.is_some(), layer.num_batches_tracked.is_some()];
        match (built.running_statistics().is_some(), statistics) {
            (true, [true, true, true]) if version >= 3 => {
                let statistics = RunningStatistics {
                    mean: layer.running_mean.take().unwrap_or_default(),
                    variance: layer.running_var.take().unwrap_or_default(),
                    batches_tracked: layer.num_batches_tracked.unwrap_or_default(),
                };
                built
                    .set_running_statistics(statistics)
                    .map_err(|detail| invalid(NnError::InvalidLayer { layer: index, kind: built.kind(), detail }))?;
            }
            (true, _) => {
                return Err(malformed(format!(
                    "layer {index} ({}) needs running_mean, running_var and num_batches_tracked (format version 3)",
                    layer.layer
                )));
            }
            (false, [false, false, false]) => {}
            (false, _) => {
                return Err(malformed(format!(
                    "layer {index} ({}) keeps no running statistics, but the file gives some",
                    layer.layer
                )));
            }
        }
        shape = built.output_shape();
        layers.push(built);
    }
    let mut network = Network::new(layers, model.loss).map_err(invalid)?;
    if let Some(standardization) = model.standardization {
        let standardization = Standardization::new(standardization.mean, standardization.deviation).map_err(invalid)?;
        network.set_standardization(Some(standardization)).map_err(invalid)?;
    }
    Ok(network)
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
                crate::committee_file::other_format(text, &format, path)
            }
            Ok(Header { version: Some(found), .. }) if found == 0 || found > u64::from(MODEL_VERSION) => {
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
/// it was. The format is described in [`model_format`](crate::model_format).
pub fn save_model(network: &Network, path: impl AsRef<Path>) -> Result<(), ModelFileError> {
    let path = path.as_ref();
    let json = model_to_json(network)?;
    write_atomically(path, json.as_bytes()).map_err(|source| ModelFileError::Write { path: path.to_path_buf(), source })
}

/// Saves a network with the record of its training (the data split it saw), atomically like
/// [`save_model`].
pub fn save_trained_model(
    network: &Network,
    training: &TrainingRecord,
    path: impl AsRef<Path>,
) -> Result<(), ModelFileError> {
    let path = path.as_ref();
    let json = trained_model_to_json(network, Some(training))?;
    write_atomically(path, json.as_bytes()).map_err(|source| ModelFileError::Write { path: path.to_path_buf(), source })
}

/// Loads a network saved by [`save_model`], checking everything: version, shapes, finite
/// values, known activations.
pub fn load_model(path: impl AsRef<Path>) -> Result<Network, ModelFileError> {
    load_model_and_record(path).map(|(network, _)| network)
}

/// Loads a network and the record of its training, when the file holds one (see
/// [`save_trained_model`]).
pub fn load_model_and_record(path: impl AsRef<Path>) -> Result<(Network, Option<TrainingRecord>), ModelFileError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| ModelFileError::Read { path: path.to_path_buf(), source })?;
    model_and_record_from_json(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Init, Loss};

    fn network() -> Network {
        Network::dense(&[4, 3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 7).unwrap()
    }

    #[test]
    fn the_training_record_makes_the_round_trip_and_plain_files_have_none() {
        let record = TrainingRecord {
            train_samples: 50_000,
            validation_samples: 10_000,
            recipe: Some("default".into()),
            seed: 7,
            epochs: 3,
            test_accuracy: Some(0.98),
        };
        let json = trained_model_to_json(&network(), Some(&record)).unwrap();
        let (loaded, read) = model_and_record_from_json(json.as_bytes(), Path::new("m.json")).unwrap();
        assert_eq!((loaded, read), (network(), Some(record)));
        let plain = model_to_json(&network()).unwrap();
        assert!(!plain.contains("training"));
        assert_eq!(model_and_record_from_json(plain.as_bytes(), Path::new("m.json")).unwrap().1, None);
        let misspelt = json.replace("validation_samples", "validation_sample");
        let error = model_from_json(misspelt.as_bytes(), Path::new("m.json")).unwrap_err();
        assert!(error.to_string().contains("validation_sample"), "{error}");
    }

    #[test]
    fn the_standardization_makes_the_round_trip_and_a_broken_one_is_refused() {
        let mut standardized = network();
        let standardization = Standardization::new(vec![0.1, 0.2, 0.0, 1.0 / 3.0], vec![0.3, 1.0, 2.5, 0.7]).unwrap();
        standardized.set_standardization(Some(standardization)).unwrap();
        let json = model_to_json(&standardized).unwrap();
        let loaded = model_from_json(json.as_bytes(), Path::new("m.json")).unwrap();
        assert_eq!(loaded, standardized);
        assert_ne!(loaded, network());
        assert!(!model_to_json(&network()).unwrap().contains("standardization"));
        for (from, to, words) in [
            ("\"deviation\":[0.3,", "\"deviation\":[0.0,", "deviation of feature 0 is 0"),
            ("\"deviation\":[0.3,", "\"deviation\":[", "4 means and 3 deviations"),
            ("\"mean\":[0.1,", "\"mean\":[0.1,0.5,", "5 means and 4 deviations"),
            ("\"deviation\":[0.3,", "\"deviation\":[null,", "deviation of feature 0 is NaN"),
            ("\"deviation\"", "\"std\"", "unknown field `std`"),
        ] {
            assert!(json.contains(from), "{json}");
            let error = model_from_json(json.replace(from, to).as_bytes(), Path::new("m.json")).unwrap_err();
            assert!(error.to_string().contains(words), "{error}");
        }
    }
}
