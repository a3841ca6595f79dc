//! A Winograd ReLU convolution's forward pass pooled by 2x2 windows of stride 2 as each tile
//! comes out of `Aᵀ M A`: a 4x4 tile holds 2x2 whole windows (tiles start at multiples of 4),
//! so each window's maximum and where it lies (`max_positions.rs`) are taken in registers, and
//! the convolution's outputs are never stored. The bits of the convolution's pass and then the
//! pooling's: the same outputs, the same maxima in the same order.

use pulp::{Simd, WithSimd};

use super::Winograd;
use crate::max_positions::first_maximum;
use crate::vector_slices::Lanes;
use crate::winograd_sandwiches::relu_outputs;
use crate::winograd_transforms::OUT;

impl Winograd {
    /// Whether [`forward_pooled`](Winograd::forward_pooled) computes this convolution: its
    /// filters in whole vectors.
    pub(crate) fn pools_whole_vectors(&self) -> bool {
        self.filters.is_multiple_of(pulp::Arch::new().dispatch(Lanes))
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
        let (pooled_height, pooled_width) = (plan.out_height / 2, plan.out_width / 2);
        let per_image = plan.tiles_per_image();
        for tile in 0..images * per_image {
            let (image, within) = (tile / per_image, tile % per_image);
            // The tile's first window; a tile at the bottom or right edge may hold fewer.
            let (top, left) = (within / plan.tiles_across * OUT / 2, within % plan.tiles_across * OUT / 2);
            let windows_down = (pooled_height - top).min(OUT / 2);
            let windows_across = (pooled_width - left).min(OUT / 2);
            for (v, &bias) in bias.iter().enumerate().take(vectors) {
                let y = relu_outputs(simd, m, (tile, vectors, v), bias);
                for wy in 0..windows_down {
                    for wx in 0..windows_across {
                        let (dy, dx) = (2 * wy, 2 * wx);
                        // The window's pixels row by row, as `PoolWindows` lists them.
                        let pixels = [y[dy][dx], y[dy][dx + 1], y[dy + 1][dx], y[dy + 1][dx + 1]];
                        let (maximum, position) = first_maximum(simd, &[0, 1, 2, 3], |k| pixels[k]);
                        let at = ((image * pooled_height + top + wy) * pooled_width + left + wx) * vectors + v;
                        pooled[at] = maximum;
                        positions[at] = position;
                    }
                }
            }
        }
    }
}
