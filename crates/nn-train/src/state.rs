//! Everything about a training run except the network itself: enough to resume it exactly.

use nn_core::Network;
use serde::{Deserialize, Serialize};

use crate::{EpochReport, OptimizerState, TrainConfig};

/// The best weights seen so far, by validation accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestWeights {
    /// The epoch (counted from 1) after which they were seen.
    pub epoch: usize,
    /// Their validation accuracy.
    pub accuracy: f32,
    /// Every parameter tensor, in the order of [`Network::parameters`], column-major (stored
    /// as the exact bits of each value).
    #[serde(with = "crate::bits::vectors")]
    pub parameters: Vec<Vec<f32>>,
}

/// The progress of a training run: with the network's weights it resumes training exactly, at
/// an epoch boundary or in the middle of an epoch, so that the final weights are those of an
/// uninterrupted run.
///
/// The per-epoch shuffle is derived from the seed and the epoch number, so no random generator
/// state is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// The configuration it was trained with (resuming accepts a change of `epochs` only).
    pub config: TrainConfig,
    /// Epochs fully trained and evaluated.
    pub epochs_completed: usize,
    /// Mini-batches already trained in epoch `epochs_completed` (counted from 0); 0 at an
    /// epoch boundary.
    pub next_batch: usize,
    /// Sum of the losses of those mini-batches, for the epoch's mean.
    pub partial_loss_sum: f64,
    /// Samples of those mini-batches classified right before their update, for the epoch's
    /// training accuracy (absent from checkpoints older than it: then counted from the resume).
    #[serde(default)]
    pub partial_correct: usize,
    /// Seconds spent on those mini-batches, for the epoch's report.
    pub partial_seconds: f64,
    /// The optimizer's buffers.
    pub optimizer: OptimizerState,
    /// The best weights by validation accuracy, if there is a validation set.
    pub best: Option<BestWeights>,
    /// Epochs since the validation accuracy last improved.
    pub epochs_without_improvement: usize,
    /// Report of every completed epoch.
    pub history: Vec<EpochReport>,
}

impl TrainState {
    /// The state of a run that has not started.
    pub fn new(config: TrainConfig) -> Self {
        TrainState {
            config,
            epochs_completed: 0,
            next_batch: 0,
            partial_loss_sum: 0.0,
            partial_correct: 0,
            partial_seconds: 0.0,
            optimizer: OptimizerState::default(),
            best: None,
            epochs_without_improvement: 0,
            history: Vec::new(),
        }
    }

    /// Whether it stopped in the middle of an epoch.
    pub fn is_mid_epoch(&self) -> bool {
        self.next_batch > 0
    }

    /// Whether early stopping has ended (or would end) the run: its patience is used up.
    pub fn patience_exhausted(&self) -> bool {
        self.config.early_stopping_patience.is_some_and(|patience| self.epochs_without_improvement >= patience)
    }

    /// Checks that the stored parameter shapes fit `network`; `Err` says what differs.
    pub fn check_fits(&self, network: &Network) -> Result<(), String> {
        let sizes: Vec<usize> = network.parameters().iter().map(|p| p.len()).collect();
        let fits = |buffers: &[Vec<f32>]| {
            buffers.is_empty()
                || (buffers.len() == sizes.len() && buffers.iter().zip(&sizes).all(|(b, s)| b.len() == *s))
        };
        let lens = |buffers: &[Vec<f32>]| buffers.iter().map(Vec::len).collect::<Vec<_>>();
        for (name, buffers) in [
            ("optimizer velocity/first moment", &self.optimizer.first),
            ("optimizer second moment", &self.optimizer.second),
        ] {
            if !fits(buffers) {
                return Err(format!(
                    "the {name} buffers hold {:?} values, the network's parameters {sizes:?}",
                    lens(buffers)
                ));
            }
        }
        if let Some(best) = &self.best
            && (best.parameters.len() != sizes.len() || !fits(&best.parameters))
        {
            return Err(format!(
                "the best weights hold {:?} values, the network's parameters {sizes:?}",
                lens(&best.parameters)
            ));
        }
        if self.history.len() != self.epochs_completed {
            return Err(format!("{} epoch reports for {} completed epochs", self.history.len(), self.epochs_completed));
        }
        Ok(())
    }

    /// Copies the best weights, if any, into `network` (whose shapes must fit, see
    /// [`check_fits`](TrainState::check_fits)); returns the epoch they come from.
    pub fn restore_best(&self, network: &mut Network) -> Option<usize> {
        let best = self.best.as_ref()?;
        for (parameter, values) in network.parameters_mut().into_iter().zip(&best.parameters) {
            parameter.as_mut_slice().copy_from_slice(values);
        }
        Some(best.epoch)
    }
}
