//! Named training set-ups: the books' networks (Nielsen, Chollet, Saitō, PyTorch's examples)
//! and ours, and recipe files (JSON) holding set-ups of one's own, such as the best one a
//! [`search`](crate::search) found. A front end lets its flags override any field.

use std::path::PathBuf;

use nn_core::{Activation, Architecture, Init, Loss, Network, NnError, ParseArchitectureError, Shape};
use thiserror::Error;

use crate::{Augmentation, OptimizerConfig, OptimizerError, Sampling, Schedule, Standardize, TrainConfig};

mod built_in;
mod file;
mod spread;

pub use built_in::built_in;
pub use spread::{SHORTFALL, SeedSpread};

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
    /// How each epoch picks its samples.
    pub sampling: Sampling,
    /// How the network standardises its inputs, from the training images
    /// ([`standardization_of`](crate::standardization_of)); kept in the model file.
    pub standardize: Option<Standardize>,
    /// The seed of the initial weights, the shuffles, dropout and augmentation, when the recipe
    /// fixes one (a sweep's trial does); a front end's default otherwise.
    pub seed: Option<u64>,
    /// The published test accuracy this recipe reproduces. Built-in recipes only.
    pub published: Option<Published>,
    /// The test accuracy a reproduction on the full data must reach. Built-in recipes only.
    pub bar: Option<f32>,
    /// The test accuracies measured here over several seeds. Built-in recipes only.
    pub seed_spread: Option<SeedSpread>,
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

impl Recipe {
    /// Refuses values no training can use: zero sizes, a learning rate that is not positive...
    pub fn validate(&self) -> Result<(), RecipeError> {
        if let Some(arch) = &self.arch {
            Architecture::named_or_parsed(arch)?;
        }
        if self.hidden.contains(&0) {
            return Err(invalid(format!("a hidden layer needs at least 1 neuron (hidden: {:?})", self.hidden)));
        }
        if self.arch.is_none() {
            // Between MNIST's 784 inputs and 10 classes, as `nn-cli train` builds them.
            let sizes = [vec![784], self.hidden.clone(), vec![10]].concat();
            Network::check_dense_sizes(&sizes)
                .map_err(|e| invalid(format!("hidden layers {:?} cannot be built: {e}", self.hidden)))?;
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
            sampling: self.sampling,
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
}
