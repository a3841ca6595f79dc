//! The sizes of a 2-D convolution, and every size computed from them: its output, a patch, the
//! kernel in PyTorch's and Saitō's order.

use nalgebra::DMatrix;

use crate::{MAX_SAMPLE_VALUES, NnError, Shape};

/// The sizes of a convolution, and every size computed from them, in one place.
///
/// Output height `(H + 2·padding − kh) / stride + 1` (rounded down), and likewise for the width,
/// as in PyTorch's `Conv2d` and Saitō's `Convolution`.
///
/// ```
/// use nn_core::{Conv2dParams, Shape};
/// let params = Conv2dParams::new(Shape::new(1, 28, 28), 16, (3, 3), 1, 1)?;
/// assert_eq!(params.output_shape(), Shape::new(16, 28, 28));
/// assert_eq!(params.patch_len(), 9);
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// The shape of one input image.
    pub input: Shape,
    /// Output channels (filters).
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Step between two patches, in both directions.
    pub stride: usize,
    /// Zeros added on every side.
    pub padding: usize,
}

impl Conv2dParams {
    /// Checks that the sizes make a convolution: at least one filter and one input value, a
    /// stride of at least 1, a kernel that fits in the padded input, and sizes within
    /// [`MAX_SAMPLE_VALUES`].
    pub fn new(
        input: Shape,
        filters: usize,
        kernel: (usize, usize),
        stride: usize,
        padding: usize,
    ) -> Result<Self, NnError> {
        Conv2dParams::new_at(input, filters, kernel, stride, padding, 0)
    }

    /// [`Conv2dParams::new`] for the layer at position `index` of a network, which its errors
    /// name.
    pub(crate) fn new_at(
        input: Shape,
        filters: usize,
        kernel: (usize, usize),
        stride: usize,
        padding: usize,
        index: usize,
    ) -> Result<Self, NnError> {
        let invalid = |detail: String| NnError::InvalidLayer { layer: index, kind: "conv", detail };
        if filters == 0 || kernel.0 == 0 || kernel.1 == 0 || stride == 0 {
            return Err(invalid(format!(
                "filters ({filters}), kernel ({}x{}) and stride ({stride}) must all be at least 1",
                kernel.0, kernel.1
            )));
        }
        if !input.is_allowed() {
            return Err(invalid(format!("its input {input} is empty or larger than {MAX_SAMPLE_VALUES} values")));
        }
        let padded = |size: usize| size.checked_add(padding.checked_mul(2)?);
        let (Some(height), Some(width)) = (padded(input.height), padded(input.width)) else {
            return Err(invalid(format!("padding {padding} is too large")));
        };
        if kernel.0 > height || kernel.1 > width {
            return Err(invalid(format!(
                "its {}x{} kernel does not fit in its {}x{} input padded by {padding}",
                kernel.0, kernel.1, input.height, input.width
            )));
        }
        let params = Conv2dParams { input, filters, kernel, stride, padding };
        let sizes = [params.output_shape().checked_len(), params.patch_len_checked()];
        if sizes.iter().any(|n| n.is_none_or(|n| n > MAX_SAMPLE_VALUES)) {
            return Err(invalid(format!("its output or its patches exceed {MAX_SAMPLE_VALUES} values per sample")));
        }
        Ok(params)
    }

    /// `filters × out_height × out_width`.
    pub fn output_shape(&self) -> Shape {
        let out = |size: usize, kernel: usize| (size + 2 * self.padding - kernel) / self.stride + 1;
        Shape::new(self.filters, out(self.input.height, self.kernel.0), out(self.input.width, self.kernel.1))
    }

    /// Values in one unfolded patch, `kh · kw · channels`: the columns of the weight matrix.
    pub fn patch_len(&self) -> usize {
        self.kernel.0 * self.kernel.1 * self.input.channels
    }

    fn patch_len_checked(&self) -> Option<usize> {
        self.kernel.0.checked_mul(self.kernel.1)?.checked_mul(self.input.channels)
    }

    /// Patches per image: the output's pixels.
    pub fn patches(&self) -> usize {
        let output = self.output_shape();
        output.height * output.width
    }

    /// The shape of a kernel in PyTorch's and Saitō's layout: `(filters, channels, kh, kw)`.
    pub fn channels_first_kernel_shape(&self) -> [usize; 4] {
        [self.filters, self.input.channels, self.kernel.0, self.kernel.1]
    }

    /// The `filters × patch_len` weight matrix of a kernel given in PyTorch's and Saitō's layout
    /// (`(filters, channels, kh, kw)` in C order), or `None` if it does not hold
    /// `filters · patch_len` values.
    pub fn weights_from_channels_first(&self, kernel: &[f32]) -> Option<DMatrix<f32>> {
        (kernel.len() == self.filters * self.patch_len()).then(|| {
            DMatrix::from_fn(self.filters, self.patch_len(), |o, column| kernel[self.channels_first_index(o, column)])
        })
    }

    /// Where weight `(filter, column)` of the weight matrix lies in a channels-first kernel: the
    /// column is `(ky · kw + kx) · channels + c`, the kernel index `((filter · C + c) · kh + ky) · kw + kx`.
    pub(crate) fn channels_first_index(&self, filter: usize, column: usize) -> usize {
        let (kh, kw, channels) = (self.kernel.0, self.kernel.1, self.input.channels);
        let (ky, kx, c) = (column / (kw * channels), column / channels % kw, column % channels);
        ((filter * channels + c) * kh + ky) * kw + kx
    }

    /// Whole images per chunk of `budget` unfolded values (at least one).
    pub(crate) fn images_per_chunk(&self, budget: usize) -> usize {
        (budget / (self.patch_len() * self.patches())).max(1)
    }
}
