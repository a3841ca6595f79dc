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
//! layers' affine kernel, so each output is still computed the same way whatever the batch.
//!
//! The backward pass differentiates these same formulas: with `∂M = A ∂Y Aᵀ` per tile,
//! `∂U_ξ = Σ_tiles ∂M_ξ V_ξᵀ` and `∂V_ξ = U_ξᵀ ∂M_ξ` (36 products each), then `∂W = Gᵀ ∂U G`
//! and `∂X = B ∂V Bᵀ`, added where the tiles overlap. It is the exact gradient of the forward
//! pass as computed.
//!
//! Every transform is a "sandwich" `L X Lᵀ` of a small constant matrix `L` around a square of
//! vectors (channels or filters, contiguous since images are stored channels last), computed
//! with the processor's widest vectors through `pulp`.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Range;

use pulp::{Simd, WithSimd};

use crate::affine::{Columns, affine_strided, load, store};
use crate::batch::sized;
use crate::products::weight_gradient_strided;
use crate::{Activation, Conv2dParams};

/// Outputs per side of a tile.
const OUT: usize = 4;
/// Inputs per side of a tile: `OUT + 3 − 1`.
const TILE: usize = 6;
/// Positions of a transformed tile: the number of products per pass.
const POSITIONS: usize = TILE * TILE;

/// `Bᵀ`: a tile `d` becomes `Bᵀ d B`.
const B_T: [[f32; TILE]; TILE] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G`: a 3x3 kernel `g` becomes `G g Gᵀ`.
const G: [[f32; 3]; TILE] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Aᵀ`: a transformed product `m` becomes the 4x4 outputs `Aᵀ m A`.
const A_T: [[f32; TILE]; OUT] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// `body` for `index = 0, 1, …, n − 1` (`n` at most 6), written out: with every index a
/// constant, the coefficients `L[a][i]` are constants, and a zero or ±1 costs nothing.
macro_rules! unrolled {
    ($n:expr, |$index:ident| $body:expr) => {{
        unrolled!(@ $n, $index, $body, 0 1 2 3 4 5)
    }};
    (@ $n:expr, $index:ident, $body:expr, $($value:literal)*) => {{
        $(
            #[allow(clippy::reversed_empty_ranges, unused_comparisons)]
            if $value < $n {
                let $index = $value;
                $body;
            }
        )*
    }};
}

const B: [[f32; TILE]; TILE] = transpose(B_T);
const G_T: [[f32; TILE]; 3] = transpose(G);
const A: [[f32; OUT]; TILE] = transpose(A_T);

const fn transpose<const R: usize, const C: usize>(m: [[f32; C]; R]) -> [[f32; R]; C] {
    let mut t = [[0.0; R]; C];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            t[c][r] = m[r][c];
            c += 1;
        }
        r += 1;
    }
    t
}

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
    /// One image, zero-padded to whole tiles.
    grid: Grid,
    /// The gradient of one such image.
    grid_grad: Vec<f32>,
    /// `V`: the chunk's transformed tiles, position by position.
    tiles: Vec<f32>,
    /// `M` or `∂M`: the products, position by position.
    products: Vec<f32>,
    /// `∂V`.
    tiles_grad: Vec<f32>,
    /// `U`: the transformed kernel, position by position.
    kernel: Vec<f32>,
    /// `∂U`.
    kernel_grad: Vec<f32>,
    /// `U_ξᵀ`, `channels × filters` for each position.
    kernel_transposed: Vec<f32>,
}

/// An image copied into the middle of a buffer of zeros, and the layout the buffer was last
/// zeroed for, `(channels, height, width, padding, length)`: while it stays the same, the next
/// image overwrites only the middle, and the zeros around it stay.
#[derive(Default)]
struct Grid {
    values: Vec<f32>,
    layout: Option<(usize, usize, usize, usize, usize)>,
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

    /// Pixels per row of the grid: the padded image, extended with zeros to whole tiles.
    fn grid_width(&self) -> usize {
        self.tiles_across * OUT + TILE - OUT
    }

    fn grid_len(&self) -> usize {
        (self.tiles_down * OUT + TILE - OUT) * self.grid_width() * self.channels
    }

