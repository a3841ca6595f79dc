//! A batch as the passes take it, a flat slice of samples one after the other: counting its
//! samples and refusing values that are not finite numbers. The scratch buffers it is computed
//! in are `aligned_buffer.rs`'s.

use crate::NnError;

/// Refuses a batch holding a value that is not a finite number, naming the first one.
pub(crate) fn check_finite_inputs(inputs: &[f32], features: usize) -> Result<(), NnError> {
    if crate::vector_slices::all_finite(inputs) {
        return Ok(());
    }
    let at = inputs.iter().position(|v| !v.is_finite()).expect("a non-finite value was seen");
    Err(NnError::NonFiniteInput { sample: at / features.max(1), index: at % features.max(1), value: inputs[at] })
}

/// Number of samples of `features` values in a batch, refusing an empty batch and a length that
/// is not a whole number of samples.
pub(crate) fn batch_samples(inputs: &[f32], features: usize) -> Result<usize, NnError> {
    if inputs.is_empty() {
        return Err(NnError::EmptyBatch);
    }
    crate::shape::samples_in(inputs, features)
}
