//! A Winograd convolution and the max-pooling right after it, as the training pass computes them
//! together: each chunk of images is pooled as soon as the convolution has made it, while it
//! is in the cache (2x2 windows behind ReLU straight from each output tile in registers,
//! `winograd_pool.rs`), and backward, the pooling's gradient of a chunk is made just before the
//! convolution reads it. No full-resolution tensor makes a round trip through memory between
//! the two layers (saito-deep's three pairs). Behind ReLU, the pooling notes where each maximum
//! lies (`max_positions.rs`), the convolution's `δZ` is made from those positions, and its
//! output is not kept at all unless asked. When the pooled gradient leaves few nonzero values in
//! the convolution's `δZ` (behind dropout, as pytorch-example's conv2), those are listed from it
//! directly (`sparse_from_pool.rs`) and the pooling's gradient is not made at all. Both passes
//! give the bits of the layers one after the other: the same operations on the same values, a
//! chunk of images at a time. (With a pooled gradient that is not finite and the output not
//! kept, the dense passes are taken where the layers' might have listed: the gradients are not
//! finite either way.)

use std::ops::Range;

use nalgebra::DMatrix;

use crate::conv_sparse::few_enough;
use crate::max_positions::AfterPooling;
use crate::max_positions::{self, MaxPositions};
use crate::sparse_from_pool::{Maxima, count_nonzero_deltas, list_nonzero_deltas};
use crate::winograd::Winograd;
use crate::{Activation, Conv2d, Layer, MaxPool2d, Mode};

/// Whether [`forward`] and [`backward`] take `conv` and `pool` right after it: a convolution
/// that Winograd's method computes, pooled as it comes out.
pub(crate) fn applies(conv: &Conv2d, pool: &MaxPool2d) -> bool {
    Winograd::plan(conv.params()).is_some() && pool.windows().input == conv.params().output_shape()
}

/// `conv`'s forward pass into `conv_output` and `pool`'s into `pooled`, for `batch` images of
/// `input`; where [`keeps_positions`] holds, where each maximum lies into `positions` (for
/// [`backward`]), and then the convolution's output need not be kept (`None`).
///
/// # Panics
///
/// If [`applies`] does not hold, the slices are shorter than `batch` samples, or the output is
/// not kept where it is needed.
pub(crate) fn forward(
    conv: &Conv2d,
    pool: &MaxPool2d,
    (input, batch): (&[f32], usize),
    conv_output: Option<&mut [f32]>,
    pooled: &mut [f32],
    positions: &mut MaxPositions,
    mode: Mode,
) {
    assert!(applies(conv, pool));
    assert!(conv_output.is_some() || keeps_positions(conv, pool), "the output is needed");
    let pooled_len = pool.output_size();
    let mut positions = keeps_positions(conv, pool).then(|| positions.sized(batch * pooled_len));
    // Windows of 2x2 that the tiles hold whole are pooled from the tiles in registers.
    let (window, stride) = (pool.windows().window, pool.windows().stride);
    if let (Some(positions), None, 2, 2) = (positions.as_deref_mut(), &conv_output, window, stride)
        && conv.forward_pooled(input, batch, &mut pooled[..batch * pooled_len], positions)
    {
        return;
    }
    conv.forward_then(input, batch, conv_output, |images, chunk| {
        let values = images.start * pooled_len..images.end * pooled_len;
        match positions.as_deref_mut() {
            Some(positions) => max_positions::pool(
                pool.windows(),
                chunk,
                images.len(),
                &mut pooled[values.clone()],
                &mut positions[values],
            ),
            None => pool.forward(chunk, images.len(), &mut pooled[values], mode),
        }
    });
}

/// Whether [`forward`] notes where the maxima lie: behind ReLU, in windows apart, `δZ` follows
/// from them (`max_positions.rs`), and [`backward`] does not read the convolution's output.
pub(crate) fn keeps_positions(conv: &Conv2d, pool: &MaxPool2d) -> bool {
    conv.activation() == Activation::Relu && pool.windows().apart()
}

/// The layers' outputs and gradients [`backward`] reads and writes.
pub(crate) struct Buffers<'a> {
    pub(crate) input: &'a [f32],
    /// As [`forward`] kept it (`None` where [`keeps_positions`] holds).
    pub(crate) conv_output: Option<&'a [f32]>,
    pub(crate) pooled: &'a [f32],
    /// What [`forward`] noted.
    pub(crate) positions: &'a MaxPositions,
    /// The pooling's output gradient: read only.
    pub(crate) pooled_grad: &'a mut [f32],
    /// Room for the convolution's output gradient: written only in part, or not at all (the
    /// sparse pass lists its nonzero values from the pooled gradient, `sparse_from_pool.rs`;
    /// Winograd's method makes it a chunk at a time in its own scratch).
    pub(crate) conv_grad: &'a mut [f32],
    pub(crate) input_grad: Option<&'a mut [f32]>,
}

