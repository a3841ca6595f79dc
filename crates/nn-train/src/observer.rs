//! Hooks through which a front end follows training: progress, metrics, checkpoints.

use nn_core::Network;
use serde::{Deserialize, Serialize};

use crate::{Metrics, TrainState};

/// What happened during one epoch; serialisable, one JSON line per epoch for a metrics file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Epochs configured.
    pub epochs: usize,
    /// Mean of the epoch's mini-batch losses.
    pub train_loss: f32,
    /// Learning rate used during the epoch.
    pub learning_rate: f32,
    /// Loss and accuracy on the validation set, if one was given.
    pub validation: Option<Metrics>,
    /// Loss and accuracy on the test set, if one was given.
    pub test: Option<Metrics>,
    /// Wall-clock seconds of the epoch, evaluation included (informative only: it does not
    /// affect training).
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
