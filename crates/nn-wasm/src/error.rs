//! [`EngineError`]: why the module could not do what the page asked, in words the page shows.

use nn_core::ModelFileError;

use mnist_data::image_file::ImageFileError;

use crate::sizes::{MAX_IMAGE_PIXELS, MAX_INPUT_BYTES};

/// Why the module could not do what the page asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The page asked for a buffer larger than [`MAX_INPUT_BYTES`], or memory ran out.
    #[error("{bytes} bytes do not fit in the page's memory (at most {MAX_INPUT_BYTES})")]
    TooLarge {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The model file could not be read.
    #[error("{0}")]
    Model(Box<ModelFileError>),
    /// The model is not one that reads 28x28 images and gives ten probabilities.
    #[error("not a digit model: {0}")]
    NotADigitModel(String),
    /// A prediction was asked for before a model was loaded.
    #[error("no model is loaded")]
    NoModel,
    /// The pixels are not 784 numbers in 0..1.
    #[error("{0}")]
    Pixels(String),
    /// The picture cannot be read or holds no digit.
    #[error("{0}")]
    Image(Box<ImageFileError>),
    /// The picture declares more than [`MAX_IMAGE_PIXELS`].
    #[error("image is {width}x{height} pixels; the page takes at most {MAX_IMAGE_PIXELS} pixels")]
    ImageTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The network failed on this input.
    #[error("the model failed: {0}")]
    Network(#[from] nn_core::NnError),
    /// The panel's training options cannot be trained.
    #[error("cannot train so: {0}")]
    Options(String),
    /// A file of the data set is not whole, or the set cannot be trained on.
    #[error("the data set: {0}")]
    Data(String),
    /// Training stopped on an error (a loss that diverged, ...).
    #[error("training stopped: {0}")]
    Train(String),
    /// A training step, evaluation or file was asked for before a training began.
    #[error("no training has begun")]
    NoTraining,
}

// Boxed: the errors of files are large, and every call returns a `Result`.
impl From<ModelFileError> for EngineError {
    fn from(error: ModelFileError) -> Self {
        EngineError::Model(Box::new(error))
    }
}

impl From<ImageFileError> for EngineError {
    fn from(error: ImageFileError) -> Self {
        EngineError::Image(Box::new(error))
    }
}
