//! Small synthetic problems shared by the integration tests.
#![allow(dead_code)]

use nn_core::{Activation, Init, Loss, Network};
use nn_train::FloatSamples;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const FEATURES: usize = 20;
pub const CLASSES: usize = 3;

/// `n` samples of 20 features uniform in [-1, 1]; the label is the argmax of a fixed linear map
/// (learnable), or random when `random_labels`.
pub fn linear_rule(n: usize, seed: u64, random_labels: bool) -> FloatSamples<'static> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rule = ChaCha8Rng::seed_from_u64(1234);
    let map: Vec<f32> = (0..FEATURES * CLASSES).map(|_| rule.random_range(-1.0..1.0)).collect();
    let inputs: Vec<f32> = (0..n * FEATURES).map(|_| rng.random_range(-1.0..1.0)).collect();
    let labels = inputs
        .chunks_exact(FEATURES)
        .map(|x| {
            if random_labels {
                return rng.random_range(0..CLASSES);
            }
            let scores = map.chunks_exact(FEATURES).map(|w| w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>());
            scores.enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0
        })
        .collect::<Vec<_>>();
    FloatSamples::new(inputs, labels, FEATURES).unwrap()
}

pub fn network(seed: u64) -> Network {
    Network::dense(&[FEATURES, 16, CLASSES], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, seed).unwrap()
}

/// Every parameter's bits, for exact comparisons.
pub fn bits(network: &Network) -> Vec<Vec<u32>> {
    network.parameters().iter().map(|p| p.iter().map(|v| v.to_bits()).collect()).collect()
}
