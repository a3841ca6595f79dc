//! Training in the page: nn-train's `nielsen-ch3` recipe (Nielsen, chapter 3's `network2.py`:
//! 784-30-10 sigmoid, weights from N(0, 1/n), cross-entropy, L2 regularisation λ = 5.0, SGD with
//! η = 0.1 on mini-batches of 10, the last 10,000 training images held out), with the hidden
//! size, activation, learning rate, seed and epochs the panel chooses, on the data set the
//! server offers. Chapter 1's recipe (`nielsen`: every weight from N(0, 1), quadratic cost)
//! learns too slowly in one epoch for a panel: 80.3% after it with seed 1, against 92.7%.
//!
//! It trains in chunks of mini-batches, so that the page can draw between them: each chunk is
//! nn-train's [`train`](nn_train::train) resumed from the state the previous chunk stopped at, and nn-train's
//! resumption is exact, so a chunked training ends with the bits of an uninterrupted one, which
//! is what `nn-cli train` runs natively with the same settings (on one thread or several).

use mnist_data::Dataset;
use mnist_data::idx::{self, IdxArray};
use nn_core::{Activation, Network, Shape, TrainingRecord};
use nn_train::recipe::{self, Recipe};
use nn_train::{
    Control, EpochReport, Metrics, Observer, ObserverError, PixelSamples, TrainConfig, TrainData, TrainState,
};
use serde::Deserialize;

use crate::error::EngineError;
use crate::sizes::{DIGITS, PIXELS};

/// The recipe the panel trains: `nn-cli train --recipe nielsen-ch3` with the panel's choices as
/// flags.
pub const RECIPE: &str = "nielsen-ch3";

/// The largest hidden layer the panel may ask for (the panel offers 30 and 100).
pub const MAX_HIDDEN: usize = 1000;

/// The most epochs one training in the page may run.
pub const MAX_EPOCHS: usize = 100;

/// Test images evaluated at once.
const EVAL_BATCH: usize = 1000;

/// The four files of a data set, in the order of [`DataPart::from_index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPart {
    /// `train-images-idx3-ubyte`.
    TrainImages,
    /// `train-labels-idx1-ubyte`.
    TrainLabels,
    /// `t10k-images-idx3-ubyte`.
    TestImages,
    /// `t10k-labels-idx1-ubyte`.
    TestLabels,
}

impl DataPart {
    /// 0 to 3: training images, training labels, test images, test labels.
    pub fn from_index(index: u32) -> Option<DataPart> {
        [DataPart::TrainImages, DataPart::TrainLabels, DataPart::TestImages, DataPart::TestLabels]
            .get(index as usize)
            .copied()
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the panel chooses; every field has the recipe's value by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainOptions {
    /// Neurons of the one hidden layer.
    pub hidden: usize,
    /// Their activation, named as `nn-cli train --hidden-activation` names it (`sigmoid`,
    /// `relu`, `tanh`, ...).
    #[serde(deserialize_with = "activation_by_name")]
    pub activation: Activation,
    /// SGD's η.
    pub learning_rate: f32,
    /// Seed of the initial weights and of the shuffles.
    pub seed: u64,
    /// Passes over the training images.
    pub epochs: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        let recipe = panel_recipe();
        TrainOptions {
            hidden: recipe.hidden[0],
            activation: recipe.hidden_activation,
            learning_rate: recipe.learning_rate,
            seed: 1,
            epochs: 1,
        }
    }
}

impl TrainOptions {
    /// Reads the panel's JSON (`{"hidden": 100, "activation": "relu", ...}`).
    pub fn from_json(text: &[u8]) -> Result<TrainOptions, EngineError> {
        serde_json::from_slice(text).map_err(|e| EngineError::Options(e.to_string()))
    }

    /// The recipe with these choices, refused where `nn-cli train` would refuse them.
    pub fn recipe(&self) -> Result<Recipe, EngineError> {
        if !(1..=MAX_HIDDEN).contains(&self.hidden) {
            return Err(EngineError::Options(format!("hidden must be 1 to {MAX_HIDDEN} neurons, not {}", self.hidden)));
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(EngineError::Options(format!("epochs must be 1 to {MAX_EPOCHS}, not {}", self.epochs)));
        }
        let recipe = Recipe {
            hidden: vec![self.hidden],
            hidden_activation: self.activation,
            learning_rate: self.learning_rate,
            epochs: self.epochs,
            ..panel_recipe()
        };
        recipe.validate().map_err(|e| EngineError::Options(e.to_string()))?;
        Ok(recipe)
    }
}

fn activation_by_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Activation, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(serde::de::Error::custom)
}

fn panel_recipe() -> Recipe {
    recipe::find(RECIPE).expect("the panel's recipe is built in")
}

