//! Forward and backward passes of the convolutional recipes' networks at their batch sizes
//! (pytorch-example 64, saito-simple and saito-deep 100), the inference of one image by
//! saito-deep (target: under 5 ms), each of their convolutions alone and their `Flatten`, and
//! saito-deep's convolutions that a max-pooling follows, alone and as training computes them.
//!
//! Single-threaded: a network computes a batch on the calling thread (the trainer shards batches
//! across threads; see the `dense` bench). Throughput is in "elements" that are floating-point
//! operations, so criterion's `Melem/s` reads as MFLOP/s (a multiply-add counts as 2; the
//! convolutions' and dense layers' products only).
//! Run: `cargo bench -p nn-core --bench conv` (a few minutes); one part:
//! `cargo bench -p nn-core --bench conv -- "saito-deep batch 1"`.

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use nalgebra::DMatrix;
use nn_core::{
    Activation, Architecture, Gradients, Init, Layer, LayerSpec, Loss, MaxPositions, Mode, Network, Targets, Workspace,
};

/// The convolutional recipes' networks and batch sizes (`nn-cli recipes`).
const CASES: [(&str, usize); 3] = [("pytorch-example", 64), ("saito-simple", 100), ("saito-deep", 100)];

/// The inference of one image by this network must stay under this.
const ONE_IMAGE_TARGET: Duration = Duration::from_millis(5);

fn network(name: &str) -> Network {
    Architecture::named(name).unwrap().build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap()
}

/// `samples` images of 784 pixels in [0, 1], with a spread of values like digits'.
fn inputs(samples: usize) -> Vec<f32> {
    (0..samples * 784).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect()
}

/// Multiply-adds of one sample through a layer: each weight once per output pixel (one pixel
/// for a dense layer); 0 for layers without weights.
fn multiply_adds(layer: &dyn Layer) -> u64 {
    let pixels = layer.output_shape().height * layer.output_shape().width;
    layer.parameters().first().map_or(0, |weights| (weights.len() * pixels) as u64)
}

/// A short measurement: these passes take milliseconds, and ten samples tell them apart.
fn short(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
}

fn networks(c: &mut Criterion) {
    for (name, batch) in CASES {
        let net = network(name);
        let x = inputs(batch);
        let labels: Vec<usize> = (0..batch).map(|j| j % 10).collect();
        let products: u64 = net.layers().iter().map(|l| multiply_adds(l.as_ref())).sum::<u64>() * batch as u64;
        let first = multiply_adds(net.layers()[0].as_ref()) * batch as u64;
        let mut group = c.benchmark_group(format!("{name} batch {batch}"));
        short(&mut group);
        group.throughput(Throughput::Elements(2 * products));
        group.bench_function("forward (classify_batch)", |b| {
            b.iter(|| net.classify_batch(black_box(&x), batch).unwrap())
        });
        // Forward + backward: forward, ∂W of every layer, ∂X of every layer but the first.
        group.throughput(Throughput::Elements(2 * (3 * products - first)));
        let mut workspace = Workspace::new();
        let mut gradients = Gradients::zeros_like(&net);
        group.bench_function("forward + backward (loss_and_gradients)", |b| {
            b.iter(|| {
                net.loss_and_gradients(
                    black_box(&x),
                    Targets::Classes(&labels),
                    Mode::training(0),
                    &mut workspace,
                    &mut gradients,
                )
                .unwrap()
            })
        });
        group.finish();
    }
}

