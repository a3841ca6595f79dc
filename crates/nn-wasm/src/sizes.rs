//! The sizes the module works with: a digit model's inputs and outputs, and the bounds on what
//! the page may hand it.

use mnist_data::prepare::FIELD;

/// Inputs of a digit model: a 28x28 image.
pub const PIXELS: usize = FIELD * FIELD;

/// Outputs of a digit model.
pub const DIGITS: usize = 10;

/// Bytes the page may hand over at once (a model file): 256 MB, a network of some 20 million
/// parameters as JSON. Parsing takes a few times that, within the 4 GB a wasm32 memory can hold.
pub const MAX_INPUT_BYTES: usize = 256 << 20;

/// Pixels a picture may declare in its header, as `nn-serve`'s default limit
/// (`Config::max_image_pixels`): refused before it is decoded.
pub const MAX_IMAGE_PIXELS: u64 = 16_000_000;
