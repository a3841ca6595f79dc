//! Forward and backward passes of the benchmark recipes' networks at their batch (or shard)
//! sizes and of the inference benchmark's network, the activations and softmax, and model-file
//! speed for 784-512-10.
//!
//! Throughput is reported in "elements" that are floating-point operations, so criterion's
//! `Melem/s` reads as MFLOP/s (a multiply-add counts as 2).
//! Quick run: `cargo bench -p nn-core --bench dense -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use nn_core::softmax::softmax_columns;
use nn_core::{Activation, Gradients, Init, Loss, Mode, Network, Targets, Workspace};

/// Shapes and batches of the recipes whose epoch times matter: 784-128-10 at 128 (the
/// throughput reference) and at 32 (torch-seed-128), Nielsen's 784-30-10 at 10 (per-call
/// overhead dominates), Chollet's 784-512-10 at 64 (the shard size the trainer cuts a batch of
/// 128 into), and the inference benchmark's 784-50-100-10 at 100.
const CASES: [(&[usize], Activation, usize); 5] = [
    (&[784, 128, 10], Activation::Relu, 128),
    (&[784, 128, 10], Activation::Relu, 32),
    (&[784, 30, 10], Activation::Sigmoid, 10),
    (&[784, 512, 10], Activation::Relu, 64),
    (&[784, 50, 100, 10], Activation::Sigmoid, 100),
];

/// The same shapes on real images, mostly zero (81% of an MNIST image's pixels): the products
/// of a first layer then leave out the zero inputs (`affine.rs`, `nonzero_inputs.rs`), which
/// the synthetic inputs above never exercise.
const MNIST_CASES: [(&[usize], Activation, usize); 3] = [
    (&[784, 512, 10], Activation::Relu, 64),
    (&[784, 128, 10], Activation::Relu, 128),
    // A shard of torch-seed's batches of 32.
    (&[784, 128, 10], Activation::Relu, 16),
];

fn inputs(samples: usize, features: usize) -> Vec<f32> {
    (0..samples * features).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect()
}

/// The images of `fixtures/mnist-100`, repeated to `samples`, scaled to [0, 1].
fn mnist_inputs(samples: usize) -> Vec<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/mnist-100/train-images-idx3-ubyte");
    let bytes = std::fs::read(path).expect("the fixture fixtures/mnist-100");
    // An IDX file: a 16-byte header, then the pixels.
    let pixels = &bytes[16..];
    (0..samples * 784).map(|i| f32::from(pixels[i % pixels.len()]) / 255.0).collect()
}

fn passes(c: &mut Criterion) {
    for (sizes, hidden, batch) in CASES {
        passes_of(c, sizes, hidden, batch, &inputs(batch, sizes[0]), "");
    }
    for (sizes, hidden, batch) in MNIST_CASES {
        passes_of(c, sizes, hidden, batch, &mnist_inputs(batch), " on MNIST images");
    }
}