    fn images_per_chunk(&self) -> usize {
        (CHUNK / (POSITIONS * self.tiles_per_image() * (self.channels + self.filters))).max(1)
    }

    /// Where the 6x6 pixels of tile `tile` of an image lie in the grid.
    fn grid_square(&self, tile: usize) -> Square {
        let (ty, tx) = (tile / self.tiles_across, tile % self.tiles_across);
        let row = self.grid_width() * self.channels;
        Square::whole(ty * OUT * row + tx * OUT * self.channels, row, self.channels)
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
            rows: (self.out_height - oy).min(OUT),
            columns: (self.out_width - ox).min(OUT),
        }
    }

    /// `A = f(W ⋆ X + b)` for `batch` images (channels last) into `output`; `weights` is
    /// `filters × (3 · 3 · channels)` as in [`Conv2d`](crate::Conv2d). `f` runs on each chunk
    /// of images as soon as its outputs are computed, while they are in the cache.
    pub(crate) fn forward(
        &self,
        weights: &[f32],
        bias: &[f32],
        input: &[f32],
        batch: usize,
        output: &mut [f32],
        activation: Activation,
    ) {
        let (channels, filters) = (self.channels, self.filters);
        let (image_len, output_len) = (self.height * self.width * channels, self.out_height * self.out_width * filters);
        let zeros = vec![0.0; filters];
        SCRATCH.with_borrow_mut(|scratch| {
            let kernel = self.transform_kernel(weights, &mut scratch.kernel);
            for first in (0..batch).step_by(self.images_per_chunk()) {
                let images = self.images_per_chunk().min(batch - first);
                let tiles = images * self.tiles_per_image();
                let input = &input[first * image_len..(first + images) * image_len];
                let v = self.transform_input(input, tiles, &mut scratch.grid, &mut scratch.tiles);
                let m = sized(&mut scratch.products, POSITIONS * tiles * filters);
                for (position, u) in kernel.chunks_exact(filters * channels).enumerate() {
                    let v = Columns { values: &v[position * channels..], stride: POSITIONS * channels };
                    affine_strided(u, &zeros, v, tiles, &mut m[position * filters..], POSITIONS * filters);
                }
                let output = &mut output[first * output_len..(first + images) * output_len];
                // Y = Aᵀ M A, tile by tile, then + b.
                let sandwich = Sandwiches {
                    coefficients: PhantomData::<OutputTransform>,
                    count: tiles,
                    len: filters,
                    source: m,
                    source_at: |tile| Square::transformed(tile, filters),
                    target: output,
                    target_at: |tile| self.output_square(tile),
                    add: false,
                };
                pulp::Arch::new().dispatch(sandwich);
                for pixel in output.chunks_exact_mut(filters) {
                    pixel.iter_mut().zip(bias).for_each(|(z, b)| *z += b);
                }
                activation.apply(output);
            }
        });
    }

    /// Given `∂A` in `output_grad`: `∂W` (overwritten, `filters × (3 · 3 · channels)`) and, when
    /// asked, `∂X` (overwritten). `to_delta(range, δ)` turns the `∂A` of each chunk of images
    /// (outputs `range`) into `∂Z` in place just before the chunk is used, while it is in the
    /// cache: the conv layer multiplies by `f'` there and sums `∂b`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        weights: &[f32],
        input: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        mut input_grad: Option<&mut [f32]>,
        weight_grad: &mut [f32],
        mut to_delta: impl FnMut(Range<usize>, &mut [f32]),
    ) {
        let (channels, filters) = (self.channels, self.filters);
        let (image_len, output_len) = (self.height * self.width * channels, self.out_height * self.out_width * filters);
        let per_image = self.tiles_per_image();
        SCRATCH.with_borrow_mut(|scratch| {
            let kernel = self.transform_kernel(weights, &mut scratch.kernel);
            let kernel_grad = sized(&mut scratch.kernel_grad, POSITIONS * filters * channels);
            let kernel_transposed = sized(&mut scratch.kernel_transposed, kernel.len());
            for (u, u_transposed) in
                kernel.chunks_exact(filters * channels).zip(kernel_transposed.chunks_exact_mut(filters * channels))
            {
                for (c, column) in u.chunks_exact(filters).enumerate() {
                    for (f, &w) in column.iter().enumerate() {
                        u_transposed[f * channels + c] = w;
                    }
                }
            }
            let zeros = vec![0.0; channels];
            for first in (0..batch).step_by(self.images_per_chunk()) {
                let images = self.images_per_chunk().min(batch - first);
                let tiles = images * per_image;
                let v = self.transform_input(
                    &input[first * image_len..(first + images) * image_len],
                    tiles,
                    &mut scratch.grid,
                    &mut scratch.tiles,
                );
                // ∂M = A ∂Y Aᵀ, zeros past the image's outputs.
                let outputs = first * output_len..(first + images) * output_len;
                let delta = &mut output_grad[outputs.clone()];
                to_delta(outputs, delta);
                let delta = &*delta;
                let m_grad = sized(&mut scratch.products, POSITIONS * tiles * filters);
                let sandwich = Sandwiches {
                    coefficients: PhantomData::<OutputGradTransform>,
                    count: tiles,
                    len: filters,
                    source: delta,
                    source_at: |tile| self.output_square(tile),
                    target: m_grad,
                    target_at: |tile| Square::transformed(tile, filters),
                    add: false,
                };
                pulp::Arch::new().dispatch(sandwich);
                let sizes = (filters, channels, tiles);
                let m_grad_at =
                    |position: usize| Columns { values: &m_grad[position * filters..], stride: POSITIONS * filters };
                for (position, u_grad) in kernel_grad.chunks_exact_mut(filters * channels).enumerate() {
                    let v = Columns { values: &v[position * channels..], stride: POSITIONS * channels };
                    weight_gradient_strided(m_grad_at(position), v, sizes, u_grad, first > 0);
                }
                if let Some(input_grad) = input_grad.as_deref_mut() {
                    // ∂V_ξ = U_ξᵀ ∂M_ξ on the affine kernel, which reads ∂M where it lies (`gemm`
                    // would first copy it).
                    let v_grad = sized(&mut scratch.tiles_grad, POSITIONS * tiles * channels);
                    for (position, u_transposed) in kernel_transposed.chunks_exact(filters * channels).enumerate() {
                        let v_grad = &mut v_grad[position * channels..];
                        affine_strided(u_transposed, &zeros, m_grad_at(position), tiles, v_grad, POSITIONS * channels);
                    }
                    let images = &mut input_grad[first * image_len..(first + images) * image_len];
                    self.transform_input_grad(v_grad, &mut scratch.grid_grad, images);
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
                add: false,
            };
            pulp::Arch::new().dispatch(sandwich);
        });
    }

    /// `U = G g Gᵀ` for each (filter, channel): 36 matrices of `filters × channels`.
    fn transform_kernel<'a>(&self, weights: &[f32], kernel: &'a mut Vec<f32>) -> &'a [f32] {
        let (channels, filters) = (self.channels, self.filters);
        let kernel = sized(kernel, POSITIONS * filters * channels);
        let sandwich = Sandwiches {
            coefficients: PhantomData::<KernelTransform>,
            count: channels,
            len: filters,
            source: weights,
            source_at: |c| Square::whole(c * filters, 3 * channels * filters, channels * filters),
            target: &mut *kernel,
            target_at: |c| Square::whole(c * filters, TILE * channels * filters, channels * filters),
            add: false,
        };
        pulp::Arch::new().dispatch(sandwich);
        kernel
    }

    /// `V = Bᵀ d B` for every tile of `images`: 36 blocks of `tiles` columns of `channels`.
    fn transform_input<'a>(&self, images: &[f32], tiles: usize, grid: &mut Grid, v: &'a mut Vec<f32>) -> &'a [f32] {
        let channels = self.channels;
        let v = sized(v, POSITIONS * tiles * channels);
        let per_image = self.tiles_per_image();
        for (index, image) in images.chunks_exact(self.height * self.width * channels).enumerate() {
            let grid = self.to_grid(image, grid);
            let sandwich = Sandwiches {
                coefficients: PhantomData::<InputTransform>,
                count: per_image,
                len: channels,
                source: grid,
                source_at: |tile| self.grid_square(tile),
                target: &mut *v,
                target_at: |tile| Square::transformed(index * per_image + tile, channels),
                add: false,
            };
            pulp::Arch::new().dispatch(sandwich);
        }
        v
    }

    /// `∂X = B ∂V Bᵀ`, tiles added where they overlap, for each image of `images`
    /// (overwritten).
    fn transform_input_grad(&self, v_grad: &[f32], grid: &mut Vec<f32>, images: &mut [f32]) {
        let channels = self.channels;
        let per_image = self.tiles_per_image();
        let row = self.width * channels;
        for (index, image) in images.chunks_exact_mut(self.height * row).enumerate() {
            grid.clear();
            grid.resize(self.grid_len(), 0.0);
            let sandwich = Sandwiches {
                coefficients: PhantomData::<InputGradTransform>,
                count: per_image,
                len: channels,
                source: v_grad,
                source_at: |tile| Square::transformed(index * per_image + tile, channels),
                target: &mut grid[..],
                target_at: |tile| self.grid_square(tile),
                add: true,
            };
            pulp::Arch::new().dispatch(sandwich);
            for (y, target) in image.chunks_exact_mut(row).enumerate() {
                let start = ((y + self.padding) * self.grid_width() + self.padding) * channels;
                target.copy_from_slice(&grid[start..start + row]);
            }
        }
    }

    /// `image` copied into `grid` (resized), zeros around it.
    fn to_grid<'a>(&self, image: &[f32], grid: &'a mut Grid) -> &'a [f32] {
        let layout = Some((self.channels, self.height, self.width, self.padding, self.grid_len()));
        if grid.layout != layout {
            grid.values.clear();
            grid.values.resize(self.grid_len(), 0.0);
            grid.layout = layout;
        }
        let grid = &mut grid.values;
        let row = self.width * self.channels;
        for (y, source) in image.chunks_exact(row).enumerate() {
            let start = ((y + self.padding) * self.grid_width() + self.padding) * self.channels;
            grid[start..start + row].copy_from_slice(source);
        }
        grid
    }
}

