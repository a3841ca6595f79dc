//! The JSON of a model file as serde reads and writes it: a file of each version going out and
//! coming in, field by field, with `null` read as NaN so that validation can name it.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Activation, Loss, Shape, TrainingRecord};

#[derive(Serialize)]
pub(crate) struct ModelOut<'a> {
    pub(crate) format: &'static str,
    pub(crate) version: u32,
    pub(crate) loss: Loss,
    pub(crate) input: Shape,
    pub(crate) layers: Vec<LayerOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) standardization: Option<StandardizationOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) training: Option<&'a TrainingRecord>,
}

/// The input standardisation: `x ← (x − mean) / deviation`, feature by feature.
#[derive(Serialize)]
pub(crate) struct StandardizationOut<'a> {
    pub(crate) mean: &'a [f32],
    pub(crate) deviation: &'a [f32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StandardizationIn {
    #[serde(deserialize_with = "floats_or_nan")]
    pub(crate) mean: Vec<f32>,
    #[serde(deserialize_with = "floats_or_nan")]
    pub(crate) deviation: Vec<f32>,
}

/// A layer of version 2: its description in the architecture language, and its parameters by
/// name (none for layers without any).
#[derive(Serialize)]
pub(crate) struct LayerOut<'a> {
    pub(crate) layer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) weights: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bias: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) running_mean: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) running_var: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) num_batches_tracked: Option<u64>,
}

/// A file of version 1 (`L = DenseIn`) or 2 (`L = LayerIn`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelIn<L> {
    pub(crate) format: String,
    pub(crate) version: u64,
    pub(crate) loss: Loss,
    #[serde(default)]
    pub(crate) input: Option<Shape>,
    pub(crate) layers: Vec<L>,
    #[serde(default)]
    pub(crate) standardization: Option<StandardizationIn>,
    #[serde(default)]
    pub(crate) training: Option<TrainingRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LayerIn {
    pub(crate) layer: String,
    #[serde(default, deserialize_with = "optional_floats_or_nan")]
    pub(crate) weights: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "optional_floats_or_nan")]
    pub(crate) bias: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "optional_floats_or_nan")]
    pub(crate) running_mean: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "optional_floats_or_nan")]
    pub(crate) running_var: Option<Vec<f32>>,
    #[serde(default)]
    pub(crate) num_batches_tracked: Option<u64>,
}

/// A dense layer of version 1.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DenseIn {
    pub(crate) kind: String,
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
    pub(crate) activation: Activation,
    #[serde(deserialize_with = "floats_or_nan")]
    pub(crate) weights: Vec<f32>,
    #[serde(deserialize_with = "floats_or_nan")]
    pub(crate) bias: Vec<f32>,
}

/// Just enough of a file to report its format and version when the rest does not parse.
#[derive(Deserialize)]
pub(crate) struct Header {
    pub(crate) format: Option<String>,
    pub(crate) version: Option<u64>,
}

pub(crate) fn optional_floats_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<f32>>, D::Error> {
    floats_or_nan(deserializer).map(Some)
}

/// Reads numbers, turning `null` (how JSON writers spell NaN) into NaN so that validation can
/// name the layer and index instead of the parser reporting a type error.
pub(crate) fn floats_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    let values: Vec<Option<f32>> = Vec::deserialize(deserializer)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f32::NAN)).collect())
}