/// `pool`'s backward pass and then `conv`'s, into `buffers.conv_grad`, `buffers.input_grad`
/// and `gradients` (the convolution's), the pooling's made a chunk of images at a time just
/// before the convolution reads it.
///
/// # Panics
///
/// If [`applies`] does not hold, or the slices are shorter than `batch` samples.
pub(crate) fn backward(
    conv: &Conv2d,
    pool: &MaxPool2d,
    buffers: Buffers<'_>,
    batch: usize,
    gradients: &mut [DMatrix<f32>],
    mode: Mode,
) {
    assert!(applies(conv, pool));
    let Buffers { input, conv_output, pooled, positions, pooled_grad, conv_grad, mut input_grad } = buffers;
    let (conv_len, pooled_len, windows) = (conv.output_size(), pool.output_size(), pool.windows());
    // How many values of `δZ` are not zero, known from the pooling alone (windows apart, finite
    // gradients), where a list may be made (with `∂X` to compute).
    let counted = (input_grad.is_some() && windows.apart())
        .then(|| {
            count_nonzero_deltas(conv.activation(), &pooled[..batch * pooled_len], &pooled_grad[..batch * pooled_len])
        })
        .flatten();
    // Behind ReLU, `δZ` (or its list) is made from the positions of the maxima; otherwise from
    // the convolution's output, where the pooling's backward pass finds them again.
    let from_positions = keeps_positions(conv, pool);
    let positions = &positions.positions[..if from_positions { batch * pooled_len } else { 0 }];
    let output_needed = || conv_output.expect("a convolution's output kept where the maxima were not noted");
    // Too many for the sparse pass: a list that would turn out too long is not begun (it would
    // stop only once past the limit, most of the way through). With a gradient that is not
    // finite and no output kept, the dense passes too (the gradients are not finite either way).
    let mut dense = counted.is_some_and(|nonzero| !few_enough(nonzero, batch * conv_len))
        || (counted.is_none() && conv_output.is_none());
    // Otherwise a mostly-zero `δZ` is listed from the pooled gradient, and `δA` is never written.
    if input_grad.is_some() && windows.apart() && !dense {
        let maxima = if from_positions { Maxima::AtPositions(positions) } else { Maxima::InOutput(output_needed()) };
        let gradients_after = (maxima, pooled, &pooled_grad[..]);
        let listed = conv.backward_from_listed(input, &mut input_grad, gradients, |nonzero| {
            let listed = list_nonzero_deltas(conv.activation(), windows, gradients_after, batch, nonzero);
            listed.then_some(()).ok_or(())
        });
        if listed.is_ok() {
            return;
        }
        // With finite gradients, the list stops where the layers' own passes would not take
        // the sparse pass either.
        dense = counted.is_some();
    }
    // A dense `δZ` behind 2x2 windows of stride 2 is made tile by tile in registers, where
    // Winograd's tiles hold the windows whole (`winograd_pool.rs`).
    let (window, stride) = (windows.window, windows.stride);
    if from_positions && (dense || input_grad.is_none()) && (window, stride) == (2, 2) {
        let pooled_values = ..batch * pooled_len;
        let after =
            AfterPooling { pooled: &pooled[pooled_values], positions, pooled_grad: &pooled_grad[pooled_values] };
        if conv.backward_pooled((input, batch), after, input_grad.as_deref_mut(), gradients) {
            return;
        }
    }
    let fill = |images: Range<usize>, delta: &mut [f32]| {
        let (conv_values, pooled_values) =
            (conv_len * images.start..conv_len * images.end, pooled_len * images.start..pooled_len * images.end);
        if from_positions {
            let after = AfterPooling { pooled, positions, pooled_grad: &pooled_grad[..] }.values(pooled_values);
            max_positions::relu_delta(pool.windows(), after, images.len(), delta);
            return;
        }
        let (conv_output, pooled) = (&output_needed()[conv_values], &pooled[pooled_values.clone()]);
        let pooled_grad = &mut pooled_grad[pooled_values];
        pool.backward(conv_output, pooled, images.len(), pooled_grad, Some(delta), &mut [], mode);
    };
    let filled = Filled { dense, delta_z: from_positions, ..Filled::new(conv_len, batch, Some(fill)) };
    // Without the output, `dense` holds and the convolution reads none: `δZ` is converted.
    let output = conv_output.unwrap_or(&[]);
    conv.backward_filled(input, output, batch, conv_grad, input_grad, gradients, filled);
}

