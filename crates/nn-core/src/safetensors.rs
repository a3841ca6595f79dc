//! `safetensors` interop (the format of PyTorch, candle and the Hugging Face hub) with PyTorch's
//! `state_dict` names for an `nn.Sequential`.
//!
//! # How our layers become PyTorch's modules
//!
//! In an `nn.Sequential` every module takes an index, and a module's parameters are named
//! `<index>.weight` and `<index>.bias`. Activations, pooling, flatten and dropout are modules
//! too, so they take indices although they have no parameters. Our [`Architecture`] folds the
//! activation that follows a dense or convolutional layer into that layer (`conv(32,3) relu` is
//! one [`LayerSpec::Conv`]), so such a layer stands for two modules (`nn.Conv2d`, `nn.ReLU`);
//! one without activation (identity) for one; every other layer for one. Thus
//!
//! ```text
//! conv(32,3) relu  conv(64,3) relu  maxpool(2)  dropout(0.25)  flatten  dense(128) relu  dropout(0.5)  dense(10)
//! 0          1     2          3     4           5              6        7          8     9             10
//! ```
//!
//! has the parameters `0.*`, `2.*`, `7.*` and `10.*` ([`pytorch_state_dict_names`]).
//!
//! A `batchnorm` is one module, `nn.BatchNorm1d` after a dense layer or `nn.BatchNorm2d` after a
//! convolution, with PyTorch's five tensors: `weight` (γ) and `bias` (β), and the buffers
//! `running_mean`, `running_var` (F32, `(channels,)`) and `num_batches_tracked` (I64, a scalar).
//!
//! The tensors have PyTorch's shapes: `nn.Linear`'s weight is `(outputs, inputs)`,
//! `nn.Conv2d`'s `(out_channels, in_channels, kh, kw)`, a bias `(outputs,)`. Images are
//! channels first in PyTorch and channels last inside our networks; our `flatten` gives the
//! channels-first order of `nn.Flatten`, so dense weights after it need no reordering, and only
//! the inputs given to [`Network::predict_batch`] must be put channels last.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;

use crate::atomic_write::write_atomically;
use crate::safetensors_error::SafetensorsError;
use crate::{
    Activation, Architecture, BatchNorm, Conv2d, Conv2dParams, Dense, LayerSpec, Loss, Network, Standardization,
};
use ::safetensors::{Dtype, SafeTensors, View};
use nalgebra::DMatrix;

/// How many `nn.Sequential` modules our layer stands for: a dense or convolutional layer with an
/// activation is two (`nn.Linear`, `nn.ReLU`), every other layer one.
fn module_count(spec: &LayerSpec) -> usize {
    match *spec {
        LayerSpec::Dense { activation, .. } | LayerSpec::Conv { activation, .. } => {
            1 + usize::from(activation != Activation::Identity)
        }
        _ => 1,
    }
}

/// For each layer of the architecture, the `nn.Sequential` index of its first module.
fn module_indices(architecture: &Architecture) -> Vec<usize> {
    architecture
        .layers
        .iter()
        .scan(0, |next, spec| {
            let index = *next;
            *next += module_count(spec);
            Some(index)
        })
        .collect()
}

/// The names of the architecture's parameters in PyTorch's `state_dict` of the equivalent
/// `nn.Sequential`, in order: `["0.weight", "0.bias", "2.weight", ...]` (see the module
/// documentation for the numbering).
///
/// ```
/// use nn_core::{Architecture, pytorch_state_dict_names};
/// let arch: Architecture = "conv(32,3) relu conv(64,3) relu maxpool(2) flatten dense(128) relu dense(10)".parse()?;
/// let names = pytorch_state_dict_names(&arch);
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias", "8.weight", "8.bias"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pytorch_state_dict_names(architecture: &Architecture) -> Vec<String> {
    architecture
        .layers
        .iter()
        .zip(module_indices(architecture))
        .flat_map(|(spec, index)| {
            let names: &[&str] = match spec {
                LayerSpec::BatchNorm => &BATCH_NORM_TENSORS,
                _ if spec.parameter_count() > 0 => &["weight", "bias"],
                _ => &[],
            };
            names.iter().map(move |name| format!("{index}.{name}"))
        })
        .collect()
}

/// The tensors of an `nn.BatchNorm1d` or `nn.BatchNorm2d` in a `state_dict`, in PyTorch's order.
const BATCH_NORM_TENSORS: [&str; 5] = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];

