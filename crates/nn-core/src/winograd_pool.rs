//! A Winograd ReLU convolution followed by a max-pooling of 2x2 windows, stride 2, with the
//! full-resolution tensor between them never stored. A 4x4 tile holds 2x2 whole windows (tiles
//! start at multiples of 4), so forward, each window's maximum and where it lies
//! (`max_positions.rs`) are taken in registers as the tile comes out of `Aᵀ M A`; backward, the
//! tile's `δZ` is made in registers from those positions and goes straight into `A δZ Aᵀ`. The
//! bits of the convolution's passes and the pooling's: the same values, in the same order.

use std::ops::Range;

use pulp::{Simd, WithSimd};

use super::Winograd;
use crate::Shape;
use crate::max_positions::{AfterPooling, add_relu_bias_gradient, first_maximum, window_delta};
use crate::pool_window::PoolWindows;
use crate::vector_slices::Lanes;
use crate::winograd_sandwiches::{output_grad_products, relu_outputs};
use crate::winograd_transforms::{OUT, unrolled};

impl Winograd {
    /// Whether [`forward_pooled`](Winograd::forward_pooled) computes this convolution: its
    /// filters in whole vectors.
    pub(crate) fn pools_whole_vectors(&self) -> bool {
        self.filters.is_multiple_of(pulp::Arch::new().dispatch(Lanes))
    }

    /// The pooling's windows.
    fn windows(&self) -> PoolWindows {
        PoolWindows { input: Shape::new(self.filters, self.out_height, self.out_width), window: 2, stride: 2 }
    }

    /// The windows that tile `tile` of a chunk holds: the pooled pixel (of the chunk) of its
    /// first window, and how many windows down and across it holds, fewer at the bottom or right
    /// edge. Window `(wy, wx)` of the tile is pooled pixel `first + wy · pooled width + wx`.
    #[inline(always)]
    fn tile_windows(&self, tile: usize) -> (usize, usize, usize) {
        let (pooled_height, pooled_width) = (self.out_height / 2, self.out_width / 2);
        let per_image = self.tiles_per_image();
        let (image, within) = (tile / per_image, tile % per_image);
        let (top, left) = (within / self.tiles_across * OUT / 2, within % self.tiles_across * OUT / 2);
        let first = (image * pooled_height + top) * pooled_width + left;
        (first, (pooled_height - top).min(OUT / 2), (pooled_width - left).min(OUT / 2))
    }

    /// `∂M = A δZ Aᵀ` for the tiles of `images` (of the batch) into `m_grad`, and `Σ δZ` added
    /// to `bias_grad` in the order of the pixels, with `δZ` made from `after`: the bits of
    /// `max_positions::relu_delta`, then the sum of `∂b` and the sandwiches over `δZ` in memory.
    ///
    /// # Panics
    ///
    /// If [`pools_whole_vectors`](Winograd::pools_whole_vectors) does not hold, or the slices
    /// are shorter than the images.
    pub(super) fn pooled_output_grad(
        &self,
        after: AfterPooling<'_>,
        images: Range<usize>,
        m_grad: &mut [f32],
        bias_grad: &mut [f32],
    ) {
        assert!(self.pools_whole_vectors());
        let windows = self.windows();
        let pooled_len = windows.output_shape().len();
        let after = after.values(images.start * pooled_len..images.end * pooled_len);
        add_relu_bias_gradient(&windows, after, images.len(), bias_grad);
        pulp::Arch::new().dispatch(PooledGradTiles { plan: self, after, images: images.len(), m_grad });
    }

