//! 3x3 convolutions of stride 1 by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray,
//! *Fast Algorithms for Convolutional Neural Networks*, 2016): 4x fewer multiplications than
//! im2col, for the same result up to rounding.
//!
//! The padded image is cut into tiles of 6x6 pixels that overlap by 2 and give 4x4 outputs
//! each. In one dimension, 4 outputs of a 3-tap filter `g` on 6 inputs `d` are
//! `y = Aᵀ [(G g) ⊙ (Bᵀ d)]`; in two, `Y = Aᵀ [U ⊙ V] A` with `U = G g Gᵀ` (the kernel, 6x6) and
//! `V = Bᵀ d B` (the tile, 6x6). Summed over channels, the element-wise product becomes, at each
//! of the 36 positions `ξ` of a 6x6 tile, one matrix product: `M_ξ = U_ξ V_ξ`, `U_ξ` being
//! `filters × channels` and `V_ξ` holding one column of `channels` values per tile. Those 36
//! products (36 multiplications per 16 outputs, against 9 · 16 for im2col) go to the dense
//! layers' affine kernel, or to kernels of its operations shaped for 1, 2 or 4 vectors of
//! outputs (`winograd_products.rs`), so each output is still computed the same way whatever the
//! batch.
//!
//! The backward pass differentiates these same formulas: with `∂M = A ∂Y Aᵀ` per tile,
//! `∂U_ξ = Σ_tiles ∂M_ξ V_ξᵀ` and `∂V_ξ = U_ξᵀ ∂M_ξ` (36 products each), then `∂W = Gᵀ ∂U G`
//! and `∂X = B ∂V Bᵀ`, added where the tiles overlap (`winograd_backward.rs`). It is the exact
//! gradient of the forward pass as computed.
//!
//! Every transform is a "sandwich" `L X Lᵀ` of a small constant matrix `L` around a square of
//! vectors (channels or filters, contiguous since images are stored channels last), computed
//! with the processor's widest vectors through `pulp` (`winograd_transforms.rs` holds the matrices,
//! `winograd_sandwiches.rs` runs them over the tiles in memory). This file plans
//! the tiles of a convolution and runs its passes over them, a chunk of images at a time.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Range;

use crate::affine::Columns;
use crate::aligned_buffer::AlignedBuffer;
use crate::winograd_products::products;
use crate::winograd_sandwiches::{Finish, Sandwiches, Square, at_position};
use crate::winograd_transforms::{InputTransform, KernelTransform, OUT, OutputTransform, POSITIONS, TILE};
use crate::{Activation, Conv2dParams};

#[path = "winograd_backward.rs"]
mod backward;
#[path = "winograd_pool.rs"]
mod pool;

/// Values of transformed tiles per chunk of images (1 MB): as many whole images as fit (at
/// least one). A constant, so that the order of every sum depends on the shapes alone.
const CHUNK: usize = 1 << 18;

/// Input channels below which im2col stays faster: with one channel, each of the 36 products
/// has a single term, and the transforms cost more than they save.
const MIN_CHANNELS: usize = 4;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Buffers reused by every Winograd convolution run on this thread.
#[derive(Default)]
struct Scratch {
    /// `V`: the chunk's transformed tiles, tile by tile, each tile's 36 positions side by side
    /// (`Square::transformed`).
    tiles: AlignedBuffer,
    /// `M` or `∂M`: the products, laid out as `V`.
    products: AlignedBuffer,
    /// `∂V`.
    tiles_grad: AlignedBuffer,
    /// `U`: the transformed kernel, position by position.
    kernel: AlignedBuffer,
    /// `∂U`.
    kernel_grad: AlignedBuffer,
    /// A chunk's outputs, when the caller does not keep them; backward, a chunk's `∂Z`, when
    /// the caller does not keep it.
    outputs: AlignedBuffer,
    /// `U_ξᵀ`, `channels × filters` for each position.
    kernel_transposed: AlignedBuffer,
}

/// A convolution's sizes, as the tiles see them.
pub(crate) struct Winograd {
    channels: usize,
    filters: usize,
    height: usize,
    width: usize,
    padding: usize,
    out_height: usize,
    out_width: usize,
    tiles_down: usize,
    tiles_across: usize,
}

