//! Where each window of a max-pooling held its maximum, kept by the forward pass so that the
//! backward pass need not read the pooling's input again.
//!
//! Max-pooling's backward pass gives each window's gradient `δ` to the first pixel (row by row)
//! equal to the window's maximum `m`; behind a ReLU convolution, that pixel's `δZ` is
//! `δ · f'(m)` and every other pixel's is zero. With the position of that pixel noted as the
//! maximum is taken, while the window is in registers, the convolution's `δZ` follows from the
//! pooled values alone (a quarter of the full-resolution tensor, for 2x2 windows) and the
//! convolution's output is not read back from memory. The first convolution's pass
//! (`conv_pool.rs`) and a Winograd convolution's (`conv_then_pool.rs`) both keep them.

use pulp::{Simd, WithSimd};

use crate::pool::window_maximum;
use crate::pool_window::{PoolWindows, channel_vectors};
use crate::products::add_bias_gradient;
use crate::vector_slices::{all_finite, load, store};

/// Which pixel of each window of a max-pooling held its maximum first (row by row), one value
/// per pooled value, for the backward pass of [`Network::first_layers_backward`](crate::Network::first_layers_backward).
#[derive(Debug, Clone, Default)]
pub struct MaxPositions {
    /// The position in the window (`dy · window + dx`) as a float, or the window's size when no
    /// pixel equals the maximum (a NaN).
    pub(crate) positions: Vec<f32>,
}

impl MaxPositions {
    /// The positions of `len` pooled values, as last written (grown with zeros).
    pub(crate) fn sized(&mut self, len: usize) -> &mut [f32] {
        if self.positions.len() < len {
            self.positions.resize(len, 0.0);
        }
        &mut self.positions[..len]
    }
}

/// What a max-pooling after a ReLU convolution gives its backward pass: its output, where each
/// maximum lies (as [`pool`] notes them) and its output gradient, one value each per pooled value
/// (or one vector each per vector of them).
#[derive(Clone, Copy)]
pub(crate) struct AfterPooling<'a, T = f32> {
    pub(crate) pooled: &'a [T],
    pub(crate) positions: &'a [T],
    pub(crate) pooled_grad: &'a [T],
}

impl<T: Copy> AfterPooling<'_, T> {
    /// The values (or vectors) at `at` of each: a window's maximum, where it lies and its
    /// gradient.
    #[inline(always)]
    pub(crate) fn at(&self, at: usize) -> (T, T, T) {
        (self.pooled[at], self.positions[at], self.pooled_grad[at])
    }
}

impl<'a> AfterPooling<'a> {
    /// The pooled values `values` of each.
    pub(crate) fn values(self, values: std::ops::Range<usize>) -> Self {
        AfterPooling {
            pooled: &self.pooled[values.clone()],
            positions: &self.positions[values.clone()],
            pooled_grad: &self.pooled_grad[values],
        }
    }

    /// Lanes `lanes` of each (a vector, or the start of one).
    #[inline(always)]
    fn load_lanes<S: Simd>(self, simd: S, lanes: std::ops::Range<usize>) -> (S::f32s, S::f32s, S::f32s) {
        let read = |values: &[f32]| load(simd, &values[lanes.clone()]);
        (read(self.pooled), read(self.positions), read(self.pooled_grad))
    }

    /// Each seen as whole vectors (where the channels fill them).
    #[inline(always)]
    pub(crate) fn in_vectors<S: Simd>(self) -> AfterPooling<'a, S::f32s> {
        AfterPooling {
            pooled: S::as_simd_f32s(self.pooled).0,
            positions: S::as_simd_f32s(self.positions).0,
            pooled_grad: S::as_simd_f32s(self.pooled_grad).0,
        }
    }
}

/// Max-pooling of `batch` images of `input` into `output`, the bits of
/// [`MaxPool2d`](crate::MaxPool2d)'s forward pass, and where each maximum lies into `positions`.
pub(crate) fn pool(windows: &PoolWindows, input: &[f32], batch: usize, output: &mut [f32], positions: &mut [f32]) {
    pulp::Arch::new().dispatch(Pool { windows, input, batch, output, positions });
}

