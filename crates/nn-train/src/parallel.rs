//! Gradients of a mini-batch computed in parallel shards, with results independent of threads.

use std::ops::Range;

use nn_core::{Gradients, Mode, Network, NnError, Targets, Workspace};
use rayon::prelude::*;

use crate::Samples;
use crate::augment::{Augmenter, Scratch};
use crate::vectorized::vectorized;

/// Smallest shard the trainer makes, in samples: a batch below twice this size runs as one shard
/// on the calling thread with no rayon overhead (see [`batch_shards`]).
pub const MIN_SHARD_SAMPLES: usize = 16;

/// Samples per shard of the trainer's batches of 128 and more (see [`batch_shards`]).
pub const SHARD_SAMPLES: usize = 64;

/// Most shards a batch is cut into. Every shard after the first costs one pass over all the
/// gradients to sum it, so there is no point in many more shards than cores.
pub const MAX_SHARDS: usize = 8;

/// Number of shards the trainer cuts a batch of `batch` samples into: one below
/// 2·[`MIN_SHARD_SAMPLES`] (32), two up to 127, then shards of [`SHARD_SAMPLES`] (at most
/// [`MAX_SHARDS`]). It depends on the batch size only, never on the number of threads.
///
/// Chosen by measurement on 2 cores (`cargo bench -p nn-train --bench train_step`, one Adam step
/// of 784-128-10, AMD EPYC): at batch 32, 96.5 µs unsharded and 63.8 µs as two shards of 16
/// (torch-seed-128 epochs 0.164 → 0.120 s); at batch 128, 267 µs unsharded, 158 µs as two shards
/// of 64, 176 µs as four of 32 (keras-512 0.29 s as two shards, 0.37 s as eight of 16); at batch
/// 256, 496 µs unsharded and 295 µs as four shards of 64.
pub fn batch_shards(batch: usize) -> usize {
    if batch < 2 * MIN_SHARD_SAMPLES {
        1
    } else if batch < 2 * SHARD_SAMPLES {
        2
    } else {
        shard_count(batch, SHARD_SAMPLES)
    }
}

/// Number of shards for a batch of `batch` samples with shards of at least `shard_samples` (at
/// most [`MAX_SHARDS`]): it depends on these sizes only, never on the number of threads.
pub fn shard_count(batch: usize, shard_samples: usize) -> usize {
    (batch / shard_samples.max(1)).clamp(1, MAX_SHARDS)
}

/// Values per chunk of the element-wise passes that run in parallel right after a sharded batch,
/// while rayon's threads are still awake: the shard sum (with its finiteness check) and the
/// optimizer step. The passes are element-wise, so the chunking never changes a result. After
/// a batch of one shard they stay on the calling thread: waking a sleeping thread costs more
/// than it saves (see [`Optimizer::set_parallel`](crate::Optimizer::set_parallel)).
///
/// Small chunks balance the threads best (measured, best of six interleaved runs, 2 threads:
/// relu-128-b128 epochs 0.154 s with chunks of 32 K values, 0.140 s with 16 K, 0.137 s with 8 K;
/// keras-512 0.556, 0.546, 0.542 s).
pub const PARALLEL_CHUNK: usize = 8 * 1024;

/// The buffers of one shard, reused from batch to batch.
#[derive(Debug, Clone)]
struct Shard {
    workspace: Workspace,
    gradients: Gradients,
    loss: f32,
    /// Samples of the shard whose largest output is their label's.
    correct: usize,
    inputs: Vec<f32>,
    labels: Vec<usize>,
    scratch: Scratch,
}

