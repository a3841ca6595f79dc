//! Gradients of a mini-batch computed in parallel shards, with results independent of threads.

use nn_core::{Gradients, Network, NnError, Targets, Workspace};
use rayon::prelude::*;

/// Smallest shard, in samples: a batch is cut into `⌊batch / MIN_SHARD_SAMPLES⌋` shards (at least
/// one, at most [`MAX_SHARDS`]), so a batch below twice this size runs as one shard on the
/// calling thread with no rayon overhead.
///
/// Chosen by measurement (`cargo bench -p nn-train --bench train_step`, 784-128-10, 2 cores):
/// one Adam step of 784-128-10 took 196 µs at batch 32 unsharded but 334 µs as two shards of
/// 16; at batch 128, 446 µs unsharded, 436 µs as two shards of 64 and 572 µs as four of 32; at
/// batch 256, 818 µs unsharded and 653 µs as four shards of 64. Below 64 samples a shard's
/// products are too small for the parallel gain to pay for summing one more gradient.
pub const MIN_SHARD_SAMPLES: usize = 64;

/// Most shards a batch is cut into. Every shard after the first costs one pass over all the
/// gradients to sum it, so there is no point in many more shards than cores.
pub const MAX_SHARDS: usize = 8;

/// Number of shards for a batch of `batch` samples with shards of at least `shard_samples`:
/// it depends on these sizes only, never on the number of threads.
pub fn shard_count(batch: usize, shard_samples: usize) -> usize {
    (batch / shard_samples.max(1)).clamp(1, MAX_SHARDS)
}

/// The buffers of one shard, reused from batch to batch.
#[derive(Debug, Clone)]
struct Shard {
    workspace: Workspace,
    gradients: Gradients,
    loss: f32,
}

/// Computes the mean loss and gradients of mini-batches, cutting each batch into shards whose
/// gradients are computed in parallel with rayon and summed in a fixed order.
///
/// Shard `i` of `k` holds samples `⌊n·i/k⌋..⌊n·(i+1)/k⌋`; the batch gradient is
/// `Σᵢ (nᵢ/n)·∇ᵢ`, accumulated from shard 0 upwards. The shards depend on the batch size only,
/// so the result is the same, bit for bit, with any number of threads.
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// use nn_train::BatchGradients;
/// let net = Network::dense(&[2, 4, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 1)?;
/// let mut batch = BatchGradients::new(&net);
/// let loss = batch.compute(&net, &[0.0, 1.0, 1.0, 0.0], &[1, 0])?;
/// assert!(loss > 0.0 && batch.gradients().norm() > 0.0);
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchGradients {
    shard_samples: usize,
    shards: Vec<Shard>,
    sum: Gradients,
    used: usize,
}

impl BatchGradients {
    /// Buffers for `network` with shards of at least [`MIN_SHARD_SAMPLES`].
    pub fn new(network: &Network) -> Self {
        BatchGradients::with_shard_samples(network, MIN_SHARD_SAMPLES)
    }

    /// Buffers for `network` with shards of at least `shard_samples` (for measurements; `usize::MAX`
    /// never shards).
    pub fn with_shard_samples(network: &Network, shard_samples: usize) -> Self {
        let gradients = Gradients::zeros_like(network);
        BatchGradients {
            shard_samples: shard_samples.max(1),
            shards: vec![Shard { workspace: Workspace::new(), gradients: gradients.clone(), loss: 0.0 }],
            sum: gradients,
            used: 1,
        }
    }

    /// Mean loss of the batch (`labels.len()` samples in `inputs`, one after the other), and its
    /// gradients in [`gradients`](BatchGradients::gradients).
    pub fn compute(&mut self, network: &Network, inputs: &[f32], labels: &[usize]) -> Result<f32, NnError> {
        let batch = labels.len();
        if batch == 0 {
            return Err(NnError::EmptyBatch);
        }
        let size = network.input_size();
        if inputs.len() != batch * size {
            return Err(NnError::TargetCount { expected: inputs.len() / size.max(1), found: batch });
        }
        let count = shard_count(batch, self.shard_samples);
        while self.shards.len() < count {
            let gradients = self.sum.clone();
            self.shards.push(Shard { workspace: Workspace::new(), gradients, loss: 0.0 });
        }
        self.used = count;
        if count == 1 {
            let shard = &mut self.shards[0];
            shard.loss = network.loss_and_gradients(
                inputs,
                Targets::Classes(labels),
                &mut shard.workspace,
                &mut shard.gradients,
            )?;
            return Ok(shard.loss);
        }
        let range = |i: usize| batch * i / count..batch * (i + 1) / count;
        self.shards[..count].par_iter_mut().enumerate().try_for_each(|(i, shard)| {
            let samples = range(i);
            let x = &inputs[samples.start * size..samples.end * size];
            let targets = Targets::Classes(&labels[samples]);
            shard.loss = network.loss_and_gradients(x, targets, &mut shard.workspace, &mut shard.gradients)?;
            Ok::<(), NnError>(())
        })?;
        // ∇ = Σᵢ (nᵢ/n)·∇ᵢ and C = Σᵢ (nᵢ/n)·Cᵢ, shard 0 first. On plain slices, which
        // vectorise (nalgebra's element iterators do not).
        let weights: Vec<f32> = (0..count).map(|i| range(i).len() as f32 / batch as f32).collect();
        let shards = &self.shards[..count];
        for (k, sum) in self.sum.tensors_mut().iter_mut().enumerate() {
            let sum = sum.as_mut_slice();
            let first = shards[0].gradients.tensors()[k].as_slice();
            sum.iter_mut().zip(first).for_each(|(s, g)| *s = weights[0] * g);
            for (shard, &weight) in shards.iter().zip(&weights).skip(1) {
                let gradient = shard.gradients.tensors()[k].as_slice();
                sum.iter_mut().zip(gradient).for_each(|(s, g)| *s += weight * g);
            }
        }
        Ok(shards.iter().zip(&weights).fold(0.0, |loss, (shard, weight)| loss + weight * shard.loss))
    }

    /// The gradients of the last batch given to [`compute`](BatchGradients::compute).
    pub fn gradients(&self) -> &Gradients {
        if self.used == 1 { &self.shards[0].gradients } else { &self.sum }
    }

    /// Number of shards the last batch was cut into.
    pub fn shards_used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use nn_core::{Activation, Init, Loss};

    use super::*;

    #[test]
    fn shards_depend_on_batch_size_only() {
        assert_eq!([1, 10, 64, 127, 128, 200, 256, 10_000].map(|n| shard_count(n, 64)), [1, 1, 1, 1, 2, 3, 4, 8]);
    }

    #[test]
    fn sharded_gradients_match_one_shard_closely() {
        let net = Network::dense(&[5, 7, 3], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 2).unwrap();
        let inputs: Vec<f32> = (0..5 * 40).map(|i| (i as f32 * 0.71).sin()).collect();
        let labels: Vec<usize> = (0..40).map(|i| i % 3).collect();
        let mut whole = BatchGradients::with_shard_samples(&net, usize::MAX);
        let mut sharded = BatchGradients::with_shard_samples(&net, 8);
        let a = whole.compute(&net, &inputs, &labels).unwrap();
        let b = sharded.compute(&net, &inputs, &labels).unwrap();
        assert_eq!((whole.shards_used(), sharded.shards_used()), (1, 5));
        assert!((a - b).abs() < 1e-5);
        for (x, y) in whole.gradients().tensors().iter().zip(sharded.gradients().tensors()) {
            assert!(x.iter().zip(y.iter()).all(|(x, y)| (x - y).abs() < 1e-5));
        }
    }
}
