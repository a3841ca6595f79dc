//! Max-pooling: the largest value of each window, channel by channel.

use std::any::Any;

use nalgebra::DMatrix;
use pulp::{Simd, WithSimd};

use crate::affine::{load, store};

use crate::{Layer, LayerSpec, Mode, NnError, Shape};

/// Max-pooling over `window × window` squares, `stride` apart (no padding; a partial window at
/// the edge is dropped, as in PyTorch's `MaxPool2d` and Saitō's `Pooling`): output height
/// `(H − window) / stride + 1`.
///
/// Images are stored channels last, so each step compares whole vectors of channels.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPool2d {
    input: Shape,
    window: usize,
    stride: usize,
}

impl MaxPool2d {
    /// Pooling of `input` by `window`, `stride` apart; `index` is its position, for messages.
    pub fn new(input: Shape, window: usize, stride: usize, index: usize) -> Result<Self, NnError> {
        let invalid = |detail: String| NnError::InvalidLayer { layer: index, kind: "maxpool", detail };
        if window == 0 || stride == 0 {
            return Err(invalid(format!("window ({window}) and stride ({stride}) must be at least 1")));
        }
        if !input.is_allowed() {
            return Err(invalid(format!("its input {input} is empty or too large")));
        }
        if window > input.height || window > input.width {
            return Err(invalid(format!(
                "its {window}x{window} window does not fit in its {}x{} input",
                input.height, input.width
            )));
        }
        Ok(MaxPool2d { input, window, stride })
    }

    /// The side of the pooling window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The step between two windows.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// `visit(output pixel, input pixels of its window)` for each output pixel of each image, in
    /// order; pixels are indices of whole pixels (channels last), the window scanned row by row.
    #[inline(always)]
    fn windows(&self, batch: usize, mut visit: impl FnMut(usize, &[usize])) {
        let out = self.output_shape();
        let (height, width) = (self.input.height, self.input.width);
        let mut window = vec![0; self.window * self.window];
        let mut out_pixel = 0;
        for image in 0..batch {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let top_left = image * height * width + oy * self.stride * width + ox * self.stride;
                    for (i, pixel) in window.iter_mut().enumerate() {
                        *pixel = top_left + (i / self.window) * width + i % self.window;
                    }
                    visit(out_pixel, &window);
                    out_pixel += 1;
                }
            }
        }
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "maxpool"
    }

    fn input_shape(&self) -> Shape {
        self.input
    }

    fn output_shape(&self) -> Shape {
        let out = |size: usize| (size - self.window) / self.stride + 1;
        Shape::new(self.input.channels, out(self.input.height), out(self.input.width))
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::MaxPool { window: self.window, stride: self.stride }
    }

    fn describe(&self) -> String {
        if self.stride == self.window {
            format!("{0}x{0}", self.window)
        } else {
            format!("{0}x{0} stride {1}", self.window, self.stride)
        }
    }

    /// `a[c] = max over the window of x[c]`, the window scanned row by row.
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], _mode: Mode) {
        pulp::Arch::new().dispatch(Forward { pool: self, input, batch, output });
    }

    /// The gradient of each output goes to the first input of its window that holds the maximum.
    fn backward(
        &self,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        _gradients: &mut [DMatrix<f32>],
        _mode: Mode,
    ) {
        let Some(input_grad) = input_grad else { return };
        pulp::Arch::new().dispatch(Backward { pool: self, input, output, batch, output_grad, input_grad });
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The forward pass, compiled by `pulp` for the processor's widest vectors: the loops over a
/// pixel's channels vectorise.
struct Forward<'a> {
    pool: &'a MaxPool2d,
    input: &'a [f32],
    batch: usize,
    output: &'a mut [f32],
}

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let c = self.pool.input.channels;
        self.pool.windows(self.batch, |out_pixel, pixels| {
            for start in (0..c).step_by(S::F32_LANES) {
                let lanes = |pixel: usize| pixel * c + start..pixel * c + (start + S::F32_LANES).min(c);
                let mut maximum = load(simd, &self.input[lanes(pixels[0])]);
                for &pixel in &pixels[1..] {
                    maximum = simd.max_f32s(maximum, load(simd, &self.input[lanes(pixel)]));
                }
                store(simd, &mut self.output[lanes(out_pixel)], maximum);
            }
        });
    }
}

/// The backward pass, compiled as [`Forward`] is.
struct Backward<'a> {
    pool: &'a MaxPool2d,
    input: &'a [f32],
    output: &'a [f32],
    batch: usize,
    output_grad: &'a [f32],
    input_grad: &'a mut [f32],
}

impl WithSimd for Backward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        self.input_grad.fill(0.0);
        let c = self.pool.input.channels;
        let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
        self.pool.windows(self.batch, |out_pixel, pixels| {
            for start in (0..c).step_by(S::F32_LANES) {
                let lanes = |pixel: usize| pixel * c + start..pixel * c + (start + S::F32_LANES).min(c);
                let (maxima, deltas) =
                    (load(simd, &self.output[lanes(out_pixel)]), load(simd, &self.output_grad[lanes(out_pixel)]));
                // 1 for a channel whose gradient has not found its maximum yet, 0 after:
                // branch-free, so whole vectors of channels go together.
                let mut pending = one;
                for &pixel in pixels {
                    let is_maximum = simd.equal_f32s(load(simd, &self.input[lanes(pixel)]), maxima);
                    let take = simd.select_f32s(is_maximum, pending, zero);
                    let grads = &mut self.input_grad[lanes(pixel)];
                    store(simd, grads, simd.mul_add_e_f32s(take, deltas, load(simd, grads)));
                    pending = simd.sub_f32s(pending, take);
                }
            }
        });
    }
}
