//! `nn-cli baseline`: the classifiers Nielsen measures his networks against, trained on the
//! training images (or the first `--train-size` of them) and scored on the test set, beside the
//! published figure.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use nn_train::PixelSamples;
use nn_train::baseline::{DARKNESS_PUBLISHED, DarknessClassifier, LINEAR_PUBLISHED, linear_baseline, linear_config};
use nn_train::svm::{Gamma, SVM_PUBLISHED, Svm, SvmConfig};

use crate::data::Splits;
use crate::output::outln;

#[derive(Args)]
pub struct BaselineArgs {
    /// darkness (the class of nearest mean ink, Nielsen's chapter 1), linear (softmax
    /// regression: one dense layer, no hidden one) or svm (scikit-learn's SVC(): RBF kernel,
    /// C = 1, gamma 'scale', one against one, as in Nielsen's chapter 1).
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
    /// Train on the first N training images only [default: all].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    train_size: Option<u64>,
    /// The SVM's RBF kernel width: scale (1 / (pixels × the variance of the training pixels),
    /// scikit-learn's default since 0.22), auto (1 / pixels, its default before, which Nielsen's
    /// 94.35% used) or a positive number (svm only).
    #[arg(long, default_value = "scale", value_parser = parse_gamma)]
    gamma: Gamma,
    /// Refuse an SVM estimated to need more memory than this (8G, 512M); its kernel cache takes
    /// at most 1 GiB of what is left (svm only) [default: the memory this machine has available].
    #[arg(long, value_name = "SIZE", value_parser = crate::memory_check::parse_size)]
    memory_limit: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Darkness,
    Linear,
    Svm,
}

pub fn run(args: &BaselineArgs) -> Result<()> {
    let splits = Splits::load(&args.data, 0)?;
    let size = splits.train.pixels_per_image();
    let classes = splits.train.classes();
    let images = match args.train_size {
        Some(n) if n > splits.train.len() as u64 => {
            bail!("--train-size {n} is more than the {} training images of {}", splits.train.len(), args.data.display())
        }
        Some(n) => n as usize,
        None => splits.train.len(),
    };
    let train = PixelSamples::new(&splits.train.pixels()[..images * size], &splits.train.labels()[..images], size)?;
    let test = PixelSamples::new(splits.test.pixels(), splits.test.labels(), size)?;
    let (name, correct, total, published, source) = match args.kind {
        Kind::Darkness => {
            let classifier = DarknessClassifier::fit(&train, classes)?;
            outln!("mean darkness (sum of pixel values, 0 to 1 each) of each class in {} training images:", images)?;
            for (class, mean) in classifier.mean_darkness.iter().enumerate() {
                match mean {
                    Some(mean) => outln!("  {class}: {mean:.1}")?,
                    None => outln!("  {class}: no training image")?,
                }
            }
            let accuracy = classifier.evaluate(&test);
            let source = "Nielsen, Neural Networks and Deep Learning, ch. 1 (mnist_average_darkness.py)";
            ("average darkness".to_string(), accuracy.correct, accuracy.total, DARKNESS_PUBLISHED, source)
        }
        Kind::Linear => {
            let config = nn_train::TrainConfig { epochs: args.epochs as usize, ..linear_config(args.seed) };
            outln!(
                "softmax regression ({size}-{classes}, cross-entropy), {} epochs of Adam {} in batches of {} on {} images",
                config.epochs,
                config.learning_rate,
                config.batch_size,
                images
            )?;
            let metrics = linear_baseline(&train, &test, classes, &config)?;
            (
                "softmax regression".to_string(),
                metrics.correct,
                metrics.total,
                LINEAR_PUBLISHED,
                "softmax regression in TensorFlow's first MNIST tutorial: about 92%",
            )
        }
        Kind::Svm => {
            let limit = crate::memory_check::limit(args.memory_limit).map(|(bytes, _)| bytes);
            let config = SvmConfig { memory_limit: limit, gamma: args.gamma, ..SvmConfig::default() };
            let (gamma, defaults) = match args.gamma {
                Gamma::Scale => ("gamma 'scale'".to_string(), "scikit-learn's SVC() defaults"),
                Gamma::Auto => ("gamma 'auto'".to_string(), "scikit-learn's SVC() defaults before 0.22"),
                Gamma::Value(gamma) => (format!("gamma {gamma}"), "otherwise scikit-learn's SVC() defaults"),
            };
            outln!(
                "svm: RBF kernel, C = {}, {gamma}, tolerance {} ({defaults}), one against one, on {images} training images",
                config.c,
                config.tolerance
            )?;
            let svm = Svm::fit(&train, &config)?;
            let report = svm.report();
            outln!(
                "{} binary problems, {} support vectors; {} SMO iterations, {} kernel rows computed",
                svm.problems(),
                svm.support_vectors(),
                report.iterations,
                report.kernel_rows
            )?;
            if report.unconverged > 0 {
                outln!(
                    "warning: {} problems stopped at libsvm's iteration bound before reaching the tolerance",
                    report.unconverged
                )?;
            }
            let accuracy = svm.evaluate(&test)?;
            (
                format!("svm (RBF, C={}, gamma={:.6})", config.c, svm.gamma()),
                accuracy.correct,
                accuracy.total,
                SVM_PUBLISHED,
                "Nielsen, ch. 1, scikit-learn's SVC",
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

/// `scale`, `auto` or a positive number.
fn parse_gamma(text: &str) -> Result<Gamma, String> {
    match text {
        "scale" => Ok(Gamma::Scale),
        "auto" => Ok(Gamma::Auto),
        _ => match text.parse::<f64>() {
            Ok(gamma) if gamma.is_finite() && gamma > 0.0 => Ok(Gamma::Value(gamma)),
            _ => Err(format!("{text:?} is not scale, auto or a positive number")),
        },
    }
}
