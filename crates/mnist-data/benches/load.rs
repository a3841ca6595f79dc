//! Cold and warm load of all 70,000 MNIST images.
//!
//! Needs the data: `cargo xtask fetch-data` (or set `MNIST_DIR`). Cold decodes the gzip files;
//! warm reads the decompressed cache the first load wrote beside them.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use mnist_data::{LoadOptions, Mnist};

fn data_dir() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"))
}

fn load(c: &mut Criterion) {
    let dir = data_dir();
    // This first load also writes the cache that the warm load reads.
    if let Err(e) = Mnist::load_with(&dir, LoadOptions::cached()) {
        eprintln!("skipping the load benchmarks: {e}");
        return;
    }
    let mut group = c.benchmark_group("load-70k");
    group.sample_size(10);
    group.bench_function("cold (gzip, no cache)", |b| {
        b.iter(|| Mnist::load_with(&dir, LoadOptions { cache: false }).unwrap())
    });
    group.bench_function("warm (cache)", |b| b.iter(|| Mnist::load_with(&dir, LoadOptions::cached()).unwrap()));
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
