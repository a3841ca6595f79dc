//! Where a training step's time goes, layer by layer: what PyTorch users get from
//! `torch.profiler`, for the passes of this crate's trainer.
//!
//! Each part is timed on its own, on the calling thread, on one real batch of the training set
//! (so the zeros that ReLU, pooling and dropout leave, which the backward passes skip, are
//! those of real images), and reported as seconds an epoch: the median of several repeats
//! times the batches of an epoch. The trainer runs the shards of a batch on several threads at
//! once; these are the times of one thread doing all of it, so they add up to more than an
//! epoch takes on several cores, and each part's share is what matters.

use std::time::{Duration, Instant};

use nalgebra::DMatrix;
use nn_core::{Gradients, Layer, MaxPositions, Mode, Network, PooledPair, Targets};

use crate::{Optimizer, Samples, TrainConfig, TrainError};

/// The timings of one layer, in seconds an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTimes {
    /// The layer, as the summary describes it (`conv 32@3x3 pad 1, relu`).
    pub layer: String,
    /// Its forward pass (with its activation).
    pub forward: f64,
    /// The backward pass to its own parameters' gradients (and through its activation).
    pub weight_gradients: f64,
    /// The backward pass to its input's gradient, which only layers after the first compute.
    pub input_gradient: Option<f64>,
    /// Multiply-adds of its products in one epoch's forward pass.
    pub multiply_adds: f64,
}

impl LayerTimes {
    /// Forward and backward together.
    pub fn total(&self) -> f64 {
        self.forward + self.weight_gradients + self.input_gradient.unwrap_or(0.0)
    }

    /// Floating-point operations a second of its products (a multiply-add counts as 2): the
    /// forward product, the weight product and, where computed, the input product each hold as
    /// many multiply-adds. A 3x3 convolution computed by Winograd's method does fewer
    /// multiplications than it is credited with here: its rate is the direct method's equivalent.
    pub fn flops(&self) -> f64 {
        let products = if self.input_gradient.is_some() { 3.0 } else { 2.0 };
        let seconds = self.total();
        if seconds > 0.0 { 2.0 * products * self.multiply_adds / seconds } else { 0.0 }
    }
}

/// Where a training epoch's time goes: each layer, the loss, the optimizer step and the sum of
/// the shards' gradients, as seconds an epoch on one thread; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Samples per batch.
    pub batch: usize,
    /// Batches in an epoch.
    pub batches: usize,
    /// Shards each batch is cut into (see the trainer's determinism).
    pub shards: usize,
    /// One entry per layer, first to last.
    pub layers: Vec<LayerTimes>,
    /// The loss and its gradient at the outputs.
    pub loss: f64,
    /// The optimizer's update of every parameter.
    pub optimizer_step: f64,
    /// Adding the shards' gradients into one (none with one shard).
    pub shard_sum: f64,
    /// The layers, each a convolution, that the trainer computes in one pass with the
    /// max-pooling right after it, in order: each one's times hold the pooling's passes too,
    /// whose own are then zero. A first one-channel ReLU convolution
    /// (`Network::first_layers_forward` and `first_layers_backward`), and Winograd's
    /// convolutions (`Network::pools_in_one_pass`).
    pub pooled_together: Vec<usize>,
    /// This thread's best rate at a matrix product held in cache (a 256 × 256 × 256 product),
    /// in floating-point operations a second: the yardstick of the layers' rates.
    pub peak_flops: f64,
}

impl Profile {
    /// Everything together, in seconds an epoch on one thread.
    pub fn total(&self) -> f64 {
        self.layers.iter().map(LayerTimes::total).sum::<f64>() + self.loss + self.optimizer_step + self.shard_sum
    }
}

