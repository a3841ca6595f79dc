//! A first convolution (one channel, ReLU) and the max-pooling right after it, as the training
//! pass computes them together: the pooling made from each band of the convolution's rows while
//! they are in the L1 cache, and the convolution's gradients taken straight from the pooling's.
//!
//! Forward, the convolution (`conv_one_channel.rs`) hands over its rows a band of windows at a
//! time; each window's maximum is taken as `MaxPool2d` takes it, and which pixel held it first
//! is kept ([`MaxPositions`](crate::MaxPositions)). Backward, max-pooling gives each window's gradient to that pixel,
//! and ReLU lets it through where the maximum is positive: so the convolution's `δZ` follows
//! from the positions, the pooled maxima and the pooled gradient, without the pooling's
//! full-resolution input gradient or a read of the convolution's output. Each band of windows
//! makes its pixels' `δZ` in a buffer that stays in the L1 cache and lists them; `∂W` is then
//! summed by the kernel of `conv_one_channel_gradient.rs`, the pixels in the same order. Both passes give
//! the bits of the layers one after the other. The backward pass is in `conv_pool_backward.rs`.

use pulp::Simd;

use crate::conv_one_channel::{self, RowSink};
use crate::max_positions::MaxPositions;
use crate::pool_window::{PoolWindows, channel_vectors};
use crate::vector_slices::Lanes;
use crate::{Activation, Conv2d, MaxPool2d};

#[path = "conv_pool_backward.rs"]
mod backward;
pub(crate) use backward::weight_gradient;

/// Whether [`forward`] and [`weight_gradient`] take `conv` and `pool` right after it: a ReLU
/// convolution of one channel that `conv_one_channel.rs` computes, with at least a vector of
/// filters (so that every load and store is a whole vector), and windows side by side, none
/// overlapping (a stride equal to the window).
pub(crate) fn applies(conv: &Conv2d, pool: &MaxPool2d) -> bool {
    let windows = pool.windows();
    conv.activation() == Activation::Relu
        && conv_one_channel::applies(conv.params())
        && conv.params().filters >= pulp::Arch::new().dispatch(Lanes)
        && windows.input == conv.params().output_shape()
        && windows.stride == windows.window
}

/// `conv`'s forward pass into `conv_output` and `pool`'s into `pooled` for `batch` images of
/// `input`, the bits of the layers' own passes, and where each maximum lies into `positions`.
///
/// # Panics
///
/// If [`applies`] does not hold, or the slices are shorter than `batch` samples.
pub(crate) fn forward(
    conv: &Conv2d,
    pool: &MaxPool2d,
    input: &[f32],
    batch: usize,
    conv_output: &mut [f32],
    pooled: &mut [f32],
    positions: &mut MaxPositions,
) {
    assert!(applies(conv, pool));
    let windows = *pool.windows();
    let pooled_len = windows.output_shape().len();
    let mut sink =
        PoolRows { windows, pooled: &mut pooled[..batch * pooled_len], positions: positions.sized(batch * pooled_len) };
    let (weights, bias) = (conv.weights().as_slice(), conv.bias().as_slice());
    let apply = |rows: &mut [f32]| conv.activation().apply(rows);
    conv_one_channel::forward_in_bands(
        conv.params(),
        weights,
        bias,
        input,
        batch,
        conv_output,
        apply,
        windows.window,
        &mut sink,
    );
}

/// The sink of [`forward`]: pools each band of `window` rows.
struct PoolRows<'a> {
    windows: PoolWindows,
    pooled: &'a mut [f32],
    positions: &'a mut [f32],
}

impl RowSink for PoolRows<'_> {
    #[inline(always)]
    fn rows<S: Simd>(&mut self, simd: S, image: usize, first_row: usize, rows: &[f32]) {
        let windows = self.windows;
        // A short band at the bottom lies in no window.
        if rows.len() < windows.window * windows.input.width * windows.input.channels {
            return;
        }
        let out = windows.output_shape();
        let at_pooled_row = (image * out.height + first_row / windows.window) * out.width * out.channels;
        // A constant window lets the compiler unroll its loops: saito-simple's 2 × 2.
        if windows.window == 2 {
            self.pool_band(simd, 2, rows, at_pooled_row);
        } else {
            self.pool_band(simd, windows.window, rows, at_pooled_row);
        }
    }
}

