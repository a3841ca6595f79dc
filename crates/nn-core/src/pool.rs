//! Max-pooling: the largest value of each window, channel by channel.

use std::any::Any;

use nalgebra::DMatrix;

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
        let c = self.input.channels;
        self.windows(batch, |out_pixel, pixels| {
            let out = &mut output[out_pixel * c..(out_pixel + 1) * c];
            out.fill(f32::NEG_INFINITY);
            for &pixel in pixels {
                out.iter_mut().zip(&input[pixel * c..(pixel + 1) * c]).for_each(|(m, &x)| *m = m.max(x));
            }
        });
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
        input_grad.fill(0.0);
        let c = self.input.channels;
        // 1 for a channel whose gradient has not found its maximum yet, 0 after: branch-free, so
        // the loops run over whole vectors of channels.
        let mut pending = vec![0.0_f32; c];
        self.windows(batch, |out_pixel, pixels| {
            let range = out_pixel * c..(out_pixel + 1) * c;
            let (maxima, deltas) = (&output[range.clone()], &output_grad[range]);
            pending.fill(1.0);
            for &pixel in pixels {
                let values = &input[pixel * c..(pixel + 1) * c];
                let grads = &mut input_grad[pixel * c..(pixel + 1) * c];
                for ((((g, p), &v), &m), &d) in
                    grads.iter_mut().zip(pending.iter_mut()).zip(values).zip(maxima).zip(deltas)
                {
                    let take = if v == m { *p } else { 0.0 };
                    *g += take * d;
                    *p -= take;
                }
            }
        });
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
