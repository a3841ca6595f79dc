//! Checks on the real data set: all 70,000 images parse and each class has its known count.
//!
//! They run when the data is present (`cargo xtask fetch-data`). With `MNIST_DIR` set, as
//! `cargo xtask ci` does, missing data is a failure rather than a skip.

use std::path::PathBuf;

use mnist_data::{DEFAULT_VALIDATION_SIZE, LoadOptions, Mnist};

fn load() -> Option<Mnist> {
    let (dir, required) = match std::env::var_os("MNIST_DIR") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"), false),
    };
    match Mnist::load_with(&dir, LoadOptions::cached()) {
        Ok(mnist) => Some(mnist),
        Err(e) if !required => {
            eprintln!("skipping the full-data test: {e}");
            None
        }
        Err(e) => panic!("MNIST_DIR is set but the data does not load: {e}"),
    }
}

#[test]
fn all_images_parse_with_the_known_class_counts() {
    let Some(mnist) = load() else { return };
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!((mnist.train.rows(), mnist.train.cols()), (28, 28));
    assert_eq!(mnist.train.class_counts(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(mnist.test.class_counts(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let (train, validation) = mnist.train.split_validation(DEFAULT_VALIDATION_SIZE).unwrap();
    assert_eq!((train.len(), validation.len()), (50_000, 10_000));
}

#[test]
fn cached_and_uncached_loads_agree() {
    let Some(cached) = load() else { return };
    let dir = std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"));
    assert_eq!(Mnist::load_with(dir, LoadOptions { cache: false }).unwrap(), cached);
}
