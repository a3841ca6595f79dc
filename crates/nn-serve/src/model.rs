//! The models a server answers with, each under a name.

use std::path::Path;

use mnist_data::prepare::FIELD;
use nn_core::{Network, Shape, TrainingRecord};
use serde::Serialize;

use crate::ServeError;

/// Classes a digit model answers.
pub const DIGITS: usize = 10;

/// Longest model name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A network that reads 28x28 images and answers ten digits, with the name clients ask for it by.
#[derive(Debug)]
pub struct NamedModel {
    name: String,
    network: Network,
    record: Option<TrainingRecord>,
}

impl NamedModel {
    /// Checks that `network` takes the 784 pixels of a prepared image (flat or 1x28x28) and
    /// gives ten outputs. `record`, from the model file, tells its test accuracy.
    pub fn new(name: impl Into<String>, network: Network, record: Option<TrainingRecord>) -> Result<Self, ServeError> {
        let name = name.into();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ServeError::InvalidName(name));
        }
        let input = network.input_shape();
        if network.input_size() != FIELD * FIELD || !(input.is_flat() || input == Shape::new(1, FIELD, FIELD)) {
            let reason = format!("it takes inputs of {input}, not {FIELD}x{FIELD} images");
            return Err(ServeError::NotADigitModel { name, reason });
        }
        if network.output_size() != DIGITS {
            let reason = format!("it has {} outputs, not {DIGITS}", network.output_size());
            return Err(ServeError::NotADigitModel { name, reason });
        }
        Ok(NamedModel { name, network, record })
    }

    /// Loads a model file (nn-core's format) and names it after the file's stem
    /// (`models/default.json` is `default`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ServeError> {
        let path = path.as_ref();
        let (network, record) = nn_core::load_model_and_record(path)
            .map_err(|source| ServeError::Load { path: path.display().to_string(), source: Box::new(source) })?;
        let name = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        NamedModel::new(name, network, record)
    }

    /// The name clients ask for it by (`?model=NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Accuracy on the test set when training ended, if the model file recorded it.
    pub fn test_accuracy(&self) -> Option<f32> {
        self.record.as_ref().and_then(|record| record.test_accuracy)
    }

    /// What `GET /api/models` says about it.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.name.clone(),
            architecture: self.network.architecture().to_string(),
            input: self.network.input_shape().to_string(),
            output: self.network.loss().output_name().to_string(),
            parameters: self.network.parameter_count(),
            test_accuracy: self.test_accuracy(),
            recipe: self.record.as_ref().and_then(|record| record.recipe.clone()),
        }
    }
}

/// A model as `GET /api/models` describes it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Its name.
    pub name: String,
    /// Its layers as text (`dense(512) relu dense(256) relu dense(10)`).
    pub architecture: String,
    /// The shape of one input sample.
    pub input: String,
    /// The output function (`softmax`).
    pub output: String,
    /// Trainable scalars.
    pub parameters: usize,
    /// Test accuracy when training ended, if recorded.
    pub test_accuracy: Option<f32>,
    /// The recipe or architecture it was trained by, if recorded.
    pub recipe: Option<String>,
}