/// Where the vectors of one square (a tile, or its transform) lie: `[i][j]` starts at
/// `base + i · row + j · column`, for `i < rows` and `j < columns`; past those, the square is
/// zeros (as a source) or not stored (as a target).
#[derive(Clone, Copy)]
struct Square {
    base: usize,
    row: usize,
    column: usize,
    rows: usize,
    columns: usize,
}

impl Square {
    /// A square with every position present.
    fn whole(base: usize, row: usize, column: usize) -> Self {
        Square { base, row, column, rows: usize::MAX, columns: usize::MAX }
    }

    /// Position `(i, j)` of transformed tile `tile`, when each tile's 36 vectors of `len` values
    /// are stored together, position by position: `(tile · 36 + i · 6 + j) · len`.
    fn transformed(tile: usize, len: usize) -> Self {
        Square::whole(tile * POSITIONS * len, TILE * len, len)
    }
}

/// A constant matrix `L` of `O × I` coefficients, as a type, and its product `y = L x` with a
/// vector of `I` vectors: each sandwich is compiled with its coefficients in the code, so that
/// zeros and ±1 cost nothing.
trait Transform<const I: usize, const O: usize> {
    const L: [[f32; I]; O];

    /// `y = L x`, row by row (see `combine`). The four transforms of the tiles, which run for
    /// every tile of every pass, share terms between rows instead (written out below).
    #[inline(always)]
    fn apply<S: Simd>(simd: S, x: [S::f32s; I]) -> [S::f32s; O] {
        let mut y = [simd.splat_f32s(0.0); O];
        unrolled!(O, |row| y[row] = combine::<S, I, O, Self>(simd, row, |i| x[i]));
        y
    }
}

