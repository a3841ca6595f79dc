//! The shape of one sample's values as they flow between layers: channels × height × width.

use std::fmt;

/// Most values one sample may hold between two layers (256 MB of `f32`): a bound on what a
/// description or a file can make a network allocate.
pub const MAX_SAMPLE_VALUES: usize = 1 << 26;

/// The shape of one sample between two layers: `channels × height × width`; a flat vector of
/// `n` values is `n × 1 × 1`.
///
/// Inside a network, an image-shaped sample is stored *channels last*: pixel `(y, x)` holds its
/// `channels` values side by side, at `(y · width + x) · channels`. That is the layout in which
/// a convolution is one matrix product on unfolded patches (see `conv.rs`) and max-pooling works
/// on whole vectors of channels. [`Flatten`](crate::Flatten) turns it into the channels-first
/// order of PyTorch and NumPy (`C, H, W`), so the dense layers after it read their inputs in
/// the order the books use. With one channel the two orders are the same.
///
/// ```
/// use nn_core::Shape;
/// let shape = Shape::new(16, 28, 28);
/// assert_eq!(shape.len(), 12_544);
/// assert_eq!(shape.to_string(), "16x28x28");
/// assert_eq!(Shape::flat(10).to_string(), "10");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Shape {
    /// Values per pixel (feature maps).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl Shape {
    /// `channels × height × width`.
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Shape { channels, height, width }
    }

    /// A flat vector of `values` values (`values × 1 × 1`).
    pub const fn flat(values: usize) -> Self {
        Shape { channels: values, height: 1, width: 1 }
    }

    /// Values per sample, or `None` if the product overflows.
    pub fn checked_len(&self) -> Option<usize> {
        self.channels.checked_mul(self.height)?.checked_mul(self.width)
    }

    /// Whether a sample of this shape holds at least one value and at most [`MAX_SAMPLE_VALUES`]
    /// (without overflowing): what every layer, model file and checkpoint requires of its shapes.
    pub fn is_allowed(&self) -> bool {
        self.checked_len().is_some_and(|n| n > 0 && n <= MAX_SAMPLE_VALUES)
    }

    /// Values per sample. Shapes built by layers never overflow (their constructors check).
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the shape holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a flat vector (`n × 1 × 1`).
    pub fn is_flat(&self) -> bool {
        self.height == 1 && self.width == 1
    }

    /// Whether values stored channels last are already in channels-first order (one channel, or
    /// one pixel), so that a dense layer may read them without a [`Flatten`](crate::Flatten).
    pub fn is_channels_first_too(&self) -> bool {
        self.channels == 1 || self.is_flat()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_flat() {
            write!(f, "{}", self.channels)
        } else {
            write!(f, "{}x{}x{}", self.channels, self.height, self.width)
        }
    }
}

/// The number of samples in `values`, runs of `size` values; refuses a size of 0 and a length
/// that is not a whole number of samples.
pub(crate) fn samples_in(values: &[f32], size: usize) -> Result<usize, crate::NnError> {
    if size == 0 {
        return Err(crate::NnError::EmptySample);
    }
    if !values.len().is_multiple_of(size) {
        return Err(crate::NnError::RaggedInput { len: values.len(), features: size });
    }
    Ok(values.len() / size)
}
