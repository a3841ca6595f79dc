//! # nn-train
//!
//! The training loop for [`nn_core`] networks, dense or convolutional: mini-batch training with
//! optimizers (SGD, momentum, Nesterov, RMSprop, Adam, Adadelta) and L2 weight decay,
//! learning-rate schedules, parallel batch gradients that give the same bits on any number of
//! threads, per-epoch evaluation, early stopping with the best weights restored, interruption
//! and exact resumption from checkpoints.
//!
//! What it is not for: it trains nn-core's [`Network`](nn_core::Network)s only, so it shares
//! their limits (sequential networks, CPU, `f32`: see nn-core's documentation), and a training
//! runs in one process on the threads of one machine, never spread over several machines or a
//! GPU ([`sweep`] runs many separate trainings, on a Slurm cluster if there is one).
//!
//! It is a library for front ends such as `nn-cli train`. It knows nothing of terminals (the
//! front end follows progress through an [`Observer`]) or of MNIST: data comes through the
//! [`Samples`] trait, so a data set can stay in memory as bytes ([`PixelSamples`]) and only one
//! mini-batch at a time is converted to `f32`. The files it reads and writes are its own: the
//! checkpoints, a run's files ([`run_files`]), recipe files ([`recipe`]) and sweep folders
//! ([`sweep`]); model files are nn-core's.
//!
//! ```
//! use nn_core::{Activation, Init, Loss, Network};
//! use nn_train::{Control, FloatSamples, NoObserver, OptimizerConfig, TrainConfig, TrainData, train};
//!
//! // XOR, repeated: four samples of two inputs, one after the other.
//! let inputs: Vec<f32> = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0].repeat(8);
//! let labels: Vec<usize> = [0, 1, 1, 0].repeat(8);
//! let set = FloatSamples::new(inputs, labels, 2)?;
//! let mut net = Network::dense(&[2, 8, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 3)?;
//! let config = TrainConfig {
//!     epochs: 100,
//!     batch_size: 4,
//!     learning_rate: 0.05,
//!     optimizer: OptimizerConfig::adam(),
//!     ..TrainConfig::default()
//! };
//! let data = TrainData::new(&set).with_validation(&set);
//! let outcome = train(&mut net, &config, &data, &mut NoObserver, &Control::new(), None)?;
//! assert_eq!(outcome.state.history.last().unwrap().validation.unwrap().accuracy, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Beyond one training, [`recipe`] holds the books' set-ups, [`search`] tries a grid in one
//! process, and [`sweep`] plans many trainings into a folder that a pool of local processes or a
//! Slurm job array runs, each trial's files written as [`run_files`] says.
//!
//! [`fit`] is the same call without observer, control or resume: `fit(&mut net, &config,
//! TrainData::new(&set))`. The crate's `examples/mnist.rs` loads MNIST with the `mnist-data`
//! crate, trains and evaluates.
//!
//! # Build settings
//!
//! Training runs tight numeric loops in nn-core (nalgebra's and pulp's code compiled in it),
//! matrixmultiply, rand_chacha and this crate (optimizers, image moves). Unoptimised, as Cargo
//! builds dependencies in the `dev` profile, training runs about 45 times slower (nn-core's
//! documentation has the measurement). Dependents should optimise these packages even in debug
//! builds, in their `Cargo.toml`:
//!
//! ```toml
//! [profile.dev.package]
//! nn-core = { opt-level = 3 }
//! nn-train = { opt-level = 3 }
//! matrixmultiply = { opt-level = 3 }
//! rand_chacha = { opt-level = 3 }
//! ```
//!
//! # Threads
//!
//! [`train`] and [`fit`] compute each mini-batch's gradients as shards in parallel, apply the
//! optimizer to the parameter matrices in parallel and evaluate in parallel chunks; [`svm`]
//! solves its pairs of classes and predicts in parallel too. All of it runs on the rayon thread
//! pool the call is made in: rayon's global pool, with one thread per logical CPU or as many as
//! the environment variable `RAYON_NUM_THREADS` says, or a pool of the program's own:
//!
//! ```
//! use nn_core::{Activation, Init, Loss, Network};
//! use nn_train::{FloatSamples, TrainConfig, TrainData, fit};
//!
//! // XOR, repeated; batches of 128 samples are cut into two shards, whatever the threads.
//! let set = FloatSamples::new([0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0].repeat(64), [0, 1, 1, 0].repeat(64), 2)?;
//! let config = TrainConfig { epochs: 2, batch_size: 128, ..TrainConfig::default() };
//! let trained_on = |threads: usize| -> Result<Network, Box<dyn std::error::Error>> {
//!     let mut net = Network::dense(&[2, 8, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 3)?;
//!     let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
//!     pool.install(|| fit(&mut net, &config, TrainData::new(&set)))?;
//!     Ok(net)
//! };
//! assert_eq!(trained_on(1)?, trained_on(2)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A program that wants one size everywhere sets the global pool once, before any parallel
//! work, with `rayon::ThreadPoolBuilder::new().num_threads(n).build_global()` (as `nn-cli train
//! --threads N` does). The number of threads changes the speed, never the result, as the next
//! section says.
//!
//! # Determinism
//!
//! The shuffle of epoch `e` comes from a ChaCha8 generator seeded with the configured seed on
//! stream `e`; each mini-batch is cut into shards by its size alone ([`batch_shards`]),
//! and the shards' gradients are summed in a fixed order (a network with batch normalisation,
//! whose statistics need the whole batch, is one shard, which nn-core cuts into parts layer by
//! layer, again by the batch's size alone); evaluation sums fixed chunks in order. Dropout draws each sample's mask from the batch's seed ([`batch_seed`]: a function of
//! the seed, the epoch and the batch) and the sample's place in the batch, whatever its shard.
//! So the same network, data and [`TrainConfig`] give the same weights bit for bit with one
//! thread or many, and a run interrupted and resumed from a [`Checkpoint`] ends exactly
//! like an uninterrupted one.

