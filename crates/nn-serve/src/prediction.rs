//! A prediction: the network's answer to one input, as `POST /api/predict` returns it.

use std::time::Instant;

use axum::http::StatusCode;
use nn_core::Classifier;
use serde::{Deserialize, Serialize};

use crate::input::NetworkInput;
use crate::{ApiError, NamedModel};

/// The answer of `POST /api/predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The model that answered.
    pub model: String,
    /// The most probable digit (the smallest one on a tie).
    pub digit: u8,
    /// Its probability.
    pub confidence: f32,
    /// The ten outputs, digit 0 first.
    pub probabilities: Vec<f32>,
    /// The 784 inputs the network saw (28 rows of 28, 0 background, 1 ink).
    pub prepared: Vec<f32>,
    /// For an image: whether it was dark ink on light paper, and so inverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverted: Option<bool>,
    /// Milliseconds from the request's arrival to this answer, reading the body included.
    pub elapsed_ms: f64,
}

pub(crate) fn predict_with(model: &NamedModel, input: NetworkInput, started: Instant) -> Result<Prediction, ApiError> {
    let probabilities = model
        .model()
        .predict(&input.pixels)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("model {} failed: {e}", model.name())))?;
    // The first of equal probabilities wins, as `nn-cli predict` ranks them.
    let digit = nn_core::softmax::argmax(&probabilities);
    Ok(Prediction {
        model: model.name().to_string(),
        digit: digit as u8,
        confidence: probabilities[digit],
        probabilities,
        prepared: input.pixels,
        inverted: input.inverted,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
