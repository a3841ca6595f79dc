//! Max-pooling: the largest value of each window, channel by channel.

use std::any::Any;
use std::ops::Range;

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
            for lanes in channel_vectors(c, S::F32_LANES, true) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let mut maximum = load(simd, &self.input[at(pixels[0])]);
                for &pixel in &pixels[1..] {
                    maximum = simd.max_f32s(maximum, load(simd, &self.input[at(pixel)]));
                }
                store(simd, &mut self.output[at(out_pixel)], maximum);
            }
        });
    }
}

/// The channels of a pixel, one vector of `lanes` at a time. When their number is not a whole
/// number of vectors, the last vector is either partial, or, with `overlap` and at least one
/// whole vector of channels, a whole vector ending at the last channel, overlapping the one
/// before: each lane computes its own channel, so the channels computed twice get the same
/// value twice, and whole loads and stores are much cheaper than masked ones (pulp calls a
/// function for each of those).
#[inline(always)]
fn channel_vectors(channels: usize, lanes: usize, overlap: bool) -> impl Iterator<Item = Range<usize>> {
    let last = if overlap && channels >= lanes { channels - lanes } else { usize::MAX };
    (0..channels).step_by(lanes).map(move |start| {
        let start = start.min(last);
        start..(start + lanes).min(channels)
    })
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
        let pool = self.pool;
        // Windows that do not overlap give each input pixel at most one gradient: it is written
        // rather than added, and only pixels outside every window need zeros first.
        let apart = pool.stride >= pool.window;
        let tiled = pool.stride == pool.window
            && (pool.input.height - pool.window).is_multiple_of(pool.stride)
            && (pool.input.width - pool.window).is_multiple_of(pool.stride);
        if !tiled {
            self.input_grad.fill(0.0);
        }
        let c = pool.input.channels;
        let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
        pool.windows(self.batch, |out_pixel, pixels| {
            for lanes in channel_vectors(c, S::F32_LANES, apart) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let (maxima, deltas) =
                    (load(simd, &self.output[at(out_pixel)]), load(simd, &self.output_grad[at(out_pixel)]));
                // 1 for a channel whose gradient has not found its maximum yet, 0 after:
                // branch-free, so whole vectors of channels go together.
                let mut pending = one;
                for &pixel in pixels {
                    let is_maximum = simd.equal_f32s(load(simd, &self.input[at(pixel)]), maxima);
                    let take = simd.select_f32s(is_maximum, pending, zero);
                    let grads = &mut self.input_grad[at(pixel)];
                    // take·δ + 0 when written, as when added to the zeros of a filled gradient.
                    let before = if apart { zero } else { load(simd, grads) };
                    store(simd, grads, simd.mul_add_e_f32s(take, deltas, before));
                    pending = simd.sub_f32s(pending, take);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forward and backward one value at a time, channels last: the maximum of each window,
    /// and each output's gradient added to the first input pixel (row by row) holding it.
    fn reference(pool: &MaxPool2d, input: &[f32], output_grad: &[f32], batch: usize) -> (Vec<f32>, Vec<f32>) {
        let (c, h, w) = (pool.input.channels, pool.input.height, pool.input.width);
        let out = pool.output_shape();
        let mut output = vec![0.0; batch * out.len()];
        let mut input_grad = vec![0.0f32; input.len()];
        for (image, oy, ox, channel) in (0..batch).flat_map(|i| {
            (0..out.height).flat_map(move |oy| (0..out.width).flat_map(move |ox| (0..c).map(move |ch| (i, oy, ox, ch))))
        }) {
            let pixels: Vec<usize> = (0..pool.window * pool.window)
                .map(|k| {
                    ((image * h + oy * pool.stride + k / pool.window) * w + ox * pool.stride + k % pool.window) * c
                        + channel
                })
                .collect();
            let maximum = pixels.iter().map(|&p| input[p]).fold(f32::NEG_INFINITY, f32::max);
            let at = ((image * out.height + oy) * out.width + ox) * c + channel;
            output[at] = maximum;
            let first = pixels.iter().find(|&&p| input[p] == maximum).unwrap();
            input_grad[*first] += output_grad[at];
        }
        (output, input_grad)
    }

    #[test]
    fn every_channel_count_and_window_gives_the_bits_of_the_definition() {
        // Channel counts around the vector widths (4, 8, 16 lanes); windows that tile the
        // image, leave an edge out, overlap, or leave gaps.
        for channels in [1, 3, 8, 15, 16, 17, 30, 33] {
            for (height, width, window, stride) in
                [(4, 6, 2, 2), (5, 7, 2, 2), (6, 5, 3, 2), (7, 7, 2, 3), (6, 6, 3, 3)]
            {
                let pool = MaxPool2d::new(Shape::new(channels, height, width), window, stride, 0).unwrap();
                let batch = 2;
                // Values on a coarse grid, so that windows often hold their maximum twice.
                let input: Vec<f32> =
                    (0..batch * pool.input.len()).map(|i| ((i * 7919 % 13) as f32 - 6.0) * 0.5).collect();
                let out_len = batch * pool.output_shape().len();
                let output_grad: Vec<f32> = (0..out_len).map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0).collect();
                let (expected_output, expected_grad) = reference(&pool, &input, &output_grad, batch);
                let mut output = vec![f32::NAN; out_len];
                pool.forward(&input, batch, &mut output, Mode::Inference);
                let mut input_grad = vec![f32::NAN; input.len()];
                let mut grad = output_grad.clone();
                pool.backward(&input, &output, batch, &mut grad, Some(&mut input_grad), &mut [], Mode::Inference);
                let case = format!("{channels} channels, {height}x{width}, window {window}, stride {stride}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&output), bits(&expected_output), "forward, {case}");
                assert_eq!(bits(&input_grad), bits(&expected_grad), "backward, {case}");
            }
        }
    }
}
