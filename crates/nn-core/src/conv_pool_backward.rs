//! The backward pass of the first convolution and its max-pooling (`conv_pool.rs`): the
//! convolution's `δZ` made from the pooling's positions, maxima and gradient a band of windows at
//! a time, and `∂W` summed over the pixels it lists.

use pulp::Simd;

use super::{applies, whole};
use crate::conv_one_channel::Geometry;
use crate::conv_one_channel_gradient::{self, ListPixels, Listed};
use crate::max_positions::MaxPositions;
use crate::pool_window::{PoolWindows, channel_vectors};
use crate::vector_slices::all_finite;
use crate::{Conv2d, MaxPool2d};

/// `∂W` and `∂b` of `conv` (overwritten) for `batch` images of `input`, from the positions and
/// the pooled maxima [`forward`](super::forward) made and the gradient of the loss with respect to the pooling's
/// output, `pooled_grad`: the bits the pooling's backward pass and then the convolution's would
/// give. Returns `false`, having changed nothing, when an input or a pooled gradient is infinite
/// or NaN (a non-finite gradient spreads through the pooling's zeros as `0 · ∞`; the layers one
/// after the other compute it).
///
/// # Panics
///
/// If [`applies`] does not hold, or the slices are shorter than `batch` samples.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weight_gradient(
    conv: &Conv2d,
    pool: &MaxPool2d,
    input: &[f32],
    positions: &MaxPositions,
    pooled: &[f32],
    pooled_grad: &[f32],
    batch: usize,
    weight_grad: &mut [f32],
    bias_grad: &mut [f32],
) -> bool {
    assert!(applies(conv, pool));
    let windows = *pool.windows();
    let pooled_len = windows.output_shape().len();
    let (pooled, pooled_grad) = (&pooled[..batch * pooled_len], &pooled_grad[..batch * pooled_len]);
    if !all_finite(pooled_grad) {
        return false;
    }
    let pooled = Pooled { positions: &positions.positions[..batch * pooled_len], pooled, pooled_grad };
    let mut lister = FromPooled { windows, pooled, bias_sums: Vec::new(), band: Vec::new() };
    let done =
        conv_one_channel_gradient::weight_gradient_of_listed(conv.params(), input, batch, weight_grad, &mut lister);
    if done {
        let filters = bias_grad.len();
        bias_grad.copy_from_slice(&lister.bias_sums[..filters]);
    }
    done
}

/// The lister of [`weight_gradient`]; it sums `∂b` as it goes.
struct FromPooled<'a> {
    windows: PoolWindows,
    /// The batch's.
    pooled: Pooled<'a>,
    /// `∂b` so far, padded to the lister's width.
    bias_sums: Vec<f32>,
    /// `δZ` of one band of windows: `window` rows of the convolution's output, each pixel padded
    /// to the lister's width; lanes past the filters stay zero.
    band: Vec<f32>,
}

