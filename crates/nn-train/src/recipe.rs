//! Named training set-ups: the books' networks (Nielsen, Chollet, Saitō, PyTorch's examples)
//! and ours, and recipe files (JSON) holding set-ups of one's own, such as the best one a
//! [`search`](crate::search) found. A front end lets its flags override any field.

use std::path::{Path, PathBuf};

use nn_core::{Activation, Architecture, Init, Loss, Network, NnError, ParseArchitectureError, Shape};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Augmentation, OptimizerConfig, OptimizerError, Schedule, TrainConfig};

/// One training set-up: the network to build and how to train it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// The name `find` knows it by, or a recipe file's.
    pub name: String,
    /// One line saying what it is and where it comes from.
    pub about: String,
    /// An architecture: a name of [`nn_core::NAMED_ARCHITECTURES`] or its text. `None`: a dense
    /// network of `hidden` layers.
    pub arch: Option<String>,
    /// Sizes of the hidden layers (input and output come from the data).
    pub hidden: Vec<usize>,
    /// The activation after each hidden layer of a dense network.
    pub hidden_activation: Activation,
    /// The output layer and its loss.
    pub loss: Loss,
    /// How the initial parameters are drawn.
    pub init: Init,
    /// The optimizer and its hyperparameters other than the learning rate.
    pub optimizer: OptimizerConfig,
    /// The (initial) learning rate.
    pub learning_rate: f32,
    /// How the learning rate changes from epoch to epoch.
    pub schedule: Schedule,
    /// Samples per mini-batch.
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Stop after this many mini-batches (the PyTorch tutorial counts steps, not epochs).
    pub max_steps: Option<usize>,
    /// Training images kept apart for validation (0 trains on all of them).
    pub validation_size: usize,
    /// Nielsen's L2 regularisation λ (the weight decay is λ / training set size).
    pub lambda: f32,
    /// Training images moved at random each time they are learned from.
    pub augmentation: Option<Augmentation>,
    /// The max-norm constraint on each neuron's incoming weights.
    pub max_norm: Option<f32>,
    /// The seed of the initial weights, the shuffles, dropout and augmentation, when the recipe
    /// fixes one (a sweep's trial does); a front end's default otherwise.
    pub seed: Option<u64>,
    /// The published test accuracy this recipe reproduces. Built-in recipes only.
    pub published: Option<Published>,
    /// The test accuracy a reproduction on the full data must reach. Built-in recipes only.
    pub bar: Option<f32>,
}

/// A test accuracy published for a recipe, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// A fraction of the test set, 0 to 1.
    pub accuracy: f32,
    /// The book or page, and what it says.
    pub source: String,
}

