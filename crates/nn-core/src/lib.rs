//! # nn-core
//!
//! Neural networks written from scratch, for learning how they work and for training them fast
//! on a CPU: dense and convolutional layers behind a [`Layer`] trait ([`Dense`], [`Conv2d`],
//! [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool`], [`BatchNorm`], [`Flatten`], [`Dropout`],
//! [`ActivationLayer`]),
//! activations, a numerically stable [`softmax`], losses with their gradients, backpropagation
//! over whole batches, seeded initialisers, architectures as text ([`Architecture`]:
//! `conv(32,3) relu maxpool(2) flatten dense(10)`), model files, NumPy `.npz`, pickled NumPy
//! weights and PyTorch `safetensors` interop.
//!
//! What it is not for: it builds sequential networks only, a chain of layers each feeding the
//! next (no residual or skip connections, no branches), and computes on the CPU only (no GPU), in
//! `f32` only. There is no automatic differentiation of arbitrary graphs: each [`Layer`] writes
//! its own backward pass (a crate may add a kind of layer by implementing the trait). For those
//! needs, use [candle](https://github.com/huggingface/candle) or [burn](https://burn.dev).
//!
//! It is the library that other crates depend on alone. It knows nothing of MNIST, of data
//! sets, of training loops or optimisers beyond plain gradient descent ([`Network::sgd_step`]):
//! the `nn-train` crate builds on [`Network::loss_and_gradients`], [`Gradients`] and
//! [`Network::parameters_mut`]. The files it knows, each behind a default feature, are its own
//! model files ([`save_model`], [`load_model`], format described in [`model_format`]), NumPy
//! archives ([`import_npz`], [`export_npz`], [`import_npz_with_architecture`]), pickles of NumPy
//! arrays ([`import_pickle`], [`import_pickle_with_architecture`]; [`WeightsFormat`] tells these
//! kinds apart) and safetensors files with the `state_dict` names of a PyTorch `nn.Sequential`
//! ([`import_safetensors`], [`export_safetensors`], [`pytorch_state_dict_names`]).
//!
//! Programs that only predict go through the [`Classifier`] trait, which a [`Network`], a
//! [`Committee`] of networks (their softmax outputs averaged, as in Ciresan et al. 2012 and
//! Nielsen's chapter 6) and a [`Model`] (either one, as [`load_any_model`] reads it from a model
//! or committee file) all implement, so a committee needs no code path of its own.
//!
//! A convolutional network from its text, trained one step:
//!
//! ```
//! use nn_core::{Architecture, Gradients, Init, Loss, Mode, Targets, Workspace};
//!
//! let arch: Architecture = "conv(4,3,pad=1) relu maxpool(2) flatten dropout(0.5) dense(10)".parse()?;
//! let mut net = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 7)?; // for 1x28x28 images
//! let images = vec![0.5; 2 * 784];
//! let mut gradients = Gradients::zeros_like(&net);
//! // Training mode: dropout draws its masks from the batch's seed.
//! net.loss_and_gradients(&images, Targets::Classes(&[3, 8]), Mode::training(1), &mut Workspace::new(), &mut gradients)?;
//! net.sgd_step(&gradients, 0.1)?;
//! assert_eq!(net.summary().rows[0].output_shape.to_string(), "4x28x28");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A network with `batchnorm` normalises by the batch in training and by running statistics in
//! inference: after each step, [`Network::update_running_statistics`] moves them (nn-train's
//! trainer does it for you).
//!
//! And a dense one, trained to convergence:
//!
//! ```
//! use nn_core::{Activation, Gradients, Init, Loss, Mode, Network, Targets, Workspace};
//!
//! // XOR: four samples of two inputs, one after the other.
//! let inputs = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//! let labels = [0, 1, 1, 0];
//! let mut net = Network::dense(&[2, 8, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 3)?;
//! let mut workspace = Workspace::new();
//! let mut gradients = Gradients::zeros_like(&net);
//! for _ in 0..2000 {
//!     net.loss_and_gradients(&inputs, Targets::Classes(&labels), Mode::training(0), &mut workspace, &mut gradients)?;
//!     net.sgd_step(&gradients, 0.5)?;
//! }
//! assert_eq!(net.classify_batch(&inputs, 100)?, labels);
//! # Ok::<(), nn_core::NnError>(())
//! ```
//!
//! # Batches are matrices, samples are columns
//!
//! A batch of `n` samples of `d` values is a column-major `d × n` matrix, passed as a plain
//! `&[f32]` of the samples one after the other. nalgebra stores matrices column by column, so
//! with samples as columns:
//!
//! - a data set kept as consecutive images *is* already a batch: no copy, no transpose, and a
//!   batch is a sub-slice;
//! - each sample's values are contiguous, so the per-sample work (bias, activation, softmax,
//!   argmax, the loss) runs over contiguous memory, and one image is simply a batch of one;
//! - the layer product `Z = W X + b` (`W` is `outputs × inputs`) runs in a register-tiled
//!   kernel of our own that reads `W` in place (`affine.rs`, AVX-512 or AVX2 chosen at run
//!   time); the backward products `∂W = δ Xᵀ`, `∂X = Wᵀ δ` go to nalgebra's `gemm`, i.e. to the
//!   cache-blocked `matrixmultiply` kernels, the transposes being zero-copy views, except `∂W`
//!   of a layer whose inputs are mostly zero (images), summed over the nonzero inputs alone;
//! - a convolution unfolds each patch into a column (im2col) and runs the same two kernels: an
//!   image is stored channels last ([`Shape`]), so the product's column for a patch is that
//!   pixel's output channels, already in place. 3x3 convolutions of stride 1 (on 4 channels or
//!   more) use Winograd's F(4x4, 3x3) instead: 36 products on transformed 6x6 tiles, 4 times
//!   fewer multiplications, the same sums up to rounding.
//!
//! Outputs come back the same way: [`Network::predict_batch`] is an `outputs × batch` matrix,
//! the *transpose* of NumPy's `predict(x)` of shape `(batch, outputs)`; a port of NumPy code
//! takes [`Network::predict_rows`] instead, one row per sample, whose [`Predictions::argmax`] is
//! `np.argmax(y, axis=1)`.
//!
//! Images of several channels are stored **channels last** (each pixel's channels side by side,
//! NHWC for a batch; [`Layout::ChannelsLast`]) by every function that takes or gives samples,
//! unless its name says otherwise. PyTorch, NumPy and the books hold them channels first
//! (NCHW): convert once with [`Layout::to_channels_last`], predict on them as they are with
//! [`Classifier::predict_nchw`], train on them with nn-train's
//! `FloatSamples::from_channels_first`. With one channel (MNIST) both orders are the same.
//! Kernels follow PyTorch's `(filters, channels, kh, kw)` at the edges
//! ([`Conv2d::from_channels_first`], [`Conv2d::weights_channels_first`], the `.npz` and
//! safetensors files).
//!
//! The weights of a [`Dense`] layer are `outputs × inputs`, Nielsen's `W` in `σ(W a + b)`. In
//! memory this is exactly NumPy's C-ordered `inputs × outputs` kernel of `x @ W + b` (Saitō's
//! *Deep Learning from Scratch*, Keras), so `.npz` import and export copy without reshuffling.
//!
//! # Speed
//!
//! The forward kernel and the sigmoid use AVX-512 or AVX2 when the processor has them (chosen
//! at run time, in safe code, through `pulp`); [`Network::evaluate`] and
//! [`Network::classify_batch`] compute their batches in parallel on rayon's global pool (feature
//! `parallel`; see [Threads](#threads)). Neither changes a result (the measured speeds are in
//! the workspace's `docs/benchmarks.md`).
//!
//! All of it needs optimised code: Cargo builds dependencies unoptimised in the `dev` profile,
//! where training runs about 45 times slower. Dependents should optimise three packages even in
//! debug builds, in their `Cargo.toml` (as the workspace's `examples/embed-nn-core` does):
//!
//! ```toml
//! [profile.dev.package]
//! nn-core = { opt-level = 3 }
//! matrixmultiply = { opt-level = 3 }
//! rand_chacha = { opt-level = 3 }
//! ```
//!
//! Measured (AMD EPYC, 2 cores, 2026-12-05; a clean debug build of a program using nn-core
//! with its default features, then one epoch of 784-128-10 on 10,000 images): nothing
//! optimised, 69 s to build and 11.3-12.2 s an epoch; these three, 199 s and 0.25-0.26 s; every
//! dependency (`[profile.dev.package."*"]`), 248 s and 0.29-0.31 s. The three give all the
//! speed; optimising everything also builds the proc-macros (syn, serde_derive) at `-O3`.
//!
//! # Features
//!
//! All five are on by default. With `default-features = false` nn-core is layers, maths and
//! training steps only: it builds from nalgebra, pulp, rand and rand_chacha (in about 0.43 of
//! the time, measured in the workspace's `docs/benchmarks.md`), without the proc-macro stack
//! (syn, serde_derive, thiserror) that the features bring, and every result stays the same, bit
//! for bit.
//!
//! - `serde`: model files ([`save_model`], [`load_model`], [`save_trained_model`],
//!   [`load_model_and_record`], [`TrainingRecord`], [`ModelFileError`], the format in
//!   [`model_format`]), committee files ([`save_committee`], [`load_committee`],
//!   [`load_any_model`]) and the serde impls of [`Activation`], [`Loss`], [`Init`] (with
//!   [`WeightInit`] and [`BiasInit`]) and [`Shape`], through serde, serde_json and thiserror.
//! - `npz`: NumPy `.npz` archives ([`import_npz`], [`export_npz`], ...), through zip, npyz and
//!   flate2. npyz parses `.npy` headers with pest, whose stack guard (`psm`) compiles a little
//!   assembly with the system's C compiler (`cc`) on Linux, macOS and Windows: this is the one
//!   feature that needs one. Without a C compiler, leave `npz` out
//!   (`default-features = false, features = ["serde", "pickle", "safetensors", "parallel"]`).
//! - `pickle`: Python pickles of NumPy weights as Saitō's code writes them ([`import_pickle`],
//!   [`import_pickle_with_architecture`], ...), read by a small pickle machine of our own that
//!   runs nothing and knows only NumPy's array globals (thiserror only).
//! - `safetensors`: `.safetensors` files with PyTorch's `state_dict` names
//!   ([`import_safetensors`], [`export_safetensors`], ...), through Hugging Face's
//!   `safetensors` crate.
//! - `parallel`: [`Network::evaluate`] and [`Network::classify_batch`] compute their batches on
//!   rayon's global pool; without it, one after the other on the calling thread.
//!
//! # Threads
//!
//! nn-core computes in parallel only with its default feature `parallel`, and only where it
//! runs many batches: [`Network::evaluate`], [`Network::evaluate_and_classify`],
//! [`Network::classify_batch`], [`Network::accuracy`] and a [`Committee`]'s `evaluate`,
//! `evaluate_and_classify` and `classify_batch` hand their batches to rayon's thread pool; so
//! does [`Network::loss_and_gradients`] for a network with batch normalisation
//! ([`Network::normalises_batches`]), which cuts each layer's work into parts fixed by the batch
//! size. Everything else, a training step of any other network included
//! ([`Network::loss_and_gradients`], [`Network::sgd_step`]), runs on the calling thread (the
//! `nn-train` crate spreads a batch's gradients over threads).
//!
//! The pool is rayon's global one, unless the call runs inside another (`install`). The global pool has
//! one thread per logical CPU, or as many as the environment variable `RAYON_NUM_THREADS` says
//! (`RAYON_NUM_THREADS=1` for one), or as many as a program sets with
//! `rayon::ThreadPoolBuilder::new().num_threads(n).build_global()` before its first parallel
//! work. A pool of its own, for one call, is rayon's
//! `ThreadPoolBuilder::new().num_threads(n).build()?.install(|| ...)`.
//!
//! The number of threads never changes a result: each batch is computed the same way whatever
//! thread takes it, and the batches' results are combined in batch order, so one thread, many,
//! or none (without `parallel`) give the same bits.
//!
//! ```
//! use nn_core::{Activation, Init, Loss, Network};
//!
//! let net = Network::dense(&[4, 8, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
//! let inputs: Vec<f32> = (0..400).map(|i| (i % 7) as f32 / 7.0).collect();
//! let labels: Vec<usize> = (0..100).map(|i| i % 3).collect();
//! let evaluate_on = |threads: usize| -> Result<nn_core::Evaluation, Box<dyn std::error::Error>> {
//!     let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
//!     Ok(pool.install(|| net.evaluate(&inputs, &labels, 10))?)
//! };
//! let (one, two) = (evaluate_on(1)?, evaluate_on(2)?);
//! assert_eq!((one.loss.to_bits(), one.correct), (two.loss.to_bits(), two.correct));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Numbers
//!
//! Networks compute in `f32`. Softmax, log-softmax and sigmoid are evaluated so that they never
//! overflow; the cross-entropy is computed from log-softmax, so it stays finite when a
//! probability underflows. Each sample's outputs are computed by the same operations in the
//! same order whatever batch it is in, so one image and a batch give the same bits.