/// `δZ` of a ReLU convolution for `batch` images (overwritten), from what the max-pooling after
/// it gives. The bits the pooling's backward pass and then ReLU's derivative give, whatever the
/// gradients.
///
/// # Panics
///
/// If the windows overlap.
pub(crate) fn relu_delta(windows: &PoolWindows, after: AfterPooling<'_>, batch: usize, delta: &mut [f32]) {
    assert!(windows.apart(), "each pixel in one window at most");
    pulp::Arch::new().dispatch(ReluDelta { windows, after, batch, delta });
}

/// Adds to `bias_grad` (one value per channel) the sum over the pixels of `batch` images of the
/// `δZ` that [`relu_delta`] makes, in the order of the pixels: the bits of [`relu_delta`] and
/// then `add_bias_gradient`, without writing `δZ`. A window gives a pixel other than its
/// maximum a `+0`, which leaves a sum as it is (a sum from `+0` is never `−0`), so with finite
/// gradients only the maxima are added: those on a window's first row, window by window, then
/// those on its second row, and so on.
///
/// # Panics
///
/// If the windows overlap.
pub(crate) fn add_relu_bias_gradient(
    windows: &PoolWindows,
    after: AfterPooling<'_>,
    batch: usize,
    bias_grad: &mut [f32],
) {
    assert!(windows.apart(), "each pixel in one window at most");
    if all_finite(after.pooled_grad) {
        pulp::Arch::new().dispatch(ReluBiasSums { windows, after, batch, bias_grad });
    } else {
        // An infinite or NaN gradient gives NaN to every pixel of its window: all of them count.
        let mut delta = vec![0.0; batch * windows.input.len()];
        relu_delta(windows, after, batch, &mut delta);
        add_bias_gradient(&delta, windows.input.channels, bias_grad);
    }
}

struct Pool<'a> {
    windows: &'a PoolWindows,
    input: &'a [f32],
    batch: usize,
    output: &'a mut [f32],
    positions: &'a mut [f32],
}

impl WithSimd for Pool<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Pool { windows, input, batch, output, positions } = self;
        let (c, lanes) = (windows.input.channels, S::F32_LANES);
        if c.is_multiple_of(lanes) {
            // Channels in whole vectors: each pixel's vectors read and written by index.
            let vectors = c / lanes;
            let (input, _) = S::as_simd_f32s(input);
            let (output, _) = S::as_mut_simd_f32s(output);
            let (positions, _) = S::as_mut_simd_f32s(positions);
            windows.for_each(batch, |out_pixel, pixels| {
                for v in 0..vectors {
                    let (maximum, position) = first_maximum(simd, pixels, |pixel| input[pixel * vectors + v]);
                    output[out_pixel * vectors + v] = maximum;
                    positions[out_pixel * vectors + v] = position;
                }
            });
            return;
        }
        windows.for_each(batch, |out_pixel, pixels| {
            for lanes in channel_vectors(c, lanes, true) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let (maximum, position) = first_maximum(simd, pixels, |pixel| load(simd, &input[at(pixel)]));
                store(simd, &mut output[at(out_pixel)], maximum);
                store(simd, &mut positions[at(out_pixel)], position);
            }
        });
    }
}

/// The maximum of a window's `pixels` (each `read(pixel)`), as `MaxPool2d` takes it, and the
/// position in the window of the first pixel equal to it, as the pooling's backward pass finds
/// it (the window's size where none is: a NaN).
#[inline(always)]
pub(crate) fn first_maximum<S: Simd>(simd: S, pixels: &[usize], read: impl Fn(usize) -> S::f32s) -> (S::f32s, S::f32s) {
    let maximum = window_maximum(simd, pixels, &read);
    let mut position = simd.splat_f32s(pixels.len() as f32);
    for (k, &pixel) in pixels.iter().enumerate().rev() {
        let here = simd.equal_f32s(read(pixel), maximum);
        position = simd.select_f32s(here, simd.splat_f32s(k as f32), position);
    }
    (maximum, position)
}

struct ReluDelta<'a> {
    windows: &'a PoolWindows,
    after: AfterPooling<'a>,
    batch: usize,
    delta: &'a mut [f32],
}

