//! Telling a run that learns nothing from a slow one: accuracy near chance after an epoch, or a
//! loss that explodes without becoming NaN (which [`train`](crate::train) already stops), with
//! the likely cause.

use std::fmt;

use crate::EpochReport;

/// An accuracy at or below this many times chance (1 / classes) counts as learning nothing.
pub const NEAR_CHANCE_FACTOR: f32 = 1.5;

/// A mean epoch loss this many times the first mini-batch's counts as exploding.
pub const EXPLODED_LOSS_FACTOR: f32 = 10.0;

/// Watches a run's losses and reports, epoch after epoch, whether it learns.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningCheck {
    classes: usize,
    batch_size: usize,
    train_samples: usize,
    first_loss: Option<f32>,
    /// The batch losses of the epoch in progress.
    epoch_losses: Vec<f32>,
}

/// What is wrong with a run.
#[derive(Debug, Clone, PartialEq)]
pub enum NoLearning {
    /// The accuracy stayed near what guessing gives.
    NearChance {
        /// The accuracy reached, 0 to 1.
        accuracy: f32,
        /// Which set it was measured on: "validation", "test" or "training".
        set: &'static str,
        /// The number of classes (chance is their inverse).
        classes: usize,
        /// The most likely reason.
        cause: LikelyCause,
    },
    /// The mean training loss grew far above where it started.
    LossExploded {
        /// The epoch's mean training loss.
        loss: f32,
        /// The loss of the first mini-batch, before any update.
        first_loss: f32,
    },
}

/// Why a run learns nothing, as far as its losses tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikelyCause {
    /// The loss rose, or the units saturated: steps overshoot.
    LearningRateTooHigh,
    /// The loss hardly moved, or is still falling slowly: steps are too small.
    LearningRateTooLow,
    /// A batch holds the whole training set: one step per epoch.
    BatchLargerThanData {
        /// Samples per batch.
        batch_size: usize,
        /// Training samples.
        train_samples: usize,
    },
}

impl LearningCheck {
    /// A check for a run on `train_samples` samples of `classes` classes in batches of
    /// `batch_size`.
    pub fn new(classes: usize, batch_size: usize, train_samples: usize) -> Self {
        LearningCheck { classes, batch_size, train_samples, first_loss: None, epoch_losses: Vec::new() }
    }

    /// Takes the loss of a mini-batch; the first one is the starting point.
    pub fn on_batch(&mut self, loss: f32) {
        self.first_loss.get_or_insert(loss);
        self.epoch_losses.push(loss);
    }

    /// Whether the loss was still falling at the end of the epoch so far: the mean of its last
    /// quarter of batches at least 5% below that of its second quarter. A run that learns too
    /// slowly keeps falling; one whose steps are too large sits on a plateau (saturated units)
    /// or jumps about.
    fn still_falling(&self) -> bool {
        let losses = &self.epoch_losses;
        let n = losses.len();
        // Over a few batches the first steps' fall fills the quarters: nothing can be told.
        if n < 40 {
            return false;
        }
        let mean = |part: &[f32]| part.iter().map(|&l| f64::from(l)).sum::<f64>() / part.len() as f64;
        mean(&losses[3 * n / 4..]) < 0.95 * mean(&losses[n / 4..n / 2])
    }

    /// Like [`check`](LearningCheck::check), then forgets the epoch's batch losses after a
    /// complete epoch's report.
    pub fn check_and_advance(&mut self, report: &EpochReport) -> Option<NoLearning> {
        let problem = self.check(report);
        if !report.partial {
            self.epoch_losses.clear();
        }
        problem
    }

    /// What is wrong after the (possibly partial) epoch of `report`, if anything. The accuracy
    /// judged is the validation set's, else the test set's, else the training one.
    pub fn check(&self, report: &EpochReport) -> Option<NoLearning> {
        let first_loss = self.first_loss.filter(|loss| loss.is_finite() && *loss > 0.0);
        if let Some(first_loss) = first_loss
            && report.train_loss > EXPLODED_LOSS_FACTOR * first_loss
        {
            return Some(NoLearning::LossExploded { loss: report.train_loss, first_loss });
        }
        let (accuracy, set) = match (&report.validation, &report.test, report.train_accuracy) {
            (Some(validation), _, _) => (validation.accuracy, "validation"),
            (None, Some(test), _) => (test.accuracy, "test"),
            (None, None, Some(train)) => (train, "training"),
            (None, None, None) => return None,
        };
        if self.classes < 2 || accuracy > NEAR_CHANCE_FACTOR / self.classes as f32 {
            return None;
        }
        let cause = if self.batch_size >= self.train_samples {
            LikelyCause::BatchLargerThanData { batch_size: self.batch_size, train_samples: self.train_samples }
        } else if self.still_falling()
            || first_loss.is_some_and(|first| report.train_loss > 0.95 * first && report.train_loss <= first)
        {
            LikelyCause::LearningRateTooLow
        } else {
            LikelyCause::LearningRateTooHigh
        };
        Some(NoLearning::NearChance { accuracy, set, classes: self.classes, cause })
    }
}

