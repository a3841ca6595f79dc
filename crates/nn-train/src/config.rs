//! The settings of a training run, and their validation.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Augmentation, OptimizerConfig, OptimizerError, Sampling, Schedule};

/// Everything that determines a training run, apart from the network and the data.
///
/// With the same network, data and configuration, training gives the same weights bit for bit,
/// whatever the number of threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Seed of the per-epoch shuffles (or draws, see `sampling`).
    pub seed: u64,
    /// How each epoch picks its samples: a shuffle (the default) or draws with replacement.
    #[serde(default, skip_serializing_if = "Sampling::is_shuffle")]
    pub sampling: Sampling,
    /// Base learning rate `η`, finite and positive; the schedule scales it per epoch.
    pub learning_rate: f32,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// L2 weight decay coefficient added to the gradient of weight matrices, `g += wd·w`
    /// (Nielsen's `λ/n`: pass `λ` divided by the training set size). 0 disables it.
    pub weight_decay: f32,
    /// Stop after this many epochs without a better validation accuracy, and restore the best
    /// weights; needs a validation set. `None` trains all epochs.
    pub early_stopping_patience: Option<usize>,
    /// Samples per batch when evaluating (it changes speed and memory, not results beyond
    /// rounding).
    pub eval_batch_size: usize,
    /// Training images moved at random each time they are learned from (`None`: as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<Augmentation>,
    /// The max-norm constraint of Srivastava et al. (2014): after each step, the incoming
    /// weights of every neuron or filter are scaled back to this Euclidean norm when longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_norm: Option<f32>,
}

impl Default for TrainConfig {
    /// 10 epochs of plain SGD, batches of 32, `η = 0.01`, seed 0.
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            seed: 0,
            sampling: Sampling::Shuffle,
            learning_rate: 0.01,
            optimizer: OptimizerConfig::Sgd,
            schedule: Schedule::Constant,
            weight_decay: 0.0,
            early_stopping_patience: None,
            eval_batch_size: 1000,
            augmentation: None,
            max_norm: None,
        }
    }
}

/// A configuration that cannot be trained with.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Zero epochs.
    #[error("the number of epochs must be at least 1")]
    NoEpochs,
    /// A zero training or evaluation batch size.
    #[error("the {which} batch size must be at least 1")]
    ZeroBatchSize {
        /// `"training"` or `"evaluation"`.
        which: &'static str,
    },
    /// A learning rate that is not finite and positive.
    #[error("the learning rate must be finite and positive, not {0}")]
    LearningRate(f32),
    /// A weight decay that is not finite and non-negative.
    #[error("the weight decay must be finite and at least 0, not {0}")]
    WeightDecay(f32),
    /// Bad optimizer hyperparameters.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
    /// Bad schedule parameters.
    #[error("invalid learning-rate schedule: {0}")]
    Schedule(String),
    /// Augmentation settings out of range, or augmentation of inputs that are not images.
    #[error("{0}")]
    Augmentation(String),
    /// A max-norm that is not finite and positive.
    #[error("the max-norm constraint must be finite and positive, not {0}")]
    MaxNorm(f32),
    /// Early stopping with a patience of zero epochs.
    #[error("the early-stopping patience must be at least 1 epoch")]
    ZeroPatience,
    /// Early stopping without a validation set to watch.
    #[error("early stopping watches the validation accuracy: give a validation set, or no patience")]
    EarlyStoppingWithoutValidation,
    /// Resuming with a configuration other than the one the state was trained with.
    #[error(
        "cannot resume: the checkpoint was trained with {field} = {saved}, but {given} was given \
         (only the number of epochs may change when resuming)"
    )]
    ResumeMismatch {
        /// The field that differs.
        field: &'static str,
        /// Its value in the checkpoint.
        saved: String,
        /// Its value now.
        given: String,
    },
    /// Resuming with fewer epochs than already trained.
    #[error("cannot resume for {given} epochs: the checkpoint has already completed {completed}")]
    EpochsBelowProgress {
        /// Epochs asked for.
        given: usize,
        /// Epochs already completed.
        completed: usize,
    },
}

