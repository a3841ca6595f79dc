//! `nn-cli baseline`: the classifiers Nielsen measures his networks against, trained on the
//! training images and scored on the test set, beside the published figure.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use nn_train::PixelSamples;
use nn_train::baseline::{DARKNESS_PUBLISHED, DarknessClassifier, LINEAR_PUBLISHED, linear_baseline, linear_config};

use crate::data::Splits;
use crate::output::outln;

#[derive(Args)]
pub struct BaselineArgs {
    /// darkness (the class of nearest mean ink, Nielsen's chapter 1) or linear (softmax
    /// regression: one dense layer, no hidden one).
    kind: Kind,
    /// The data: a directory of the four IDX files (raw or .gz), a Keras-style .npz, or a PNG folder.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Passes over the training set (linear only).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Seed of the initial weights and of the shuffles (linear only).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Darkness,
    Linear,
}

pub fn run(args: &BaselineArgs) -> Result<()> {
    let splits = Splits::load(&args.data, 0)?;
    let size = splits.train.pixels_per_image();
    let classes = splits.train.classes();
    let train = PixelSamples::new(splits.train.pixels(), splits.train.labels(), size)?;
    let test = PixelSamples::new(splits.test.pixels(), splits.test.labels(), size)?;
    let (name, correct, total, published, source) = match args.kind {
        Kind::Darkness => {
            let classifier = DarknessClassifier::fit(&train, classes)?;
            outln!(
                "mean darkness (sum of pixel values, 0 to 1 each) of each class in {} training images:",
                train_len(&splits)
            )?;
            for (class, mean) in classifier.mean_darkness.iter().enumerate() {
                match mean {
                    Some(mean) => outln!("  {class}: {mean:.1}")?,
                    None => outln!("  {class}: no training image")?,
                }
            }
            let accuracy = classifier.evaluate(&test);
            let source = "Nielsen, Neural Networks and Deep Learning, ch. 1 (mnist_average_darkness.py)";
            ("average darkness", accuracy.correct, accuracy.total, DARKNESS_PUBLISHED, source)
        }
        Kind::Linear => {
            let config = nn_train::TrainConfig { epochs: args.epochs as usize, ..linear_config(args.seed) };
            outln!(
                "softmax regression ({size}-{classes}, cross-entropy), {} epochs of Adam {} in batches of {} on {} images",
                config.epochs,
                config.learning_rate,
                config.batch_size,
                train_len(&splits)
            )?;
            let metrics = linear_baseline(&train, &test, classes, &config)?;
            (
                "softmax regression",
                metrics.correct,
                metrics.total,
                LINEAR_PUBLISHED,
                "softmax regression in TensorFlow's first MNIST tutorial: about 92%",
            )
        }
    };
    outln!(
        "{name}: {correct} / {total} test images right, {:.2}% (published: {:.2}%, {source})",
        100.0 * correct as f64 / total.max(1) as f64,
        100.0 * published
    )?;
    Ok(())
}

fn train_len(splits: &Splits) -> usize {
    splits.train.len()
}