impl fmt::Display for NoLearning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoLearning::NearChance { accuracy, set, classes, cause } => write!(
                f,
                "{set} accuracy {:.2}% is near chance ({:.2}% for {classes} classes): {cause}",
                100.0 * accuracy,
                100.0 / *classes as f32
            ),
            NoLearning::LossExploded { loss, first_loss } => write!(
                f,
                "the training loss exploded from {first_loss:.4} to {loss:.4}: {}",
                LikelyCause::LearningRateTooHigh
            ),
        }
    }
}

impl fmt::Display for LikelyCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LikelyCause::LearningRateTooHigh => {
                f.write_str("the loss stays on a plateau or rises: the learning rate is probably too high (steps overshoot, or the units saturate); try one 10 times lower")
            }
            LikelyCause::LearningRateTooLow => {
                f.write_str("the loss falls slowly or not at all: the learning rate is probably too low; try one 10 times higher")
            }
            LikelyCause::BatchLargerThanData { batch_size, train_samples } => write!(
                f,
                "a batch of {batch_size} holds all {train_samples} training samples, so an epoch is one step; use smaller batches"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metrics;

    fn report(train_loss: f32, validation: Option<f32>) -> EpochReport {
        EpochReport {
            epoch: 1,
            epochs: 1,
            train_loss,
            train_accuracy: Some(0.5),
            step: Some(10),
            partial: false,
            learning_rate: 0.1,
            validation: validation.map(|accuracy| Metrics { loss: 1.0, accuracy, correct: 0, total: 100 }),
            test: None,
            seconds: 0.0,
        }
    }

    #[test]
    fn chance_and_explosions_are_told_with_a_cause() {
        let mut check = LearningCheck::new(10, 10, 1000);
        check.on_batch(2.3);
        check.on_batch(0.1);
        assert_eq!(check.check(&report(0.3, Some(0.9))), None);
        assert_eq!(check.check(&report(0.3, None)), None, "the training accuracy of 50% is fine");
        let near = |loss| match check.check(&report(loss, Some(0.11))) {
            Some(NoLearning::NearChance { cause, .. }) => cause,
            other => panic!("{other:?}"),
        };
        assert_eq!(near(2.25), LikelyCause::LearningRateTooLow);
        assert_eq!(near(1.0), LikelyCause::LearningRateTooHigh, "a plateau");
        assert_eq!(near(2.5), LikelyCause::LearningRateTooHigh);
        // A loss still falling at the end of the epoch: slow learning.
        let mut slow = LearningCheck::new(10, 10, 1000);
        (0..100).for_each(|i| slow.on_batch(2.3 - 0.01 * i as f32));
        assert!(matches!(
            slow.check_and_advance(&report(1.8, Some(0.11))),
            Some(NoLearning::NearChance { cause: LikelyCause::LearningRateTooLow, .. })
        ));
        assert!(slow.epoch_losses.is_empty(), "a complete epoch starts the next one afresh");
        assert!(matches!(check.check(&report(30.0, Some(0.5))), Some(NoLearning::LossExploded { .. })));
        let message = check.check(&report(30.0, Some(0.5))).unwrap().to_string();
        assert!(message.contains("exploded from 2.3000 to 30.0000") && message.contains("too high"), "{message}");

        let mut whole = LearningCheck::new(10, 100, 80);
        whole.on_batch(2.3);
        let message = whole.check(&report(2.2, Some(0.1))).unwrap().to_string();
        assert!(message.contains("a batch of 100 holds all 80 training samples"), "{message}");
        assert!(message.starts_with("validation accuracy 10.00% is near chance (10.00% for 10 classes)"), "{message}");
    }
}