impl Shard {
    fn new(gradients: Gradients) -> Self {
        Shard {
            workspace: Workspace::new(),
            gradients,
            loss: 0.0,
            correct: 0,
            inputs: Vec::new(),
            labels: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Forward and backward over samples `range` of the batch, in training mode: dropout masks
    /// come from the batch's `seed` and each sample's position in the batch.
    fn compute(&mut self, network: &Network, batch: &Batch<'_>, range: Range<usize>, seed: u64) -> Result<(), NnError> {
        let mode = Mode::Training { seed, first_sample: range.start as u64 };
        let (inputs, labels) = match *batch {
            // A batch normalisation's running statistics are moved after the step from the
            // inputs of the pass: they are kept.
            Batch::Slices { inputs, labels } if network.normalises_batches() => {
                let size = network.input_size();
                self.inputs.clear();
                self.inputs.extend_from_slice(&inputs[range.start * size..range.end * size]);
                (&self.inputs[..], &labels[range])
            }
            Batch::Slices { inputs, labels } => {
                let size = network.input_size();
                (&inputs[range.start * size..range.end * size], &labels[range])
            }
            Batch::Gathered { set, indices, augmenter } => {
                gather(set, &indices[range.clone()], &mut self.inputs, &mut self.labels);
                if let Some(augmenter) = augmenter {
                    let size = set.input_size();
                    for (j, image) in self.inputs.chunks_exact_mut(size).enumerate() {
                        augmenter.apply(image, seed, range.start + j, &mut self.scratch);
                    }
                }
                (&self.inputs[..], &self.labels[..])
            }
        };
        self.loss = network.loss_and_gradients(
            inputs,
            Targets::Classes(labels),
            mode,
            &mut self.workspace,
            &mut self.gradients,
        )?;
        let classes = network.output_size();
        let outputs = self.workspace.outputs().chunks_exact(classes.max(1));
        self.correct =
            outputs.zip(labels).filter(|&(output, &label)| nn_core::softmax::argmax(output) == label).count();
        Ok(())
    }
}

/// Where the samples of a batch come from.
#[derive(Clone, Copy)]
enum Batch<'a> {
    /// Already laid out one after the other.
    Slices { inputs: &'a [f32], labels: &'a [usize] },
    /// Samples `indices` of `set`, copied by each shard into its own buffers (in parallel) and
    /// moved by `augmenter` when there is one.
    Gathered { set: &'a dyn Samples, indices: &'a [usize], augmenter: Option<&'a Augmenter> },
}

/// Copies the samples `indices` of `set` into `inputs` and `labels`.
fn gather(set: &dyn Samples, indices: &[usize], inputs: &mut Vec<f32>, labels: &mut Vec<usize>) {
    let size = set.input_size();
    inputs.resize(indices.len() * size, 0.0);
    labels.clear();
    indices.iter().for_each(|&index| set.warm(index));
    for (&index, out) in indices.iter().zip(inputs.chunks_exact_mut(size)) {
        set.write_input(index, out);
        labels.push(set.label(index));
    }
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
/// let loss = batch.compute(&net, &[0.0, 1.0, 1.0, 0.0], &[1, 0], 7)?;
/// assert!(loss > 0.0 && batch.gradients().norm() > 0.0 && batch.all_finite());
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchGradients {
    /// Shards of at least this many samples, or `None` for the trainer's [`batch_shards`].
    shard_samples: Option<usize>,
    shards: Vec<Shard>,
    sum: Gradients,
    used: usize,
    finite: bool,
}

impl BatchGradients {
    /// Buffers for `network`, cutting batches as the trainer does ([`batch_shards`]).
    pub fn new(network: &Network) -> Self {
        BatchGradients::with_shards(network, None)
    }

    /// Buffers for `network` with shards of at least `shard_samples` (for measurements; `usize::MAX`
    /// never shards).
    pub fn with_shard_samples(network: &Network, shard_samples: usize) -> Self {
        BatchGradients::with_shards(network, Some(shard_samples.max(1)))
    }

    fn with_shards(network: &Network, shard_samples: Option<usize>) -> Self {
        let gradients = Gradients::zeros_like(network);
        BatchGradients {
            shard_samples,
            shards: vec![Shard::new(gradients.clone())],
            sum: gradients,
            used: 1,
            finite: true,
        }
    }

    /// Mean loss of the batch (`labels.len()` samples in `inputs`, one after the other), and its
    /// gradients in [`gradients`](BatchGradients::gradients), computed in training mode with the
    /// batch's `seed` (from which dropout draws its masks).
    pub fn compute(&mut self, network: &Network, inputs: &[f32], labels: &[usize], seed: u64) -> Result<f32, NnError> {
        let batch = labels.len();
        if batch == 0 {
            return Err(NnError::EmptyBatch);
        }
        let size = network.input_size();
        if inputs.len() != batch * size {
            return Err(NnError::TargetCount { expected: inputs.len() / size.max(1), found: batch });
        }
        self.run(network, Batch::Slices { inputs, labels }, batch, seed)
    }

    /// Like [`compute`](BatchGradients::compute) for the samples `indices` of `set`, which each
    /// shard copies into its own buffers on its own thread.
    pub fn compute_samples(
        &mut self,
        network: &Network,
        set: &dyn Samples,
        indices: &[usize],
        seed: u64,
    ) -> Result<f32, NnError> {
        self.compute_augmented(network, set, indices, seed, None)
    }

    /// Like [`compute_samples`](BatchGradients::compute_samples), each sample moved by
    /// `augmenter` with the draws of `seed` and its place in the batch.
    pub(crate) fn compute_augmented(
        &mut self,
        network: &Network,
        set: &dyn Samples,
        indices: &[usize],
        seed: u64,
        augmenter: Option<&Augmenter>,
    ) -> Result<f32, NnError> {
        if indices.is_empty() {
            return Err(NnError::EmptyBatch);
        }
        if set.input_size() != network.input_size() {
            return Err(NnError::InputSize { expected: network.input_size(), found: set.input_size() });
        }
        self.run(network, Batch::Gathered { set, indices, augmenter }, indices.len(), seed)
    }

    fn run(&mut self, network: &Network, source: Batch<'_>, batch: usize, seed: u64) -> Result<f32, NnError> {
        let count = match self.shard_samples {
            // Batch normalisation reads the whole batch in training: one shard.
            _ if network.normalises_batches() => 1,
            Some(shard_samples) => shard_count(batch, shard_samples),
            None => batch_shards(batch),
        };
        while self.shards.len() < count {
            self.shards.push(Shard::new(self.sum.clone()));
        }
        self.used = count;
        if count == 1 {
            let shard = &mut self.shards[0];
            shard.compute(network, &source, 0..batch, seed)?;
            self.finite = shard.gradients.tensors().iter().all(|t| {
                vectorized(
                    #[inline(always)]
                    || all_finite(t.as_slice()),
                )
            });
            return Ok(shard.loss);
        }
        let range = |i: usize| batch * i / count..batch * (i + 1) / count;
        self.shards[..count]
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(i, shard)| shard.compute(network, &source, range(i), seed))?;
        // ∇ = Σᵢ (nᵢ/n)·∇ᵢ and C = Σᵢ (nᵢ/n)·Cᵢ, shard 0 first, checking finiteness on the way.
        let weights: Vec<f32> = (0..count).map(|i| range(i).len() as f32 / batch as f32).collect();
        let shards = &self.shards[..count];
        let mut finite = true;
        for (k, sum) in self.sum.tensors_mut().iter_mut().enumerate() {
            let parts: Vec<&[f32]> = shards.iter().map(|s| s.gradients.tensors()[k].as_slice()).collect();
            let sum = sum.as_mut_slice();
            finite &= if sum.len() <= PARALLEL_CHUNK {
                vectorized(
                    #[inline(always)]
                    || weighted_sum(sum, &parts, &weights, 0),
                )
            } else {
                sum.par_chunks_mut(PARALLEL_CHUNK)
                    .enumerate()
                    .map(|(c, out)| {
                        vectorized(
                            #[inline(always)]
                            || weighted_sum(out, &parts, &weights, c * PARALLEL_CHUNK),
                        )
                    })
                    .reduce(|| true, |a, b| a && b)
            };
        }
        self.finite = finite;
        Ok(shards.iter().zip(&weights).fold(0.0, |loss, (shard, weight)| loss + weight * shard.loss))
    }

    /// Moves the running statistics of the network's batch normalisations towards those of the
    /// last batch given to [`compute`](BatchGradients::compute) (nothing for a network without
    /// any): call it once after each training step, with the network that computed the batch.
    pub fn update_running_statistics(&self, network: &mut Network) -> Result<(), NnError> {
        if !network.normalises_batches() {
            return Ok(());
        }
        let shard = &self.shards[0];
        if self.used != 1 {
            return Err(NnError::WorkspaceMismatch);
        }
        network.update_running_statistics(&shard.inputs, &shard.workspace)
    }

    /// The gradients of the last batch given to [`compute`](BatchGradients::compute).
    pub fn gradients(&self) -> &Gradients {
        if self.used == 1 { &self.shards[0].gradients } else { &self.sum }
    }

    /// Whether every value of the last batch's gradients is finite (checked while summing).
    pub fn all_finite(&self) -> bool {
        self.finite
    }

    /// Number of shards the last batch was cut into.
    pub fn shards_used(&self) -> usize {
        self.used
    }

    /// Samples of the last batch that the network classified right in its forward pass (in
    /// training mode, before the update), as Keras' training accuracy counts them.
    pub fn correct(&self) -> usize {
        self.shards[..self.used].iter().map(|shard| shard.correct).sum()
    }
}

/// `out = Σᵢ weightᵢ · partsᵢ[offset..]`, from part 0 upwards; whether every sum is finite.
/// On plain slices, which vectorise (nalgebra's element iterators do not).
#[inline(always)]
pub(crate) fn weighted_sum(out: &mut [f32], parts: &[&[f32]], weights: &[f32], offset: usize) -> bool {
    let end = offset + out.len();
    if let ([first, second], [w0, w1]) = (parts, weights) {
        // Two shards, the usual case: one pass, the same operations in the same order.
        let pairs = first[offset..end].iter().zip(&second[offset..end]);
        out.iter_mut().zip(pairs).for_each(|(s, (g0, g1))| *s = w0 * g0 + w1 * g1);
        return all_finite(out);
    }
    out.iter_mut().zip(&parts[0][offset..end]).for_each(|(s, g)| *s = weights[0] * g);
    for (part, &weight) in parts.iter().zip(weights).skip(1) {
        out.iter_mut().zip(&part[offset..end]).for_each(|(s, g)| *s += weight * g);
    }
    all_finite(out)
}

/// Whether every value is finite; branch-free so that it vectorises.
#[inline(always)]
fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    values.iter().fold(0_u32, |any, g| any | u32::from(g.to_bits() & EXPONENT == EXPONENT)) == 0
}

#[cfg(test)]
mod tests {
    use nn_core::{Activation, Init, Loss};