impl TrainConfig {
    /// Checks every setting; `has_validation` says whether a validation set is given.
    pub fn validate(&self, has_validation: bool) -> Result<(), ConfigError> {
        if self.epochs == 0 {
            return Err(ConfigError::NoEpochs);
        }
        if self.batch_size == 0 {
            return Err(ConfigError::ZeroBatchSize { which: "training" });
        }
        if self.eval_batch_size == 0 {
            return Err(ConfigError::ZeroBatchSize { which: "evaluation" });
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ConfigError::LearningRate(self.learning_rate));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(ConfigError::WeightDecay(self.weight_decay));
        }
        self.optimizer.validate()?;
        self.schedule.validate().map_err(ConfigError::Schedule)?;
        if let Some(augmentation) = &self.augmentation {
            augmentation.validate().map_err(ConfigError::Augmentation)?;
        }
        if let Some(max_norm) = self.max_norm
            && !(max_norm.is_finite() && max_norm > 0.0)
        {
            return Err(ConfigError::MaxNorm(max_norm));
        }
        match self.early_stopping_patience {
            Some(0) => Err(ConfigError::ZeroPatience),
            Some(_) if !has_validation => Err(ConfigError::EarlyStoppingWithoutValidation),
            _ => Ok(()),
        }
    }

    /// Checks that a run saved with `saved` may be resumed with `self`: everything equal except
    /// `epochs`, which may grow (never below `completed`).
    pub fn check_resume(&self, saved: &TrainConfig, completed: usize) -> Result<(), ConfigError> {
        let mismatch = |field: &'static str, saved: &dyn std::fmt::Debug, given: &dyn std::fmt::Debug| {
            Err(ConfigError::ResumeMismatch { field, saved: format!("{saved:?}"), given: format!("{given:?}") })
        };
        let TrainConfig {
            epochs: _,
            batch_size,
            seed,
            sampling,
            learning_rate,
            optimizer,
            schedule,
            weight_decay,
            early_stopping_patience,
            eval_batch_size,
            augmentation,
            max_norm,
        } = saved;
        if self.batch_size != *batch_size {
            return mismatch("batch_size", batch_size, &self.batch_size);
        }
        if self.seed != *seed {
            return mismatch("seed", seed, &self.seed);
        }
        if self.sampling != *sampling {
            return mismatch("sampling", sampling, &self.sampling);
        }
        if self.learning_rate.to_bits() != learning_rate.to_bits() {
            return mismatch("learning_rate", learning_rate, &self.learning_rate);
        }
        if self.optimizer != *optimizer {
            return mismatch("optimizer", optimizer, &self.optimizer);
        }
        if self.schedule != *schedule {
            return mismatch("schedule", schedule, &self.schedule);
        }
        if self.weight_decay.to_bits() != weight_decay.to_bits() {
            return mismatch("weight_decay", weight_decay, &self.weight_decay);
        }
        if self.early_stopping_patience != *early_stopping_patience {
            return mismatch("early_stopping_patience", early_stopping_patience, &self.early_stopping_patience);
        }
        if self.eval_batch_size != *eval_batch_size {
            return mismatch("eval_batch_size", eval_batch_size, &self.eval_batch_size);
        }
        if self.augmentation != *augmentation {
            return mismatch("augmentation", augmentation, &self.augmentation);
        }
        if self.max_norm.map(f32::to_bits) != max_norm.map(f32::to_bits) {
            return mismatch("max_norm", max_norm, &self.max_norm);
        }
        if self.epochs < completed {
            return Err(ConfigError::EpochsBelowProgress { given: self.epochs, completed });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        let good = TrainConfig::default();
        assert_eq!(good.validate(false), Ok(()));
        let cases = [
            (TrainConfig { epochs: 0, ..good.clone() }, ConfigError::NoEpochs),
            (TrainConfig { batch_size: 0, ..good.clone() }, ConfigError::ZeroBatchSize { which: "training" }),
            (TrainConfig { eval_batch_size: 0, ..good.clone() }, ConfigError::ZeroBatchSize { which: "evaluation" }),
            (TrainConfig { learning_rate: 0.0, ..good.clone() }, ConfigError::LearningRate(0.0)),
            (TrainConfig { weight_decay: -1.0, ..good.clone() }, ConfigError::WeightDecay(-1.0)),
            (TrainConfig { early_stopping_patience: Some(0), ..good.clone() }, ConfigError::ZeroPatience),
            (
                TrainConfig { early_stopping_patience: Some(2), ..good.clone() },
                ConfigError::EarlyStoppingWithoutValidation,
            ),
        ];
        for (config, error) in cases {
            assert_eq!(config.validate(false), Err(error));
        }
        let nan = TrainConfig { learning_rate: f32::NAN, ..good.clone() };
        assert!(matches!(nan.validate(false), Err(ConfigError::LearningRate(_))));
        let schedule = TrainConfig { schedule: Schedule::StepDecay { every: 0, factor: 0.5 }, ..good.clone() };
        assert!(matches!(schedule.validate(false), Err(ConfigError::Schedule(_))));
        let momentum = TrainConfig { optimizer: OptimizerConfig::momentum(1.0), ..good };
        assert!(matches!(momentum.validate(false), Err(ConfigError::Optimizer(_))));
    }

    #[test]
    fn resume_allows_more_epochs_only() {
        let saved = TrainConfig::default();
        assert_eq!(TrainConfig { epochs: 20, ..saved.clone() }.check_resume(&saved, 10), Ok(()));
        assert_eq!(
            TrainConfig { epochs: 5, ..saved.clone() }.check_resume(&saved, 7),
            Err(ConfigError::EpochsBelowProgress { given: 5, completed: 7 })
        );
        let other = TrainConfig { seed: 9, ..saved.clone() };
        let error = other.check_resume(&saved, 1).unwrap_err();
        assert!(matches!(error, ConfigError::ResumeMismatch { field: "seed", .. }));
        assert!(error.to_string().contains("seed = 0, but 9 was given"), "{error}");
    }
}