/// The data set's files as they arrive, the sets made from them, then the training.
#[derive(Debug, Default)]
pub struct Trainer {
    parts: [Option<IdxArray>; 4],
    /// Made at the first training and kept for the next ones, until a part is replaced.
    sets: Option<Sets>,
    training: Option<Training>,
}

/// The training images the recipe trains on, the number it holds out, and the test set.
#[derive(Debug)]
struct Sets {
    train: Dataset,
    validation_samples: usize,
    test: Dataset,
}

/// One training: the network and nn-train's state between chunks.
#[derive(Debug)]
struct Training {
    options: TrainOptions,
    network: Network,
    config: TrainConfig,
    state: Option<TrainState>,
    train_samples: usize,
    test_accuracy: Option<f32>,
}

/// What one chunk did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    /// Mini-batches trained in this chunk.
    pub batches: usize,
    /// Images they held.
    pub images: usize,
    /// Mean training loss over them.
    pub loss: f32,
    /// Steps (mini-batches) since the training began.
    pub steps: usize,
    /// Epochs completed.
    pub epochs: usize,
    /// Whether every epoch has been trained.
    pub finished: bool,
}

impl Trainer {
    /// Reads one of the data set's files (an IDX file, raw or gzip, checked whole: a truncated
    /// or corrupted one is refused). A training on the data set as it was ends.
    pub fn add_part(&mut self, part: DataPart, bytes: Vec<u8>) -> Result<(), EngineError> {
        self.training = None;
        self.sets = None;
        self.parts[part.index()] = None;
        let array = idx::decode(bytes).map_err(|e| EngineError::Data(format!("{part:?}: {e}")))?;
        self.parts[part.index()] = Some(array);
        Ok(())
    }

    /// Starts a new training with `options` on the data received (the previous one is
    /// dropped); says what it trains ("784-30-10 sigmoid, cross-entropy, SGD η 0.1, ...").
    pub fn begin(&mut self, options: TrainOptions) -> Result<String, EngineError> {
        self.training = None;
        let recipe = options.recipe()?;
        let sets = match self.sets.take() {
            Some(sets) if sets.validation_samples == recipe.validation_size => sets,
            _ => self.make_sets(recipe.validation_size)?,
        };
        let train = &self.sets.insert(sets).train;
        let config = TrainConfig {
            batch_size: recipe.batch_size.min(train.len()),
            ..recipe.train_config(options.seed, train.len())
        };
        let network = recipe
            .new_network(Shape::new(1, 28, 28), DIGITS, options.seed)
            .map_err(|e| EngineError::Options(e.to_string()))?;
        let epochs = if options.epochs == 1 { "1 epoch".to_string() } else { format!("{} epochs", options.epochs) };
        let description = format!(
            "784-{}-10 {}, cross-entropy, SGD η {}, λ {}, batches of {}, {epochs} on {} images, seed {}",
            options.hidden,
            options.activation,
            options.learning_rate,
            recipe.lambda,
            config.batch_size,
            train.len(),
            options.seed
        );
        let train_samples = train.len();
        self.training = Some(Training { options, network, config, state: None, train_samples, test_accuracy: None });
        Ok(description)
    }

    /// Trains at most `batches` mini-batches, stopping early at the end of an epoch.
    pub fn run(&mut self, batches: usize) -> Result<Chunk, EngineError> {
        let (Some(training), Some(sets)) = (self.training.as_mut(), self.sets.as_ref()) else {
            return Err(EngineError::NoTraining);
        };
        let steps_before = training.steps();
        if training.finished() {
            return Ok(training.chunk(0, 0, 0.0, steps_before));
        }
        let images_before = training.images_seen();
        let samples = PixelSamples::new(sets.train.pixels(), sets.train.labels(), PIXELS).map_err(data_error)?;
        let data = TrainData::new(&samples);
        let control = Control::new();
        let mut observer = ChunkObserver {
            batches: batches.max(1),
            trained: 0,
            loss_sum: 0.0,
            control: Control::from_flag(control.flag()),
        };
        let state = training.state.take();
        let outcome = nn_train::train(&mut training.network, &training.config, &data, &mut observer, &control, state)
            .map_err(|e| EngineError::Train(e.to_string()))?;
        training.state = Some(outcome.state);
        training.test_accuracy = None;
        let loss = if observer.trained == 0 { 0.0 } else { (observer.loss_sum / observer.trained as f64) as f32 };
        let images = training.images_seen() - images_before;
        Ok(training.chunk(observer.trained, images, loss, training.steps()))
    }