fn passes_of(c: &mut Criterion, sizes: &[usize], hidden: Activation, batch: usize, x: &[f32], inputs: &str) {
    let net = Network::dense(sizes, hidden, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let labels: Vec<usize> = (0..batch).map(|j| j % 10).collect();
    // One multiply-add per weight and sample.
    let products: u64 = sizes.windows(2).map(|p| (p[0] * p[1] * batch) as u64).sum();
    let first = (sizes[0] * sizes[1] * batch) as u64;
    let name = sizes.iter().map(usize::to_string).collect::<Vec<_>>().join("-");
    let mut group = c.benchmark_group(format!("{name} batch {batch}{inputs}"));
    group.throughput(Throughput::Elements(2 * products));
    group.bench_function("forward (classify_batch)", |b| b.iter(|| net.classify_batch(black_box(x), batch).unwrap()));
    // Forward + backward: forward, ∂W of every layer, ∂X of every layer but the first.
    group.throughput(Throughput::Elements(2 * (3 * products - first)));
    training_pass(&mut group, "forward + backward (loss_and_gradients)", &net, x, &labels);
    group.finish();
}

/// Times `net.loss_and_gradients` on `x` and `labels` in training, as `name` of `group`.
fn training_pass(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, net: &Network, x: &[f32], labels: &[usize]) {
    let mut workspace = Workspace::new();
    let mut gradients = Gradients::zeros_like(net);
    group.bench_function(name, |b| {
        b.iter(|| {
            net.loss_and_gradients(
                black_box(x),
                Targets::Classes(labels),
                Mode::training(0),
                &mut workspace,
                &mut gradients,
            )
            .unwrap()
        })
    });
}

/// pytorch-example's dense layer, 9216 → 128 on 32 samples (a shard of its batch of 64), behind
/// a ReLU that leaves 11% of its inputs nonzero, as training leaves them: its `∂X` is computed at
/// the nonzero inputs alone (`Network::zero_inputs_stop_gradients`). Beside it, the same layer
/// behind an identity activation on the same inputs, whose `∂X` is the full product. Then
/// saito-simple's, 4320 → 100 on 50 samples at 48% nonzero, which keeps the full product (at
/// that density the sparse `∂X` was 10% slower: 2.19 against 2.00 ms, AMD EPYC, 2026-12-05).
fn dense_behind_relu(c: &mut Criterion) {
    for (inputs, outputs, batch, per_mille) in [(9216, 128, 32, 110), (4320, 100, 50, 480)] {
        dense_behind(c, inputs, outputs, batch, per_mille);
    }
}

fn dense_behind(c: &mut Criterion, inputs: usize, outputs: usize, batch: usize, per_mille: usize) {
    // `per_mille` values in a thousand positive, the others zero.
    let x: Vec<f32> = (0..inputs * batch)
        .map(|i| if (i * 7919) % 1000 < per_mille { ((i * 31) % 97) as f32 / 97.0 + 0.01 } else { 0.0 })
        .collect();
    let labels: Vec<usize> = (0..batch).map(|j| j % 10).collect();
    let percent = per_mille / 10;
    let mut group = c.benchmark_group(format!("{inputs}-{outputs}-10 batch {batch}, {percent}% of the inputs nonzero"));
    for activation in [Activation::Relu, Activation::Identity] {
        let shape = nn_core::Shape::flat(inputs);
        let layers: Vec<Box<dyn nn_core::Layer>> = vec![
            Box::new(nn_core::ActivationLayer::new(shape, activation).unwrap()),
            Box::new(nn_core::Dense::random(inputs, outputs, Activation::Relu, Init::HE, 1).unwrap()),
            Box::new(nn_core::Dense::random(outputs, 10, Activation::Identity, Init::HE, 2).unwrap()),
        ];
        let net = Network::new(layers, Loss::SoftmaxCrossEntropy).unwrap();
        training_pass(&mut group, &format!("forward + backward, behind {activation}"), &net, &x, &labels);
    }
    group.finish();
}

/// The element-wise work of a layer: the activations on a 128 × 128 batch of pre-activations
/// and the softmax of 128 columns of 10 logits. Elements are values here.
fn activations_and_softmax(c: &mut Criterion) {
    let values: Vec<f32> = (0..128 * 128).map(|i| ((i * 7919) % 2001) as f32 / 100.0 - 10.0).collect();
    let mut group = c.benchmark_group("element-wise");
    group.throughput(Throughput::Elements(values.len() as u64));
    for activation in [Activation::Sigmoid, Activation::Relu, Activation::Tanh] {
        group.bench_function(format!("{activation} 128x128"), |b| {
            b.iter_batched_ref(|| values.clone(), |v| activation.apply(v), criterion::BatchSize::SmallInput)
        });
    }
    let logits = &values[..10 * 128];
    group.throughput(Throughput::Elements(logits.len() as u64));
    group.bench_function("softmax 10x128", |b| {
        b.iter_batched_ref(|| logits.to_vec(), |v| softmax_columns(v, 10).unwrap(), criterion::BatchSize::SmallInput)
    });
    group.finish();
}

#[cfg(feature = "serde")]
fn model_files(c: &mut Criterion) {
    use nn_core::{load_model, save_model};

    let net = Network::dense(&[784, 512, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    let dir = std::env::temp_dir().join(format!("nn-core-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    let mut group = c.benchmark_group("model file 784-512-10");
    group.sample_size(10);
    group.bench_function("save", |b| b.iter(|| save_model(&net, &path).unwrap()));
    group.bench_function("load", |b| b.iter(|| load_model(&path).unwrap()));
    group.finish();
    // Absent when a filter skipped both benchmarks.
    if let Ok(metadata) = std::fs::metadata(&path) {
        println!("model file size: {} bytes", metadata.len());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "serde")]
criterion_group!(benches, passes, dense_behind_relu, activations_and_softmax, model_files);
// Model files need the `serde` feature; the passes are measured without it too.
#[cfg(not(feature = "serde"))]
criterion_group!(benches, passes, dense_behind_relu, activations_and_softmax);
criterion_main!(benches);
