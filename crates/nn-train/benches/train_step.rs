//! One training step (batch gradients + Adam update) of 784-128-10 at batch 10, 32 and 128,
//! each from the same initial network (a step repeated on one batch would overfit it, and the
//! tiny gradients that follow are subnormal and slow),
//! and the step at batch 128 for several shard sizes, which is how
//! [`batch_shards`](nn_train::batch_shards) was chosen.
//!
//! Quick run: `cargo bench -p nn-train --bench train_step -- --warm-up-time 1 --measurement-time 3`.
//! Threads: set `RAYON_NUM_THREADS` to compare.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Bencher, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nn_core::{Activation, Init, Loss, Network};
use nn_train::{BatchGradients, MIN_SHARD_SAMPLES, Optimizer, OptimizerConfig, SHARD_SAMPLES};

/// Deterministic pseudo-random pixels in [0, 1] and labels.
fn batch(samples: usize) -> (Vec<f32>, Vec<usize>) {
    let inputs = (0..samples * 784).map(|i| ((i * 7919 + 13) % 256) as f32 / 255.0).collect();
    let labels = (0..samples).map(|j| (j * 7) % 10).collect();
    (inputs, labels)
}

fn network() -> Network {
    Network::dense(&[784, 128, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap()
}

/// One step as the trainer takes it, the update parallel after a sharded batch. The benchmarks
/// run on a thread of rayon's pool, as the trainer does (see `in_pool`).
fn step(net: &mut Network, gradients: &mut BatchGradients, optimizer: &mut Optimizer, x: &[f32], y: &[usize]) -> f32 {
    let loss = gradients.compute(net, black_box(x), y, 0).unwrap();
    optimizer.set_parallel(gradients.shards_used() > 1);
    optimizer.step(net, gradients.gradients(), 1e-4).unwrap();
    loss
}

/// Times steps, each from a fresh copy of `net`, on a thread of rayon's pool like
/// `nn_train::train`: parallel work started from any other thread blocks it on a lock and
/// wakes it afterwards, which would be measured too.
fn time_steps(
    b: &mut Bencher<'_>,
    net: &Network,
    gradients: &mut BatchGradients,
    optimizer: &mut Optimizer,
    x: &[f32],
    y: &[usize],
) {
    b.iter_custom(|iterations| {
        rayon::scope(|_| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let mut fresh = net.clone();
                let start = Instant::now();
                black_box(step(&mut fresh, gradients, optimizer, x, y));
                total += start.elapsed();
            }
            total
        })
    });
}

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train step 784-128-10");
    for size in [10, 32, 128] {
        let (x, y) = batch(size);
        let net = network();
        let mut gradients = BatchGradients::new(&net);
        let mut optimizer = Optimizer::new(OptimizerConfig::adam(), 0.0).unwrap();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new("batch", size), |b| {
            time_steps(b, &net, &mut gradients, &mut optimizer, &x, &y)
        });
    }
    group.finish();
}

fn shard_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("train step 784-128-10 shards");
    for (size, shard) in
        [(32, 16), (32, usize::MAX), (128, 32), (128, 64), (128, usize::MAX), (256, 64), (256, usize::MAX)]
    {
        let (x, y) = batch(size);
        let net = network();
        let mut gradients = BatchGradients::with_shard_samples(&net, shard);
        let mut optimizer = Optimizer::new(OptimizerConfig::adam(), 0.0).unwrap();
        let label = if shard == usize::MAX { "unsharded".to_string() } else { format!("shard {shard}") };
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new(format!("batch {size}"), label), |b| {
            time_steps(b, &net, &mut gradients, &mut optimizer, &x, &y)
        });
    }
    group.finish();
    println!(
        "MIN_SHARD_SAMPLES = {MIN_SHARD_SAMPLES}, SHARD_SAMPLES = {SHARD_SAMPLES}, rayon threads = {}",
        rayon::current_num_threads()
    );
}

/// The update alone, the fixed cost of a step whatever the batch size.
fn optimizer_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("optimizer step 784-128-10");
    for config in [OptimizerConfig::Sgd, OptimizerConfig::adam()] {
        let mut net = network();
        let (x, y) = batch(10);
        let mut gradients = BatchGradients::new(&net);
        gradients.compute(&net, &x, &y, 0).unwrap();
        let mut optimizer = Optimizer::new(config, 0.0).unwrap();
        group.bench_function(config.name(), |b| {
            b.iter(|| optimizer.step(&mut net, black_box(gradients.gradients()), 1e-6).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, train_step, shard_sizes, optimizer_step);
criterion_main!(benches);