impl PoolRows<'_> {
    /// Pools a band of `window` rows (`self.windows.window`) into the pooled row that starts at
    /// value `at_pooled_row`.
    #[inline(always)]
    fn pool_band<S: Simd>(&mut self, simd: S, window: usize, rows: &[f32], at_pooled_row: usize) {
        let PoolRows { windows, pooled, positions } = self;
        let (filters, row_len, out_width) = (windows.input.channels, windows.input.width, windows.output_shape().width);
        let none = simd.splat_f32s((window * window) as f32);
        for bx in 0..out_width {
            let at_pooled = at_pooled_row + bx * filters;
            let window_values = &rows[bx * window * filters..];
            for lanes in channel_vectors(filters, S::F32_LANES, true) {
                let pixel =
                    |dy: usize, dx: usize| whole::<S>(window_values, lanes.start + (dy * row_len + dx) * filters);
                // As MaxPool2d: the first pixel, then the others row by row.
                let mut maximum = pixel(0, 0);
                for dy in 0..window {
                    for dx in 0..window {
                        if dy + dx > 0 {
                            maximum = simd.max_f32s(maximum, pixel(dy, dx));
                        }
                    }
                }
                // The first pixel equal to it, as the pooling's backward pass finds it.
                let mut position = none;
                for dy in (0..window).rev() {
                    for dx in (0..window).rev() {
                        let here = simd.equal_f32s(pixel(dy, dx), maximum);
                        position = simd.select_f32s(here, simd.splat_f32s((dy * window + dx) as f32), position);
                    }
                }
                let at = at_pooled + lanes.start;
                S::as_mut_simd_f32s(&mut pooled[at..at + S::F32_LANES]).0[0] = maximum;
                S::as_mut_simd_f32s(&mut positions[at..at + S::F32_LANES]).0[0] = position;
            }
        }
    }
}