    /// The test set's accuracy and loss for the network as it is now.
    pub fn evaluate(&mut self) -> Result<Metrics, EngineError> {
        let (Some(training), Some(sets)) = (self.training.as_mut(), self.sets.as_ref()) else {
            return Err(EngineError::NoTraining);
        };
        let samples = PixelSamples::new(sets.test.pixels(), sets.test.labels(), PIXELS).map_err(data_error)?;
        let metrics = nn_train::evaluate(&training.network, &samples, EVAL_BATCH)?;
        training.test_accuracy = Some(metrics.accuracy);
        Ok(metrics)
    }

    /// The network in training, if one has begun.
    pub fn network(&self) -> Option<&Network> {
        self.training.as_ref().map(|t| &t.network)
    }

    /// The first layer's weights, one row of 784 per hidden neuron, row after row.
    pub fn first_layer(&self) -> Result<Vec<f32>, EngineError> {
        let network = self.network().ok_or(EngineError::NoTraining)?;
        // Column-major `Wᵀ` is `W` row after row.
        Ok(network.parameters()[0].transpose().as_slice().to_vec())
    }

    /// The network as a model file, with what it was trained on, as `nn-cli train` writes it.
    pub fn model_file(&self) -> Result<String, EngineError> {
        let (Some(training), Some(sets)) = (self.training.as_ref(), self.sets.as_ref()) else {
            return Err(EngineError::NoTraining);
        };
        let record = TrainingRecord {
            train_samples: training.train_samples,
            validation_samples: sets.validation_samples,
            recipe: Some(RECIPE.to_string()),
            seed: training.options.seed,
            epochs: training.state.as_ref().map_or(0, |s| s.epochs_completed),
            test_accuracy: training.test_accuracy,
        };
        Ok(nn_core::trained_model_to_json(&training.network, Some(&record))?)
    }

    /// The sets from the parts received: the training file without its last `validation_size`
    /// images (held out, as `nn-cli train` holds them out), and the test set.
    fn make_sets(&self, validation_size: usize) -> Result<Sets, EngineError> {
        let train_file = self.set(DataPart::TrainImages, DataPart::TrainLabels)?;
        let test = self.set(DataPart::TestImages, DataPart::TestLabels)?;
        if train_file.pixels_per_image() != PIXELS || test.pixels_per_image() != PIXELS {
            return Err(EngineError::Data(format!("the images are not {PIXELS} pixels (28x28)")));
        }
        if validation_size >= train_file.len() {
            return Err(EngineError::Data(format!(
                "the recipe holds out {validation_size} images, and the training file has only {}",
                train_file.len()
            )));
        }
        let (train, _) = train_file.split_validation(validation_size).map_err(data_error)?;
        Ok(Sets { train, validation_samples: validation_size, test })
    }

    /// Images, labels of one set, checked to agree.
    fn set(&self, images: DataPart, labels: DataPart) -> Result<Dataset, EngineError> {
        let missing = |part: DataPart| EngineError::Data(format!("{part:?} has not been received"));
        let image_array = self.parts[images.index()].clone().ok_or_else(|| missing(images))?;
        let label_array = self.parts[labels.index()].clone().ok_or_else(|| missing(labels))?;
        Dataset::from_idx(image_array, label_array, Some(DIGITS)).map_err(data_error)
    }
}

fn data_error(error: impl std::fmt::Display) -> EngineError {
    EngineError::Data(error.to_string())
}

impl Training {
    fn batches_per_epoch(&self) -> usize {
        self.train_samples.div_ceil(self.config.batch_size)
    }

    fn steps(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.epochs_completed * self.batches_per_epoch() + s.next_batch)
    }

    /// Training images seen since the training began (the last batch of an epoch may be short).
    fn images_seen(&self) -> usize {
        self.state.as_ref().map_or(0, |s| {
            s.epochs_completed * self.train_samples + (s.next_batch * self.config.batch_size).min(self.train_samples)
        })
    }

    fn finished(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.epochs_completed >= self.config.epochs)
    }

    fn chunk(&self, batches: usize, images: usize, loss: f32, steps: usize) -> Chunk {
        Chunk {
            batches,
            images,
            loss,
            steps,
            epochs: self.state.as_ref().map_or(0, |s| s.epochs_completed),
            finished: self.finished(),
        }
    }
}

/// Stops nn-train after `batches` mini-batches or at the end of an epoch, whichever is first,
/// and sums the losses of the batches it saw.
struct ChunkObserver {
    batches: usize,
    trained: usize,
    loss_sum: f64,
    control: Control,
}

impl Observer for ChunkObserver {
    fn on_batch(&mut self, _epoch: usize, _batch: usize, _batches: usize, loss: f32) {
        self.trained += 1;
        self.loss_sum += f64::from(loss);
        if self.trained >= self.batches {
            self.control.request_stop();
        }
    }

    fn on_epoch_end(
        &mut self,
        _report: &EpochReport,
        _network: &Network,
        _state: &TrainState,
    ) -> Result<(), ObserverError> {
        self.control.request_stop();
        Ok(())
    }
}
