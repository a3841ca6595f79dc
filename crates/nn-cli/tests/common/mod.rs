//! Helpers shared by the end-to-end tests of `nn-cli`.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Runs the `nn-cli` binary built for these tests.
pub fn nn_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nn-cli")).args(args).output().expect("nn-cli runs")
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The full MNIST when present: `MNIST_DIR` when set (`cargo xtask ci` sets it, and then it is
/// required), else the project's `data/mnist`; `None`, with a note, when its files are missing.
pub fn full_data_dir() -> Option<PathBuf> {
    match std::env::var_os("MNIST_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
            let present = mnist_data::FILE_NAMES.iter().all(|name| mnist_data::find_file(&dir, name).is_ok());
            if !present {
                eprintln!("skipping: the MNIST files are not in {}", dir.display());
            }
            present.then_some(dir)
        }
    }
}

/// Whether `python3` can import NumPy; `false`, with a note naming what `purpose` skips, if not;
/// a failure under CI (`CI` set), where `.ci/run` installs it.
pub fn python_with_numpy(purpose: &str) -> bool {
    let found = Command::new("python3").args(["-c", "import numpy"]).output();
    match found {
        Ok(out) if out.status.success() => true,
        found => {
            let why = match found {
                Ok(out) => text(&out.stderr),
                Err(e) => e.to_string(),
            };
            assert!(std::env::var_os("CI").is_none(), "CI needs python3 with NumPy (.ci/run installs it): {why}");
            eprintln!("note: skipping {purpose}: python3 with NumPy is not available ({why})");
            false
        }
    }
}

/// A test path as `&str` for a command line.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test paths")
}

/// A 784-32-10 network fitted by SGD for `epochs` epochs on the fixture's 100 training digits:
/// enough to tell digits apart. The same `epochs` give the same network in every test.
pub fn small_trained_network(epochs: usize) -> nn_core::Network {
    use nn_core::{Activation, Init, Loss, Network};
    use nn_train::{Control, NoObserver, OptimizerConfig, PixelSamples, TrainConfig, TrainData};
    let mnist = mnist_data::Mnist::load(fixtures().join("mnist-100")).unwrap();
    let mut network = Network::dense(&[784, 32, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 7).unwrap();
    let samples = PixelSamples::new(mnist.train.pixels(), mnist.train.labels(), 784).unwrap();
    let config = TrainConfig {
        epochs,
        batch_size: 10,
        learning_rate: 0.05,
        optimizer: OptimizerConfig::Sgd,
        ..TrainConfig::default()
    };
    nn_train::train(&mut network, &config, &TrainData::new(&samples), &mut NoObserver, &Control::new(), None).unwrap();
    network
}
