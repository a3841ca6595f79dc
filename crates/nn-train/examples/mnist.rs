//! MNIST from end to end with the three library crates: mnist-data loads the files, nn-core
//! builds a 784-128-10 network, nn-train fits it and evaluates it on the test set.
//!
//! ```sh
//! cargo run --release -p nn-train --example mnist -- [DATA_DIR] [EPOCHS]
//! ```
//!
//! `DATA_DIR` holds the four MNIST files, raw or `.gz` (default: `$MNIST_DIR`, else
//! `data/mnist`); `EPOCHS` defaults to 3 (about 97% test accuracy). The repository's 100-image
//! slice runs in a moment: `-- fixtures/mnist-100 20`.

use std::error::Error;

use mnist_data::{Dataset, Mnist};
use nn_core::{Activation, Init, Loss, Network};
use nn_train::{OptimizerConfig, PixelSamples, SamplesError, TrainConfig, TrainData, evaluate, fit};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().or_else(|| std::env::var("MNIST_DIR").ok()).unwrap_or_else(|| "data/mnist".into());
    let epochs = args.next().map(|text| text.parse()).transpose()?.unwrap_or(3);

    let mnist = Mnist::load(&dir)?;
    // A sixth of the training images for validation: 10,000 of MNIST's 60,000.
    let (train, validation) = mnist.train.split_validation(mnist.train.len() / 6)?;
    let (train, validation, test) = (samples(&train)?, samples(&validation)?, samples(&mnist.test)?);

    let sizes = [mnist.train.pixels_per_image(), 128, mnist.train.classes()];
    let mut network = Network::dense(&sizes, Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
    let config = TrainConfig {
        epochs,
        batch_size: 32,
        learning_rate: 0.001,
        optimizer: OptimizerConfig::adam(),
        ..TrainConfig::default()
    };
    let outcome = fit(&mut network, &config, TrainData::new(&train).with_validation(&validation))?;
    for report in &outcome.state.history {
        let accuracy = report.validation.map_or(f32::NAN, |metrics| metrics.accuracy);
        println!(
            "epoch {:>2}: loss {:.4}, validation accuracy {:.2}%",
            report.epoch,
            report.train_loss,
            accuracy * 100.0
        );
    }
    let metrics = evaluate(&network, &test, config.eval_batch_size)?;
    println!("test accuracy {:.2}% ({} of {})", metrics.accuracy * 100.0, metrics.correct, metrics.total);
    Ok(())
}

/// The set as nn-train reads it: it stays bytes, and one mini-batch at a time is scaled to [0, 1].
fn samples(set: &Dataset) -> Result<PixelSamples<'_>, SamplesError> {
    PixelSamples::new(set.pixels(), set.labels(), set.pixels_per_image())
}
