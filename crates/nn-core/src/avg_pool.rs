//! Average pooling: the mean of each window, channel by channel.

use std::any::Any;

use nalgebra::DMatrix;
use pulp::{Simd, WithSimd};

use crate::pool_window::{PoolWindows, channel_vectors};
use crate::vector_slices::{load, store};
use crate::{Layer, LayerSpec, Mode, NnError, Shape};

/// Average pooling over `window × window` squares, `stride` apart: PyTorch's
/// `AvgPool2d(kernel_size=window, stride=stride)` (no padding; a partial window at the edge is
/// dropped, as max-pooling drops it): output height `(H − window) / stride + 1`. Every window
/// holds `window²` values, so each is divided by that.
///
/// Images are stored channels last, so each step adds whole vectors of channels.
#[derive(Debug, Clone, PartialEq)]
pub struct AvgPool2d {
    windows: PoolWindows,
}

impl AvgPool2d {
    /// Pooling of `input` by `window`, `stride` apart.
    pub fn new(input: Shape, window: usize, stride: usize) -> Result<Self, NnError> {
        AvgPool2d::new_at(input, window, stride, 0)
    }

    /// [`AvgPool2d::new`] for the layer at position `index` of a network, which its errors name.
    pub(crate) fn new_at(input: Shape, window: usize, stride: usize, index: usize) -> Result<Self, NnError> {
        Ok(AvgPool2d { windows: PoolWindows::new(input, window, stride, index, "avgpool")? })
    }

    /// The side of the pooling window.
    pub fn window(&self) -> usize {
        self.windows.window
    }

    /// The step between two windows.
    pub fn stride(&self) -> usize {
        self.windows.stride
    }

    /// Values in a window, as the divisor.
    fn count(&self) -> f32 {
        (self.windows.window * self.windows.window) as f32
    }
}

impl Layer for AvgPool2d {
    fn kind(&self) -> &'static str {
        "avgpool"
    }

    fn input_shape(&self) -> Shape {
        self.windows.input
    }

    fn output_shape(&self) -> Shape {
        self.windows.output_shape()
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::AvgPool { window: self.window(), stride: self.stride() }
    }

    fn describe(&self) -> String {
        self.windows.describe()
    }

    /// `a[c] = (Σ over the window of x[c]) / window²`, summed row by row, then divided.
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], _mode: Mode) {
        pulp::Arch::new().dispatch(Forward { pool: self, input, batch, output });
    }

    /// `∂C/∂x[c] = Σ over the windows holding x of ∂C/∂a[c] / window²`, windows in order.
    fn backward(
        &self,
        _input: &[f32],
        _output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        _gradients: &mut [DMatrix<f32>],
        _mode: Mode,
    ) {
        let Some(input_grad) = input_grad else { return };
        pulp::Arch::new().dispatch(Backward { pool: self, batch, output_grad, input_grad });
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The forward pass, compiled by `pulp` for the processor's widest vectors: the loops over a
/// pixel's channels vectorise, and each lane sums its own channel in the same order whatever
/// the vector width, so the bits do not depend on the processor.
struct Forward<'a> {
    pool: &'a AvgPool2d,
    input: &'a [f32],
    batch: usize,
    output: &'a mut [f32],
}

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let c = self.pool.windows.input.channels;
        let count = simd.splat_f32s(self.pool.count());
        self.pool.windows.for_each(self.batch, |out_pixel, pixels| {
            for lanes in channel_vectors(c, S::F32_LANES, true) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let mut sum = load(simd, &self.input[at(pixels[0])]);
                for &pixel in &pixels[1..] {
                    sum = simd.add_f32s(sum, load(simd, &self.input[at(pixel)]));
                }
                store(simd, &mut self.output[at(out_pixel)], simd.div_f32s(sum, count));
            }
        });
    }
}

