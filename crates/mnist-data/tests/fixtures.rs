//! The 100-image slice in `fixtures/mnist-100` loads as a data directory.
//!
//! Workspace-only: `fixtures/` lives at the workspace root, so this file is left out of the
//! published crate (`exclude` in Cargo.toml).

use mnist_data::{ArrayFormat, Labels, Mnist};

#[test]
fn the_fixture_slice_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mnist-100");
    let mnist = Mnist::load(dir).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len()), (100, 100));
    assert_eq!((mnist.train.rows(), mnist.train.cols(), mnist.train.classes()), (28, 28, 10));
    assert_eq!(&mnist.train.labels()[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&mnist.test.labels()[..5], &[7, 2, 1, 0, 4]);
    let (x, t) = mnist.test.to_arrays(ArrayFormat::default());
    assert_eq!(x.shape, [100, 784]);
    assert!(x.data.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(matches!(t, Labels::Indices(ref labels) if labels.len() == 100));
}