/// Reads a network of the given architecture from a `.safetensors` file; see
/// [`network_from_safetensors_bytes`].
pub fn import_safetensors(
    path: impl AsRef<Path>,
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, SafetensorsError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| SafetensorsError::Read { path: path.to_path_buf(), source })?;
    network_from_safetensors_bytes(&bytes, architecture, loss)
}

/// Builds a network of `architecture` from the bytes of a safetensors file holding the
/// `state_dict` of the equivalent PyTorch `nn.Sequential` (names from
/// [`pytorch_state_dict_names`], PyTorch's shapes), in F32 or F64. The file must hold exactly
/// those tensors; each is checked against the shape its layer needs. The header's sizes are
/// checked against the bytes present before anything is allocated.
pub fn network_from_safetensors_bytes(
    bytes: &[u8],
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, SafetensorsError> {
    if let Some(name) = name_given_twice(bytes) {
        return Err(SafetensorsError::NotSafetensors(format!("its header names tensor {name:?} twice")));
    }
    let file = SafeTensors::deserialize(bytes).map_err(|e| SafetensorsError::NotSafetensors(e.to_string()))?;
    let mut found: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    found.sort();
    let expected = pytorch_state_dict_names(architecture);
    let expected_set: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    let standardized = STANDARDIZATION_TENSORS.iter().any(|name| found.iter().any(|n| n == name));
    let extra: Vec<String> = found
        .iter()
        .filter(|n| {
            let ours = expected_set.contains(n.as_str()) || STANDARDIZATION_TENSORS.contains(&n.as_str());
            !ours
        })
        .cloned()
        .collect();

    let mut shape = architecture.input;
    let mut parameters = Vec::new();
    let mut statistics = Vec::new();
    for ((layer, spec), module) in architecture.layers.iter().enumerate().zip(module_indices(architecture)) {
        let tensor = |name: String| {
            file.tensor(&name).map_err(|_| SafetensorsError::Missing {
                name: name.clone(),
                layer,
                spec: spec.to_string(),
                found: found.clone(),
            })
        };
        let wrong_shape = |name: String, found: &[usize], expected: Vec<usize>| SafetensorsError::Shape {
            name,
            layer,
            spec: spec.to_string(),
            found: found.to_vec(),
            expected,
        };
        if *spec == LayerSpec::BatchNorm {
            let channels = spec.output_shape(shape, layer)?.channels;
            let read = |name: &str| -> Result<Vec<f32>, SafetensorsError> {
                let name = format!("{module}.{name}");
                let tensor = tensor(name.clone())?;
                if tensor.shape() != [channels] {
                    return Err(wrong_shape(name, tensor.shape(), vec![channels]));
                }
                values(&name, tensor.dtype(), tensor.data())
            };
            let (scale, shift) = (read("weight")?, read("bias")?);
            let (mean, variance) = (read("running_mean")?, read("running_var")?);
            let name = format!("{module}.num_batches_tracked");
            let counter = tensor(name.clone())?;
            let batches_tracked = batches_tracked(&name, counter.dtype(), counter.shape(), counter.data())?;
            parameters.extend([DMatrix::from_vec(channels, 1, scale), DMatrix::from_vec(channels, 1, shift)]);
            statistics.push((layer, crate::RunningStatistics { mean, variance, batches_tracked }));
            shape = spec.output_shape(shape, layer)?;
            continue;
        }
        // Checks the layer fits its input (a dense layer after an image needs a flatten) before
        // any tensor is read, so that an invalid architecture is reported as such.
        if let [(_, (outputs, inputs)), _] = spec.parameter_shapes(shape, layer)?.as_slice() {
            let (outputs, inputs) = (*outputs, *inputs);
            let conv = match *spec {
                LayerSpec::Conv { filters, kernel, stride, padding, .. } => {
                    Some(Conv2dParams::new_at(shape, filters, kernel, stride, padding, layer)?)
                }
                _ => None,
            };
            let weights_shape = match &conv {
                Some(params) => params.channels_first_kernel_shape().to_vec(),
                None => vec![outputs, inputs],
            };
            let read = |name: String, expected: Vec<usize>| -> Result<Vec<f32>, SafetensorsError> {
                let tensor = file.tensor(&name).map_err(|_| SafetensorsError::Missing {
                    name: name.clone(),
                    layer,
                    spec: spec.to_string(),
                    found: found.clone(),
                })?;
                if tensor.shape() != expected.as_slice() {
                    let found = tensor.shape().to_vec();
                    return Err(SafetensorsError::Shape { name, layer, spec: spec.to_string(), found, expected });
                }
                values(&name, tensor.dtype(), tensor.data())
            };
            // A missing tensor is the clearer message when a file also holds extra ones
            // (`model.0.weight` for `0.weight`), so extra ones are reported once all are found.
            let weights = read(format!("{module}.weight"), weights_shape.clone())?;
            let bias = read(format!("{module}.bias"), vec![outputs])?;
            let weights = match &conv {
                Some(params) => {
                    params.weights_from_channels_first(&weights).ok_or_else(|| SafetensorsError::Shape {
                        name: format!("{module}.weight"),
                        layer,
                        spec: spec.to_string(),
                        found: vec![weights.len()],
                        expected: weights_shape.clone(),
                    })?
                }
                // PyTorch's row-major (outputs, inputs) is our outputs × inputs, read by rows.
                None => DMatrix::from_row_slice(outputs, inputs, &weights),
            };
            parameters.extend([weights, DMatrix::from_vec(outputs, 1, bias)]);
        }
        shape = spec.output_shape(shape, layer)?;
    }
    if !extra.is_empty() {
        return Err(SafetensorsError::Unexpected { extra, expected });
    }
    let mut network = architecture.with_parameters(loss, parameters)?;
    for (layer, running) in statistics {
        network.set_running_statistics(layer, running)?;
    }
    if standardized {
        let features = network.input_size();
        let read = |name: &str| -> Result<Vec<f32>, SafetensorsError> {
            let [mean, deviation] = STANDARDIZATION_TENSORS;
            let tensor = file.tensor(name).map_err(|_| {
                SafetensorsError::Standardization(format!("{name} is missing ({mean} and {deviation} go together)"))
            })?;
            if tensor.shape() != [features] {
                return Err(SafetensorsError::Standardization(format!(
                    "{name} has shape {:?}, but the network takes {features} inputs, so [{features}] is needed",
                    tensor.shape()
                )));
            }
            values(name, tensor.dtype(), tensor.data())
        };
        let [mean, deviation] = STANDARDIZATION_TENSORS;
        network.set_standardization(Some(Standardization::new(read(mean)?, read(deviation)?)?))?;
    }
    Ok(network)
}

/// The names of the input standardisation's mean and deviation in safetensors files.
pub const STANDARDIZATION_TENSORS: [&str; 2] = ["input.mean", "input.deviation"];

/// The first name that the JSON header of a safetensors file gives twice, if any. The
/// safetensors crate reads the header into a map, where the second entry silently replaces the
/// first and the lost tensor's bytes then show as a gap between offsets; this reads the names
/// alone to say what is really wrong. A header it cannot read is left to the crate to refuse.
fn name_given_twice(bytes: &[u8]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    struct FirstRepeated;
    impl<'de> Visitor<'de> for FirstRepeated {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // Read to the end: the deserializer checks that the object closes.
            let (mut seen, mut repeated) = (BTreeSet::new(), None);
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if repeated.is_none() && seen.contains(&name) {
                    repeated = Some(name);
                } else {
                    seen.insert(name);
                }
            }
            Ok(repeated)
        }
    }

    let length = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header = bytes.get(8..8usize.checked_add(length)?)?;
    serde_json::Deserializer::from_slice(header).deserialize_map(FirstRepeated).ok().flatten()
}