/// Times the parts of a training step of `network` as `config` trains it (its batch size and
/// optimizer) on the first batch of `train`, each the median of `repeats` runs (at least 1).
/// The network is not changed: the optimizer steps a copy.
pub fn profile(
    network: &Network,
    config: &TrainConfig,
    train: &dyn Samples,
    repeats: usize,
) -> Result<Profile, TrainError> {
    let batch = config.batch_size.clamp(1, train.len().max(1));
    if train.is_empty() {
        return Err(TrainError::Samples(crate::SamplesError::Empty { set: "training" }));
    }
    let size = network.input_size();
    if train.input_size() != size {
        let found = train.input_size();
        return Err(TrainError::Samples(crate::SamplesError::InputSize { set: "training", expected: size, found }));
    }
    let repeats = repeats.max(1);
    let mut inputs = vec![0.0; batch * size];
    for (index, sample) in inputs.chunks_exact_mut(size).enumerate() {
        train.write_input(index, sample);
    }
    let classes: Vec<usize> = (0..batch).map(|index| train.label(index)).collect();
    let inputs = match network.standardization() {
        Some(standardization) => {
            standardization.apply_in_place(&mut inputs);
            inputs
        }
        None => inputs,
    };

    // One forward pass keeps every layer's input and output.
    let layers = network.layers();
    let mode = |index: usize| Mode::training(config.seed).for_layer(index);
    let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let input = if index == 0 { &inputs } else { &outputs[index - 1] };
        let mut output = vec![0.0; layer.output_size() * batch];
        layer.forward(input, batch, &mut output, mode(index));
        outputs.push(output);
    }
    let input_of = |index: usize| if index == 0 { inputs.as_slice() } else { outputs[index - 1].as_slice() };

    let logits = &outputs[layers.len() - 1];
    let mut delta = vec![0.0; logits.len()];
    let targets = Targets::Classes(&classes);
    network.loss().loss_and_delta(logits, network.output_size(), targets, Some(&mut delta))?;
    let mut scratch = vec![0.0; logits.len()];
    let loss = median(repeats, || {
        let start = Instant::now();
        let _ = network.loss().loss_and_delta(logits, network.output_size(), targets, Some(&mut scratch));
        start.elapsed()
    });

    // One backward pass gives every layer its real output gradient.
    let mut output_grads: Vec<Vec<f32>> = vec![Vec::new(); layers.len()];
    output_grads[layers.len() - 1] = delta;
    let mut gradients = Gradients::zeros_like(network);
    let counts: Vec<usize> = layers.iter().map(|l| l.parameters().len()).collect();
    for index in (1..layers.len()).rev() {
        let layer = &layers[index];
        let mut input_grad = vec![0.0; layer.input_size() * batch];
        let mut output_grad = output_grads[index].clone();
        network.layer_backward(
            index,
            input_of(index),
            &outputs[index],
            batch,
            &mut output_grad,
            Some(&mut input_grad),
            layer_gradients(&mut gradients, &counts, index),
            mode(index),
        );
        output_grads[index - 1] = input_grad;
    }

    let batches = train.len().div_ceil(batch);
    let per_epoch = |time: Duration| time.as_secs_f64() * batches as f64;
    let mut times = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let mut output = vec![0.0; layer.output_size() * batch];
        let forward = median(repeats, || {
            let start = Instant::now();
            layer.forward(input_of(index), batch, &mut output, mode(index));
            start.elapsed()
        });
        // Allocated once: a fresh buffer's pages are mapped as the pass first writes them, a cost
        // inside the timing that the trainer's reused workspace never pays (it was 1.6 of the
        // 3.1 s of ∂input that saito-deep's second convolution was said to take an epoch).
        let mut input_grad = vec![0.0; layer.input_size() * batch];
        let mut backward = |with_input: bool, gradients: &mut Gradients| {
            let mut output_grad = output_grads[index].clone();
            let start = Instant::now();
            network.layer_backward(
                index,
                input_of(index),
                &outputs[index],
                batch,
                &mut output_grad,
                with_input.then_some(input_grad.as_mut_slice()),
                layer_gradients(gradients, &counts, index),
                mode(index),
            );
            start.elapsed()
        };
        let weights_only = median(repeats, || backward(false, &mut gradients));
        let input_gradient = (index > 0).then(|| {
            let both = median(repeats, || backward(true, &mut gradients));
            both.saturating_sub(weights_only)
        });
        times.push(LayerTimes {
            layer: format!("{} {}", layer.kind(), layer.describe()).trim_end().to_string(),
            forward: per_epoch(forward),
            weight_gradients: per_epoch(weights_only),
            input_gradient: input_gradient.map(per_epoch),
            multiply_adds: multiply_adds(layer.as_ref()) as f64 * (batches * batch) as f64,
        });
    }

    // The trainer's passes for layers 0 and 1 together, where it takes them.
    let mut positions = MaxPositions::default();
    let (mut conv_output, mut pooled) = (outputs[0].clone(), outputs.get(1).cloned().unwrap_or_default());
    let first_layers_together =
        network.first_layers_forward(&inputs, batch, &mut conv_output, &mut pooled, &mut positions);
    if first_layers_together {
        let forward = median(repeats, || {
            let start = Instant::now();
            network.first_layers_forward(&inputs, batch, &mut conv_output, &mut pooled, &mut positions);
            start.elapsed()
        });
        let mut first_gradients = gradients.clone();
        let backward = median(repeats, || {
            let start = Instant::now();
            network.first_layers_backward(
                &inputs,
                &positions,
                &outputs[1],
                &output_grads[1],
                batch,
                layer_gradients(&mut first_gradients, &counts, 0),
            );
            start.elapsed()
        });
        times[0].forward = per_epoch(forward);
        times[0].weight_gradients = per_epoch(backward);
    }
    // And a Winograd convolution with the max-pooling after it, where it takes them together.
    let mut pooled_together: Vec<usize> = if first_layers_together { vec![0] } else { Vec::new() };
    for index in (0..layers.len()).filter(|&index| network.pools_in_one_pass(index)) {
        let (input, pool_index) = (input_of(index), index + 1);
        let (mut conv_output, mut pooled) = (outputs[index].clone(), outputs[pool_index].clone());
        let forward = median(repeats, || {
            let start = Instant::now();
            network.pooled_pair_forward(index, input, batch, &mut conv_output, &mut pooled, &mut positions);
            start.elapsed()
        });
        let (mut conv_grad, mut input_grad) = (vec![0.0; conv_output.len()], vec![0.0; input.len()]);
        let mut pair_gradients = gradients.clone();
        let mut backward = |with_input: bool| {
            let mut pooled_grad = output_grads[pool_index].clone();
            let start = Instant::now();
            let pair = PooledPair {
                input,
                conv_output: &conv_output,
                pooled: &pooled,
                positions: &positions,
                pooled_grad: &mut pooled_grad,
                conv_grad: &mut conv_grad,
                input_grad: with_input.then_some(input_grad.as_mut_slice()),
            };
            network.pooled_pair_backward(index, pair, batch, layer_gradients(&mut pair_gradients, &counts, index));
            start.elapsed()
        };
        let weights_only = median(repeats, || backward(false));
        let input_gradient = (index > 0).then(|| median(repeats, || backward(true)).saturating_sub(weights_only));
        times[index].forward = per_epoch(forward);
        times[index].weight_gradients = per_epoch(weights_only);
        times[index].input_gradient = input_gradient.map(per_epoch);
        pooled_together.push(index);
    }
    // A pooling computed with its convolution takes no time of its own.
    for &index in &pooled_together {
        let pool = &mut times[index + 1];
        (pool.forward, pool.weight_gradients, pool.input_gradient) = (0.0, 0.0, Some(0.0));
    }

    let mut copy = network.clone();
    let mut optimizer = Optimizer::new(config.optimizer, config.weight_decay)?;
    optimizer.step(&mut copy, &gradients, config.learning_rate)?;
    let optimizer_step = median(repeats, || {
        let start = Instant::now();
        let _ = optimizer.step(&mut copy, &gradients, config.learning_rate);
        start.elapsed()
    });
    // The trainer's sum of the shards (on one thread here), each shard's gradients the same.
    let shards = crate::parallel::batch_shards(batch);
    let mut sum = gradients.clone();
    let weights = vec![1.0 / shards as f32; shards];
    let shard_sum = median(repeats, || {
        let start = Instant::now();
        if shards > 1 {
            for (out, part) in sum.tensors_mut().iter_mut().zip(gradients.tensors()) {
                let parts = vec![part.as_slice(); shards];
                crate::vectorized::vectorized(
                    #[inline(always)]
                    || crate::parallel::weighted_sum(out.as_mut_slice(), &parts, &weights, 0),
                );
            }
        }
        start.elapsed()
    });

    Ok(Profile {
        batch,
        batches,
        shards,
        layers: times,
        loss: per_epoch(loss),
        optimizer_step: per_epoch(optimizer_step),
        shard_sum: per_epoch(shard_sum),
        pooled_together,
        peak_flops: peak_flops(repeats),
    })
}