macro_rules! transform {
    ($($name:ident: $i:expr, $o:expr, $matrix:expr;)*) => {$(
        struct $name;
        impl Transform<$i, $o> for $name {
            const L: [[f32; $i]; $o] = $matrix;
        }
    )*};
}

transform! {
    KernelTransform: 3, TILE, G;
    KernelGradTransform: TILE, 3, G_T;
}

struct InputTransform;
struct InputGradTransform;
struct OutputTransform;
struct OutputGradTransform;

/// `c · x + y` with the constant `c`.
#[inline(always)]
fn fma<S: Simd>(simd: S, c: f32, x: S::f32s, y: S::f32s) -> S::f32s {
    simd.mul_add_e_f32s(simd.splat_f32s(c), x, y)
}

impl Transform<TILE, TILE> for InputTransform {
    const L: [[f32; TILE]; TILE] = B_T;

    /// `Bᵀ d` in 12 operations instead of 22: rows 1 and 2 are `(d₄ − 4d₂) ± (d₃ − 4d₁)`, rows
    /// 3 and 4 `(d₄ − d₂) ± 2 (d₃ − d₁)`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, d: [S::f32s; TILE]) -> [S::f32s; TILE] {
        let (t1, t2) = (fma(simd, -4.0, d[2], d[4]), fma(simd, -4.0, d[1], d[3]));
        let (t3, t4) = (simd.sub_f32s(d[4], d[2]), simd.sub_f32s(d[3], d[1]));
        [
            fma(simd, 4.0, d[0], fma(simd, -5.0, d[2], d[4])),
            simd.add_f32s(t1, t2),
            simd.sub_f32s(t1, t2),
            fma(simd, 2.0, t4, t3),
            fma(simd, -2.0, t4, t3),
            fma(simd, 4.0, d[1], fma(simd, -5.0, d[3], d[5])),
        ]
    }
}