/// Why a recipe cannot be used or read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// A value no training can use: its message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The architecture text does not parse.
    #[error(transparent)]
    Architecture(#[from] ParseArchitectureError),
    /// The optimizer's hyperparameters are out of range.
    #[error(transparent)]
    Optimizer(#[from] OptimizerError),
    /// The network could not be built from the recipe.
    #[error(transparent)]
    Network(#[from] NnError),
    /// No built-in recipe has this name.
    #[error("unknown {what} {name:?}: the recipes are {}", names())]
    Unknown {
        /// "recipe" or "base recipe".
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A recipe file without a base lacks fields.
    #[error("missing {} (give them, or name a built-in recipe to start from in \"base\")", .0.join(", "))]
    Missing(Vec<&'static str>),
    /// A recipe file that is not valid JSON for a recipe.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A recipe file that cannot be read.
    #[error("cannot read the recipe file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason the system gave.
        source: std::io::Error,
    },
    /// A recipe file whose content is refused; `source` says why.
    #[error("{} is not a valid recipe file: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        source: Box<RecipeError>,
    },
}

fn invalid(message: impl Into<String>) -> RecipeError {
    RecipeError::Invalid(message.into())
}

/// Nielsen, chapter 1, exactly as `network.py` runs it (every weight and bias from N(0, 1));
/// `nielsen-100` changes the hidden layer.
fn nielsen() -> Recipe {
    Recipe {
        name: "nielsen".into(),
        about: "Nielsen, chapter 1 (network.py): 784-30-10 sigmoid, every weight and bias from N(0,1), quadratic \
                cost, SGD eta 3.0, batch 10, 30 epochs on 50,000 images"
            .into(),
        arch: None,
        hidden: vec![30],
        hidden_activation: Activation::Sigmoid,
        loss: Loss::SigmoidQuadratic,
        init: Init::NORMAL,
        optimizer: OptimizerConfig::Sgd,
        learning_rate: 3.0,
        schedule: Schedule::Constant,
        batch_size: 10,
        epochs: 30,
        max_steps: None,
        validation_size: 10_000,
        lambda: 0.0,
        augmentation: None,
        max_norm: None,
        seed: None,
        published: published(0.9542, "Nielsen, Neural Networks and Deep Learning, ch. 1 (best epoch)"),
        bar: None,
    }
}

/// Nielsen, chapter 3's `network2.py` in its weight-initialisation experiment: N(0, 1/n)
/// weights, cross-entropy, L2 regularisation.
fn nielsen_ch3() -> Recipe {
    Recipe {
        name: "nielsen-ch3".into(),
        // network2.py pairs sigmoid outputs with the cross-entropy of each output; this library's
        // cross-entropy comes with a softmax output (chapter 3's softmax and log-likelihood),
        // which has the same gradient (a - y) at the output.
        about: "Nielsen, chapter 3 (network2.py): 784-30-10 sigmoid, weights from N(0,1/n), biases from N(0,1), \
                cross-entropy (here with a softmax output, where the book has sigmoid outputs), L2 lambda 5.0, SGD \
                eta 0.1, batch 10, 30 epochs on 50,000 images (the book: somewhat over 96% on validation data)"
            .into(),
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::NIELSEN,
        learning_rate: 0.1,
        lambda: 5.0,
        published: None,
        ..nielsen()
    }
}

/// Saitō's SimpleConvNet, of which `saito-deep` keeps the training.
fn saito_simple() -> Recipe {
    Recipe {
        name: "saito-simple".into(),
        arch: Some("saito-simple".into()),
        about: "Saito, chapter 7: SimpleConvNet (conv 30@5x5, pool, dense 100), Adam 1e-3, batch 100, 20 epochs on 60,000 images".into(),
        hidden: vec![],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::adam(),
        learning_rate: 1e-3,
        schedule: Schedule::Constant,
        batch_size: 100,
        epochs: 20,
        max_steps: None,
        validation_size: 0,
        lambda: 0.0,
        augmentation: None,
        max_norm: None,
        seed: None,
        published: published(0.989, "Saito, Deep Learning from Scratch, ch. 7: about 98.9%"),
        bar: None,
    }
}

fn published(accuracy: f32, source: &str) -> Option<Published> {
    Some(Published { accuracy, source: source.into() })
}

/// Every built-in recipe, the default first.
pub fn built_in() -> Vec<Recipe> {
    vec![
        Recipe {
            name: "default".into(),
            about: "ours: 784-512-256-10 ReLU, softmax cross-entropy, Adam 1e-3 with cosine decay, batch 128, 12 epochs on 55,000 images".into(),
            hidden: vec![512, 256],
            epochs: 12,
            validation_size: 5_000,
            ..adam_cosine()
        },
        nielsen(),
        Recipe {
            name: "nielsen-100".into(),
            about: "Nielsen, chapter 1 (network.py): the same with 100 hidden neurons".into(),
            hidden: vec![100],
            published: published(0.9672, "seed article (Nielsen's text: 96.59%)"),
            ..nielsen()
        },
        nielsen_ch3(),
        Recipe {
            name: "keras".into(),
            about: "Chollet, chapter 2: 784-512-10 ReLU, softmax cross-entropy, RMSprop 1e-3, batch 128, 5 epochs on 60,000 images".into(),
            arch: None,
            hidden: vec![512],
            hidden_activation: Activation::Relu,
            loss: Loss::SoftmaxCrossEntropy,
            init: Init::GLOROT,
            optimizer: OptimizerConfig::RmsProp { rho: 0.9, epsilon: 1e-7 },
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            batch_size: 128,
            epochs: 5,
            max_steps: None,
            validation_size: 0,
            lambda: 0.0,
            augmentation: None,
            max_norm: None,
            seed: None,
            published: published(0.978, "Chollet, Deep Learning with Python, ch. 2"),
            bar: None,
        },
        Recipe {
            name: "torch-seed".into(),
            about: "a PyTorch tutorial: 784-128-10 ReLU, cross-entropy, SGD 0.1, batch 32, 10,000 steps on 60,000 images".into(),
            arch: None,
            hidden: vec![128],
            hidden_activation: Activation::Relu,
            loss: Loss::SoftmaxCrossEntropy,
            init: Init::HE,
            optimizer: OptimizerConfig::Sgd,
            learning_rate: 0.1,
            schedule: Schedule::Constant,
            batch_size: 32,
            epochs: 6,
            max_steps: Some(10_000),
            validation_size: 0,
            lambda: 0.0,
            augmentation: None,
            max_norm: None,
            seed: None,
            published: None,
            bar: None,
        },
        saito_simple(),
        Recipe {
            name: "saito-deep".into(),
            arch: Some("saito-deep".into()),
            about: "Saito, chapter 8: DeepConvNet (six 3x3 convolutions, three pools, dense 50, dropout 0.5), Adam 1e-3 with cosine decay (Saito keeps 1e-3, and the last epoch wanders by 0.2%), batch 100, 20 epochs on 60,000 images".into(),
            // At a constant 1e-3 the test accuracy moves by a few tenths from one epoch to the
            // next (seed 1: 99.40% at its best epoch, 99.19% at the last): decayed to 1e-5, the
            // run ends where it settles instead of wherever the last epoch lands.
            schedule: Schedule::Cosine { min_lr: 1e-5 },
            epochs: 20,
            published: published(0.9938, "Saito, Deep Learning from Scratch, ch. 8: an error rate of 0.62%"),
            bar: Some(0.993),
            ..saito_simple()
        },
        Recipe {
            name: "pytorch-example".into(),
            arch: Some("pytorch-example".into()),
            about: "PyTorch's examples/mnist: conv 32, conv 64, pool, dropout, dense 128, Adadelta 1.0 decayed 0.7 per epoch, batch 64, 14 epochs on 60,000 images".into(),
            hidden: vec![],
            hidden_activation: Activation::Relu,
            loss: Loss::SoftmaxCrossEntropy,
            init: Init::HE,
            optimizer: OptimizerConfig::Adadelta { rho: 0.9, epsilon: 1e-6 },
            learning_rate: 1.0,
            schedule: Schedule::StepDecay { every: 1, factor: 0.7 },
            batch_size: 64,
            epochs: 14,
            max_steps: None,
            validation_size: 0,
            lambda: 0.0,
            augmentation: None,
            max_norm: None,
            seed: None,
            published: published(0.992, "PyTorch examples/mnist"),
            bar: Some(0.991),
        },
        Recipe {
            name: "cnn".into(),
            arch: Some("cnn".into()),
            about: "ours: conv 16, conv 32, pool, conv 64, pool (3x3, padding 1), dense 128, dropout 0.5; Adam 1e-3 with cosine decay, batch 128, 12 epochs on 60,000 images".into(),
            epochs: 12,
            bar: Some(0.993),
            ..adam_cosine()
        },
        Recipe {
            name: "mlp-dropout".into(),
            arch: Some(
                "dropout(0.2) dense(1024) relu dropout(0.5) dense(1024) relu dropout(0.5) dense(10)".into(),
            ),
            about: "Srivastava et al. 2014: 784-1024-1024-10 ReLU, dropout 0.2 on the input and 0.5 after each hidden layer, max-norm 4; Adam 1e-3 with cosine decay, batch 128, 30 epochs on 60,000 images".into(),
            max_norm: Some(4.0),
            epochs: 30,
            published: published(0.9894, "Srivastava et al., Dropout (JMLR 2014), table 2: 2 layers of 1024, max-norm (1.06% error)"),
            bar: Some(0.987),
            ..adam_cosine()
        },
        Recipe {
            name: "mlp-augmented".into(),
            arch: Some("dense(1024) relu dropout(0.3) dense(1024) relu dropout(0.3) dense(10)".into()),
            about: "Simard et al. 2003: a 2-layer MLP on elastically distorted images (alpha 34, sigma 4) and shifts of up to 1 pixel; 784-1024-1024-10 ReLU, dropout 0.3, Adam 1e-3 with cosine decay, batch 128, 50 epochs on 60,000 images".into(),
            augmentation: Some(Augmentation { shift: 1.0, elastic_alpha: 34.0, elastic_sigma: 4.0, ..Augmentation::default() }),
            epochs: 50,
            published: published(0.993, "Simard, Steinkraus and Platt 2003: 800 hidden units, elastic distortions (0.7% error)"),
            bar: Some(0.992),
            ..adam_cosine()
        },
        Recipe {
            name: "cnn-augmented".into(),
            arch: Some("cnn".into()),
            about: "ours, on moved images: the cnn architecture, shifts of up to 2 pixels, rotations of up to 10 degrees, scaling by up to 10%; Adam 1e-3 with cosine decay, batch 128, 30 epochs on 60,000 images".into(),
            epochs: 30,
            augmentation: Some(Augmentation { shift: 2.0, rotation: 10.0, scale: 0.1, ..Augmentation::default() }),
            bar: Some(0.995),
            ..adam_cosine()
        },
    ]
}

/// The training `default`, `cnn` and the regularisation recipes share: Adam 1e-3 with cosine
/// decay to 1e-5, batches of 128, 30 epochs on all the training images; each names its own
/// network (and `default` its shorter run and held-out images).
fn adam_cosine() -> Recipe {
    Recipe {
        name: "adam-cosine".into(),
        about: String::new(),
        arch: None,
        hidden: vec![],
        hidden_activation: Activation::Relu,
        loss: Loss::SoftmaxCrossEntropy,
        init: Init::HE,
        optimizer: OptimizerConfig::adam(),
        learning_rate: 1e-3,
        schedule: Schedule::Cosine { min_lr: 1e-5 },
        batch_size: 128,
        epochs: 30,
        max_steps: None,
        validation_size: 0,
        lambda: 0.0,
        augmentation: None,
        max_norm: None,
        seed: None,
        published: None,
        bar: None,
    }
}

/// The built-in recipe called `name` (aliases: nielsen-30, keras-512, chollet, torch-seed-128).
pub fn find(name: &str) -> Option<Recipe> {
    let canonical = match name {
        "nielsen-30" => "nielsen",
        "keras-512" | "chollet" => "keras",
        "torch-seed-128" | "torch" => "torch-seed",
        other => other,
    };
    built_in().into_iter().find(|r| r.name == canonical)
}

/// The built-in recipe called `name`, or an error listing them all.
pub fn named(name: &str) -> Result<Recipe, RecipeError> {
    find(name).ok_or_else(|| RecipeError::Unknown { what: "recipe", name: name.into() })
}

/// "default, nielsen, ..." for error messages and help.
pub fn names() -> String {
    built_in().into_iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
}

/// A new network for samples of `input`: the architecture `arch` (a name or its text) when
/// there is one, else dense layers of the sizes `layers` (inputs to outputs) with `hidden` after
/// each hidden layer; parameters drawn by `init` from `seed`.
pub fn new_network(
    arch: Option<&str>,
    layers: &[usize],
    hidden: Activation,
    loss: Loss,
    init: Init,
    seed: u64,
    input: Shape,
) -> Result<Network, RecipeError> {
    Ok(match arch {
        Some(text) => Architecture::named_or_parsed(text)?.with_input(input).build(loss, init, seed)?,
        None => Network::dense(layers, hidden, loss, init, seed)?,
    })
}

/// The architecture text of the dense network `layers` with `activation` and dropout at `rate`
/// after each hidden layer: `dense(800) relu dropout(0.5) dense(10)` for 784,800,10.
pub fn dense_with_dropout(layers: &[usize], activation: Activation, rate: f32) -> Result<String, RecipeError> {
    if !(0.0..1.0).contains(&rate) {
        return Err(invalid(format!("dropout must be at least 0 and below 1, not {rate}")));
    }
    let Some((outputs, hidden)) = layers.get(1..).and_then(<[usize]>::split_last) else {
        return Err(invalid("a dense network needs at least an input and an output size"));
    };
    let mut text: Vec<String> =
        hidden.iter().map(|size| format!("dense({size}) {activation} dropout({rate})")).collect();
    text.push(format!("dense({outputs})"));
    Ok(text.join(" "))
}

/// The JSON form of a recipe file. Activations, losses, initialisers, optimizers and schedules
/// are written the way the flags of `nn-cli train` take them (`relu`, `softmax_cross_entropy`,
/// `he`, `adam`, `cosine:0.00001`). A file naming a built-in recipe in `base` may leave out any
/// field; a file without one gives them all (`name`, `about`, `max_steps` and `lambda` may
/// always be left out).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    about: Option<String>,
    /// Absent: the base's value; `null`: a dense network of `hidden`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    arch: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    hidden_activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    loss: Option<Loss>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    init: Option<Init>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    optimizer: Option<OptimizerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "text")]
    schedule: Option<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epochs: Option<usize>,
    /// Absent: the base's value (none without a base); `null`: no limit.
    #[serde(default, deserialize_with = "present")]
    max_steps: Option<Option<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lambda: Option<f32>,
    /// Absent: the base's value; `null` or `"none"`: no augmentation.
    #[serde(
        default,
        deserialize_with = "present_text",
        skip_serializing_if = "Option::is_none",
        serialize_with = "text_inner"
    )]
    augmentation: Option<Option<Augmentation>>,
    /// Absent: the base's value; `null`: no constraint.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    max_norm: Option<Option<f32>>,
    /// Absent or `null`: the front end's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