/// The gradients of layer `index` among all of them (`counts`: parameter matrices per layer).
fn layer_gradients<'g>(gradients: &'g mut Gradients, counts: &[usize], index: usize) -> &'g mut [DMatrix<f32>] {
    let first: usize = counts[..index].iter().sum();
    &mut gradients.tensors_mut()[first..first + counts[index]]
}

/// Multiply-adds of one sample's forward product: each weight once per output pixel (one pixel
/// for a dense layer); 0 for layers without weights.
fn multiply_adds(layer: &dyn Layer) -> u64 {
    let pixels = layer.output_shape().height * layer.output_shape().width;
    layer.parameters().first().map_or(0, |weights| (weights.len() * pixels) as u64)
}

/// The median of `repeats` timings.
fn median(repeats: usize, mut time: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..repeats).map(|_| time()).collect();
    times.sort();
    times[times.len() / 2]
}

/// The least time an epoch of training `network` on `samples` samples can take at
/// `flops_per_second`: its products' floating-point operations (a multiply-add counts as 2)
/// over that rate. Each layer with weights computes its forward product, the product to its
/// weights' gradient and, after the first layer, the product to its input's gradient, each of
/// as many multiply-adds (a convolution's counted as the direct method's). Activations,
/// pooling, the loss and the optimizer are left out: the floor is the arithmetic alone.
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// let net = Network::dense(&[784, 100, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
/// // 784·100 + 100·10 multiply-adds forward; ∂W of both; ∂X of the second only.
/// let operations = 2.0 * (2.0 * 79_400.0 + 1_000.0) * 60_000.0;
/// assert_eq!(nn_train::profile::floor_seconds(&net, 60_000, 1e9), operations / 1e9);
/// # Ok::<(), nn_core::NnError>(())
/// ```
pub fn floor_seconds(network: &Network, samples: usize, flops_per_second: f64) -> f64 {
    let multiply_adds: f64 = network
        .layers()
        .iter()
        .enumerate()
        .map(|(index, layer)| {
            let products = if index == 0 { 2.0 } else { 3.0 };
            products * multiply_adds(layer.as_ref()) as f64
        })
        .sum();
    2.0 * multiply_adds * samples as f64 / flops_per_second
}