impl ListPixels for FromPooled<'_> {
    #[inline(always)]
    fn list<'a, S: Simd>(
        &'a mut self,
        simd: S,
        image: usize,
        geometry: &Geometry,
        width: usize,
        starts: &mut Vec<(u32, u32)>,
        deltas: &mut Vec<f32>,
    ) -> Listed<'a> {
        let FromPooled { windows, pooled, bias_sums, band } = self;
        let (filters, window, row_len) = (geometry.filters, windows.window, geometry.out_width);
        let out = windows.output_shape();
        let pooled = pooled.image(image, out.len());
        if band.len() != window * row_len * width {
            band.clear();
            band.resize(window * row_len * width, 0.0);
        }
        // Pixels below the last band or right of the last window are in no window: zero `δZ`,
        // never listed.
        let candidates = out.height * window * row_len;
        starts.resize(candidates.max(starts.len()), (0, 0));
        deltas.resize((candidates * width).max(deltas.len()), 0.0);
        let zero = simd.splat_f32s(0.0);
        bias_sums.resize(width, 0.0);
        let sums = S::as_mut_simd_f32s(&mut bias_sums[..width]).0;
        let mut listed = 0;
        for by in 0..out.height {
            // A constant window lets the compiler unroll its loops: saito-simple's 2 × 2.
            if window == 2 {
                pooled.band_deltas(simd, (2, filters, out.width), (row_len, width), by, band);
            } else {
                pooled.band_deltas(simd, (window, filters, out.width), (row_len, width), by, band);
            }
            // The band's pixels row by row, as the convolution lists them; ∂b = Σ δZ in the same
            // order, as the convolution adds it (padded lanes add zeros).
            let mut pixels = band.chunks_exact(width);
            for y in by * window..(by + 1) * window {
                for (x, delta) in (0..row_len).zip(&mut pixels) {
                    starts[listed] = (geometry.patch_start(y, x) as u32, (y * row_len + x) as u32);
                    deltas[listed * width..][..width].copy_from_slice(delta);
                    let mut largest = zero;
                    for (sum, &d) in sums.iter_mut().zip(S::as_simd_f32s(delta).0) {
                        *sum = simd.add_f32s(*sum, d);
                        largest = simd.max_f32s(largest, simd.abs_f32s(d));
                    }
                    // δZ is finite here: a value not zero makes its absolute value the largest.
                    listed += usize::from(simd.reduce_max_f32s(largest) > 0.0);
                }
            }
        }
        Listed::Some(listed)
    }
}

/// Pooled maxima, the positions of their pixels in their windows, and the loss's gradient with
/// respect to them: a batch's or one image's.
#[derive(Clone, Copy)]
struct Pooled<'a> {
    positions: &'a [f32],
    pooled: &'a [f32],
    pooled_grad: &'a [f32],
}

impl<'a> Pooled<'a> {
    /// Image `image`'s, of `len` pooled values.
    #[inline(always)]
    fn image(&self, image: usize, len: usize) -> Pooled<'a> {
        let of_image = |values: &'a [f32]| &values[image * len..][..len];
        Pooled {
            positions: of_image(self.positions),
            pooled: of_image(self.pooled),
            pooled_grad: of_image(self.pooled_grad),
        }
    }

    /// `δZ` of the `window` rows of one image's convolution output that pooled row `by` takes,
    /// into `band` (pixels of `width` values, rows of `row_len` pixels).
    #[inline(always)]
    fn band_deltas<S: Simd>(
        &self,
        simd: S,
        (window, filters, out_width): (usize, usize, usize),
        (row_len, width): (usize, usize),
        by: usize,
        band: &mut [f32],
    ) {
        let (zero, one) = (simd.splat_f32s(0.0), simd.splat_f32s(1.0));
        for bx in 0..out_width {
            let at_pooled = (by * out_width + bx) * filters;
            for lanes in channel_vectors(filters, S::F32_LANES, true) {
                let at = at_pooled + lanes.start;
                let (maxima, deltas) = (whole::<S>(self.pooled, at), whole::<S>(self.pooled_grad, at));
                let position = whole::<S>(self.positions, at);
                // ReLU's derivative at the pixel that takes the gradient, whose output is
                // the maximum.
                let relu = simd.select_f32s(simd.greater_than_f32s(maxima, zero), one, zero);
                for dy in 0..window {
                    for dx in 0..window {
                        let x = bx * window + dx;
                        let here = simd.splat_f32s((dy * window + dx) as f32);
                        let take = simd.select_f32s(simd.equal_f32s(position, here), one, zero);
                        // δZ = (take·δ + 0) · relu'(A): the pooling's value, then the layer's.
                        let delta = simd.mul_f32s(simd.mul_add_e_f32s(take, deltas, zero), relu);
                        let at = (dy * row_len + x) * width + lanes.start;
                        S::as_mut_simd_f32s(&mut band[at..at + S::F32_LANES]).0[0] = delta;
                    }
                }
            }
        }
    }
}