/// Like [`present`], for a value written as its text (`"shift=2,rotate=10"`).
fn present_text<'de, D>(deserializer: D) -> Result<Option<Option<Augmentation>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = Option::<String>::deserialize(deserializer)?;
    let augmentation = text.map(|t| t.parse::<Augmentation>().map_err(serde::de::Error::custom)).transpose()?;
    Ok(Some(augmentation.filter(|a| !a.is_identity())))
}

/// Writes a present augmentation as its text, or `null`.
fn text_inner<S: serde::Serializer>(value: &Option<Option<Augmentation>>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(Some(augmentation)) => serializer.collect_str(augmentation),
        _ => serializer.serialize_none(),
    }
}

/// A field given, even as `null`, is `Some`; serde's default leaves an absent one `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Values stored as their `Display` text and read back with `FromStr`.
mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl Recipe {
    /// Refuses values no training can use: zero sizes, a learning rate that is not positive...
    pub fn validate(&self) -> Result<(), RecipeError> {
        if let Some(arch) = &self.arch {
            Architecture::named_or_parsed(arch)?;
        }
        if self.hidden.contains(&0) {
            return Err(invalid(format!("a hidden layer needs at least 1 neuron (hidden: {:?})", self.hidden)));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(format!("the learning rate must be finite and positive, not {}", self.learning_rate)));
        }
        if self.batch_size == 0 {
            return Err(invalid("the batch size must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(invalid("the number of epochs must be at least 1"));
        }
        if self.max_steps == Some(0) {
            return Err(invalid("max_steps must be at least 1 (or null for no limit)"));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(invalid(format!("lambda must be finite and at least 0, not {}", self.lambda)));
        }
        self.optimizer.validate()?;
        self.schedule.validate().map_err(|e| invalid(format!("invalid schedule: {e}")))?;
        if let Some(augmentation) = &self.augmentation {
            augmentation.validate().map_err(invalid)?;
        }
        if let Some(max_norm) = self.max_norm
            && !(max_norm.is_finite() && max_norm > 0.0)
        {
            return Err(invalid(format!("max_norm must be finite and positive, not {max_norm}")));
        }
        Ok(())
    }

    /// The training settings of this recipe, drawn from `seed`, for a training set of
    /// `train_len` samples (which scales Nielsen's λ into a weight decay).
    pub fn train_config(&self, seed: u64, train_len: usize) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed,
            learning_rate: self.learning_rate,
            optimizer: self.optimizer,
            schedule: self.schedule,
            // Nielsen's λ is per training image: the decay coefficient is λ/n.
            weight_decay: self.lambda / train_len.max(1) as f32,
            early_stopping_patience: None,
            eval_batch_size: 1000,
            augmentation: self.augmentation,
            max_norm: self.max_norm,
        }
    }

    /// A new network of this recipe for samples of shape `input` in `classes` classes.
    pub fn new_network(&self, input: Shape, classes: usize, seed: u64) -> Result<Network, RecipeError> {
        let layers = [vec![input.len()], self.hidden.clone(), vec![classes]].concat();
        let arch = self.arch.as_deref();
        let network = new_network(arch, &layers, self.hidden_activation, self.loss, self.init, seed, input)?;
        if network.output_size() != classes {
            return Err(invalid(format!(
                "the architecture {:?} has {} outputs but the data has {classes} classes",
                arch.unwrap_or_default(),
                network.output_size()
            )));
        }
        Ok(network)
    }

    /// The recipe with dropout at `rate`: after each hidden layer of a dense recipe (for
    /// MNIST's 784 inputs and 10 classes), or as the rate of every dropout layer of an
    /// architecture, which must have one.
    pub fn with_dropout(&self, rate: f32) -> Result<Recipe, RecipeError> {
        let arch = match &self.arch {
            None => {
                let layers = [vec![784], self.hidden.clone(), vec![10]].concat();
                dense_with_dropout(&layers, self.hidden_activation, rate)?
            }
            Some(text) => {
                if !(0.0..1.0).contains(&rate) {
                    return Err(invalid(format!("dropout must be at least 0 and below 1, not {rate}")));
                }
                let mut architecture = Architecture::named_or_parsed(text)?;
                let mut found = false;
                for layer in &mut architecture.layers {
                    if let nn_core::LayerSpec::Dropout { rate: slot } = layer {
                        *slot = rate;
                        found = true;
                    }
                }
                if !found {
                    return Err(invalid(format!(
                        "the architecture {text:?} has no dropout layer whose rate could be set: put dropout(P) in it"
                    )));
                }
                architecture.to_string()
            }
        };
        Ok(Recipe { arch: Some(arch), ..self.clone() })
    }

    /// The recipe as a complete recipe file (pretty JSON, ending with a newline). What was
    /// published about a built-in recipe is not part of it.
    pub fn to_json(&self) -> String {
        let file = RecipeFile {
            base: None,
            name: Some(self.name.clone()),
            about: Some(self.about.clone()),
            arch: self.arch.clone().map(Some),
            hidden: Some(self.hidden.clone()),
            hidden_activation: Some(self.hidden_activation),
            loss: Some(self.loss),
            init: Some(self.init),
            optimizer: Some(self.optimizer),
            learning_rate: Some(self.learning_rate),
            schedule: Some(self.schedule),
            batch_size: Some(self.batch_size),
            epochs: Some(self.epochs),
            max_steps: Some(self.max_steps),
            validation_size: Some(self.validation_size),
            lambda: Some(self.lambda),
            augmentation: Some(self.augmentation),
            max_norm: Some(self.max_norm),
            seed: self.seed,
        };
        let mut json = serde_json::to_string_pretty(&file).expect("a recipe serialises");
        json.push('\n');
        json
    }

    /// Reads a recipe file's text; `default_name` names a recipe whose file gives no name.
    pub fn from_json(text: &str, default_name: &str) -> Result<Recipe, RecipeError> {
        let mut file: RecipeFile = serde_json::from_str(text)?;
        let base = match &file.base {
            Some(name) => {
                Some(find(name).ok_or_else(|| RecipeError::Unknown { what: "base recipe", name: name.clone() })?)
            }
            None => None,
        };
        if file.arch.as_ref().is_some_and(Option::is_some) {
            // A file that names an architecture needs no dense layer sizes.
            file.hidden.get_or_insert_with(Vec::new);
            file.hidden_activation.get_or_insert(Activation::Relu);
        }
        let mut missing = Vec::new();
        macro_rules! field {
            ($name:ident) => {{
                let value = file.$name.take().or_else(|| base.as_ref().map(|b| b.$name.clone()));
                if value.is_none() {
                    missing.push(concat!("\"", stringify!($name), "\""));
                }
                value
            }};
        }
        let (hidden, hidden_activation, loss, init) =
            (field!(hidden), field!(hidden_activation), field!(loss), field!(init));
        let (optimizer, learning_rate, schedule) = (field!(optimizer), field!(learning_rate), field!(schedule));
        let (batch_size, epochs, validation_size) = (field!(batch_size), field!(epochs), field!(validation_size));
        let (
            Some(hidden),
            Some(hidden_activation),
            Some(loss),
            Some(init),
            Some(optimizer),
            Some(learning_rate),
            Some(schedule),
            Some(batch_size),
            Some(epochs),
            Some(validation_size),
        ) = (
            hidden,
            hidden_activation,
            loss,
            init,
            optimizer,
            learning_rate,
            schedule,
            batch_size,
            epochs,
            validation_size,
        )
        else {
            return Err(RecipeError::Missing(missing));
        };
        let recipe = Recipe {
            hidden,
            hidden_activation,
            loss,
            init,
            optimizer,
            learning_rate,
            schedule,
            batch_size,
            epochs,
            validation_size,
            max_steps: file.max_steps.unwrap_or_else(|| base.as_ref().and_then(|b| b.max_steps)),
            arch: file.arch.unwrap_or_else(|| base.as_ref().and_then(|b| b.arch.clone())),
            lambda: file.lambda.or(base.as_ref().map(|b| b.lambda)).unwrap_or(0.0),
            augmentation: file.augmentation.unwrap_or_else(|| base.as_ref().and_then(|b| b.augmentation)),
            max_norm: file.max_norm.unwrap_or_else(|| base.as_ref().and_then(|b| b.max_norm)),
            seed: file.seed,
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            about: file.about.or_else(|| base.as_ref().map(|b| format!("{} (changed)", b.about))).unwrap_or_default(),
            published: None,
            bar: None,
        };
        recipe.validate()?;
        Ok(recipe)
    }

    /// Reads and checks a recipe file; a file that gives no name is named by its stem.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read { path: path.into(), source })?;
        let stem = path.file_stem().map_or_else(|| "recipe".into(), |s| s.to_string_lossy().into_owned());
        Recipe::from_json(&text, &stem).map_err(|e| RecipeError::File { path: path.into(), source: Box::new(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipe_is_found_by_name_and_alias() {
        for recipe in built_in() {
            assert_eq!(find(&recipe.name).unwrap().name, recipe.name);
        }
        assert_eq!(find("keras-512").unwrap().name, "keras");
        assert_eq!(find("nielsen-100").unwrap().hidden, [100]);
        assert_eq!(find("nielsen-ch3").unwrap().init, Init::NIELSEN);
        assert!(find("nope").is_none());
    }

    #[test]
    fn nielsen_is_network_py() {
        for name in ["nielsen", "nielsen-100"] {
            let recipe = find(name).unwrap();
            assert_eq!(
                (recipe.init, recipe.loss, recipe.hidden_activation),
                (Init::NORMAL, Loss::SigmoidQuadratic, Activation::Sigmoid)
            );
            assert_eq!((recipe.optimizer, recipe.learning_rate, recipe.batch_size), (OptimizerConfig::Sgd, 3.0, 10));
            assert_eq!((recipe.epochs, recipe.validation_size, recipe.lambda), (30, 10_000, 0.0));
        }
    }

    #[test]
    fn built_in_recipes_survive_a_recipe_file() {
        for recipe in built_in() {
            let spec = recipe.clone();
            spec.validate().unwrap();
            let read = Recipe::from_json(&spec.to_json(), "x").unwrap();
            assert_eq!(read, Recipe { published: None, bar: None, ..spec.clone() }, "{}", spec.to_json());
        }
    }

    #[test]
    fn a_partial_file_takes_the_rest_from_its_base() {
        let spec = Recipe::from_json(r#"{"base": "nielsen", "hidden": [64, 32], "max_steps": 5}"#, "mine").unwrap();
        assert_eq!(spec.name, "mine");
        assert_eq!(spec.hidden, vec![64, 32]);
        assert_eq!(spec.learning_rate, 3.0);
        assert_eq!(spec.loss, Loss::SigmoidQuadratic);
        assert_eq!(spec.max_steps, Some(5));
        let spec = Recipe::from_json(r#"{"base": "torch-seed", "max_steps": null}"#, "mine").unwrap();
        assert_eq!(spec.max_steps, None);
        let spec = Recipe::from_json(r#"{"base": "cnn", "arch": "conv(8,3) relu flatten dense(10)"}"#, "m").unwrap();
        assert_eq!(spec.arch.as_deref(), Some("conv(8,3) relu flatten dense(10)"));
        assert_eq!(spec.optimizer, OptimizerConfig::adam());
        let spec = Recipe::from_json(r#"{"base": "cnn", "arch": null, "hidden": [30]}"#, "m").unwrap();
        assert_eq!((spec.arch, spec.hidden), (None, vec![30]));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let error = |text: &str| Recipe::from_json(text, "x").unwrap_err().to_string();
        assert!(error("hidden: 30").contains("expected value"), "{}", error("hidden: 30"));
        assert!(error(r#"{"base": "nielsen", "hiden": [3]}"#).contains("unknown field `hiden`"));
        assert!(
            error(r#"{"base": "nielsen", "learning_rate": -0.5}"#)
                .contains("learning rate must be finite and positive")
        );
        assert!(error(r#"{"hidden": [3]}"#).contains("missing \"hidden_activation\", \"loss\""));
        assert!(error(r#"{"base": "nope"}"#).contains("unknown base recipe"));
        assert!(error(r#"{"base": "nielsen", "optimizer": "adamw"}"#).contains("invalid optimizer"));
        assert!(error(r#"{"base": "nielsen", "hidden": [0]}"#).contains("at least 1 neuron"));
        assert!(error(r#"{"base": "cnn", "arch": "conv(8) relu"}"#).contains("kernel size is missing"));
    }
}