#![forbid(unsafe_code)]
// Every panic a caller could reach is documented; the ones that cannot happen say why.
#![warn(clippy::missing_panics_doc)]
// docs.rs builds with every feature and marks what each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without every feature, the documentation still names the items the others bring (model files,
// .npz, safetensors): they show as plain text there, linked in the full build.
#![cfg_attr(
    not(all(feature = "serde", feature = "npz", feature = "pickle", feature = "safetensors")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![deny(missing_docs)]

// The README's examples are compiled and run as doctests, so the registry page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod activation;
mod activation_layer;
mod affine;
mod affine_panels;
mod affine_tiles;
mod aligned_buffer;
mod architecture;
mod architecture_text;
// Only the file writers use it: model files, .npz and safetensors.
#[cfg(any(feature = "serde", feature = "npz", feature = "safetensors"))]
mod atomic_write;
mod avg_pool;
mod batch;
mod batch_norm;
mod batch_parts;
mod classifier;
mod committee;
#[cfg(feature = "serde")]
mod committee_file;
mod conv;
mod conv_one_channel;
mod conv_one_channel_gradient;
mod conv_params;
mod conv_pool;
mod conv_sparse;
mod conv_then_pool;
mod dense;
mod dropout;
mod error;
mod evaluation;
mod flatten;
mod global_avg_pool;
mod gradients;
mod im2col;
mod inference;
mod init;
mod inside;
mod layer;
mod layer_spec;
mod layout;
mod loss;
mod map_in_place;
mod max_positions;
mod memory;
mod mode;
mod model;
#[cfg(feature = "serde")]
mod model_file;
#[cfg(feature = "serde")]
mod model_file_error;
#[cfg(feature = "serde")]
mod model_file_schema;
#[cfg(feature = "serde")]
mod training_record;
// The format document ships in the crate, so docs.rs shows it whole.
#[cfg(feature = "serde")]
#[doc = include_str!("../docs/model-format.md")]
pub mod model_format {}
mod named_architectures;
// How named arrays in Saitō's layout become a network, for the .npz and the pickle readers.
#[cfg(any(feature = "npz", feature = "pickle"))]
mod named_arrays;
mod network;
mod nonzero_inputs;
#[cfg(feature = "npz")]
mod npz;
#[cfg(any(feature = "npz", feature = "pickle"))]
mod npz_error;
mod outer_products;
#[cfg(feature = "pickle")]
mod pickle;
mod pool;
mod pool_window;
mod pooled_pairs;
mod predictions;
mod products;
#[cfg(feature = "safetensors")]
mod safetensors;
#[cfg(feature = "safetensors")]
mod safetensors_error;
mod shape;
mod sigmoid;
pub mod softmax;
mod sparse_affine;
mod sparse_from_pool;
mod standardization;
mod summary;
mod tanh;
#[cfg(test)]
mod test_cases;
mod training_pass;
mod training_step;
mod transpose;
mod vector_slices;
mod weights_format;
mod winograd;
mod winograd_products;
mod winograd_sandwiches;
mod winograd_transforms;
mod workspace;

/// The nalgebra this crate is built with: its `DMatrix` holds parameters and batch outputs in
/// this API ([`Network::parameters`], [`Network::predict_batch`], [`Dense::new`], ...). Name its
/// types as `nn_core::nalgebra::DMatrix` to need no version of your own that must match.
pub use nalgebra;
/// The rand this crate is built with: its `Rng` trait draws initial parameters in
/// [`Init::draw`] and [`LayerSpec::build`], from any generator implementing
/// `nn_core::rand::RngCore` (such as `rand_chacha` 0.9's). The constructors that take a plain
/// `u64` seed ([`Network::dense`], [`Architecture::build`], [`Dense::random`],
/// [`Conv2d::random`]) need none.
pub use rand;

#[cfg(feature = "safetensors")]
pub use self::safetensors::{
    STANDARDIZATION_TENSORS, export_safetensors, import_safetensors, network_from_safetensors_bytes,
    network_to_safetensors_bytes, pytorch_state_dict_names,
};
pub use activation::{Activation, DEFAULT_LEAKY_SLOPE, ParseActivationError};
pub use activation_layer::ActivationLayer;
pub use architecture::Architecture;
pub use architecture_text::{MNIST_INPUT, ParseArchitectureError};
pub use avg_pool::AvgPool2d;
pub use batch_norm::{BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, BatchNorm, RunningStatistics};
pub use classifier::Classifier;
pub use committee::{Committee, MAX_COMMITTEE_MEMBERS};
#[cfg(feature = "serde")]
pub use committee_file::{
    COMMITTEE_FORMAT, COMMITTEE_VERSION, committee_from_json, committee_to_json, load_any_model, load_committee,
    save_committee,
};
pub use conv::Conv2d;
pub use conv_params::Conv2dParams;
pub use dense::Dense;
pub use dropout::Dropout;
pub use error::NnError;
pub use evaluation::Evaluation;
pub use flatten::Flatten;
pub use global_avg_pool::GlobalAvgPool;
pub use gradients::Gradients;
pub use init::{BiasInit, Init, ParseInitError, WeightInit};
pub use inside::Inside;
pub use layer::Layer;
pub use layer_spec::{LayerSpec, ParameterShape};
pub use layout::Layout;
pub use loss::{Loss, ParseLossError, Targets};
pub use max_positions::MaxPositions;
pub use memory::{MemoryUse, human_bytes};
pub use mode::{Mode, mix_seed};
pub use model::Model;
#[cfg(feature = "serde")]
pub use model_file::{
    MODEL_FORMAT, MODEL_VERSION, load_model, load_model_and_record, model_and_record_from_json, model_from_json,
    model_to_json, save_model, save_trained_model, trained_model_to_json,
};
#[cfg(feature = "serde")]
pub use model_file_error::ModelFileError;
pub use named_architectures::NAMED_ARCHITECTURES;
pub use network::Network;
#[cfg(feature = "npz")]
pub use npz::{
    NpyHeaderError, export_npz, import_npz, import_npz_with_architecture, network_from_npz_bytes,
    network_from_npz_bytes_with_architecture, network_to_npz_bytes, read_npy_header,
};
#[cfg(any(feature = "npz", feature = "pickle"))]
pub use npz_error::NpzError;
#[cfg(feature = "pickle")]
pub use pickle::{
    PickleError, import_pickle, import_pickle_with_architecture, network_from_pickle_bytes,
    network_from_pickle_bytes_with_architecture,
};
pub use pool::MaxPool2d;
pub use pooled_pairs::PooledPair;
pub use predictions::Predictions;
#[cfg(feature = "safetensors")]
pub use safetensors_error::SafetensorsError;
pub use shape::{MAX_SAMPLE_VALUES, Shape};
pub use sigmoid::sigmoid;
pub use standardization::{CONSTANT_FEATURE, Standardization};
pub use summary::{Summary, SummaryRow};
#[cfg(feature = "serde")]
pub use training_record::TrainingRecord;
pub use weights_format::WeightsFormat;
pub use workspace::Workspace;