impl Winograd {
    /// The plan for a convolution, if it is one this method computes well: a 3x3 kernel, stride
    /// 1 and at least [`MIN_CHANNELS`] input channels.
    pub(crate) fn plan(params: &Conv2dParams) -> Option<Self> {
        if params.kernel != (3, 3) || params.stride != 1 || params.input.channels < MIN_CHANNELS {
            return None;
        }
        let output = params.output_shape();
        Some(Winograd {
            channels: params.input.channels,
            filters: params.filters,
            height: params.input.height,
            width: params.input.width,
            padding: params.padding,
            out_height: output.height,
            out_width: output.width,
            tiles_down: output.height.div_ceil(OUT),
            tiles_across: output.width.div_ceil(OUT),
        })
    }

    fn tiles_per_image(&self) -> usize {
        self.tiles_down * self.tiles_across
    }

    fn images_per_chunk(&self) -> usize {
        (CHUNK / (POSITIONS * self.tiles_per_image() * (self.channels + self.filters))).max(1)
    }

    /// Where the 6x6 pixels of tile `tile` of the chunk lie in its images: a tile starts
    /// `padding` pixels before its outputs, and the pixels of the padding, or past the image on
    /// the last row and column of tiles, are zeros.
    fn image_square(&self, tile: usize) -> Square {
        let per_image = self.tiles_per_image();
        let (image, tile) = (tile / per_image, tile % per_image);
        let (ty, tx) = (tile / self.tiles_across * OUT, tile % self.tiles_across * OUT);
        let (row, column) = (self.width * self.channels, self.channels);
        // The tile's first pixel, in the padding (before the image) for the first tiles.
        let origin = (image * self.height * row + ty * row + tx * column).wrapping_sub(self.padding * (row + column));
        Square {
            base: origin,
            row,
            column,
            first_row: self.padding.saturating_sub(ty),
            rows: (self.height + self.padding).saturating_sub(ty).min(TILE),
            first_column: self.padding.saturating_sub(tx),
            columns: (self.width + self.padding).saturating_sub(tx).min(TILE),
        }
    }

    /// Where the 4x4 outputs of tile `tile` of the chunk lie in `output`: tiles on the last row
    /// and column may reach past the image, and have fewer.
    fn output_square(&self, tile: usize) -> Square {
        let per_image = self.tiles_per_image();
        let (image, tile) = (tile / per_image, tile % per_image);
        let (oy, ox) = (tile / self.tiles_across * OUT, tile % self.tiles_across * OUT);
        let row = self.out_width * self.filters;
        Square {
            base: image * self.out_height * row + oy * row + ox * self.filters,
            row,
            column: self.filters,
            first_row: 0,
            rows: (self.out_height - oy).min(OUT),
            first_column: 0,
            columns: (self.out_width - ox).min(OUT),
        }
    }

