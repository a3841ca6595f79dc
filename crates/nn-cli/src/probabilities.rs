//! The commands that show a model's outputs as probabilities (`predict`, `misclassified`,
//! `show --model`, `explain`) refuse a model whose outputs are none: identity outputs, a
//! regression's numbers, have an argmax but no confidence to print.

use std::path::Path;

use anyhow::{Result, bail};
use nn_core::Loss;

/// `Err` naming the model, its outputs and the commands that do take it, unless `loss` gives
/// probabilities.
pub fn require_probabilities(loss: Loss, model: &Path, command: &str) -> Result<()> {
    if loss.outputs_are_probabilities() {
        return Ok(());
    }
    bail!(
        "{} has {} outputs ({loss}), not probabilities, so `{command}` cannot show them as confidences: \
         `nn-cli forward` prints a model's outputs, and `nn-cli eval` scores their argmax as the class",
        model.display(),
        loss.output_name()
    )
}