/// An output gradient written a chunk of images at a time by `fill(images, their δA)`, and how
/// many images of it are written; without `fill`, all of them are from the start.
pub(crate) struct Filled<F> {
    fill: Option<F>,
    image_len: usize,
    images: usize,
    /// Whether the `δZ` this `δA` makes is known to hold too many nonzero values for the sparse
    /// pass (`conv_sparse.rs`): the convolution then does not look.
    pub(crate) dense: bool,
    /// Whether `fill` writes `δZ`, the activation's derivative applied already.
    pub(crate) delta_z: bool,
}

impl<F: FnMut(Range<usize>, &mut [f32])> Filled<F> {
    /// `δA` of `batch` images of `image_len` values, which `fill` writes (`None`: written).
    pub(crate) fn new(image_len: usize, batch: usize, fill: Option<F>) -> Self {
        let images = if fill.is_some() { 0 } else { batch };
        Filled { fill, image_len, images, dense: false, delta_z: false }
    }

    /// Whether `fill` writes every image (none written yet).
    pub(crate) fn writes_all(&self) -> bool {
        self.fill.is_some() && self.images == 0
    }

    /// Writes the images that hold the first `values` values of `delta` (the whole `δA`).
    pub(crate) fn up_to_value(&mut self, values: usize, delta: &mut [f32]) {
        let end = values.div_ceil(self.image_len.max(1));
        self.write(end, 0, delta);
    }

    /// Writes the images of `delta`, the values `range` of `δA`, not written yet.
    pub(crate) fn chunk(&mut self, range: Range<usize>, delta: &mut [f32]) {
        let first = range.start / self.image_len.max(1);
        self.write(range.end.div_ceil(self.image_len.max(1)), first, delta);
    }