    /// `A = f(W ⋆ X + b)` for `batch` images (channels last) into `output`, or, without it, into
    /// a chunk's scratch that `after_chunk` alone sees; `weights` is `filters × (3 · 3 ·
    /// channels)` as in [`Conv2d`](crate::Conv2d). The bias and ReLU are applied as each tile's
    /// outputs are stored; any other `f` runs on each chunk of images as soon as its outputs are
    /// computed, while they are in the cache, and then `after_chunk(images, outputs)` (a
    /// max-pooling, in `conv_then_pool.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        weights: &[f32],
        bias: &[f32],
        input: &[f32],
        batch: usize,
        mut output: Option<&mut [f32]>,
        activation: Activation,
        mut after_chunk: impl FnMut(Range<usize>, &[f32]),
    ) {
        let filters = self.filters;
        let output_len = self.out_height * self.out_width * filters;
        self.products_by_chunk(weights, input, batch, |images, m, outputs| {
            let tiles = images.len() * self.tiles_per_image();
            let output = match output.as_deref_mut() {
                Some(output) => &mut output[images.start * output_len..images.end * output_len],
                None => outputs.sized(images.len() * output_len),
            };
            // Y = Aᵀ M A + b, tile by tile, and ReLU while the tile is in registers.
            let relu = activation == Activation::Relu;
            let sandwich = Sandwiches {
                coefficients: PhantomData::<OutputTransform>,
                count: tiles,
                len: filters,
                source: m,
                source_at: |tile| Square::transformed(tile, filters),
                target: &mut *output,
                target_at: |tile| self.output_square(tile),
                finish: Finish::Bias { bias, relu },
            };
            pulp::Arch::new().dispatch(sandwich);
            if !relu {
                activation.apply(output);
            }
            after_chunk(images, output);
        });
    }

    /// `M = U V` for each chunk of images of `input`: `each(images, M, scratch)`, with a scratch
    /// buffer for the chunk's outputs.
    fn products_by_chunk(
        &self,
        weights: &[f32],
        input: &[f32],
        batch: usize,
        mut each: impl FnMut(Range<usize>, &[f32], &mut AlignedBuffer),
    ) {
        let (channels, filters) = (self.channels, self.filters);
        let image_len = self.height * self.width * channels;
        let zeros = vec![0.0; filters];
        SCRATCH.with_borrow_mut(|scratch| {
            let kernel = self.transform_kernel(weights, &mut scratch.kernel);
            for first in (0..batch).step_by(self.images_per_chunk()) {
                let images = self.images_per_chunk().min(batch - first);
                let tiles = images * self.tiles_per_image();
                let input = &input[first * image_len..(first + images) * image_len];
                let v = self.transform_input(input, tiles, &mut scratch.tiles);
                let m = scratch.products.sized(POSITIONS * tiles * filters);
                for (position, u) in kernel.chunks_exact(filters * channels).enumerate() {
                    let (v_at, v_stride) = at_position(position, channels);
                    let (m_at, m_stride) = at_position(position, filters);
                    let v = Columns { values: &v[v_at..], stride: v_stride };
                    products(u, &zeros, v, tiles, &mut m[m_at..], m_stride);
                }
                each(first..first + images, m, &mut scratch.outputs);
            }
        });
    }

    /// `U = G g Gᵀ` for each (filter, channel): 36 matrices of `filters × channels`.
    fn transform_kernel<'a>(&self, weights: &[f32], kernel: &'a mut AlignedBuffer) -> &'a [f32] {
        let (channels, filters) = (self.channels, self.filters);
        let kernel = kernel.sized(POSITIONS * filters * channels);
        let sandwich = Sandwiches {
            coefficients: PhantomData::<KernelTransform>,
            count: channels,
            len: filters,
            source: weights,
            source_at: |c| Square::whole(c * filters, 3 * channels * filters, channels * filters),
            target: &mut *kernel,
            target_at: |c| Square::whole(c * filters, TILE * channels * filters, channels * filters),
            finish: Finish::Store,
        };
        pulp::Arch::new().dispatch(sandwich);
        kernel
    }

    /// `V = Bᵀ d B` for every tile of `images`: `tiles` blocks of 36 vectors of `channels`.
    fn transform_input<'a>(&self, images: &[f32], tiles: usize, v: &'a mut AlignedBuffer) -> &'a [f32] {
        let channels = self.channels;
        let v = v.sized(POSITIONS * tiles * channels);
        let sandwich = Sandwiches {
            coefficients: PhantomData::<InputTransform>,
            count: tiles,
            len: channels,
            source: images,
            source_at: |tile| self.image_square(tile),
            target: &mut *v,
            target_at: |tile| Square::transformed(tile, channels),
            finish: Finish::Store,
        };
        pulp::Arch::new().dispatch(sandwich);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A convolution written from its definition, in f64, channels last: the outputs and, for
    /// an output gradient `delta`, the gradients of the weights and of the input.
    struct Direct<'a> {
        plan: &'a Winograd,
        weights: &'a [f32],
    }

    impl Direct<'_> {
        /// Calls `visit(output index, weight index, input index)` for every product of the sums.
        fn each_product(&self, image: usize, mut visit: impl FnMut(usize, usize, Option<usize>)) {
            let p = self.plan;
            let (c_in, f) = (p.channels, p.filters);
            for oy in 0..p.out_height {
                for ox in 0..p.out_width {
                    for o in 0..f {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                for c in 0..c_in {
                                    let (y, x) = (
                                        (oy + ky) as isize - p.padding as isize,
                                        (ox + kx) as isize - p.padding as isize,
                                    );
                                    let inside =
                                        (0..p.height as isize).contains(&y) && (0..p.width as isize).contains(&x);
                                    let input = inside.then(|| {
                                        image * p.height * p.width * c_in
                                            + (y as usize * p.width + x as usize) * c_in
                                            + c
                                    });
                                    let output =
                                        image * p.out_height * p.out_width * f + (oy * p.out_width + ox) * f + o;
                                    visit(output, ((ky * 3 + kx) * c_in + c) * f + o, input);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i + seed) * 7919 % 2003) as f32 / 1001.5) - 1.0).collect()
    }

    #[test]
    fn passes_match_the_definition() {
        // Sizes that leave partial tiles, one tile, several images per chunk, and (the last)
        // several chunks, whose `∂U` are summed; 16 and 32 filters take `outer_products.rs`;
        // channels and filters in whole vectors, tiles at the edges and inside, with padding 1
        // and 2 (the transforms' whole-vector path).
        for (channels, filters, height, width, padding, batch) in [
            (4, 3, 7, 9, 0, 2),
            (16, 16, 10, 11, 2, 2),
            (32, 64, 9, 9, 1, 1),
            (5, 17, 6, 6, 1, 1),
            (4, 2, 3, 3, 2, 3),
            (8, 16, 14, 14, 1, 4),
            (6, 33, 9, 5, 2, 2),
            (12, 32, 28, 28, 1, 5),
        ] {
            let params =
                Conv2dParams::new_at(crate::Shape::new(channels, height, width), filters, (3, 3), 1, padding, 0)
                    .unwrap();
            let plan = Winograd::plan(&params).unwrap();
            assert!(filters != 32 || plan.images_per_chunk() < batch, "the last case spans chunks");
            let weights = values(filters * 9 * channels, 1);
            let bias = values(filters, 2);
            let input = values(batch * params.input.len(), 3);
            let output_len = batch * params.output_shape().len();
            let direct = Direct { plan: &plan, weights: &weights };
            let mut want = vec![0.0f64; output_len];
            for image in 0..batch {
                direct.each_product(image, |o, w, x| {
                    want[o] += f64::from(direct.weights[w]) * x.map_or(0.0, |x| f64::from(input[x]))
                });
            }
            for (z, b) in want.iter_mut().zip(bias.iter().cycle()) {
                *z += f64::from(*b);
            }
            let mut output = vec![f32::NAN; output_len];
            plan.forward(&weights, &bias, &input, batch, Some(&mut output), Activation::Identity, |_, _| {});
            let close = |got: f32, want: f64| (f64::from(got) - want).abs() < 1e-4 * (1.0 + want.abs());
            for (i, (&got, &want)) in output.iter().zip(&want).enumerate() {
                assert!(close(got, want), "{channels}x{height}x{width} pad {padding}, output {i}: {got} vs {want}");
            }

            let delta = values(output_len, 4);
            let (mut weight_want, mut input_want) = (vec![0.0f64; weights.len()], vec![0.0f64; input.len()]);
            // Σ |term| of each sum: Winograd's transforms round in proportion to it, and the
            // gradients of the weights of the last case sum 3,920 terms each.
            let (mut weight_scale, mut input_scale) = (vec![0.0f64; weights.len()], vec![0.0f64; input.len()]);
            for image in 0..batch {
                direct.each_product(image, |o, w, x| {
                    if let Some(x) = x {
                        let (by_input, by_weight) =
                            (f64::from(delta[o]) * f64::from(input[x]), f64::from(delta[o]) * f64::from(weights[w]));
                        weight_want[w] += by_input;
                        input_want[x] += by_weight;
                        weight_scale[w] += by_input.abs();
                        input_scale[x] += by_weight.abs();
                    }
                });
            }
            let (mut weight_grad, mut input_grad) = (vec![f32::NAN; weights.len()], vec![f32::NAN; input.len()]);
            let mut delta_as_given = delta.clone();
            let to_delta = |_: Range<usize>, _: &mut [f32]| {};
            plan.backward(
                &weights,
                &input,
                batch,
                Some(&mut delta_as_given),
                Some(&mut input_grad),
                &mut weight_grad,
                to_delta,
            );
            let computed = weight_grad.iter().chain(&input_grad);
            let wanted = weight_want.iter().zip(&weight_scale).chain(input_want.iter().zip(&input_scale));
            for (&got, (&want, &scale)) in computed.zip(wanted) {
                let near = close(got, want) || (f64::from(got) - want).abs() < 2e-6 * scale;
                assert!(near, "{channels}x{height}x{width} pad {padding}: {got} vs {want} (Σ|terms| {scale})");
            }
        }
    }

    #[test]
    fn one_image_gives_the_bits_of_a_batch() {
        let params = Conv2dParams::new_at(crate::Shape::new(8, 10, 10), 12, (3, 3), 1, 1, 0).unwrap();
        let plan = Winograd::plan(&params).unwrap();
        let (weights, bias) = (values(12 * 9 * 8, 1), values(12, 2));
        let batch = 40;
        let input = values(batch * params.input.len(), 3);
        let output_len = params.output_shape().len();
        let mut output = vec![0.0; batch * output_len];
        plan.forward(&weights, &bias, &input, batch, Some(&mut output), Activation::Relu, |_, _| {});
        for (j, expected) in output.chunks_exact(output_len).enumerate() {
            let mut single = vec![0.0; output_len];
            let image = &input[j * params.input.len()..(j + 1) * params.input.len()];
            plan.forward(&weights, &bias, image, 1, Some(&mut single), Activation::Relu, |_, _| {});
            assert_eq!(single, expected, "image {j}");
        }
    }
}
