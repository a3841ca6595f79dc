//! Forward and backward passes of 784-128-10 at batch 128, and model-file speed for 784-512-10.
//!
//! Throughput is reported in "elements" that are floating-point operations, so criterion's
//! `Melem/s` reads as MFLOP/s (a multiply-add counts as 2).
//! Quick run: `cargo bench -p nn-core --bench dense -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nn_core::{Activation, Gradients, Init, Loss, Network, Targets, Workspace, load_model, save_model};

const BATCH: usize = 128;

fn inputs(samples: usize, features: usize) -> Vec<f32> {
    (0..samples * features).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect()
}

fn passes(c: &mut Criterion) {
    let net = Network::dense(&[784, 128, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let x = inputs(BATCH, 784);
    let labels: Vec<usize> = (0..BATCH).map(|j| j % 10).collect();
    let products = (784 * 128 + 128 * 10) as u64 * BATCH as u64;
    let mut group = c.benchmark_group("784-128-10 batch 128");
    // Forward: one multiply-add per weight and sample.
    group.throughput(Throughput::Elements(2 * products));
    group.bench_function("forward (classify_batch)", |b| b.iter(|| net.classify_batch(black_box(&x), BATCH).unwrap()));
    // Forward + backward: forward, ∂W of both layers, ∂X of the second layer only.
    group.throughput(Throughput::Elements(2 * products * 2 + 2 * (128 * 10 * BATCH) as u64));
    let mut workspace = Workspace::new();
    let mut gradients = Gradients::zeros_like(&net);
    group.bench_function("forward + backward (loss_and_gradients)", |b| {
        b.iter(|| {
            net.loss_and_gradients(black_box(&x), Targets::Classes(&labels), &mut workspace, &mut gradients).unwrap()
        })
    });
    group.finish();
}

fn model_files(c: &mut Criterion) {
    let net = Network::dense(&[784, 512, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let dir = std::env::temp_dir().join(format!("nn-core-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    let mut group = c.benchmark_group("model file 784-512-10");
    group.sample_size(10);
    group.bench_function("save", |b| b.iter(|| save_model(&net, &path).unwrap()));
    group.bench_function("load", |b| b.iter(|| load_model(&path).unwrap()));
    group.finish();
    println!("model file size: {} bytes", std::fs::metadata(&path).unwrap().len());
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, passes, model_files);
criterion_main!(benches);