/// The backward pass, compiled as [`Forward`] is.
struct Backward<'a> {
    pool: &'a AvgPool2d,
    batch: usize,
    output_grad: &'a [f32],
    input_grad: &'a mut [f32],
}

impl WithSimd for Backward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let windows = &self.pool.windows;
        // Windows that do not overlap give each input pixel at most one share: it is written
        // rather than added, and only pixels outside every window need zeros first.
        let apart = windows.apart();
        if !windows.tiled() {
            self.input_grad.fill(0.0);
        }
        let c = windows.input.channels;
        let count = simd.splat_f32s(self.pool.count());
        windows.for_each(self.batch, |out_pixel, pixels| {
            for lanes in channel_vectors(c, S::F32_LANES, apart) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let share = simd.div_f32s(load(simd, &self.output_grad[at(out_pixel)]), count);
                for &pixel in pixels {
                    let grads = &mut self.input_grad[at(pixel)];
                    let total = if apart { share } else { simd.add_f32s(load(simd, grads), share) };
                    store(simd, grads, total);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(input: Shape, window: usize, stride: usize) -> AvgPool2d {
        AvgPool2d::new_at(input, window, stride, 0).unwrap()
    }

    /// Outputs and input gradients of `batch` samples, starting from NaN so that a value left
    /// unwritten shows.
    fn run(pool: &AvgPool2d, input: &[f32], output_grad: &[f32], batch: usize) -> (Vec<f32>, Vec<f32>) {
        let mut output = vec![f32::NAN; batch * pool.output_size()];
        pool.forward(input, batch, &mut output, Mode::Inference);
        let mut input_grad = vec![f32::NAN; input.len()];
        let mut grad = output_grad.to_vec();
        pool.backward(input, &output, batch, &mut grad, Some(&mut input_grad), &mut [], Mode::Inference);
        (output, input_grad)
    }

    #[test]
    fn a_window_left_at_the_edge_is_dropped() {
        // One channel, 3x5, rows 0..5, 10..15, 20..25: 2x2 windows fit at columns 0 and 2, and
        // row 2 and column 4 lie in none.
        let input: Vec<f32> = (0..3).flat_map(|y| (0..5).map(move |x| (10 * y + x) as f32)).collect();
        let pool = pool(Shape::new(1, 3, 5), 2, 2);
        assert_eq!(pool.output_shape(), Shape::new(1, 1, 2));
        let (output, input_grad) = run(&pool, &input, &[4.0, 8.0], 1);
        // (0 + 1 + 10 + 11) / 4 and (2 + 3 + 12 + 13) / 4.
        assert_eq!(output, [5.5, 7.5]);
        #[rustfmt::skip]
        let expected = [
            1.0, 1.0, 2.0, 2.0, 0.0,
            1.0, 1.0, 2.0, 2.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(input_grad, expected);
    }

    #[test]
    fn overlapping_windows_add_their_shares_channel_by_channel() {
        // Two channels, 3x3, 2x2 windows one apart: the centre lies in all four windows.
        // Channel 0 holds 1..=9 row by row, channel 1 holds ten times as much.
        let input: Vec<f32> = (1..=9).flat_map(|v| [v as f32, 10.0 * v as f32]).collect();
        let pool = pool(Shape::new(2, 3, 3), 2, 1);
        assert_eq!(pool.output_shape(), Shape::new(2, 2, 2));
        // Output gradients of 4 for channel 0, 8 for channel 1: shares of 1 and 2.
        let output_grad: Vec<f32> = (0..4).flat_map(|_| [4.0, 8.0]).collect();
        let (output, input_grad) = run(&pool, &input, &output_grad, 1);
        // (1 + 2 + 4 + 5) / 4 = 3, then 4, 6, 7; channel 1 ten times as much.
        assert_eq!(output, [3.0, 30.0, 4.0, 40.0, 6.0, 60.0, 7.0, 70.0]);
        let windows_holding = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0];
        let expected: Vec<f32> = windows_holding.iter().flat_map(|&n| [n, 2.0 * n]).collect();
        assert_eq!(input_grad, expected);
    }

    #[test]
    fn a_stride_past_the_window_leaves_gaps_of_zeros() {
        // 1 channel, 4x4, 1x1 windows 3 apart: the four corners, each its own average.
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let pool = pool(Shape::new(1, 4, 4), 1, 3);
        let (output, input_grad) = run(&pool, &input, &[1.0, 2.0, 3.0, 4.0], 1);
        assert_eq!(output, [0.0, 3.0, 12.0, 15.0]);
        let mut expected = [0.0; 16];
        (expected[0], expected[3], expected[12], expected[15]) = (1.0, 2.0, 3.0, 4.0);
        assert_eq!(input_grad, expected);
    }

    /// Forward and backward one value at a time, channels last, from the definition.
    fn reference(pool: &AvgPool2d, input: &[f32], output_grad: &[f32], batch: usize) -> (Vec<f32>, Vec<f32>) {
        let shape = pool.input_shape();
        let (c, h, w) = (shape.channels, shape.height, shape.width);
        let (window, stride) = (pool.window(), pool.stride());
        let out = pool.output_shape();
        let mut output = vec![0.0; batch * out.len()];
        let mut input_grad = vec![0.0f32; input.len()];
        for image in 0..batch {
            for (oy, ox, channel) in
                (0..out.height).flat_map(|oy| (0..out.width).flat_map(move |ox| (0..c).map(move |ch| (oy, ox, ch))))
            {
                let pixels: Vec<usize> = (0..window * window)
                    .map(|k| ((image * h + oy * stride + k / window) * w + ox * stride + k % window) * c + channel)
                    .collect();
                let at = ((image * out.height + oy) * out.width + ox) * c + channel;
                let sum = pixels[1..].iter().fold(input[pixels[0]], |sum, &p| sum + input[p]);
                output[at] = sum / (window * window) as f32;
                for &p in &pixels {
                    input_grad[p] += output_grad[at] / (window * window) as f32;
                }
            }
        }
        (output, input_grad)
    }

    #[test]
    fn every_channel_count_and_window_gives_the_bits_of_the_definition() {
        // Channel counts around the vector widths (4, 8, 16 lanes); windows that tile the
        // image, leave an edge out, overlap, or leave gaps.
        for channels in [1, 3, 8, 15, 16, 17, 30, 33] {
            for (height, width, window, stride) in
                [(4, 6, 2, 2), (5, 7, 2, 2), (6, 5, 3, 2), (7, 7, 2, 3), (6, 6, 3, 3), (5, 5, 3, 1)]
            {
                let pool = pool(Shape::new(channels, height, width), window, stride);
                let batch = 2;
                let input: Vec<f32> =
                    (0..batch * pool.input_size()).map(|i| ((i * 7919 % 13) as f32 - 6.0) * 0.37).collect();
                let out_len = batch * pool.output_size();
                let output_grad: Vec<f32> = (0..out_len).map(|i| ((i * 31 % 17) as f32 - 8.0) / 7.0).collect();
                let (expected_output, expected_grad) = reference(&pool, &input, &output_grad, batch);
                let (output, input_grad) = run(&pool, &input, &output_grad, batch);
                let case = format!("{channels} channels, {height}x{width}, window {window}, stride {stride}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&output), bits(&expected_output), "forward, {case}");
                assert_eq!(bits(&input_grad), bits(&expected_grad), "backward, {case}");
            }
        }
    }

    #[test]
    fn windows_that_do_not_fit_are_refused() {
        assert!(AvgPool2d::new_at(Shape::new(3, 4, 4), 5, 1, 2).unwrap_err().to_string().contains("5x5"));
        assert!(AvgPool2d::new_at(Shape::new(3, 4, 4), 2, 0, 2).is_err());
        assert!(AvgPool2d::new_at(Shape::new(3, 4, 4), 0, 1, 2).is_err());
    }
}