/// Floating-point operations a second of the best of `repeats` (at least 3) 256 × 256 × 256
/// products (`2 · 256³` operations each) on the calling thread: the yardstick of
/// [`Profile::peak_flops`] and [`floor_seconds`].
pub fn peak_flops(repeats: usize) -> f64 {
    let n = 256;
    let a = DMatrix::<f32>::from_fn(n, n, |i, j| ((i * 31 + j * 17) % 97) as f32 / 97.0);
    let b = a.transpose();
    let mut c = DMatrix::<f32>::zeros(n, n);
    let best = (0..repeats.max(3))
        .map(|_| {
            let start = Instant::now();
            c.gemm(1.0, &a, &b, 0.0);
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    std::hint::black_box(&c);
    2.0 * (n * n * n) as f64 / best.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use nn_core::{Architecture, Init, Loss};

    use super::*;
    use crate::FloatSamples;

    #[test]
    fn every_layer_is_timed_and_the_products_are_counted() {
        let architecture: Architecture = "conv(4,3) relu maxpool(2) flatten dense(10)".parse().unwrap();
        let network = architecture.build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
        let images: Vec<f32> = (0..40 * 784).map(|i| (i % 13) as f32 / 13.0).collect();
        let set = FloatSamples::new(images, (0..40).map(|j| j % 10).collect::<Vec<_>>(), 784).unwrap();
        let config = TrainConfig { batch_size: 16, ..TrainConfig::default() };
        let profile = profile(&network, &config, &set, 3).unwrap();
        assert_eq!((profile.batch, profile.batches, profile.layers.len()), (16, 3, 4));
        // conv(4,3) on 28x28: 36 weights at each of 26x26 pixels; dense: 10 x 676.
        let multiply_adds: Vec<f64> = profile.layers.iter().map(|l| l.multiply_adds).collect();
        assert_eq!(multiply_adds, [36.0 * 676.0 * 48.0, 0.0, 0.0, 6760.0 * 48.0]);
        assert!(profile.layers[0].input_gradient.is_none());
        assert!(profile.layers[1..].iter().all(|l| l.input_gradient.is_some()));
        assert!(profile.layers.iter().all(|l| l.forward >= 0.0 && l.total().is_finite()));
        assert!(profile.peak_flops > 0.0 && profile.total() > 0.0);
        let names: Vec<&str> = profile.layers.iter().map(|l| l.layer.as_str()).collect();
        assert_eq!(names, ["conv 4@3x3, relu", "maxpool 2x2", "flatten", "dense identity"]);
        let other = FloatSamples::new(vec![0.5; 40], vec![1; 4], 10).unwrap();
        assert!(matches!(
            super::profile(&network, &config, &other, 1),
            Err(TrainError::Samples(crate::SamplesError::InputSize { expected: 784, found: 10, .. }))
        ));
        // The network itself is left as it was.
        assert_eq!(network, architecture.build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap());
        // A one-channel convolution of 4 filters and its pooling are two passes.
        assert!(profile.pooled_together.is_empty());
    }

    #[test]
    fn a_convolution_and_its_pooling_computed_together_are_timed_together() {
        let images: Vec<f32> = (0..20 * 784).map(|i| (i % 13) as f32 / 13.0).collect();
        let set = FloatSamples::new(images, (0..20).map(|j| j % 10).collect::<Vec<_>>(), 784).unwrap();
        let config = TrainConfig { batch_size: 10, ..TrainConfig::default() };
        // A Winograd convolution (4 channels) and its pooling; a first one-channel convolution of
        // 16 filters and its pooling (which need a vector of filters: 16 covers AVX-512's).
        for (text, together) in [
            ("conv(4,3) relu conv(8,3,pad=1) relu maxpool(2) flatten dense(10)", 1),
            ("conv(16,5) relu maxpool(2) flatten dense(10)", 0),
        ] {
            let network: Network =
                text.parse::<Architecture>().unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
            let profile = profile(&network, &config, &set, 1).unwrap();
            assert_eq!(profile.pooled_together, [together], "{text}");
            let (conv, pool) = (&profile.layers[together], &profile.layers[together + 1]);
            assert!(conv.forward > 0.0 && conv.weight_gradients > 0.0, "{text}: {conv:?}");
            assert_eq!((pool.forward, pool.input_gradient), (0.0, Some(0.0)), "{text}");
            assert_eq!(conv.input_gradient.is_some(), together > 0, "{text}");
        }
    }
}
