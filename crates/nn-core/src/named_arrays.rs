//! Arrays by name in Saitō's layout (`W1, b1, W2, b2, ...`), whichever file holds them, turned
//! into a network: a dense one of the `Wk` alone, or one of a given architecture. The `.npz`
//! reader and the pickle reader each give their arrays through [`NamedArrays`], so that both
//! check shapes, count layers and word their errors the same way.

use std::collections::BTreeSet;

use nalgebra::DMatrix;

use crate::npz_error::{NpzError, numbered};
use crate::{
    Activation, Architecture, Conv2dParams, Dense, LayerSpec, Loss, MAX_SAMPLE_VALUES, Network, Standardization,
};

/// Values one array may hold: 2^28 (1 GiB of `f32`), four times what a layer may hold
/// ([`MAX_SAMPLE_VALUES`]), so no real network is refused by it.
pub(crate) const MAX_ARRAY_VALUES: u64 = 1 << 28;

/// An array's shape and its values as `f32` in C order.
pub(crate) type Array = (Vec<u64>, Vec<f32>);

/// A file's arrays, by name.
pub(crate) trait NamedArrays {
    /// The names of every array the file holds.
    fn names(&self) -> BTreeSet<String>;

    /// The named array as `f32` in C order, or `None` if the file has none by that name. `check`
    /// sees the shape before any value is read or converted, and its error is returned as is.
    fn read(
        &mut self,
        name: &str,
        check: impl FnOnce(&[u64]) -> Result<(), NpzError>,
    ) -> Result<Option<Array>, NpzError>;
}

/// A dense network of the file's `W1..Wn` and `b1..bn`.
///
/// `Wk` has shape `inputs × outputs` (NumPy's `x @ W + b`, Keras Dense kernels); `bk` has shape
/// `(outputs,)` or `(1, outputs)`. `hidden` follows every layer but the last, whose outputs go
/// through the output function of `loss`. Other arrays are ignored.
pub(crate) fn dense_network(
    arrays: &mut impl NamedArrays,
    hidden: Activation,
    loss: Loss,
) -> Result<Network, NpzError> {
    let names = arrays.names();
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
        let reason = || format!("the file has W1..W{layer_count}, so it needs every Wk and bk up to {layer_count}");
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
        let (shape, weights) = arrays
            .read(&format!("W{k}"), check_weights)?
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
        let (_, bias) = arrays
            .read(&format!("b{k}"), check_bias)?
            .ok_or_else(|| NpzError::Missing { name: format!("b{k}"), reason: reason() })?;
        // C-ordered inputs × outputs is, value for value, our column-major outputs × inputs.
        let weights = DMatrix::from_vec(columns, rows, weights);
        let activation = if k == layer_count { Activation::Identity } else { hidden };
        layers.push(Dense::new_at(weights, DMatrix::from_vec(columns, 1, bias), activation, k - 1)?);
    }
    let mut network = Network::from_dense(layers, loss)?;
    network.set_standardization(standardization(arrays, network.input_size())?)?;
    Ok(network)
}

/// A network of `architecture` from the file's `W1, b1, W2, b2, ...` for its layers with
/// parameters, in order: a convolution's `Wk` is `(filters, channels, kh, kw)`, a dense layer's
/// `(inputs, outputs)`, `bk` is `(outputs,)` or `(1, outputs)`. Each array is checked against
/// the shape the architecture needs before its values are read.
pub(crate) fn network_of_architecture(
    arrays: &mut impl NamedArrays,
    architecture: &Architecture,
    loss: Loss,
) -> Result<Network, NpzError> {
    if let Some(layer) = architecture.layers.iter().position(|l| *l == LayerSpec::BatchNorm) {
        return Err(NpzError::NoRunningStatistics { layer });
    }
    let names = arrays.names();
    let highest = names.iter().filter_map(|n| numbered(n, 'W').max(numbered(n, 'b'))).max().unwrap_or(0);
    let with_weights: Vec<String> =
        architecture.layers.iter().filter(|l| l.parameter_count() > 0).map(LayerSpec::to_string).collect();
    if highest != with_weights.len() {
        // Numbered arrays in numeric order (W2 before W10), the others after them.
        let mut listed: Vec<String> = names.iter().cloned().collect();
        listed.sort_by_key(|n| (numbered(n, 'W').or(numbered(n, 'b')).unwrap_or(usize::MAX), n.starts_with('b')));
        return Err(NpzError::ArrayCount {
            expected: with_weights.len(),
            found: highest,
            layers: with_weights.join(", "),
            arrays: listed,
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
                    Some(Conv2dParams::new_at(shape, filters, kernel, stride, padding, index)?)
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
            // Shapes are checked as soon as they are known (an .npz's from its headers), before the
            // data they promise is read.
            let check_weights = |found: &[u64]| match found == weights_shape.as_slice() {
                true => Ok(()),
                false => Err(wrong(format!("W{k}"), found.to_vec(), weights_shape.clone())),
            };
            let (_, weights) = arrays.read(&format!("W{k}"), check_weights)?.ok_or_else(|| missing(format!("W{k}")))?;
            let check_bias = |found: &[u64]| match found {
                [n] | [1, n] if *n == *outputs as u64 => Ok(()),
                _ => Err(wrong(format!("b{k}"), found.to_vec(), vec![*outputs as u64])),
            };
            let (_, bias) = arrays.read(&format!("b{k}"), check_bias)?.ok_or_else(|| missing(format!("b{k}")))?;
            let weights = match &conv {
                Some(params) => params.weights_from_channels_first(&weights).expect("the shape was checked above"),
                // C-ordered inputs × outputs is, value for value, our column-major outputs × inputs.
                None => DMatrix::from_vec(*outputs, *inputs, weights),
            };
            parameters.extend([weights, DMatrix::from_vec(*outputs, 1, bias)]);
        }
        shape = spec.output_shape(shape, index)?;
    }
    let mut network = architecture.with_parameters(loss, parameters)?;
    network.set_standardization(standardization(arrays, network.input_size())?)?;
    Ok(network)
}

/// The names of the input standardisation's mean and deviation in NumPy files.
pub(crate) const STANDARDIZATION_ARRAYS: [&str; 2] = ["input_mean", "input_deviation"];

/// The input standardisation the file holds as `input_mean` and `input_deviation`, each of
/// shape `(features,)`; `None` when it holds neither.
fn standardization(arrays: &mut impl NamedArrays, features: usize) -> Result<Option<Standardization>, NpzError> {
    let names = arrays.names();
    let [mean, deviation] = STANDARDIZATION_ARRAYS;
    if !names.contains(mean) && !names.contains(deviation) {
        return Ok(None);
    }
    let mut read = |name: &str| {
        let check = |found: &[u64]| match found {
            [n] if *n == features as u64 => Ok(()),
            _ => Err(NpzError::BadArray {
                name: name.to_string(),
                detail: format!("shape {found:?}, but the network takes {features} inputs, so ({features},) is needed"),
            }),
        };
        let missing = || NpzError::Missing {
            name: name.to_string(),
            reason: format!("the file holds the other array of the input standardisation ({mean}, {deviation})"),
        };
        arrays.read(name, check)?.map(|(_, values)| values).ok_or_else(missing)
    };
    let (mean, deviation) = (read(mean)?, read(deviation)?);
    Ok(Some(Standardization::new(mean, deviation)?))
}

/// The values of a Fortran-ordered array (first index fastest) in C order (last index fastest).
/// `values.len()` is the product of `shape`.
pub(crate) fn fortran_to_c(shape: &[u64], values: &[f32]) -> Vec<f32> {
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
