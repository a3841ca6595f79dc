//! A convolution's nonzero `δZ` listed straight from the gradient of the max-pooling after it.
//!
//! Behind a convolution come ReLU, a max-pooling whose windows do not overlap and often dropout:
//! its `δZ` is nonzero only at the maximum of a window whose pooled gradient is nonzero, where
//! the activation's derivative is not zero (2.7% of conv2's in PyTorch's MNIST example). The
//! layers' own passes write the pooling's full-resolution `δA`, zeros and all, then read it back
//! with the convolution's output to make `δZ` and list its nonzero values (`conv_sparse.rs`):
//! three passes over the largest tensor of the network. Here the list is made from the pooled
//! gradient, a quarter of the size, and the outputs of the windows whose gradient is nonzero
//! (or, behind ReLU, the positions of their maxima the forward pass noted).
//!
//! The list is the one `conv_sparse::sparse_delta` makes from the full `δA`: the same values
//! (`δA` at a window's first maximum is its pooled gradient, `δZ = δA · f'(a)`), at the same
//! positions, in the same increasing order, and the sparse pass is chosen by the same counts
//! (`looks_sparse`'s first values, `sparse_delta`'s limit), so the convolution's gradients have
//! the bits of the layers' own passes.

use pulp::{Simd, WithSimd};

use crate::Activation;
use crate::conv_sparse::{NonzeroDeltas, few_enough, looked_at, sparse_in_sample};
use crate::pool_window::PoolWindows;
use crate::vector_slices::{SetBits, all_finite, nonzero_mask};