impl WithSimd for ReluDelta<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ReluDelta { windows, after, batch, delta } = self;
        // Pixels outside every window get no gradient.
        if !windows.tiled() {
            delta.fill(0.0);
        }
        let (c, lanes) = (windows.input.channels, S::F32_LANES);
        if c.is_multiple_of(lanes) {
            // Channels in whole vectors: each pixel's vectors read and written by index.
            let vectors = c / lanes;
            let after = after.in_vectors::<S>();
            let (delta, _) = S::as_mut_simd_f32s(delta);
            windows.for_each(batch, |out_pixel, pixels| {
                for v in 0..vectors {
                    let after = after.at(out_pixel * vectors + v);
                    window_delta(simd, after, pixels.len(), |k, given| delta[pixels[k] * vectors + v] = given);
                }
            });
            return;
        }
        windows.for_each(batch, |out_pixel, pixels| {
            for lanes in channel_vectors(c, lanes, true) {
                let at = |pixel: usize| pixel * c + lanes.start..pixel * c + lanes.end;
                let after = after.load_lanes(simd, at(out_pixel));
                window_delta(simd, after, pixels.len(), |k, given| store(simd, &mut delta[at(pixels[k])], given));
            }
        });
    }
}

/// `δZ` of the `pixels` pixels of one window, `write(k, δZ)` for the `k`-th, from the window's
/// maximum `m`, where it lies and its gradient `δ`.
#[inline(always)]
pub(crate) fn window_delta<S: Simd>(
    simd: S,
    (maxima, position, deltas): (S::f32s, S::f32s, S::f32s),
    pixels: usize,
    mut write: impl FnMut(usize, S::f32s),
) {
    let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
    let derivative = relu_derivative(simd, maxima);
    for k in 0..pixels {
        // At the maximum, `take` 1 and `scale` f'(m); elsewhere `take` 0, and `scale` 1, since
        // any of 0 and 1 leaves what the pooling wrote (+0, or NaN for an infinite δ) as it is.
        let here = simd.equal_f32s(position, simd.splat_f32s(k as f32));
        let (take, scale) = (simd.select_f32s(here, one, zero), simd.select_f32s(here, derivative, one));
        write(k, pooled_then_relu(simd, take, deltas, scale));
    }
}

/// ReLU's `f'(m)`: 1 where `m > 0`, 0 elsewhere.
#[inline(always)]
fn relu_derivative<S: Simd>(simd: S, maxima: S::f32s) -> S::f32s {
    let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
    simd.select_f32s(simd.greater_than_f32s(maxima, zero), one, zero)
}

/// A pixel's `δZ`: the pooling writes `take · δ + 0` (+0 for a `δ` of −0), which ReLU
/// multiplies by `scale`, its derivative there. One formula for `δZ` written and `δZ` summed,
/// so that both give the same bits.
#[inline(always)]
fn pooled_then_relu<S: Simd>(simd: S, take: S::f32s, deltas: S::f32s, scale: S::f32s) -> S::f32s {
    simd.mul_f32s(simd.mul_add_e_f32s(take, deltas, simd.splat_f32s(0.0)), scale)
}

struct ReluBiasSums<'a> {
    windows: &'a PoolWindows,
    after: AfterPooling<'a>,
    batch: usize,
    bias_grad: &'a mut [f32],
}

impl WithSimd for ReluBiasSums<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ReluBiasSums { windows, after, batch, bias_grad } = self;
        let (c, lanes) = (windows.input.channels, S::F32_LANES);
        if c.is_multiple_of(lanes) {
            let vectors = c / lanes;
            let after = after.in_vectors::<S>();
            let (sums, _) = S::as_mut_simd_f32s(bias_grad);
            for (v, sum) in sums.iter_mut().enumerate() {
                let read = |out_pixel: usize| after.at(out_pixel * vectors + v);
                *sum = maxima_in_pixel_order(simd, windows, batch, *sum, read);
            }
            return;
        }
        for lanes in channel_vectors(c, lanes, false) {
            let read =
                |out_pixel: usize| after.load_lanes(simd, out_pixel * c + lanes.start..out_pixel * c + lanes.end);
            let sum = maxima_in_pixel_order(simd, windows, batch, load(simd, &bias_grad[lanes.clone()]), read);
            store(simd, &mut bias_grad[lanes], sum);
        }
    }
}