impl Transform<TILE, TILE> for InputGradTransform {
    const L: [[f32; TILE]; TILE] = B;

    /// `B x` in 15 operations instead of 22, from `a = x₁ − x₂`, `b = x₃ − x₄`, `c = x₁ + x₂`
    /// and `e = x₃ + x₄`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, x: [S::f32s; TILE]) -> [S::f32s; TILE] {
        let (a, b) = (simd.sub_f32s(x[1], x[2]), simd.sub_f32s(x[3], x[4]));
        let (c, e) = (simd.add_f32s(x[1], x[2]), simd.add_f32s(x[3], x[4]));
        let four_x0 = simd.mul_f32s(simd.splat_f32s(4.0), x[0]);
        [
            four_x0,
            // 4 (x₅ − a) − 2b
            fma(simd, 4.0, simd.sub_f32s(x[5], a), simd.mul_f32s(simd.splat_f32s(-2.0), b)),
            // −5x₀ − 4c − e
            simd.sub_f32s(fma(simd, -4.0, c, simd.mul_f32s(simd.splat_f32s(-5.0), x[0])), e),
            // a + 2b − 5x₅
            fma(simd, -5.0, x[5], fma(simd, 2.0, b, a)),
            simd.add_f32s(simd.add_f32s(x[0], c), e),
            x[5],
        ]
    }
}

impl Transform<TILE, OUT> for OutputTransform {
    const L: [[f32; TILE]; OUT] = A_T;

    /// `Aᵀ m` in 10 operations instead of 18, from `m₁ ± m₂` and `m₃ ± m₄`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, m: [S::f32s; TILE]) -> [S::f32s; OUT] {
        let (a, b) = (simd.add_f32s(m[1], m[2]), simd.sub_f32s(m[1], m[2]));
        let (c, d) = (simd.add_f32s(m[3], m[4]), simd.sub_f32s(m[3], m[4]));
        [
            simd.add_f32s(simd.add_f32s(m[0], a), c),
            fma(simd, 2.0, d, b),
            fma(simd, 4.0, c, a),
            fma(simd, 8.0, d, simd.add_f32s(b, m[5])),
        ]
    }
}

impl Transform<OUT, TILE> for OutputGradTransform {
    const L: [[f32; OUT]; TILE] = A;

