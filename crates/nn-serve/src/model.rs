//! The models a server answers with, each under a name.

use std::path::Path;

use mnist_data::prepare::FIELD;
use nn_core::{Classifier, Committee, Model, Shape, TrainingRecord};
use serde::Serialize;

use crate::ServeError;

/// Classes a digit model answers.
pub const DIGITS: usize = 10;

/// Longest model name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A model that reads 28x28 images and answers ten digits, with the name clients ask for it by:
/// one network, or a committee of networks whose outputs are averaged.
#[derive(Debug)]
pub struct NamedModel {
    name: String,
    model: Model,
    record: Option<TrainingRecord>,
}

impl NamedModel {
    /// Checks that `model` (a [`Network`](nn_core::Network), a [`Committee`](nn_core::Committee)
    /// or either as a [`Model`]) takes the 784 pixels of a prepared image (flat or 1x28x28) and
    /// gives ten probabilities (softmax or sigmoid outputs, not identity). `record`, from the model file, tells its test accuracy.
    pub fn new(
        name: impl Into<String>,
        model: impl Into<Model>,
        record: Option<TrainingRecord>,
    ) -> Result<Self, ServeError> {
        let (name, model) = (name.into(), model.into());
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ServeError::InvalidName(name));
        }
        let input = model.input_shape();
        if model.input_size() != FIELD * FIELD || !(input.is_flat() || input == Shape::new(1, FIELD, FIELD)) {
            let reason = format!("it takes inputs of {input}, not {FIELD}x{FIELD} images");
            return Err(ServeError::NotADigitModel { name, reason });
        }
        if model.output_size() != DIGITS {
            let reason = format!("it has {} outputs, not {DIGITS}", model.output_size());
            return Err(ServeError::NotADigitModel { name, reason });
        }
        // Answers carry probabilities and a confidence; a regression's numbers are neither.
        let loss = model.loss();
        if !loss.outputs_are_probabilities() {
            let reason =
                format!("its outputs are {} ({loss}), not the probabilities answers carry", loss.output_name());
            return Err(ServeError::NotADigitModel { name, reason });
        }
        Ok(NamedModel { name, model, record })
    }

    /// Loads a model file or a committee file (nn-core's formats) and names it after the file's
    /// stem (`models/default.json` is `default`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ServeError> {
        let path = path.as_ref();
        let (model, record) = nn_core::load_any_model(path)
            .map_err(|source| ServeError::Load { path: path.display().to_string(), source: Box::new(source) })?;
        let name = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        NamedModel::new(name, model, record)
    }

    /// The name clients ask for it by (`?model=NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network or committee.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Accuracy on the test set when training ended, if the model file recorded it.
    pub fn test_accuracy(&self) -> Option<f32> {
        self.record.as_ref().and_then(|record| record.test_accuracy)
    }

    /// What `GET /api/models` says about it.
    pub fn info(&self) -> ModelInfo {
        let architectures: Vec<String> = self.model.members().iter().map(|m| m.architecture().to_string()).collect();
        let members = self.model.as_committee().map(Committee::member_count);
        let architecture = match members {
            None => architectures.concat(),
            Some(count) if architectures.iter().all(|a| *a == architectures[0]) => {
                format!("committee of {count} × {}", architectures[0])
            }
            Some(count) => format!("committee of {count}: {}", architectures.join(" | ")),
        };
        ModelInfo {
            name: self.name.clone(),
            architecture,
            input: self.model.input_shape().to_string(),
            output: self.model.loss().output_name().to_string(),
            parameters: self.model.parameter_count(),
            members,
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
    /// Its layers as text (`dense(512) relu dense(256) relu dense(10)`); for a committee, its
    /// members' (`committee of 5 × dense(100) relu dense(10)`, or each one after `|`).
    pub architecture: String,
    /// The shape of one input sample.
    pub input: String,
    /// The output function (`softmax`).
    pub output: String,
    /// Trainable scalars, all members of a committee together.
    pub parameters: usize,
    /// For a committee, its number of members (absent for one network): its outputs are their
    /// mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<usize>,
    /// Test accuracy when training ended, if recorded.
    pub test_accuracy: Option<f32>,
    /// The recipe or architecture it was trained by, if recorded.
    pub recipe: Option<String>,
}