/// `sum` plus the `δZ` of each window's maximum, `read(out_pixel)` giving the window's maximum,
/// where it lies and its gradient, in the order of the pixels: window row by window row, each
/// window's first row of pixels, then its second, and so on.
#[inline(always)]
fn maxima_in_pixel_order<S: Simd>(
    simd: S,
    windows: &PoolWindows,
    batch: usize,
    mut sum: S::f32s,
    read: impl Fn(usize) -> (S::f32s, S::f32s, S::f32s),
) -> S::f32s {
    let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
    let (out, window) = (windows.output_shape(), windows.window);
    for first_window in (0..batch * out.height).map(|row| row * out.width) {
        for dy in 0..window {
            let (row_start, row_end) =
                (simd.splat_f32s((dy * window) as f32), simd.splat_f32s(((dy + 1) * window) as f32));
            for out_pixel in first_window..first_window + out.width {
                let (maxima, position, deltas) = read(out_pixel);
                // What `window_delta` gives the maximum.
                let at_maximum = pooled_then_relu(simd, one, deltas, relu_derivative(simd, maxima));
                let on_row = simd.and_m32s(
                    simd.greater_than_or_equal_f32s(position, row_start),
                    simd.less_than_f32s(position, row_end),
                );
                sum = simd.add_f32s(sum, simd.select_f32s(on_row, at_maximum, zero));
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cases::{POOLINGS, bits, coarse};
    use crate::{Activation, Layer, MaxPool2d, Mode};

    #[test]
    fn the_pooling_and_relus_gradient_from_the_positions_are_the_layers_bits() {
        // Windows that tile the image, leave a row and a column out, or leave gaps; channels
        // around the vector widths; outputs on a coarse grid after ReLU (ties in most windows,
        // windows all zero); gradients with zeros, −0, ∞ and NaN; a NaN maximum.
        for (shape, window, stride, batch) in POOLINGS {
            let pool = MaxPool2d::new(shape, window, stride).unwrap();
            let mut conv_output = coarse(batch * shape.len(), 1, 30);
            Activation::Relu.apply(&mut conv_output);
            conv_output[shape.channels + 1] = f32::NAN;
            let mut want_pooled = vec![0.0; batch * pool.output_size()];
            pool.forward(&conv_output, batch, &mut want_pooled, Mode::Inference);
            let mut pooled = vec![f32::NAN; want_pooled.len()];
            let mut positions = MaxPositions::default();
            let windows = pool.windows();
            super::pool(windows, &conv_output, batch, &mut pooled, positions.sized(want_pooled.len()));
            assert_eq!(bits(&pooled), bits(&want_pooled), "{shape}");
            let mut pooled_grad = coarse(pooled.len(), 2, 40);
            pooled_grad[3] = -0.0;
            pooled_grad[pooled.len() - 1] = f32::INFINITY;
            pooled_grad[pooled.len() / 2] = f32::NAN;
            let mut want = vec![f32::NAN; conv_output.len()];
            let mut grad = pooled_grad.clone();
            pool.backward(&conv_output, &pooled, batch, &mut grad, Some(&mut want), &mut [], Mode::Inference);
            Activation::Relu.backprop(&conv_output, &mut want);
            let mut got = vec![f32::NAN; conv_output.len()];
            let after = AfterPooling { pooled: &pooled, positions: &positions.positions, pooled_grad: &pooled_grad };
            relu_delta(windows, after, batch, &mut got);
            assert_eq!(bits(&got), bits(&want), "{shape} window {window} stride {stride}");
            // ∂b from the windows, with the special gradients and with finite ones, added to
            // sums of both signs.
            let mut finite = coarse(pooled.len(), 2, 40);
            finite[1] = -0.0;
            for pooled_grad in [&pooled_grad, &finite] {
                let after = AfterPooling { pooled: &pooled, positions: &positions.positions, pooled_grad };
                let start: Vec<f32> = (0..shape.channels).map(|c| if c % 2 == 0 { 0.0 } else { -1.5 }).collect();
                let mut delta = vec![f32::NAN; conv_output.len()];
                relu_delta(windows, after, batch, &mut delta);
                let mut want = start.clone();
                add_bias_gradient(&delta, shape.channels, &mut want);
                let mut got = start;
                add_relu_bias_gradient(windows, after, batch, &mut got);
                assert_eq!(bits(&got), bits(&want), "∂b, {shape} window {window} stride {stride}");
            }
        }
    }
}