    /// `A x` in 8 operations instead of 18: rows 1 and 2 are `(x₀ + x₂) ± (x₁ + x₃)`, rows 3
    /// and 4 `(x₀ + 4x₂) ± 2 (x₁ + 4x₃)`.
    #[inline(always)]
    fn apply<S: Simd>(simd: S, x: [S::f32s; OUT]) -> [S::f32s; TILE] {
        let (p, q) = (simd.add_f32s(x[0], x[2]), simd.add_f32s(x[1], x[3]));
        let (r, s) = (fma(simd, 4.0, x[2], x[0]), fma(simd, 4.0, x[3], x[1]));
        [x[0], simd.add_f32s(p, q), simd.sub_f32s(p, q), fma(simd, 2.0, s, r), fma(simd, -2.0, s, r), x[3]]
    }
}

/// `count` sandwiches `L X Lᵀ` (`L` is `O × I`) of squares of vectors of `len` values: `X` lies
/// in `source` where `source_at(n)` says, the result goes to `target` where `target_at(n)` says
/// (added to what is there when `add`).
struct Sandwiches<'a, const I: usize, const O: usize, L, Source, Target> {
    coefficients: PhantomData<L>,
    count: usize,
    len: usize,
    source: &'a [f32],
    source_at: Source,
    target: &'a mut [f32],
    target_at: Target,
    add: bool,
}

impl<const I: usize, const O: usize, L, Source, Target> WithSimd for Sandwiches<'_, I, O, L, Source, Target>
where
    L: Transform<I, O>,
    Source: Fn(usize) -> Square,
    Target: Fn(usize) -> Square,
{
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let lanes = S::F32_LANES;
        let zero = simd.splat_f32s(0.0);
        for n in 0..self.count {
            let (from, to) = ((self.source_at)(n), (self.target_at)(n));
            for start in (0..self.len).step_by(lanes) {
                let width = lanes.min(self.len - start);
                // (L X) Lᵀ: each column of X, then each row of L X.
                let mut left = [[zero; I]; O];
                unrolled!(I, |j| {
                    let mut column = [zero; I];
                    unrolled!(I, |i| if i < from.rows && j < from.columns {
                        let at = from.base + i * from.row + j * from.column + start;
                        column[i] = load(simd, &self.source[at..at + width]);
                    });
                    let column = L::apply(simd, column);
                    unrolled!(O, |a| left[a][j] = column[a]);
                });
                unrolled!(O, |a| {
                    let row = L::apply(simd, left[a]);
                    unrolled!(O, |b| if a < to.rows && b < to.columns {
                        let at = to.base + a * to.row + b * to.column + start;
                        let target = &mut self.target[at..at + width];
                        let value = if self.add { simd.add_f32s(row[b], load(simd, target)) } else { row[b] };
                        store(simd, target, value);
                    });
                });
            }
        }
    }
}