/// The count of a `num_batches_tracked` tensor: PyTorch's I64 scalar (or one value of any integer
/// type), not negative.
fn batches_tracked(name: &str, dtype: Dtype, shape: &[usize], data: &[u8]) -> Result<u64, SafetensorsError> {
    let value = match (dtype, data.len()) {
        (Dtype::I64, 8) => i64::from_le_bytes(data.try_into().expect("8 bytes")),
        (Dtype::I32, 4) => i64::from(i32::from_le_bytes(data.try_into().expect("4 bytes"))),
        (Dtype::I64 | Dtype::I32, _) => {
            return Err(SafetensorsError::NotSafetensors(format!(
                "{name} has shape {shape:?}; a count of batches is one value"
            )));
        }
        (other, _) => {
            return Err(SafetensorsError::UnsupportedDtype { name: name.to_string(), dtype: other.to_string() });
        }
    };
    u64::try_from(value)
        .map_err(|_| SafetensorsError::NotSafetensors(format!("{name} counts {value} batches, below 0")))
}

/// A tensor's little-endian values as `f32`: F32 as they are, F64 rounded to the nearest.
fn values(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, SafetensorsError> {
    match dtype {
        Dtype::F32 => Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
        Dtype::F64 => Ok(data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect()),
        other => Err(SafetensorsError::UnsupportedDtype { name: name.to_string(), dtype: other.to_string() }),
    }
}

/// Writes the network as a `.safetensors` file PyTorch loads into the equivalent
/// `nn.Sequential` with `model.load_state_dict(safetensors.torch.load_file(path))`; see
/// [`network_to_safetensors_bytes`]. The file is written atomically.
pub fn export_safetensors(network: &Network, path: impl AsRef<Path>) -> Result<(), SafetensorsError> {
    let path = path.as_ref();
    let bytes = network_to_safetensors_bytes(network)?;
    write_atomically(path, &bytes).map_err(|source| SafetensorsError::Write { path: path.to_path_buf(), source })
}

/// One tensor to write: its dtype, PyTorch's shape and the little-endian bytes of its values.
struct F32Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Tensor {
    fn new(shape: Vec<usize>, values: impl IntoIterator<Item = f32>) -> Self {
        F32Tensor { dtype: Dtype::F32, shape, bytes: values.into_iter().flat_map(f32::to_le_bytes).collect() }
    }

    /// An I64 scalar, as PyTorch keeps `num_batches_tracked`.
    fn count(value: u64) -> Self {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        F32Tensor { dtype: Dtype::I64, shape: Vec::new(), bytes: value.to_le_bytes().to_vec() }
    }
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The network as the bytes of a safetensors file: for each dense or convolutional layer, F32
/// tensors `<index>.weight` (dense: `(outputs, inputs)`; convolution: `(out_channels,
/// in_channels, kh, kw)`) and `<index>.bias` (`(outputs,)`), for each batch normalisation the five
/// tensors of PyTorch's (see the module documentation), named by [`pytorch_state_dict_names`],
/// with the metadata `format: pt` that `safetensors.torch.save_file` writes. A network that
/// standardises its inputs adds `input.mean` and `input.deviation` (`(inputs,)`): PyTorch's
/// `load_state_dict` refuses keys its model lacks, so pop them first and compute
/// `x = (x - mean) / deviation` before the model. The architecture is
/// not stored: the reader names it, as with [`network_from_safetensors_bytes`].
pub fn network_to_safetensors_bytes(network: &Network) -> Result<Vec<u8>, SafetensorsError> {
    let architecture = network.architecture();
    let mut tensors = Vec::new();
    for ((layer, object), module) in network.layers().iter().enumerate().zip(module_indices(&architecture)) {
        if object.parameters().is_empty() {
            continue;
        }
        if let Some(norm) = object.as_any().downcast_ref::<BatchNorm>() {
            let channels = vec![norm.channels()];
            let statistics = norm.statistics();
            let vector = |values: &[f32]| F32Tensor::new(channels.clone(), values.iter().copied());
            tensors.push((format!("{module}.weight"), vector(norm.scale().as_slice())));
            tensors.push((format!("{module}.bias"), vector(norm.shift().as_slice())));
            tensors.push((format!("{module}.running_mean"), vector(&statistics.mean)));
            tensors.push((format!("{module}.running_var"), vector(&statistics.variance)));
            tensors.push((format!("{module}.num_batches_tracked"), F32Tensor::count(statistics.batches_tracked)));
            continue;
        }
        let (weights, bias) = if let Some(dense) = object.as_any().downcast_ref::<Dense>() {
            let (outputs, inputs) = dense.weights().shape();
            // Our column-major outputs × inputs, transposed, is PyTorch's row-major one.
            let weights = F32Tensor::new(vec![outputs, inputs], dense.weights().transpose().iter().copied());
            (weights, dense.bias())
        } else if let Some(conv) = object.as_any().downcast_ref::<Conv2d>() {
            let shape = conv.params().channels_first_kernel_shape().to_vec();
            (F32Tensor::new(shape, conv.weights_channels_first()), conv.bias())
        } else {
            return Err(SafetensorsError::UnsupportedLayer { layer, kind: object.kind() });
        };
        tensors.push((format!("{module}.weight"), weights));
        tensors.push((format!("{module}.bias"), F32Tensor::new(vec![bias.len()], bias.iter().copied())));
    }
    if let Some(standardization) = network.standardization() {
        let [mean, deviation] = STANDARDIZATION_TENSORS;
        let features = vec![standardization.features()];
        tensors.push((mean.to_string(), F32Tensor::new(features.clone(), standardization.mean().iter().copied())));
        tensors.push((deviation.to_string(), F32Tensor::new(features, standardization.deviation().iter().copied())));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    ::safetensors::serialize(tensors.iter().map(|(name, tensor)| (name.as_str(), tensor)), Some(metadata))
        .map_err(|e| SafetensorsError::Encode(e.to_string()))
}
