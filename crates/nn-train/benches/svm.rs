//! The SVM's training (kernel blocks and SMO for the 45 pairs of classes) on 2000 images and its
//! prediction of 1000: the first images of MNIST when `data/mnist` holds it (`cargo xtask
//! fetch-data`), else synthetic digits (ten noisy templates, so that the support vectors are
//! a fraction of the points as on MNIST).
//!
//! Quick run: `cargo bench -p nn-train --bench svm -- --warm-up-time 1 --measurement-time 10`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use nn_train::FloatSamples;
use nn_train::svm::{Svm, SvmConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` images of 784 values in [0, 1] with their labels, from `skip` on.
fn images(n: usize, skip: usize) -> FloatSamples<'static> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    if let Ok(mnist) = mnist_data::Mnist::load(&dir) {
        let pixels = &mnist.train.pixels()[skip * 784..(skip + n) * 784];
        let inputs = pixels.iter().map(|&p| f32::from(p) / 255.0).collect::<Vec<_>>();
        let labels = mnist.train.labels()[skip..skip + n].iter().map(|&l| usize::from(l)).collect::<Vec<_>>();
        return FloatSamples::new(inputs, labels, 784).unwrap();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let templates: Vec<f32> = (0..10 * 784).map(|_| if rng.random::<f32>() < 0.2 { 1.0 } else { 0.0 }).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(skip as u64);
    let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let inputs = labels
        .iter()
        .flat_map(|&l| templates[l * 784..(l + 1) * 784].to_vec())
        .map(|t| if rng.random::<f32>() < 0.15 { 1.0 - t } else { t })
        .collect::<Vec<_>>();
    FloatSamples::new(inputs, labels, 784).unwrap()
}

fn svm(c: &mut Criterion) {
    let (train, test) = (images(2000, 0), images(1000, 2000));
    let config = SvmConfig::default();
    let mut group = c.benchmark_group("svm");
    group.sample_size(10);
    group.bench_function("fit 2000 images", |b| b.iter(|| Svm::fit(black_box(&train), &config).unwrap()));
    let model = Svm::fit(&train, &config).unwrap();
    group.bench_function("predict 1000 images", |b| b.iter(|| model.predict(black_box(&test)).unwrap()));
    group.finish();
}

criterion_group!(benches, svm);
criterion_main!(benches);