/// `Σᵢ L[row][i] · x(i)`, skipping zero coefficients and multiplying by none of ±1.
#[inline(always)]
fn combine<S: Simd, const I: usize, const O: usize, L: Transform<I, O> + ?Sized>(
    simd: S,
    row: usize,
    x: impl Fn(usize) -> S::f32s,
) -> S::f32s {
    let mut sum = simd.splat_f32s(0.0);
    unrolled!(I, |i| {
        let c = L::L[row][i];
        if c == 1.0 {
            sum = simd.add_f32s(sum, x(i));
        } else if c == -1.0 {
            sum = simd.sub_f32s(sum, x(i));
        } else if c != 0.0 {
            sum = simd.mul_add_e_f32s(simd.splat_f32s(c), x(i), sum);
        }
    });
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In one dimension, `Aᵀ [(G g) ⊙ (Bᵀ d)]` is the correlation `yᵢ = Σₖ d[i + k] g[k]`.
    #[test]
    fn the_matrices_compute_a_correlation() {
        let d = [0.3f64, -1.2, 2.5, 0.7, -0.4, 1.9];
        let g = [0.8f64, -0.6, 1.1];
        let gg: Vec<f64> = G.iter().map(|row| row.iter().zip(&g).map(|(&a, b)| f64::from(a) * b).sum()).collect();
        let bd: Vec<f64> = B_T.iter().map(|row| row.iter().zip(&d).map(|(&a, b)| f64::from(a) * b).sum()).collect();
        for (i, row) in A_T.iter().enumerate() {
            let y: f64 = row.iter().enumerate().map(|(k, &a)| f64::from(a) * gg[k] * bd[k]).sum();
            let want: f64 = (0..3).map(|k| d[i + k] * g[k]).sum();
            assert!((y - want).abs() < 1e-6, "output {i}: {y} vs {want}");
        }
    }

    /// Each transform, as written out, against the product with its matrix.
    #[test]
    fn the_transforms_multiply_by_their_matrices() {
        fn check<const I: usize, const O: usize, T: Transform<I, O>>(name: &str) {
            let simd = pulp::Scalar::new();
            for seed in 0..20 {
                let x: [f32; I] = std::array::from_fn(|i| values(I, seed)[i] * 3.0);
                let y = T::apply(simd, x);
                for (row, coefficients) in T::L.iter().enumerate() {
                    let want: f64 = coefficients.iter().zip(&x).map(|(&c, &x)| f64::from(c) * f64::from(x)).sum();
                    let scale = 1.0 + coefficients.iter().zip(&x).map(|(&c, &x)| f64::from((c * x).abs())).sum::<f64>();
                    assert!((f64::from(y[row]) - want).abs() < 1e-6 * scale, "{name} row {row}: {} vs {want}", y[row]);
                }
            }
        }
        check::<TILE, TILE, InputTransform>("Bᵀ");
        check::<TILE, TILE, InputGradTransform>("B");
        check::<TILE, OUT, OutputTransform>("Aᵀ");
        check::<OUT, TILE, OutputGradTransform>("A");
        check::<3, TILE, KernelTransform>("G");
        check::<TILE, 3, KernelGradTransform>("Gᵀ");
    }

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
        // Sizes that leave partial tiles, one tile, and several images per chunk.
        for (channels, filters, height, width, padding, batch) in
            [(4, 3, 7, 9, 0, 2), (5, 17, 6, 6, 1, 1), (4, 2, 3, 3, 2, 3), (8, 16, 14, 14, 1, 4), (6, 33, 9, 5, 2, 2)]
        {
            let params =
                Conv2dParams::new_at(crate::Shape::new(channels, height, width), filters, (3, 3), 1, padding, 0)
                    .unwrap();
            let plan = Winograd::plan(&params).unwrap();
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
            plan.forward(&weights, &bias, &input, batch, &mut output, Activation::Identity);
            let close = |got: f32, want: f64| (f64::from(got) - want).abs() < 1e-4 * (1.0 + want.abs());
            for (i, (&got, &want)) in output.iter().zip(&want).enumerate() {
                assert!(close(got, want), "{channels}x{height}x{width} pad {padding}, output {i}: {got} vs {want}");
            }

            let delta = values(output_len, 4);
            let (mut weight_want, mut input_want) = (vec![0.0f64; weights.len()], vec![0.0f64; input.len()]);
            for image in 0..batch {
                direct.each_product(image, |o, w, x| {
                    if let Some(x) = x {
                        weight_want[w] += f64::from(delta[o]) * f64::from(input[x]);
                        input_want[x] += f64::from(delta[o]) * f64::from(weights[w]);
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
                &mut delta_as_given,
                Some(&mut input_grad),
                &mut weight_grad,
                to_delta,
            );
            for (got, want) in weight_grad.iter().zip(&weight_want).chain(input_grad.iter().zip(&input_want)) {
                assert!(close(*got, *want), "{channels}x{height}x{width} pad {padding}: {got} vs {want}");
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
        plan.forward(&weights, &bias, &input, batch, &mut output, Activation::Relu);
        for (j, expected) in output.chunks_exact(output_len).enumerate() {
            let mut single = vec![0.0; output_len];
            let image = &input[j * params.input.len()..(j + 1) * params.input.len()];
            plan.forward(&weights, &bias, image, 1, &mut single, Activation::Relu);
            assert_eq!(single, expected, "image {j}");
        }
    }
}