    /// `max(0, W ⋆ X + b)` for `batch` images of `input`, max-pooled by 2x2 windows of stride 2
    /// into `pooled`, and where each maximum lies into `positions` (as `max_positions::pool`
    /// writes them).
    ///
    /// # Panics
    ///
    /// If [`pools_whole_vectors`](Winograd::pools_whole_vectors) does not hold, or the slices
    /// are shorter than `batch` images.
    pub(crate) fn forward_pooled(
        &self,
        (weights, bias): (&[f32], &[f32]),
        input: &[f32],
        batch: usize,
        pooled: &mut [f32],
        positions: &mut [f32],
    ) {
        assert!(self.pools_whole_vectors());
        let pooled_len = (self.out_height / 2) * (self.out_width / 2) * self.filters;
        self.products_by_chunk(weights, input, batch, |images, m, _| {
            let values = images.start * pooled_len..images.end * pooled_len;
            let pass = PooledTiles {
                plan: self,
                m,
                bias,
                images: images.len(),
                pooled: &mut pooled[values.clone()],
                positions: &mut positions[values],
            };
            pulp::Arch::new().dispatch(pass);
        });
    }
}

/// The pooled outputs of a chunk of `images`, from its products `m`.
struct PooledTiles<'a> {
    plan: &'a Winograd,
    m: &'a [f32],
    bias: &'a [f32],
    images: usize,
    pooled: &'a mut [f32],
    positions: &'a mut [f32],
}

impl WithSimd for PooledTiles<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let PooledTiles { plan, m, bias, images, pooled, positions } = self;
        let vectors = plan.filters / S::F32_LANES;
        let (m, _) = S::as_simd_f32s(m);
        let (bias, _) = S::as_simd_f32s(bias);
        let (pooled, _) = S::as_mut_simd_f32s(pooled);
        let (positions, _) = S::as_mut_simd_f32s(positions);
        let pooled_width = plan.out_width / 2;
        for tile in 0..images * plan.tiles_per_image() {
            let (first, windows_down, windows_across) = plan.tile_windows(tile);
            for (v, &bias) in bias.iter().enumerate().take(vectors) {
                let y = relu_outputs(simd, m, (tile, vectors, v), bias);
                for wy in 0..windows_down {
                    for wx in 0..windows_across {
                        let (dy, dx) = (2 * wy, 2 * wx);
                        // The window's pixels row by row, as `PoolWindows` lists them.
                        let pixels = [y[dy][dx], y[dy][dx + 1], y[dy + 1][dx], y[dy + 1][dx + 1]];
                        let (maximum, position) = first_maximum(simd, &[0, 1, 2, 3], |k| pixels[k]);
                        let at = (first + wy * pooled_width + wx) * vectors + v;
                        pooled[at] = maximum;
                        positions[at] = position;
                    }
                }
            }
        }
    }
}

/// `∂M` of a chunk of `images`, from what the pooling gives them.
struct PooledGradTiles<'a> {
    plan: &'a Winograd,
    after: AfterPooling<'a>,
    images: usize,
    m_grad: &'a mut [f32],
}

impl WithSimd for PooledGradTiles<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let PooledGradTiles { plan, after, images, m_grad } = self;
        let vectors = plan.filters / S::F32_LANES;
        let after = after.in_vectors::<S>();
        let (m_grad, _) = S::as_mut_simd_f32s(m_grad);
        let pooled_width = plan.out_width / 2;
        for tile in 0..images * plan.tiles_per_image() {
            let (first, windows_down, windows_across) = plan.tile_windows(tile);
            for v in 0..vectors {
                // The pixels of no window (past the output, or on an odd last row or column)
                // get no gradient.
                let mut delta = [[simd.splat_f32s(0.0); OUT]; OUT];
                unrolled!(OUT / 2, |wy| unrolled!(OUT / 2, |wx| if wy < windows_down && wx < windows_across {
                    let after = after.at((first + wy * pooled_width + wx) * vectors + v);
                    // The window's pixels row by row, as `PoolWindows` lists them.
                    window_delta(simd, after, 4, |k, value| delta[2 * wy + k / 2][2 * wx + k % 2] = value);
                }));
                output_grad_products(simd, &delta, m_grad, (tile, vectors, v));
            }
        }
    }
}
