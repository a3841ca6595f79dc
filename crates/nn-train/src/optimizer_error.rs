//! Why an optimizer could not be built or could not take a step ([`OptimizerError`]).

use thiserror::Error;

/// Why an optimizer could not be built or could not take a step.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum OptimizerError {
    /// A hyperparameter outside its range.
    #[error("optimizer hyperparameter {name} = {value} is out of range (decays must be in [0, 1), epsilon > 0)")]
    Hyperparameter {
        /// Its name.
        name: &'static str,
        /// The value given.
        value: f32,
    },
    /// The gradients, the state or the network do not have the same parameter shapes.
    #[error("the optimizer state or the gradients do not fit the network: {0}")]
    Mismatch(String),
}
