//! Loss and accuracy of a network over a whole set of samples, in parallel but deterministic.

use nn_core::{Evaluation, Network, NnError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Samples;

/// Samples per parallel evaluation chunk (rounded up to a whole number of evaluation batches).
/// Fixed, so that the chunks, and hence the result, never depend on the number of threads.
const EVALUATION_CHUNK: usize = 2048;

/// Loss and accuracy over a set of samples, as reported after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean loss per sample.
    pub loss: f32,
    /// `correct / total`.
    pub accuracy: f32,
    /// Samples whose most probable class is the label.
    pub correct: usize,
    /// Samples evaluated.
    pub total: usize,
}

impl From<Evaluation> for Metrics {
    fn from(evaluation: Evaluation) -> Self {
        Metrics {
            loss: evaluation.loss,
            accuracy: evaluation.accuracy(),
            correct: evaluation.correct,
            total: evaluation.total,
        }
    }
}

/// Mean loss and accuracy of `network` over `samples`, `batch_size` samples at a time.
///
/// Chunks of a fixed size are evaluated in parallel with [`Network::evaluate`] and combined in
/// their order, so the result is the same whatever the number of threads. An empty set gives
/// zero loss and zero accuracy.
pub fn evaluate(network: &Network, samples: &dyn Samples, batch_size: usize) -> Result<Metrics, NnError> {
    if batch_size == 0 {
        return Err(NnError::EmptyBatch);
    }
    if samples.input_size() != network.input_size() {
        return Err(NnError::InputSize { expected: network.input_size(), found: samples.input_size() });
    }
    let total = samples.len();
    if total == 0 {
        return Ok(Metrics { loss: 0.0, accuracy: 0.0, correct: 0, total: 0 });
    }
    let chunk = EVALUATION_CHUNK.div_ceil(batch_size) * batch_size;
    let starts: Vec<usize> = (0..total).step_by(chunk).collect();
    let parts: Vec<Evaluation> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + chunk).min(total);
            let size = samples.input_size();
            let mut inputs = vec![0.0; (end - start) * size];
            for (index, out) in (start..end).zip(inputs.chunks_exact_mut(size)) {
                samples.write_input(index, out);
            }
            let labels: Vec<usize> = (start..end).map(|index| samples.label(index)).collect();
            network.evaluate(&inputs, &labels, batch_size)
        })
        .collect::<Result<_, _>>()?;
    // Mean loss = Σ_chunks (chunk mean × chunk size) / total, summed in chunk order.
    let loss_sum: f64 = parts.iter().map(|part| f64::from(part.loss) * part.total as f64).sum();
    let correct = parts.iter().map(|part| part.correct).sum();
    Ok(Evaluation { loss: (loss_sum / total as f64) as f32, correct, total }.into())
}

#[cfg(test)]
mod tests {
    use nn_core::{Activation, Init, Loss};

    use super::*;
    use crate::FloatSamples;

    #[test]
    fn matches_network_evaluate_on_one_chunk() {
        let net = Network::dense(&[3, 4, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 5).unwrap();
        let inputs: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin()).collect();
        let labels: Vec<usize> = (0..10).map(|i| i % 2).collect();
        let set = FloatSamples::new(&inputs[..], &labels[..], 3).unwrap();
        let ours = evaluate(&net, &set, 4).unwrap();
        let theirs = Metrics::from(net.evaluate(&inputs, &labels, 4).unwrap());
        assert_eq!(ours, theirs);
    }

    #[test]
    fn refuses_a_wrong_input_size() {
        let net = Network::dense(&[3, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 5).unwrap();
        let set = FloatSamples::new(vec![0.0; 4], vec![0, 1], 2).unwrap();
        assert!(matches!(evaluate(&net, &set, 4), Err(NnError::InputSize { expected: 3, found: 2 })));
    }
}