#![forbid(unsafe_code)]
// Every panic a caller could reach is documented; the ones that cannot happen say why.
#![warn(clippy::missing_panics_doc)]
#![deny(missing_docs)]

// The README's examples are compiled and run as doctests, so the registry page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The nn-core this crate trains: its [`Network`](nn_core::Network) and
/// [`NnError`](nn_core::NnError) appear in this API, so `nn_train::nn_core` always matches.
pub use nn_core;

mod augment;
mod augmentation;
pub mod baseline;
mod bits;
mod checkpoint;
mod config;
mod control;
mod error;
mod evaluate;
mod learning_check;
mod max_norm;
pub mod memory;
mod observer;
mod optim;
mod optimizer_config;
mod optimizer_error;
mod parallel;
pub mod profile;
pub mod recipe;
pub mod run_files;
pub mod run_lock;
mod samples;
mod sampling;
mod schedule;
pub mod search;
mod standardize;
mod state;
mod stopwatch;
pub mod svm;
pub mod sweep;
mod trainer;
mod vectorized;

pub use augmentation::Augmentation;
pub use checkpoint::{CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, CheckpointError, save_checkpoint};
pub use config::{ConfigError, TrainConfig};
pub use control::Control;
pub use error::TrainError;
pub use evaluate::{Metrics, evaluate};
pub use learning_check::{EXPLODED_LOSS_FACTOR, LearningCheck, LikelyCause, NEAR_CHANCE_FACTOR, NoLearning};
pub use observer::{EpochReport, NoObserver, Observer, ObserverError};
pub use optim::{Optimizer, OptimizerState};
pub use optimizer_config::{DEFAULT_MOMENTUM, OptimizerConfig, ParseOptimizerError};
pub use optimizer_error::OptimizerError;
pub use parallel::{
    BatchGradients, MAX_SHARDS, MIN_SHARD_SAMPLES, PARALLEL_CHUNK, SHARD_SAMPLES, batch_shards, shard_count,
};
pub use samples::{FloatSamples, PixelSamples, Samples, SamplesError};
pub use sampling::Sampling;
pub use schedule::{ParseScheduleError, Schedule};
pub use standardize::{Standardize, standardization_of};
pub use state::{BestWeights, TrainState};
pub use trainer::{TrainData, TrainOutcome, batch_seed, fit, train};
