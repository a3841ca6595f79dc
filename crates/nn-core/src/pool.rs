//! Max-pooling: the largest value of each window, channel by channel.

use std::any::Any;

use nalgebra::DMatrix;
use pulp::{Simd, WithSimd};

use crate::pool_window::{PoolWindows, channel_vectors};
use crate::vector_slices::{load, store};
use crate::{Layer, LayerSpec, Mode, NnError, Shape};

/// Max-pooling over `window × window` squares, `stride` apart (no padding; a partial window at
/// the edge is dropped, as in PyTorch's `MaxPool2d` and Saitō's `Pooling`): output height
/// `(H − window) / stride + 1`.
///
/// Images are stored channels last, so each step compares whole vectors of channels.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPool2d {
    windows: PoolWindows,
}

impl MaxPool2d {
    /// Pooling of `input` by `window`, `stride` apart.
    pub fn new(input: Shape, window: usize, stride: usize) -> Result<Self, NnError> {
        MaxPool2d::new_at(input, window, stride, 0)
    }

    /// [`MaxPool2d::new`] for the layer at position `index` of a network, which its errors name.
    pub(crate) fn new_at(input: Shape, window: usize, stride: usize, index: usize) -> Result<Self, NnError> {
        Ok(MaxPool2d { windows: PoolWindows::new(input, window, stride, index, "maxpool")? })
    }

    /// The side of the pooling window.
    pub fn window(&self) -> usize {
        self.windows.window
    }

    /// The step between two windows.
    pub fn stride(&self) -> usize {
        self.windows.stride
    }

    /// Where its windows lie.
    pub(crate) fn windows(&self) -> &PoolWindows {
        &self.windows
    }
}

impl Layer for MaxPool2d {
    fn kind(&self) -> &'static str {
        "maxpool"
    }

    fn input_shape(&self) -> Shape {
        self.windows.input
    }

    fn output_shape(&self) -> Shape {
        self.windows.output_shape()
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::MaxPool { window: self.window(), stride: self.stride() }
    }

    fn describe(&self) -> String {
        self.windows.describe()
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
        let (c, lanes) = (self.pool.windows.input.channels, S::F32_LANES);
        if c.is_multiple_of(lanes) {
            // Channels in whole vectors: each pixel's vectors read and written by index.
            let vectors = c / lanes;
            let (input, _) = S::as_simd_f32s(self.input);
            let (output, _) = S::as_mut_simd_f32s(self.output);
            self.pool.windows.for_each(self.batch, |out_pixel, pixels| {
                for v in 0..vectors {
                    output[out_pixel * vectors + v] = window_maximum(simd, pixels, |pixel| input[pixel * vectors + v]);
                }
            });
            return;
        }
        self.pool.windows.for_each(self.batch, |out_pixel, pixels| {
            for lanes in channel_vectors(c, lanes, true) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let maximum = window_maximum(simd, pixels, |pixel| load(simd, &self.input[at(pixel)]));
                store(simd, &mut self.output[at(out_pixel)], maximum);
            }
        });
    }
}

/// The maximum over the window's `pixels` (each one vector, `read(pixel)`), as `MaxPool2d`
/// takes it: the first pixel, then the others row by row. Shared with the pooling that notes
/// where the maxima lie (`max_positions.rs`), for the same bits.
#[inline(always)]
pub(crate) fn window_maximum<S: Simd>(simd: S, pixels: &[usize], read: impl Fn(usize) -> S::f32s) -> S::f32s {
    let mut maximum = read(pixels[0]);
    for &pixel in &pixels[1..] {
        maximum = simd.max_f32s(maximum, read(pixel));
    }
    maximum
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
        let windows = &self.pool.windows;
        // Windows that do not overlap give each input pixel at most one gradient: it is written
        // rather than added, and only pixels outside every window need zeros first.
        let apart = windows.apart();
        if !windows.tiled() {
            self.input_grad.fill(0.0);
        }
        let c = windows.input.channels;
        let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
        windows.for_each(self.batch, |out_pixel, pixels| {
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
        let (c, h, w) = (pool.windows.input.channels, pool.windows.input.height, pool.windows.input.width);
        let (window, stride) = (pool.window(), pool.stride());
        let out = pool.output_shape();
        let mut output = vec![0.0; batch * out.len()];
        let mut input_grad = vec![0.0f32; input.len()];
        for (image, oy, ox, channel) in (0..batch).flat_map(|i| {
            (0..out.height).flat_map(move |oy| (0..out.width).flat_map(move |ox| (0..c).map(move |ch| (i, oy, ox, ch))))
        }) {
            let pixels: Vec<usize> = (0..window * window)
                .map(|k| ((image * h + oy * stride + k / window) * w + ox * stride + k % window) * c + channel)
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
                let pool = MaxPool2d::new_at(Shape::new(channels, height, width), window, stride, 0).unwrap();
                let batch = 2;
                // Values on a coarse grid, so that windows often hold their maximum twice.
                let input: Vec<f32> =
                    (0..batch * pool.input_size()).map(|i| ((i * 7919 % 13) as f32 - 6.0) * 0.5).collect();
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