/// The whole vector of `values` at `at`: with no partial vector to consider, no masked load
/// (which `pulp` makes a call).
#[inline(always)]
fn whole<S: Simd>(values: &[f32], at: usize) -> S::f32s {
    S::as_simd_f32s(&values[at..at + S::F32_LANES]).0[0]
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;
    use proptest::prelude::*;

    use super::*;
    use crate::test_cases::{PooledConvolution as Case, bits, uniform};
    use crate::{Conv2dParams, Layer, Mode, Shape};

    /// A one-channel ReLU convolution and the max-pooling after it, with inputs zero two times
    /// in three, as images' pixels are.
    fn case(seed: u64, filters: usize, kernel: usize, side: usize, window: usize, batch: usize) -> Case {
        case_strided(seed, filters, (kernel, 1, 0), side, window, batch)
    }

    /// [`case`] with a convolution of `(kernel, stride, padding)`.
    fn case_strided(
        seed: u64,
        filters: usize,
        (kernel, stride, padding): (usize, usize, usize),
        side: usize,
        window: usize,
        batch: usize,
    ) -> Case {
        let mut next = uniform(seed);
        let params =
            Conv2dParams::new_at(Shape::new(1, side, side), filters, (kernel, kernel), stride, padding, 0).unwrap();
        let weights = DMatrix::from_fn(filters, kernel * kernel, |_, _| next());
        let bias = DMatrix::from_fn(filters, 1, |_, _| next() * 0.2);
        let conv = Conv2d::new(params, weights, bias, Activation::Relu).unwrap();
        let pool = MaxPool2d::new(conv.output_shape(), window, window).unwrap();
        let input: Vec<f32> = (0..side * side * batch).map(|_| next().max(0.0) * 1.5).collect();
        // Some pooled gradients zero, as the dense layer above leaves few.
        let pooled_grad = move || {
            let g = next();
            if g.abs() < 0.1 { 0.0 } else { g }
        };
        Case::new(conv, pool, input, batch, pooled_grad)
    }

    /// The pooling's backward pass, then the convolution's: (∂W, ∂b).
    fn layer_by_layer(case: &Case) -> (Vec<f32>, Vec<f32>) {
        let Case { conv, pool, input, conv_output, pooled, pooled_grad, batch } = case;
        let mut conv_grad = vec![f32::NAN; conv_output.len()];
        let mut none = [];
        pool.backward(
            conv_output,
            pooled,
            *batch,
            &mut pooled_grad.clone(),
            Some(&mut conv_grad),
            &mut none,
            Mode::Inference,
        );
        let mut gradients = case.nan_gradients();
        conv.backward(input, conv_output, *batch, &mut conv_grad, None, &mut gradients, Mode::Inference);
        (gradients[0].as_slice().to_vec(), gradients[1].as_slice().to_vec())
    }

    /// The two layers together: their outputs checked against the layers' own, then (∂W, ∂b).
    fn fused(case: &Case) -> Option<(Vec<f32>, Vec<f32>)> {
        let Case { conv, pool, input, conv_output, pooled, pooled_grad, batch } = case;
        let mut fused_output = vec![f32::NAN; conv_output.len()];
        let mut fused_pooled = vec![f32::NAN; pooled.len()];
        let mut positions = MaxPositions::default();
        forward(conv, pool, input, *batch, &mut fused_output, &mut fused_pooled, &mut positions);
        assert_eq!(bits(&fused_output), bits(conv_output));
        assert_eq!(bits(&fused_pooled), bits(pooled));
        let mut weight_grad = vec![f32::NAN; conv.weights().len()];
        let mut bias_grad = vec![f32::NAN; conv.bias().len()];
        let done = weight_gradient(
            conv,
            pool,
            input,
            &positions,
            pooled,
            pooled_grad,
            *batch,
            &mut weight_grad,
            &mut bias_grad,
        );
        done.then_some((weight_grad, bias_grad))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Filter counts around the vector widths, kernels of every size this path takes with
        /// strides and padding, sides that leave a row and a column out of every window or
        /// none, windows of 1 to 3, a batch of one and more.
        #[test]
        fn gives_the_bits_of_the_convolution_and_the_pooling(
            seed in any::<u64>(), filters in 8usize..70, kernel in 1usize..6, stride in 1usize..3,
            padding in 0usize..3, extra in 0usize..9, window in 1usize..4, batch in 1usize..4,
        ) {
            let side = kernel + (window - 1) * stride + extra;
            let case = case_strided(seed, filters, (kernel, stride, padding), side, window, batch);
            prop_assume!(applies(&case.conv, &case.pool));
            let (weights, bias) = layer_by_layer(&case);
            let (fused_weights, fused_bias) = fused(&case).expect("finite inputs");
            prop_assert_eq!(bits(&fused_weights), bits(&weights));
            prop_assert_eq!(bits(&fused_bias), bits(&bias));
        }
    }

    #[test]
    fn saito_simple_shapes_and_ties_give_the_same_bits() {
        // 30 filters of 5x5 on 28x28, 2x2 windows: saito-simple's first layers. Zero weights
        // for some filters make every output of theirs the bias: ties in every window, and
        // all-zero windows where the bias is negative.
        let mut case = case(7, 30, 5, 28, 2, 3);
        let mut weights = case.conv.weights().clone();
        for f in [0, 17, 29] {
            weights.row_mut(f).fill(0.0);
        }
        let bias = case.conv.bias().clone();
        case.conv = Conv2d::new(*case.conv.params(), weights, bias, Activation::Relu).unwrap();
        refresh(&mut case);
        let (weights, bias) = layer_by_layer(&case);
        let (fused_weights, fused_bias) = fused(&case).unwrap();
        assert_eq!(bits(&fused_weights), bits(&weights));
        assert_eq!(bits(&fused_bias), bits(&bias));
        assert!(weights.iter().any(|&w| w != 0.0));
    }

    /// The layers' outputs again, after a change to the case.
    fn refresh(case: &mut Case) {
        case.conv.forward(&case.input, case.batch, &mut case.conv_output, Mode::Inference);
        case.pool.forward(&case.conv_output, case.batch, &mut case.pooled, Mode::Inference);
    }

    #[test]
    fn a_gradient_or_an_input_that_is_not_finite_is_left_to_the_layers() {
        let mut nan_gradient = case(3, 32, 3, 10, 2, 2);
        nan_gradient.pooled_grad[5] = f32::NAN;
        assert!(fused(&nan_gradient).is_none());
        let mut infinite_input = case(4, 32, 3, 9, 2, 2);
        infinite_input.input[20] = f32::INFINITY;
        refresh(&mut infinite_input);
        assert!(fused(&infinite_input).is_none());
        infinite_input.input[20] = 1.0;
        refresh(&mut infinite_input);
        assert!(fused(&infinite_input).is_some());
    }

    #[test]
    fn overlapping_windows_and_other_activations_are_not_taken() {
        let conv = case(1, 32, 3, 10, 2, 1).conv;
        assert!(!applies(&conv, &MaxPool2d::new(conv.output_shape(), 3, 2).unwrap()));
        assert!(applies(&conv, &MaxPool2d::new(conv.output_shape(), 2, 2).unwrap()));
        let tanh = Conv2d::new(*conv.params(), conv.weights().clone(), conv.bias().clone(), Activation::Tanh);
        assert!(!applies(&tanh.unwrap(), &MaxPool2d::new(conv.output_shape(), 2, 2).unwrap()));
    }
}
