//! What a model file remembers of the run that trained its network: which part of the data it
//! saw, so that a later evaluation on "held-out" data really is on data it never trained on.

use serde::{Deserialize, Serialize};

/// The data split and settings a network was trained with, stored beside it in the model file
/// ([`crate::save_trained_model`], [`crate::load_model_and_record`]).
///
/// The split is the one every tool of this project makes: the first `train_samples` of the
/// training file are trained on, the `validation_samples` after them (the end of the file) are
/// held out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRecord {
    /// Samples trained on: the first ones of the training file.
    pub train_samples: usize,
    /// Samples held out for validation: the last ones of the training file (0 when none were).
    pub validation_samples: usize,
    /// The recipe or architecture the run was named by, for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// The seed of the initial weights and of the shuffles.
    pub seed: u64,
    /// Epochs completed.
    pub epochs: usize,
    /// Accuracy on the test set when training ended, if it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f32>,
}

impl TrainingRecord {
    /// Samples in the training file the split was made from.
    pub fn training_file_samples(&self) -> Option<usize> {
        self.train_samples.checked_add(self.validation_samples)
    }
}
