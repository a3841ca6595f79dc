//! # mnist-data
//!
//! Reads MNIST-style data sets: the IDX file format (raw or gzip-compressed, told apart by
//! content), the four standard files of a data directory, and the conversions a training
//! program needs (floats in [0, 1], flat or 1x28x28 images, labels as indices or one-hot, a
//! train/validation split, seeded shuffling).
//!
//! What it is not for: downloading, or neural networks (`nn-core` knows nothing of this crate;
//! the feature `formats` borrows only its bounded `.npy` header reader, so that the workspace
//! has one). The four MNIST files ([`FILE_NAMES`], each raw or `.gz`) are published on several
//! mirrors, such as <https://ossci-datasets.s3.amazonaws.com/mnist/>; put them in one
//! directory. (In the nn-mnist workspace, `cargo xtask fetch-data` downloads them into
//! `data/mnist/` and checks their SHA-256.)
//!
//! It trusts no input. A header is checked against the bytes really present before anything
//! is allocated, a gzip stream is never inflated past what its header declares, and every
//! problem is a typed error ([`IdxError`], [`DataError`]), never a panic.
//!
//! On request ([`LoadOptions::cached`]), loading keeps a validated, decompressed cache beside
//! gzip files, so the second load of all 70,000 MNIST images takes milliseconds rather than the
//! time gzip needs. By default nothing is written.
//!
//! ```
//! use mnist_data::{ArrayFormat, Dataset, Labels};
//!
//! // Two 2x2 images with labels 1 and 0, as a training set of 2 classes.
//! let set = Dataset::new(vec![0, 255, 0, 255, 255, 0, 0, 0], 2, 2, vec![1, 0], 2)?;
//! let (x, t) = set.to_arrays(ArrayFormat { normalize: true, flatten: true, one_hot_label: true });
//! assert_eq!(x.shape, [2, 4]);
//! assert_eq!(x.data[1], 1.0);
//! assert_eq!(t, Labels::OneHot(mnist_data::Array { shape: vec![2, 2], data: vec![0.0, 1.0, 1.0, 0.0] }));
//! # Ok::<(), mnist_data::DataError>(())
//! ```
//!
//! With the four files in a directory, `Mnist::load("data/mnist")` reads them all.
//!
//! With the feature `images`, [`image_file`] reads a photo, scan or drawing of a digit
//! (bounded in size and memory) and [`prepare`] makes it an MNIST input the way MNIST itself was
//! made (inverted if dark on light, cropped, scaled to 20 pixels, centred by mass in 28x28):
//! `mnist_data::image_file::prepare_file("seven.jpg")?.input()`.
//!
//! With the feature `formats`, [`formats`] reads and writes the other forms MNIST is shared
//! in, a Keras-style `.npz` and a folder of PNG images, tells them apart
//! (`formats::load("mnist.npz", LoadOptions::default())`), and converts between them.

#![forbid(unsafe_code)]
// Every panic a caller could reach is documented; the ones that cannot happen say why.
#![warn(clippy::missing_panics_doc)]
#![deny(missing_docs)]

// The README's examples are compiled and run as doctests, so the registry page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod atomic_write;
pub mod cache;
#[cfg(feature = "images")]
mod centring;
mod convert;
mod dataset;
mod dir;
mod error;
mod fingerprint;
#[cfg(feature = "formats")]
pub mod formats;
#[cfg(feature = "images")]
mod grey;
pub mod idx;
#[cfg(feature = "images")]
pub mod image_file;
#[cfg(feature = "images")]
mod ink;
#[cfg(feature = "images")]
pub mod prepare;
#[cfg(feature = "images")]
mod prepare_error;
mod split;

pub use convert::{Array, ArrayFormat, Labels, one_hot, pixels_to_f32};
pub use dataset::{Dataset, Image};
pub use dir::{
    FILE_NAMES, LoadOptions, Mnist, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, find_file, read_idx_file,
    read_idx_file_with,
};
pub use error::{DataError, IdxError};
pub use fingerprint::fingerprint;
pub use idx::IdxArray;
pub use split::{DEFAULT_VALIDATION_SIZE, shuffled_indices};
