//! What the workspace's test crates share: where the fixtures are, the full MNIST when it is
//! present, whether Python has NumPy, and the small trained network that tests of commands and of
//! the server both serve. A dev-dependency only; never published.

use std::path::PathBuf;
use std::process::Command;

use nn_core::{Activation, Init, Loss, Network};
use nn_train::{Control, NoObserver, OptimizerConfig, PixelSamples, TrainConfig, TrainData};

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
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
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(std::env::var_os("CI").is_none(), "CI needs python3 with NumPy (.ci/run installs it): {why}");
            eprintln!("note: skipping {purpose}: python3 with NumPy is not available ({why})");
            false
        }
    }
}

/// A 784-32-10 network drawn from `seed` and fitted for `epochs` epochs on the fixture's 100
/// training digits: enough to tell digits apart. The same arguments give the same network in
/// every test.
pub fn trained_network(seed: u64, epochs: usize) -> Network {
    let network = Network::dense(&[784, 32, 10], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap();
    fitted_on_fixture(network, epochs)
}

/// `network`, of 784 inputs and 10 outputs, after `epochs` epochs of SGD on the fixture's 100
/// training digits, 10 to a batch at a learning rate of 0.05.
pub fn fitted_on_fixture(mut network: Network, epochs: usize) -> Network {
    let mnist = mnist_data::Mnist::load(fixtures().join("mnist-100")).unwrap();
    let train = &mnist.train;
    let samples = PixelSamples::new(train.pixels(), train.labels(), 784).unwrap();
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