/// One image through saito-deep, as `nn-cli predict` or a server classifies it; the fastest
/// iteration measured is checked against [`ONE_IMAGE_TARGET`].
fn one_image(c: &mut Criterion) {
    let net = network("saito-deep");
    let image = inputs(1);
    let products: u64 = net.layers().iter().map(|l| multiply_adds(l.as_ref())).sum();
    let fastest = Cell::new(Duration::MAX);
    let mut group = c.benchmark_group("saito-deep batch 1");
    short(&mut group);
    group.throughput(Throughput::Elements(2 * products));
    group.bench_function("forward of one image (classify)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                black_box(net.classify(black_box(&image)).unwrap());
                let elapsed = start.elapsed();
                fastest.set(fastest.get().min(elapsed));
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    // Unset when a filter skipped the benchmark.
    let fastest = fastest.get();
    if fastest != Duration::MAX {
        let verdict = if fastest < ONE_IMAGE_TARGET { "met" } else { "MISSED" };
        println!("saito-deep, one image: fastest {fastest:?}, target under {ONE_IMAGE_TARGET:?}: {verdict}");
    }
}

/// Each convolution of the three networks alone, at its network's batch, on the inputs it gets in
/// that network (the layers before it run once, in training mode, on the same images).
fn convolutions(c: &mut Criterion) {
    for (name, batch) in CASES {
        let net = network(name);
        let mut input = inputs(batch);
        let mut group = c.benchmark_group(format!("{name} convolutions, batch {batch}"));
        short(&mut group);
        for (index, layer) in net.layers().iter().enumerate() {
            let mut output = vec![0.0; layer.output_size() * batch];
            layer.forward(&input, batch, &mut output, Mode::training(0));
            if layer.kind() == "conv" {
                bench_layer(&mut group, index, layer.as_ref(), &input, &output, batch);
            }
            input = output;
        }
        group.finish();
    }
}

/// Forward, then backward, of one layer; the backward computes `∂X` except for the first layer,
/// as the network does.
fn bench_layer(
    group: &mut BenchmarkGroup<'_, WallTime>,
    index: usize,
    layer: &dyn Layer,
    input: &[f32],
    output: &[f32],
    batch: usize,
) {
    let label = format!("#{index} {} {} to {}", layer.spec(), layer.input_shape(), layer.output_shape());
    let products = multiply_adds(layer) * batch as u64;
    group.throughput(Throughput::Elements(2 * products));
    let mut forward_output = vec![0.0; output.len()];
    group.bench_function(format!("{label}: forward"), |b| {
        b.iter(|| layer.forward(black_box(input), batch, &mut forward_output, Mode::training(0)))
    });
    let backward_products = if index == 0 { products } else { 2 * products };
    group.throughput(Throughput::Elements(2 * backward_products));
    // A gradient of the output spread like a loss's; the layer may overwrite it (its
    // activation's derivative), which changes values, not the work.
    let mut output_grad: Vec<f32> = (0..output.len()).map(|i| ((i * 7919) % 2001) as f32 / 1e5 - 0.01).collect();
    let mut input_grad = vec![0.0; input.len()];
    let mut gradients: Vec<DMatrix<f32>> =
        layer.parameters().iter().map(|p| DMatrix::zeros(p.nrows(), p.ncols())).collect();
    group.bench_function(format!("{label}: backward"), |b| {
        b.iter(|| {
            let input_grad = (index > 0).then_some(&mut input_grad[..]);
            layer.backward(
                black_box(input),
                output,
                batch,
                &mut output_grad,
                input_grad,
                &mut gradients,
                Mode::training(0),
            )
        })
    });
    if index > 0 {
        // As in training behind ReLU, max-pooling and dropout: 2.8% of pytorch-example's conv2
        // output gradient is nonzero (measured); one value in 36 here, which the layer's
        // backward takes the sparse pass for (`conv_sparse.rs`).
        let mut sparse_grad: Vec<f32> = (0..output.len())
            .map(|i| if i % 36 == 7 { ((i * 7919) % 2001) as f32 / 1e5 - 0.01 } else { 0.0 })
            .collect();
        group.bench_function(format!("{label}: backward, 1 in 36 of the output gradient nonzero"), |b| {
            b.iter(|| {
                layer.backward(
                    black_box(input),
                    output,
                    batch,
                    &mut sparse_grad,
                    Some(&mut input_grad[..]),
                    &mut gradients,
                    Mode::training(0),
                )
            })
        });
    }
}

/// Each network's `Flatten` at its batch, forward and backward: a transpose of each image from
/// channels last to channels first and back (throughput in values moved).
fn flattening(c: &mut Criterion) {
    for (name, batch) in CASES {
        let net = network(name);
        let flatten = net.layers().iter().find(|l| l.kind() == "flatten").unwrap();
        let len = flatten.input_size() * batch;
        let input: Vec<f32> = (0..len).map(|i| i as f32).collect();
        let (mut output, mut input_grad) = (vec![0.0; len], vec![0.0; len]);
        let mut group = c.benchmark_group(format!("{name} flatten {}, batch {batch}", flatten.input_shape()));
        short(&mut group);
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function("forward", |b| {
            b.iter(|| flatten.forward(black_box(&input), batch, &mut output, Mode::training(0)))
        });
        let mut output_grad = input.clone();
        group.bench_function("backward", |b| {
            b.iter(|| {
                let input_grad = Some(&mut input_grad[..]);
                flatten.backward(
                    black_box(&input),
                    &output,
                    batch,
                    &mut output_grad,
                    input_grad,
                    &mut [],
                    Mode::training(0),
                )
            })
        });
        group.finish();
    }
}

/// saito-simple's first layers at its batch, as the layers compute them one after the other and
/// as the trainer computes them together (`Network::first_layers_forward` and `_backward`).
fn first_layers(c: &mut Criterion) {
    let batch = 100;
    let net = network("saito-simple");
    let (conv, pool) = (net.layers()[0].as_ref(), net.layers()[1].as_ref());
    // Images mostly background, as MNIST's (81% of its pixels are zero).
    let input: Vec<f32> =
        inputs(batch).into_iter().enumerate().map(|(i, x)| if i % 5 == 0 { x } else { 0.0 }).collect();
    let mut conv_output = vec![0.0; conv.output_size() * batch];
    conv.forward(&input, batch, &mut conv_output, Mode::training(0));
    let mut pooled = vec![0.0; pool.output_size() * batch];
    pool.forward(&conv_output, batch, &mut pooled, Mode::training(0));
    let pooled_grad: Vec<f32> = (0..pooled.len()).map(|i| ((i * 7919) % 2001) as f32 / 1e5 - 0.01).collect();
    let mut gradients: Vec<DMatrix<f32>> =
        conv.parameters().iter().map(|p| DMatrix::zeros(p.nrows(), p.ncols())).collect();
    let mut group = c.benchmark_group(format!("saito-simple first layers backward, batch {batch}"));
    short(&mut group);
    group.throughput(Throughput::Elements(2 * multiply_adds(conv) * batch as u64));
    let mut conv_grad = vec![0.0; conv_output.len()];
    group.bench_function("max-pooling, then convolution", |b| {
        b.iter(|| {
            let mut none = [];
            let mut output_grad = pooled_grad.clone();
            pool.backward(
                &conv_output,
                &pooled,
                batch,
                &mut output_grad,
                Some(&mut conv_grad),
                &mut none,
                Mode::training(0),
            );
            conv.backward(
                black_box(&input),
                &conv_output,
                batch,
                &mut conv_grad,
                None,
                &mut gradients,
                Mode::training(0),
            );
        })
    });
    let mut positions = MaxPositions::default();
    assert!(net.first_layers_forward(&input, batch, &mut conv_output.clone(), &mut pooled.clone(), &mut positions));
    group.bench_function("one pass (first_layers_backward)", |b| {
        b.iter(|| {
            let done =
                net.first_layers_backward(black_box(&input), &positions, &pooled, &pooled_grad, batch, &mut gradients);
            assert!(done);
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("saito-simple first layers forward, batch {batch}"));
    short(&mut group);
    group.throughput(Throughput::Elements(2 * multiply_adds(conv) * batch as u64));
    let mut fused_output = conv_output.clone();
    let mut fused_pooled = pooled.clone();
    group.bench_function("convolution, then max-pooling", |b| {
        b.iter(|| {
            conv.forward(black_box(&input), batch, &mut fused_output, Mode::training(0));
            pool.forward(&fused_output, batch, &mut fused_pooled, Mode::training(0));
        })
    });
    group.bench_function("together (first_layers_forward)", |b| {
        b.iter(|| {
            net.first_layers_forward(black_box(&input), batch, &mut fused_output, &mut fused_pooled, &mut positions)
        })
    });
    group.finish();
}

/// saito-deep's convolutions that a 2x2 max-pooling follows, at its batch, forward and backward
/// with `∂X`, on the inputs they get in that network: as the layers compute them one after the
/// other, and as the training pass computes them together (`conv_then_pool.rs`: each output tile
/// pooled in registers, the convolution's `δZ` made tile by tile from where the maxima lie).
/// The training pass is timed through a network of the pair alone with a ReLU before it (so that
/// `∂X` is computed; its inputs are non-negative already) and a flatten and a dense layer of 10
/// after it, whose products are under 2% of the convolution's.
fn pooled_convolutions(c: &mut Criterion) {
    let batch = 100;
    let net = network("saito-deep");
    let layers = net.layers();
    let mut input = inputs(batch);
    for (index, layer) in layers.iter().enumerate() {
        let mut output = vec![0.0; layer.output_size() * batch];
        layer.forward(&input, batch, &mut output, Mode::training(0));
        if let Some(pool) = layers.get(index + 1).filter(|next| layer.kind() == "conv" && next.kind() == "maxpool") {
            bench_pooled_pair(c, index, layer.as_ref(), pool.as_ref(), &input, batch);
        }
        input = output;
    }
}

fn bench_pooled_pair(c: &mut Criterion, index: usize, conv: &dyn Layer, pool: &dyn Layer, input: &[f32], batch: usize) {
    let label = format!("saito-deep #{index} {} {}, {}, batch {batch}", conv.spec(), conv.input_shape(), pool.spec());
    let mut group = c.benchmark_group(label);
    short(&mut group);
    // Forward, ∂W and ∂X.
    group.throughput(Throughput::Elements(2 * 3 * multiply_adds(conv) * batch as u64));
    let (mut conv_output, mut conv_grad) =
        (vec![0.0; conv.output_size() * batch], vec![0.0; conv.output_size() * batch]);
    let mut pooled = vec![0.0; pool.output_size() * batch];
    let pooled_grad: Vec<f32> = (0..pooled.len()).map(|i| ((i * 7919) % 2001) as f32 / 1e5 - 0.01).collect();
    let mut input_grad = vec![0.0; input.len()];
    let mut gradients: Vec<DMatrix<f32>> =
        conv.parameters().iter().map(|p| DMatrix::zeros(p.nrows(), p.ncols())).collect();
    group.bench_function("one after the other", |b| {
        b.iter(|| {
            let mode = Mode::training(0);
            conv.forward(black_box(input), batch, &mut conv_output, mode);
            pool.forward(&conv_output, batch, &mut pooled, mode);
            let mut output_grad = pooled_grad.clone();
            pool.backward(&conv_output, &pooled, batch, &mut output_grad, Some(&mut conv_grad), &mut [], mode);
            conv.backward(input, &conv_output, batch, &mut conv_grad, Some(&mut input_grad), &mut gradients, mode);
        })
    });
    let specs = vec![
        LayerSpec::Activation(Activation::Relu),
        conv.spec(),
        pool.spec(),
        LayerSpec::Flatten,
        LayerSpec::Dense { outputs: 10, activation: Activation::Identity },
    ];
    let mut pair = Architecture::new(conv.input_shape(), specs).build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
    // The convolution's weights and bias as in saito-deep, so that as many outputs are zero.
    for (parameter, values) in conv.parameters().into_iter().enumerate() {
        pair.set_parameter(parameter, values.clone()).unwrap();
    }
    let labels: Vec<usize> = (0..batch).map(|j| j % 10).collect();
    let (mut workspace, mut gradients) = (Workspace::new(), Gradients::zeros_like(&pair));
    group.bench_function("together (training pass)", |b| {
        b.iter(|| {
            let targets = Targets::Classes(&labels);
            pair.loss_and_gradients(black_box(input), targets, Mode::training(0), &mut workspace, &mut gradients)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, networks, one_image, convolutions, flattening, first_layers, pooled_convolutions);
criterion_main!(benches);
