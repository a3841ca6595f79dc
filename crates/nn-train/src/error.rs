//! The error type of training.

use nn_core::NnError;
use thiserror::Error;

use crate::{ConfigError, ObserverError, OptimizerError, SamplesError};

/// Why training stopped with an error. Interruptions and early stopping are not errors: they
/// end with a [`TrainOutcome`](crate::TrainOutcome).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The configuration is invalid, or does not match the state resumed from.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A data set does not fit the network.
    #[error(transparent)]
    Samples(#[from] SamplesError),
    /// The network cannot be trained (a step activation) or refused a batch.
    #[error(transparent)]
    Network(#[from] NnError),
    /// The optimizer state does not fit the network.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
    /// The state resumed from does not fit the network.
    #[error("cannot resume: the training state does not fit the network: {0}")]
    State(String),
    /// The loss or its gradient became NaN or infinite. The network holds the weights of the
    /// last good step.
    #[error(
        "training diverged at epoch {epoch}, batch {batch} of {batches}: the loss is {loss}{}; \
         try a smaller learning rate",
        if loss.is_finite() { " but its gradient is not finite" } else { "" }
    )]
    Diverged {
        /// The epoch, counted from 1.
        epoch: usize,
        /// The mini-batch within the epoch, counted from 1.
        batch: usize,
        /// Mini-batches per epoch.
        batches: usize,
        /// The batch's mean loss.
        loss: f32,
    },
    /// An observer failed (for example it could not write a checkpoint): its message says why.
    #[error("training stopped after epoch {epoch}: {source}")]
    Observer {
        /// The epoch whose end was being observed, counted from 1.
        epoch: usize,
        /// The observer's error.
        #[source]
        source: ObserverError,
    },
}