/// Lists into `nonzero` the nonzero values of the `δZ` of a convolution (of `activation`,
/// `batch` images) that the max-pooling of `windows` (`pooled` its output, `pooled_grad` its
/// output gradient, its maxima found as `maxima` says) and the convolution's own derivative
/// leave. Returns whether the list is whole and sparse enough for the sparse pass; `false`
/// (having listed part or nothing) when it is not, or when a pooled gradient is infinite or NaN
/// (the layers' own passes then make the NaNs a full `δA` would have).
///
/// # Panics
///
/// If the windows overlap, or a slice is shorter than `batch` samples.
pub(crate) fn list_nonzero_deltas(
    activation: Activation,
    windows: &PoolWindows,
    (maxima, pooled, pooled_grad): (Maxima<'_>, &[f32], &[f32]),
    batch: usize,
    nonzero: &mut NonzeroDeltas,
) -> bool {
    assert!(windows.apart(), "each input pixel in one window at most");
    let (image_len, pooled_len) = (windows.input.len(), windows.output_shape().len());
    let found_len = match maxima {
        Maxima::InOutput(conv_output) => conv_output.len() / image_len.max(1),
        Maxima::AtPositions(positions) => positions.len() / pooled_len.max(1),
    };
    assert!(found_len >= batch && pooled.len().min(pooled_grad.len()) >= batch * pooled_len);
    let listing = Listing { activation, windows, maxima, pooled, pooled_grad, batch, nonzero };
    pulp::Arch::new().dispatch(listing)
}

/// Where the pixel of each window that holds its maximum lies.
#[derive(Clone, Copy)]
pub(crate) enum Maxima<'a> {
    /// Found again in the convolution's output: the first pixel (row by row) equal to it.
    InOutput(&'a [f32]),
    /// As the forward pass noted it (`max_positions.rs`), one position per pooled value.
    AtPositions(&'a [f32]),
}

/// How many values of the `δZ` of [`list_nonzero_deltas`] are not zero, counted from the pooling
/// alone: each window whose pooled gradient `δ` is not zero gives it to one pixel, the first
/// holding its maximum `m` (none when `m` is NaN), where `δZ = δ · f'(m)`. The same count as
/// the list's length, without reading the convolution's output; `None` when a pooled gradient
/// is infinite or NaN. For windows that do not overlap, as the list's.
///
/// # Panics
///
/// If the slices differ in length.
pub(crate) fn count_nonzero_deltas(activation: Activation, pooled: &[f32], pooled_grad: &[f32]) -> Option<usize> {
    assert_eq!(pooled.len(), pooled_grad.len());
    if !all_finite(pooled_grad) {
        return None;
    }
    // A NaN maximum equals no pixel. Each arm compiles its own loop, counted in 32 bits
    // a block at a time so that it vectorises; for a finite `δ`, `δ · 1` is not zero exactly
    // when `δ` is not.
    fn count(pooled: &[f32], pooled_grad: &[f32], nonzero: impl Fn(f32, f32) -> bool) -> usize {
        let blocks = pooled.chunks(1 << 16).zip(pooled_grad.chunks(1 << 16));
        blocks.map(|(m, g)| m.iter().zip(g).fold(0u32, |n, (&m, &g)| n + u32::from(nonzero(m, g))) as usize).sum()
    }
    Some(match activation {
        Activation::Relu => count(pooled, pooled_grad, |m, g| m > 0.0 && g != 0.0),
        Activation::Identity => count(pooled, pooled_grad, |m, g| !m.is_nan() && g != 0.0),
        other => count(pooled, pooled_grad, |m, g| !m.is_nan() && g * other.derivative_from_output(m) != 0.0),
    })
}

/// [`list_nonzero_deltas`], compiled for the processor's vectors: the masks below are folds
/// without branches that the compiler turns into vector compares.
struct Listing<'a> {
    activation: Activation,
    windows: &'a PoolWindows,
    maxima: Maxima<'a>,
    pooled: &'a [f32],
    pooled_grad: &'a [f32],
    batch: usize,
    nonzero: &'a mut NonzeroDeltas,
}

impl WithSimd for Listing<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> bool {
        let Listing { activation, windows, maxima: found, pooled, pooled_grad, batch, nonzero } = self;
        let (input, out) = (windows.input, windows.output_shape());
        let (channels, width, window, stride) = (input.channels, input.width, windows.window, windows.stride);
        let (image_len, row_len, cells) = (input.len(), width * channels, window * window);
        let (len, words) = (batch * image_len, channels.div_ceil(64));
        let sample = looked_at(len);
        // How many of the first `sample` values `looks_sparse` would count, and whether they are
        // all listed yet.
        let (mut looked, mut decided) = (0, false);
        // For each window of a pooled row and each of its pixels, the channels whose gradient
        // goes there: nonzero, and the pixel the first of the window (row by row) holding the
        // maximum, the one the pooling's backward pass gives the gradient to.
        let mut masks = vec![0u64; out.width * cells * words];
        // The pixels of a row of windows (window, pixel in it) in the order of the convolution's
        // output: row by row, and within a row each window's pixels after the window before's.
        let in_order: Vec<(usize, usize)> = (0..window)
            .flat_map(|dy| (0..out.width).flat_map(move |ox| (dy * window..(dy + 1) * window).map(move |k| (ox, k))))
            .collect();
        nonzero.clear();
        for image in 0..batch {
            for oy in 0..out.height {
                let row = (image * out.height + oy) * out.width * channels
                    ..(image * out.height + oy + 1) * out.width * channels;
                let (grads, maxima) = (&pooled_grad[row.clone()], &pooled[row.clone()]);
                if !all_finite(grads) {
                    return false;
                }
                let top_left = |ox: usize| (oy * stride * width + ox * stride) * channels;
                let pixel = |ox: usize, k: usize| top_left(ox) + (k / window) * row_len + (k % window) * channels;
                for (ox, masks) in masks.chunks_exact_mut(cells * words).enumerate() {
                    let at = ox * channels;
                    for (word, first) in (0..channels).step_by(64).enumerate() {
                        let end = (first + 64).min(channels);
                        let (grads, maxima) = (&grads[at + first..at + end], &maxima[at + first..at + end]);
                        let mut pending = nonzero_mask(grads);
                        for k in 0..cells {
                            let here = pending
                                & match found {
                                    Maxima::InOutput(outputs) => {
                                        let pixel = image * image_len + pixel(ox, k);
                                        equal_mask(&outputs[pixel + first..pixel + end], maxima)
                                    }
                                    Maxima::AtPositions(positions) => {
                                        let at = row.start + at;
                                        position_mask(&positions[at + first..at + end], k)
                                    }
                                };
                            masks[k * words + word] = here;
                            pending &= !here;
                        }
                    }
                }
                for &(ox, k) in &in_order {
                    let cell = (ox * cells + k) * words;
                    for (word, &bits) in masks[cell..cell + words].iter().enumerate() {
                        for bit in SetBits(bits) {
                            let channel = word * 64 + bit;
                            let offset = pixel(ox, k) + channel;
                            // At the maximum: f'(a) with a = m, the same bits unless it is
                            // zero (for ±0), and then δZ is not listed either way.
                            let derivative = activation.derivative_from_output(maxima[ox * channels + channel]);
                            let position = image * image_len + offset;
                            looked += usize::from(derivative != 0.0 && position < sample);
                            // δZ = δA ⊙ f'(Z), as `Activation::backprop` computes it.
                            let delta = grads[ox * channels + channel] * derivative;
                            if delta != 0.0 {
                                nonzero.push(position, delta);
                            }
                        }
                    }
                }
                // Rows of the convolution's output up to the next window's hold nothing more.
                let listed = if oy + 1 == out.height {
                    (image + 1) * image_len
                } else {
                    image * image_len + (oy + 1) * stride * row_len
                };
                if !decided && listed >= sample {
                    decided = true;
                    if !sparse_in_sample(looked, sample) {
                        return false;
                    }
                }
                if !few_enough(nonzero.len(), len) {
                    return false;
                }
            }
        }
        true
    }
}