    use super::*;

    #[test]
    fn shards_depend_on_batch_size_only() {
        assert_eq!([1, 10, 64, 127, 128, 200, 256, 10_000].map(|n| shard_count(n, 64)), [1, 1, 1, 1, 2, 3, 4, 8]);
        assert_eq!([1, 10, 31, 32, 100, 127, 128, 200, 256, 10_000].map(batch_shards), [1, 1, 1, 2, 2, 2, 2, 3, 4, 8]);
    }

    #[test]
    fn two_shards_sum_as_any_number_do() {
        // The pass for two shards against the general one, shard after shard, bit for bit, with
        // a `-0`, an offset and a sum that overflows.
        let first: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin() * 1e3).chain([-0.0, f32::MAX]).collect();
        let second: Vec<f32> = (0..40).map(|i| (i as f32 * 0.91).cos()).chain([-0.0, f32::MAX]).collect();
        let zeros = vec![0.0; first.len()];
        let weights = [0.625, 0.875];
        for offset in [0, 3] {
            let len = first.len() - offset;
            let mut two = vec![f32::NAN; len];
            let mut general = vec![f32::NAN; len];
            let finite_two = weighted_sum(&mut two, &[&first, &second], &weights, offset);
            // A third shard of zeros with weight 0 adds `+0`, which changes no sum but a `-0`.
            let finite = weighted_sum(&mut general, &[&first, &second, &zeros], &[weights[0], weights[1], 0.0], offset);
            assert!(!finite_two && !finite, "f32::MAX · 0.625 + f32::MAX · 0.875 overflows");
            let (two, general) = (&two[..len - 2], &general[..len - 2]);
            assert_eq!(
                two.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                general.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(two[0].to_bits(), (weights[0] * first[offset] + weights[1] * second[offset]).to_bits());
        }
        let mut two = [f32::NAN];
        assert!(weighted_sum(&mut two, &[&[-0.0], &[-0.0]], &weights, 0));
        assert_eq!(two[0].to_bits(), (-0.0f32).to_bits(), "-0 · w + -0 · w is -0");
    }

    #[test]
    fn sharded_gradients_match_one_shard_closely() {
        let net = Network::dense(&[5, 7, 3], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 2).unwrap();
        let inputs: Vec<f32> = (0..5 * 40).map(|i| (i as f32 * 0.71).sin()).collect();
        let labels: Vec<usize> = (0..40).map(|i| i % 3).collect();
        let mut whole = BatchGradients::with_shard_samples(&net, usize::MAX);
        let mut sharded = BatchGradients::with_shard_samples(&net, 8);
        let a = whole.compute(&net, &inputs, &labels, 0).unwrap();
        let b = sharded.compute(&net, &inputs, &labels, 0).unwrap();
        assert_eq!((whole.shards_used(), sharded.shards_used()), (1, 5));
        assert!((a - b).abs() < 1e-5);
        for (x, y) in whole.gradients().tensors().iter().zip(sharded.gradients().tensors()) {
            assert!(x.iter().zip(y.iter()).all(|(x, y)| (x - y).abs() < 1e-5));
        }
    }
}
