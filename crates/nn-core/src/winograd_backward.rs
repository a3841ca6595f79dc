//! The backward pass of a Winograd convolution (`winograd.rs`): `∂M = A ∂Y Aᵀ` per tile, then
//! `∂U_ξ = Σ_tiles ∂M_ξ V_ξᵀ` and `∂V_ξ = U_ξᵀ ∂M_ξ` at each of the 36 positions, then
//! `∂W = Gᵀ ∂U G` and `∂X = B ∂V Bᵀ`, added where the tiles overlap: the exact gradient of the
//! forward pass as computed, a chunk of images at a time.

use std::marker::PhantomData;
use std::ops::Range;

use super::{SCRATCH, Winograd};
use crate::affine::Columns;
use crate::aligned_buffer::AlignedBuffer;
use crate::max_positions::AfterPooling;
use crate::outer_products::{self, sum_outer_products};
use crate::products::weight_gradient_strided;
use crate::transpose::transpose;
use crate::winograd_products::products;
use crate::winograd_sandwiches::{Finish, Sandwiches, Square, at_position};
use crate::winograd_transforms::{InputGradTransform, KernelGradTransform, OutputGradTransform, POSITIONS, TILE};

impl Winograd {
    /// Given `∂A` in `output_grad`: `∂W` (overwritten, `filters × (3 · 3 · channels)`) and, when
    /// asked, `∂X` (overwritten). `to_delta(range, δ)` turns the `∂A` of each chunk of images
    /// (outputs `range`) into `∂Z` in place just before the chunk is used, while it is in the
    /// cache: the conv layer multiplies by `f'` there and sums `∂b`. Without `output_grad`,
    /// `to_delta` writes each chunk's `∂Z` from nothing, into a scratch of one chunk that stays
    /// in the cache (where the max-pooling after the convolution makes it, `conv_then_pool.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        weights: &[f32],
        input: &[f32],
        batch: usize,
        mut output_grad: Option<&mut [f32]>,
        input_grad: Option<&mut [f32]>,
        weight_grad: &mut [f32],
        mut to_delta: impl FnMut(Range<usize>, &mut [f32]),
    ) {
        let (filters, output_len) = (self.filters, self.out_height * self.out_width * self.filters);
        let transformed_delta = |images: Range<usize>, outputs: &mut AlignedBuffer, m_grad: &mut [f32]| {
            let outputs_range = images.start * output_len..images.end * output_len;
            let delta = match output_grad.as_deref_mut() {
                Some(output_grad) => &mut output_grad[outputs_range.clone()],
                None => outputs.sized(outputs_range.len()),
            };
            to_delta(outputs_range, delta);
            // ∂M = A ∂Y Aᵀ, zeros past the image's outputs.
            let sandwich = Sandwiches {
                coefficients: PhantomData::<OutputGradTransform>,
                count: images.len() * self.tiles_per_image(),
                len: filters,
                source: &*delta,
                source_at: |tile| self.output_square(tile),
                target: m_grad,
                target_at: |tile| Square::transformed(tile, filters),
                finish: Finish::Store,
            };
            pulp::Arch::new().dispatch(sandwich);
        };
        self.backward_from(weights, input, batch, input_grad, weight_grad, transformed_delta);
    }

    /// [`backward`](Winograd::backward) of a ReLU convolution max-pooled by 2x2 windows of
    /// stride 2, from what the pooling gives: each tile's `δZ` is made in registers
    /// (`winograd_pool.rs`), and `∂b` (overwritten) is summed from the windows' maxima.
    ///
    /// # Panics
    ///
    /// If [`pools_whole_vectors`](Winograd::pools_whole_vectors) does not hold, or the slices
    /// are shorter than `batch` images.
    pub(crate) fn backward_pooled(
        &self,
        (weights, input, batch): (&[f32], &[f32], usize),
        after: AfterPooling<'_>,
        input_grad: Option<&mut [f32]>,
        weight_grad: &mut [f32],
        bias_grad: &mut [f32],
    ) {
        bias_grad.fill(0.0);
        let transformed_delta = |images: Range<usize>, _: &mut AlignedBuffer, m_grad: &mut [f32]| {
            self.pooled_output_grad(after, images, m_grad, bias_grad);
        };
        self.backward_from(weights, input, batch, input_grad, weight_grad, transformed_delta);
    }

    /// The passes after `∂M`, which `transformed_delta(images, scratch, ∂M)` writes for each
    /// chunk of images just before it is used (with a scratch of one chunk of outputs).
    fn backward_from(
        &self,
        weights: &[f32],
        input: &[f32],
        batch: usize,
        mut input_grad: Option<&mut [f32]>,
        weight_grad: &mut [f32],
        mut transformed_delta: impl FnMut(Range<usize>, &mut AlignedBuffer, &mut [f32]),
    ) {
        let (channels, filters) = (self.channels, self.filters);
        let image_len = self.height * self.width * channels;
        let per_image = self.tiles_per_image();
        SCRATCH.with_borrow_mut(|scratch| {
            let kernel = self.transform_kernel(weights, &mut scratch.kernel);
            let kernel_grad = scratch.kernel_grad.sized(POSITIONS * filters * channels);
            let kernel_transposed = scratch.kernel_transposed.sized(kernel.len());
            for (u, u_transposed) in
                kernel.chunks_exact(filters * channels).zip(kernel_transposed.chunks_exact_mut(filters * channels))
            {
                transpose(u, channels, filters, u_transposed);
            }
            let zeros = vec![0.0; channels];
            for first in (0..batch).step_by(self.images_per_chunk()) {
                let images = self.images_per_chunk().min(batch - first);
                let tiles = images * per_image;
                let v = self.transform_input(
                    &input[first * image_len..(first + images) * image_len],
                    tiles,
                    &mut scratch.tiles,
                );
                let m_grad = scratch.products.sized(POSITIONS * tiles * filters);
                transformed_delta(first..first + images, &mut scratch.outputs, m_grad);
                let m_grad = &*m_grad;
                let sizes = (filters, channels, tiles);
                let m_grad_at = |position: usize| {
                    let (at, stride) = at_position(position, filters);
                    Columns { values: &m_grad[at..], stride }
                };
                for (position, u_grad) in kernel_grad.chunks_exact_mut(filters * channels).enumerate() {
                    let (v_at, v_stride) = at_position(position, channels);
                    let v = Columns { values: &v[v_at..], stride: v_stride };
                    if outer_products::applies(filters) {
                        sum_outer_products(m_grad_at(position), v, sizes, u_grad, first > 0);
                    } else {
                        weight_gradient_strided(m_grad_at(position), v, sizes, u_grad, first > 0);
                    }
                }
                if let Some(input_grad) = input_grad.as_deref_mut() {
                    // ∂V_ξ = U_ξᵀ ∂M_ξ on the affine kernel, which reads ∂M where it lies (`gemm`
                    // would first copy it).
                    let v_grad = scratch.tiles_grad.sized(POSITIONS * tiles * channels);
                    for (position, u_transposed) in kernel_transposed.chunks_exact(filters * channels).enumerate() {
                        let (at, stride) = at_position(position, channels);
                        products(u_transposed, &zeros, m_grad_at(position), tiles, &mut v_grad[at..], stride);
                    }
                    let images = &mut input_grad[first * image_len..(first + images) * image_len];
                    self.transform_input_grad(v_grad, tiles, images);
                }
            }
            // ∂W = Gᵀ ∂U G, for each (filter, channel); ∂U_ξ is `filters × channels`.
            let sandwich = Sandwiches {
                coefficients: PhantomData::<KernelGradTransform>,
                count: channels,
                len: filters,
                source: kernel_grad,
                source_at: |c| Square::whole(c * filters, TILE * channels * filters, channels * filters),
                target: weight_grad,
                target_at: |c| Square::whole(c * filters, 3 * channels * filters, channels * filters),
                finish: Finish::Store,
            };
            pulp::Arch::new().dispatch(sandwich);
        });
    }

    /// `∂X = B ∂V Bᵀ` for the `tiles` tiles of `images` (overwritten), added where they overlap,
    /// in the order of the tiles.
    fn transform_input_grad(&self, v_grad: &[f32], tiles: usize, images: &mut [f32]) {
        let channels = self.channels;
        images.fill(0.0);
        let sandwich = Sandwiches {
            coefficients: PhantomData::<InputGradTransform>,
            count: tiles,
            len: channels,
            source: v_grad,
            source_at: |tile| Square::transformed(tile, channels),
            target: images,
            target_at: |tile| self.image_square(tile),
            finish: Finish::Add,
        };
        pulp::Arch::new().dispatch(sandwich);
    }
}