/// The bits of `positions` (up to 64) that are position `k`, the first the lowest.
#[inline(always)]
fn position_mask(positions: &[f32], k: usize) -> u64 {
    let k = k as f32;
    match <&[f32; 64]>::try_from(positions) {
        Ok(positions) => (0..64).fold(0, |mask, i| mask | (u64::from(positions[i] == k) << i)),
        _ => positions.iter().enumerate().fold(0, |mask, (i, &p)| mask | (u64::from(p == k) << i)),
    }
}

/// The bits of `values` (up to 64) equal to the matching `maxima`, the first the lowest.
#[inline(always)]
fn equal_mask(values: &[f32], maxima: &[f32]) -> u64 {
    match (<&[f32; 64]>::try_from(values), <&[f32; 64]>::try_from(maxima)) {
        (Ok(values), Ok(maxima)) => (0..64).fold(0, |mask, i| mask | (u64::from(values[i] == maxima[i]) << i)),
        _ => values.iter().zip(maxima).enumerate().fold(0, |mask, (i, (v, m))| mask | (u64::from(v == m) << i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv_sparse::{looks_sparse, sparse_delta};
    use crate::max_positions;
    use crate::test_cases::{POOLINGS, coarse};
    use crate::{Layer, MaxPool2d, Mode, Shape};

    /// The list the layers' own passes make: the pooling's `δA` written whole, `looks_sparse`
    /// and `sparse_delta` on it.
    fn by_the_layers(
        activation: Activation,
        pool: &MaxPool2d,
        conv_output: &[f32],
        pooled_grad: &[f32],
        batch: usize,
    ) -> Option<NonzeroDeltas> {
        let mut pooled = vec![0.0; batch * pool.output_size()];
        pool.forward(conv_output, batch, &mut pooled, Mode::Inference);
        let mut delta = vec![f32::NAN; conv_output.len()];
        let mut grad = pooled_grad.to_vec();
        pool.backward(conv_output, &pooled, batch, &mut grad, Some(&mut delta), &mut [], Mode::Inference);
        let mut nonzero = NonzeroDeltas::default();
        let listed = looks_sparse(activation, conv_output, &delta)
            && sparse_delta(activation, conv_output, &mut delta, &mut nonzero).is_ok();
        listed.then_some(nonzero)
    }

    /// How many values of `δZ` the layers' own passes leave nonzero.
    fn nonzero_delta_z(
        activation: Activation,
        pool: &MaxPool2d,
        conv_output: &[f32],
        pooled_grad: &[f32],
        batch: usize,
    ) -> usize {
        let mut pooled = vec![0.0; batch * pool.output_size()];
        pool.forward(conv_output, batch, &mut pooled, Mode::Inference);
        let mut delta = vec![f32::NAN; conv_output.len()];
        let mut grad = pooled_grad.to_vec();
        pool.backward(conv_output, &pooled, batch, &mut grad, Some(&mut delta), &mut [], Mode::Inference);
        activation.backprop(conv_output, &mut delta);
        delta.iter().filter(|&&d| d != 0.0).count()
    }

    #[test]
    fn the_list_is_the_one_the_layers_make() {
        // Windows that tile the image, leave a row and a column out, or leave gaps; a batch of
        // one; channels around the vector widths; outputs on a coarse grid (windows often hold
        // their maximum twice, and ReLU's zeros); pooled gradients from all zero to all nonzero.
        let mut outcomes = [0, 0];
        for (shape, window, stride, batch) in POOLINGS {
            let pool = MaxPool2d::new(shape, window, stride).unwrap();
            for activation in [Activation::Relu, Activation::Sigmoid, Activation::Identity] {
                let mut conv_output = coarse(batch * shape.len(), 1, 30);
                activation.apply(&mut conv_output);
                let mut pooled = vec![0.0; batch * pool.output_size()];
                let mut positions = vec![0.0; pooled.len()];
                max_positions::pool(pool.windows(), &conv_output, batch, &mut pooled, &mut positions);
                for zeros in [100, 99, 97, 90, 50, 0] {
                    let pooled_grad = coarse(pooled.len(), 2 + zeros, zeros);
                    let want = by_the_layers(activation, &pool, &conv_output, &pooled_grad, batch);
                    let counted = count_nonzero_deltas(activation, &pooled, &pooled_grad);
                    assert_eq!(counted, Some(nonzero_delta_z(activation, &pool, &conv_output, &pooled_grad, batch)));
                    // The maxima found in the output, or where the forward pass noted them.
                    for maxima in [Maxima::InOutput(&conv_output), Maxima::AtPositions(&positions)] {
                        let mut got = NonzeroDeltas::default();
                        let buffers = (maxima, &pooled[..], &pooled_grad[..]);
                        let listed = list_nonzero_deltas(activation, pool.windows(), buffers, batch, &mut got);
                        let case = format!("{shape} window {window} stride {stride} {activation} {zeros}% zeros");
                        assert_eq!(listed, want.is_some(), "{case}");
                        outcomes[usize::from(listed)] += 1;
                        if let Some(want) = &want {
                            assert_eq!(got.positions, want.positions, "{case}");
                            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                            assert_eq!(bits(&got.values), bits(&want.values), "{case}");
                        }
                    }
                }
            }
        }
        assert!(outcomes[0] > 10 && outcomes[1] > 10, "both passes chosen: {outcomes:?}");
    }

    #[test]
    fn a_gradient_that_is_not_finite_goes_to_the_layers() {
        let pool = MaxPool2d::new(Shape::new(2, 4, 4), 2, 2).unwrap();
        let conv_output = coarse(pool.input_size(), 3, 0);
        let mut pooled = vec![0.0; pool.output_size()];
        pool.forward(&conv_output, 1, &mut pooled, Mode::Inference);
        let mut pooled_grad = vec![0.0; pooled.len()];
        pooled_grad[5] = f32::NAN;
        let buffers = (Maxima::InOutput(&conv_output), &pooled[..], &pooled_grad[..]);
        let mut nonzero = NonzeroDeltas::default();
        assert!(!list_nonzero_deltas(Activation::Relu, pool.windows(), buffers, 1, &mut nonzero));
        assert_eq!(count_nonzero_deltas(Activation::Relu, &pooled, &pooled_grad), None);
        pooled_grad[5] = 0.0;
        let buffers = (Maxima::InOutput(&conv_output), &pooled[..], &pooled_grad[..]);
        assert!(list_nonzero_deltas(Activation::Relu, pool.windows(), buffers, 1, &mut nonzero));
        assert_eq!(nonzero.len(), 0);
    }
}