    /// Writes images `self.images..end` into `delta`, which starts at image `first`.
    fn write(&mut self, end: usize, first: usize, delta: &mut [f32]) {
        let Some(fill) = self.fill.as_mut() else { return };
        let start = self.images.max(first);
        if start < end {
            let len = self.image_len;
            fill(start..end, &mut delta[(start - first) * len..(end - first) * len]);
            self.images = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;
    use proptest::prelude::*;

    use super::*;
    use crate::test_cases::{PooledConvolution as Case, bits, uniform};
    use crate::{Activation, Conv2dParams, Shape};

    /// A convolution of Winograd's method and a max-pooling after it, their inputs and outputs
    /// made layer by layer, and a pooled gradient whose values are zero with probability
    /// `zeros` (near 1, the convolution's backward pass takes the sparse path).
    #[allow(clippy::too_many_arguments)]
    fn case(
        seed: u64,
        (channels, side, padding): (usize, usize, usize),
        filters: usize,
        activation: Activation,
        (window, stride): (usize, usize),
        zeros: f32,
        batch: usize,
    ) -> Option<Case> {
        let mut next = uniform(seed);
        let params = Conv2dParams::new_at(Shape::new(channels, side, side), filters, (3, 3), 1, padding, 0).ok()?;
        let weights = DMatrix::from_fn(filters, 9 * channels, |_, _| next() * 0.5);
        let bias = DMatrix::from_fn(filters, 1, |_, _| next() * 0.2);
        let conv = Conv2d::new(params, weights, bias, activation).ok()?;
        let pool = MaxPool2d::new(conv.output_shape(), window, stride).ok()?;
        let input: Vec<f32> = (0..conv.input_size() * batch).map(|_| next().max(0.0)).collect();
        let pooled_grad = move || {
            let (u, g) = (next(), next());
            if u * 0.5 + 0.5 < zeros { 0.0 } else { g }
        };
        Some(Case::new(conv, pool, input, batch, pooled_grad))
    }

    /// `(∂X, ∂W, ∂b)`: `δZ` is the convolution's scratch, not written when the sparse pass lists
    /// it from the pooled gradient.
    type Backward = (Vec<u32>, Vec<u32>, Vec<u32>);

    /// The pooling's backward pass, then the convolution's.
    fn layer_by_layer(case: &Case, with_input_grad: bool) -> Backward {
        let Case { conv, pool, input, conv_output, pooled, pooled_grad, batch } = case;
        let mut conv_grad = vec![f32::NAN; conv_output.len()];
        let mut pooled_grad = pooled_grad.clone();
        pool.backward(conv_output, pooled, *batch, &mut pooled_grad, Some(&mut conv_grad), &mut [], Mode::Inference);
        let mut input_grad = vec![f32::NAN; if with_input_grad { input.len() } else { 0 }];
        let mut gradients = case.nan_gradients();
        let input_grad_slot = with_input_grad.then_some(&mut input_grad[..]);
        conv.backward(input, conv_output, *batch, &mut conv_grad, input_grad_slot, &mut gradients, Mode::Inference);
        (bits(&input_grad), bits(gradients[0].as_slice()), bits(gradients[1].as_slice()))
    }

    /// The two layers together: their outputs checked against the layers' own (when kept: with
    /// `keep_output`, or where the backward pass needs them), then their gradients.
    fn together(case: &Case, with_input_grad: bool, keep_output: bool) -> Backward {
        let Case { conv, pool, input, conv_output, pooled, pooled_grad, batch } = case;
        let keep_output = keep_output || !keeps_positions(conv, pool);
        let mut fused_output = vec![f32::NAN; conv_output.len()];
        let mut fused_pooled = vec![f32::NAN; pooled.len()];
        let mut positions = MaxPositions::default();
        let kept = keep_output.then_some(&mut fused_output[..]);
        forward(conv, pool, (input, *batch), kept, &mut fused_pooled, &mut positions, Mode::Inference);
        if keep_output {
            assert_eq!(bits(&fused_output), bits(conv_output));
        }
        assert_eq!(bits(&fused_pooled), bits(pooled));
        let mut conv_grad = vec![f32::NAN; conv_output.len()];
        let mut pooled_grad = pooled_grad.clone();
        let mut input_grad = vec![f32::NAN; if with_input_grad { input.len() } else { 0 }];
        let mut gradients = case.nan_gradients();
        let buffers = Buffers {
            input,
            conv_output: keep_output.then_some(&fused_output[..]),
            pooled,
            positions: &positions,
            pooled_grad: &mut pooled_grad,
            conv_grad: &mut conv_grad,
            input_grad: with_input_grad.then_some(&mut input_grad[..]),
        };
        backward(conv, pool, buffers, *batch, &mut gradients, Mode::Inference);
        (bits(&input_grad), bits(gradients[0].as_slice()), bits(gradients[1].as_slice()))
    }

    fn activation() -> impl Strategy<Value = Activation> {
        prop::sample::select(vec![Activation::Relu, Activation::Identity, Activation::Tanh])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Channels and filters around the vector widths, sides that make several chunks of
        /// images (28 pixels, 16 channels: 4 images a chunk) or one, windows that tile, overlap,
        /// leave gaps or an edge out, pooled gradients dense, sparse or all zero, a batch of one
        /// and more.
        #[test]
        fn gives_the_bits_of_the_pooling_and_the_convolution(
            seed in any::<u64>(), channels in 4usize..20, filters in 1usize..40, side in 3usize..30,
            padding in 0usize..3, activation in activation(), window in 1usize..5, stride in 1usize..4,
            zeros in prop::sample::select(vec![0.0f32, 0.5, 0.97, 1.0]), batch in 1usize..7,
            with_input_grad in any::<bool>(), keep_output in any::<bool>(),
        ) {
            let case = case(seed, (channels, side, padding), filters, activation, (window, stride), zeros, batch);
            let Some(case) = case else { return Ok(()) };
            prop_assume!(applies(&case.conv, &case.pool));
            let want = layer_by_layer(&case, with_input_grad);
            prop_assert_eq!(together(&case, with_input_grad, keep_output), want);
        }
    }

    /// 2x2 windows pooled from Winograd's tiles in registers (`winograd_pool.rs`): filters in one,
    /// two and three vectors (of 16 lanes, and so of 8 and 4), outputs whose last row and column
    /// of tiles hold one window or none (sides 14 and 13), and 8 x 8.
    #[test]
    fn windows_pooled_from_the_tiles() {
        for (side, padding, filters) in [(14, 1, 16), (13, 1, 32), (6, 2, 48), (14, 0, 16)] {
            let case = case(3, (8, side, padding), filters, Activation::Relu, (2, 2), 0.5, 3).unwrap();
            for with_input_grad in [true, false] {
                let want = layer_by_layer(&case, with_input_grad);
                assert_eq!(together(&case, with_input_grad, false), want, "side {side} pad {padding}");
            }
        }
    }

    /// saito-deep's first pair at a batch of 50 (13 chunks of 4 images), its pooled gradient a
    /// quarter nonzero (the sparse pass, where `∂X` is asked for) or all of it (the dense
    /// passes, `δZ` made tile by tile from the positions), the convolution's output kept or not.
    #[test]
    fn saito_deep_second_convolution_and_its_pooling() {
        for zeros in [0.75, 0.0] {
            let case = case(7, (16, 28, 1), 16, Activation::Relu, (2, 2), zeros, 50).unwrap();
            for (with_input_grad, keep_output) in [(true, false), (false, false), (true, true)] {
                assert_eq!(together(&case, with_input_grad, keep_output), layer_by_layer(&case, with_input_grad));
            }
        }
    }
}
