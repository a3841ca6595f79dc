//! Hooks through which a front end follows training: progress, metrics, checkpoints.

use nn_core::Network;
use serde::{Deserialize, Serialize};

use crate::{Metrics, TrainState};

/// What happened during one epoch, or during the part of it trained so far (`partial`);
/// serialisable, one JSON line per record for a metrics file. The fields added after the first
/// release are optional, so older logs still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Epochs configured.
    pub epochs: usize,
    /// Mean of the epoch's mini-batch losses (so far, in a partial record).
    pub train_loss: f32,
    /// Fraction of the epoch's training samples (so far) that the network classified right in
    /// the forward pass of their batch, before its update: Keras' training accuracy, with no
    /// extra pass over the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f32>,
    /// Mini-batches trained since the run started, when the record was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The record covers only the first `step`s of its epoch: an evaluation the observer asked
    /// for mid-epoch ([`Observer::evaluate_now`]), such as the last one of a run stopped after
    /// a number of steps. Its `seconds` count from the epoch's start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Learning rate used during the epoch.
    pub learning_rate: f32,
    /// Loss and accuracy on the validation set, if one was given.
    pub validation: Option<Metrics>,
    /// Loss and accuracy on the test set, if one was given.
    pub test: Option<Metrics>,
    /// Wall-clock seconds of the epoch, evaluation included (informative only: it does not
    /// affect training). 0 on `wasm32-unknown-unknown`, which has no clock std can read.
    pub seconds: f64,
}

/// An error returned by an observer; it stops training with
/// [`TrainError::Observer`](crate::TrainError::Observer).
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

/// Receives training events. Every method does nothing by default.
///
/// The trainer calls them on one thread (a thread of rayon's pool, hence `Send`), in order: `on_epoch_start`, `on_batch` for each
/// mini-batch, `on_epoch_end`. To stop training from inside a hook, set the flag of the
/// [`Control`](crate::Control) passed to [`train`](crate::train).
pub trait Observer: Send {
    /// An epoch (counted from 1) of `batches` mini-batches starts; on resume mid-epoch, it is
    /// called again for the resumed epoch.
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        let _ = (epoch, epochs, batches);
    }

    /// Mini-batch `batch` (counted from 1) of `batches` in `epoch` has been trained on; `loss`
    /// is its mean loss before the update.
    fn on_batch(&mut self, epoch: usize, batch: usize, batches: usize, loss: f32) {
        let _ = (epoch, batch, batches, loss);
    }

    /// Asked after mini-batch `step` (counted from 1 over the whole run) when it is not the
    /// last of its epoch: `true` evaluates the network now and records a partial report in the
    /// state's history, given to [`on_evaluation`](Observer::on_evaluation). Evaluating never
    /// changes what is trained.
    fn evaluate_now(&mut self, step: usize) -> bool {
        let _ = step;
        false
    }

    /// The partial report of an evaluation asked for by [`evaluate_now`](Observer::evaluate_now).
    fn on_evaluation(&mut self, report: &EpochReport) {
        let _ = report;
    }

    /// An epoch has ended and been evaluated. `network` holds the weights after the epoch and
    /// `state` everything else needed to resume from here: together they make a
    /// [`Checkpoint`](crate::Checkpoint). An error stops training.
    fn on_epoch_end(
        &mut self,
        report: &EpochReport,
        network: &Network,
        state: &TrainState,
    ) -> Result<(), ObserverError> {
        let _ = (report, network, state);
        Ok(())
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}
