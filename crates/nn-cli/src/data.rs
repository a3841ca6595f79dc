//! The data sets commands work on: MNIST's training set split into training and validation,
//! and the test set, as network inputs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use mnist_data::{Dataset, Mnist};
use nn_core::{Classifier, TrainingRecord};

/// Which part of the data a command uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SetName {
    /// The training images left after the validation split (50,000 by default).
    Train,
    /// The last images of the training file (10,000 by default), never trained on.
    Validation,
    /// The 10,000 test images.
    Test,
}

impl SetName {
    pub fn label(self) -> &'static str {
        match self {
            SetName::Train => "training",
            SetName::Validation => "validation",
            SetName::Test => "test",
        }
    }
}

/// Loads MNIST-like data from any of its three forms, told apart by the path: a directory of
/// the four IDX files (raw or `.gz`), a NumPy `.npz` file (`x_train, y_train, x_test, y_test`),
/// or a PNG folder (`train_x/00001.png ...`, `train_y.json`, `test_x/`, `test_y.json`).
/// Errors start with "cannot load the data from PATH" and name the file at fault.
pub fn load_mnist_any(path: &Path) -> Result<Mnist> {
    // The command keeps a decompressed copy beside gzip files: later runs start at once.
    mnist_data::formats::load(path, mnist_data::LoadOptions::cached())
        .with_context(|| format!("cannot load the data from {}", path.display()))
}

/// The three sets of a data directory.
pub struct Splits {
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
}

impl Splits {
    /// Loads `dir` (IDX files, an `.npz` or a PNG folder: see [`load_mnist_any`]) and keeps the
    /// last `validation_size` training images apart.
    pub fn load(dir: &Path, validation_size: usize) -> Result<Splits> {
        let mnist = load_mnist_any(dir)?;
        if validation_size >= mnist.train.len() {
            bail!(
                "a validation set of {validation_size} images leaves nothing to train on: the training file holds {}",
                mnist.train.len()
            );
        }
        let (train, validation) = mnist.train.split_validation(validation_size)?;
        Ok(Splits { train, validation, test: mnist.test })
    }

    /// The set called `name`, the others dropped.
    pub fn into_set(self, name: SetName) -> Dataset {
        match name {
            SetName::Train => self.train,
            SetName::Validation => self.validation,
            SetName::Test => self.test,
        }
    }
}

/// The set `name` of `data`, checked to fit `network`. The training and validation sets are
/// the split the model was trained with, as its file records it (`training`), so that
/// "validation" is exactly the images it never trained on; `validation_size` may only confirm
/// that split, or give it for a model that does not record one. The test set needs no split,
/// so a small data directory can still be used for it.
pub fn set_for_model(
    network: &dyn Classifier,
    training: Option<&TrainingRecord>,
    data: &Path,
    name: SetName,
    validation_size: Option<usize>,
) -> Result<Dataset> {
    let validation_size = match (name, training, validation_size) {
        (SetName::Test, _, _) => 0,
        (_, Some(record), Some(asked)) if asked != record.validation_samples => bail!(
            "the model was trained with the last {} training images held out; --validation-size {asked} would \
             mix images it trained on with images it never saw (leave the flag out)",
            record.validation_samples
        ),
        (SetName::Validation, Some(record), _) if record.validation_samples == 0 => bail!(
            "the model was trained on all {} training images: it has no validation set (evaluate it on --set test)",
            record.train_samples
        ),
        (_, Some(record), _) => record.validation_samples,
        (_, None, Some(asked)) => asked,
        (SetName::Validation, None, None) => bail!(
            "the model file does not record which images it was trained on (it was imported, saved by an older \
             version, or is a committee, whose members keep their own records): give --validation-size N, the \
             number of images its training held out"
        ),
        (SetName::Train, None, None) => mnist_data::DEFAULT_VALIDATION_SIZE,
    };
    let splits = Splits::load(data, validation_size)?;
    if let Some(record) = training.filter(|_| name != SetName::Test) {
        let holds = splits.train.len() + splits.validation.len();
        if record.training_file_samples() != Some(holds) {
            bail!(
                "the model was trained on a training file of {} images ({} trained on, {} held out), but the one in \
                 {} holds {holds}: its validation split cannot be found there",
                record.train_samples.saturating_add(record.validation_samples),
                record.train_samples,
                record.validation_samples,
                data.display()
            );
        }
    }
    let set = splits.into_set(name);
    check_fits(network, &set)?;
    Ok(set)
}

/// A set as network inputs (pixels / 255, one image after the other) and class labels.
pub fn inputs_and_labels(set: &Dataset) -> (Vec<f32>, Vec<usize>) {
    let inputs = mnist_data::pixels_to_f32(set.pixels(), true);
    let labels = set.labels().iter().map(|&l| usize::from(l)).collect();
    (inputs, labels)
}

/// Refuses a model whose input shape or output size does not fit the images and classes.
pub fn check_fits(network: &dyn Classifier, set: &Dataset) -> Result<()> {
    if network.input_size() != set.pixels_per_image() {
        bail!(
            "the model takes {} inputs but the images have {} pixels ({}x{})",
            network.input_size(),
            set.pixels_per_image(),
            set.rows(),
            set.cols()
        );
    }
    check_image_shape(network, set.rows(), set.cols())?;
    if network.output_size() < set.classes() {
        bail!("the model has {} outputs but the data has {} classes", network.output_size(), set.classes());
    }
    Ok(())
}

/// Refuses a model made for images of another shape than `rows x cols` with one channel
/// (a dense network reads any image of as many pixels; a convolution needs the very shape).
pub fn check_image_shape(network: &dyn Classifier, rows: usize, cols: usize) -> Result<()> {
    let input = network.input_shape();
    if !input.is_flat() && input != nn_core::Shape::new(1, rows, cols) {
        bail!("the model takes inputs of {input} but the images are 1x{rows}x{cols}");
    }
    Ok(())
}
