//! The convolution of one-channel images (a first layer on MNIST), computed from the padded image
//! itself, without unfolding its patches (im2col) first.
//!
//! With one channel a patch is 9 or 25 values, and its column in im2col's matrix as long as the
//! patch: unfolding writes and reads 9 or 25 times the image, which cost as much as the product.
//! Here each register tile of outputs (8 pixels side by side × the filters) reads its inputs
//! from the padded image, which stays in the L1 cache:
//!
//! - forward: `z = b`, then `z = fma(W[:, k], x_k, z)` for the patch's values `k = (ky, kx)` in
//!   order, stored as `z + 0`: the very operations of the affine kernel on im2col's columns
//!   (`affine.rs`), so the same bits;
//! - `∂W[:, k] = Σ_p δ_p · x_{p,k}` over the pixels `p` whose `δ` is not all zero (after max
//!   pooling, three pixels in four), pixel by pixel, image by image: `conv_one_channel_gradient.rs`.

use std::cell::RefCell;
use std::ops::Range;

use pulp::{Simd, WithSimd};

use crate::Conv2dParams;
use crate::vector_slices::{Lanes, all_finite, load, store};

/// Most vectors of filters (64 filters with AVX-512, 32 with AVX2); more go through im2col.
const MAX_VECTORS: usize = 4;

/// Whether [`forward`] and [`weight_gradient`] take a convolution: one input channel and at
/// most [`MAX_VECTORS`] vectors of filters.
pub(crate) fn applies(params: &Conv2dParams) -> bool {
    params.input.channels == 1 && params.filters <= MAX_VECTORS * pulp::Arch::new().dispatch(Lanes)
}

/// The padded image and the weights padded to whole vectors, reused from call to call.
#[derive(Default)]
pub(crate) struct Buffers {
    pub(crate) padded: Vec<f32>,
    pub(crate) weights: Vec<f32>,
    /// For `∂W`: where the patch of each pixel with a nonzero `δ` starts in the padded image,
    /// and the pixel.
    pub(crate) starts: Vec<(u32, u32)>,
    /// For `∂W`: the `δ` of those pixels, padded to whole vectors.
    pub(crate) deltas: Vec<f32>,
}

thread_local! {
    pub(crate) static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// The geometry of the padded image, taken once from the parameters.
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) height: usize,
    pub(crate) width: usize,
    pub(crate) padding: usize,
    /// Width of the padded image.
    pub(crate) padded_width: usize,
    pub(crate) kernel: (usize, usize),
    pub(crate) stride: usize,
    pub(crate) out_height: usize,
    pub(crate) out_width: usize,
    pub(crate) filters: usize,
}

impl Geometry {
    pub(crate) fn of(params: &Conv2dParams) -> Self {
        let output = params.output_shape();
        Geometry {
            height: params.input.height,
            width: params.input.width,
            padding: params.padding,
            padded_width: params.input.width + 2 * params.padding,
            kernel: params.kernel,
            stride: params.stride,
            out_height: output.height,
            out_width: output.width,
            filters: params.filters,
        }
    }

    /// `image` in `padded`, zeros around it.
    pub(crate) fn pad(&self, image: &[f32], padded: &mut Vec<f32>) {
        padded.clear();
        padded.resize((self.height + 2 * self.padding) * self.padded_width, 0.0);
        for (y, row) in image.chunks_exact(self.width).enumerate() {
            let start = (y + self.padding) * self.padded_width + self.padding;
            padded[start..start + self.width].copy_from_slice(row);
        }
    }

    /// Where the patch of output pixel `(oy, ox)` starts in the padded image.
    pub(crate) fn patch_start(&self, oy: usize, ox: usize) -> usize {
        oy * self.stride * self.padded_width + ox * self.stride
    }
}

/// `Z = W ⋆ X + b` for `batch` one-channel images into `output` (channels last), then `apply`
/// on each image's outputs. `weights` is `filters × (kh · kw)` column-major.
pub(crate) fn forward(
    params: &Conv2dParams,
    weights: &[f32],
    bias: &[f32],
    input: &[f32],
    batch: usize,
    output: &mut [f32],
    apply: impl Fn(&mut [f32]),
) {
    let rows = params.output_shape().height;
    forward_in_bands(params, weights, bias, input, batch, output, apply, rows, &mut NoRows);
}

/// Takes the rows of a convolution's output a band at a time, right after they are made (and
/// while they are in the L1 cache).
pub(crate) trait RowSink {
    /// Rows `first_row..` of image `image`, `apply` applied, channels last.
    fn rows<S: Simd>(&mut self, simd: S, image: usize, first_row: usize, rows: &[f32]);
}

/// The sink of [`forward`]: nothing.
struct NoRows;

impl RowSink for NoRows {
    #[inline(always)]
    fn rows<S: Simd>(&mut self, _: S, _: usize, _: usize, _: &[f32]) {}
}

/// [`forward`], `apply` run on each band of `band_rows` rows (the last band of an image may be
/// shorter) and the band then given to `sink`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_in_bands(
    params: &Conv2dParams,
    weights: &[f32],
    bias: &[f32],
    input: &[f32],
    batch: usize,
    output: &mut [f32],
    apply: impl Fn(&mut [f32]),
    band_rows: usize,
    sink: &mut impl RowSink,
) {
    let geometry = Geometry::of(params);
    let (image_len, output_len) = (params.input.len(), params.output_shape().len());
    let (input, output) = (&input[..batch * image_len], &mut output[..batch * output_len]);
    let band_rows = band_rows.max(1);
    BUFFERS.with_borrow_mut(|buffers| {
        let forward = Forward { geometry, weights, bias, input, output, apply, buffers, band_rows, sink };
        pulp::Arch::new().dispatch(forward);
    });
}

struct Forward<'a, A, R> {
    geometry: Geometry,
    weights: &'a [f32],
    bias: &'a [f32],
    input: &'a [f32],
    output: &'a mut [f32],
    apply: A,
    buffers: &'a mut Buffers,
    band_rows: usize,
    sink: &'a mut R,
}

impl<A: Fn(&mut [f32]), R: RowSink> WithSimd for Forward<'_, A, R> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let vectors = self.geometry.filters.div_ceil(S::F32_LANES);
        // Tiles of 8 pixels with up to 2 vectors of filters (16 sums), 4 with more.
        match vectors {
            1 => self.run::<S, 1, 8>(simd),
            2 => self.run::<S, 2, 8>(simd),
            3 => self.run::<S, 3, 4>(simd),
            _ => self.run::<S, 4, 4>(simd),
        }
    }
}

impl<A: Fn(&mut [f32]), R: RowSink> Forward<'_, A, R> {
    #[inline(always)]
    fn run<S: Simd, const V: usize, const P: usize>(self, simd: S) {
        let Forward { geometry, weights, bias, input, output, apply, buffers, band_rows, sink } = self;
        let Buffers { padded, weights: padded_weights, .. } = buffers;
        // Once per call: the weights padded to whole vectors, the bias, and whether the weights
        // are finite (`∞ · 0` must then meet every zero input).
        let w = pad_weights::<S>(weights, geometry.filters, V, padded_weights);
        let bias: [S::f32s; V] = std::array::from_fn(|v| load(simd, &bias[part::<S>(v, geometry.filters)]));
        let skip_zeros = all_finite(weights);
        let image_len = geometry.height * geometry.width;
        let row_len = geometry.out_width * geometry.filters;
        let output_len = geometry.out_height * row_len;
        for (index, (image, output)) in
            input.chunks_exact(image_len).zip(output.chunks_exact_mut(output_len)).enumerate()
        {
            geometry.pad(image, padded);
            let tile = Tile::<S, V> { geometry, w, padded, bias, skip_zeros };
            let bands = Bands { band_rows, index, output };
            // A kernel known when compiling unrolls the tiles' loops and drops their bounds
            // checks: saito-simple's 5 × 5 and the 3 × 3 of the other recipes, stride 1.
            match (geometry.kernel, geometry.stride) {
                ((5, 5), 1) => tile.image::<P>(simd, ((5, 5), 1), bands, &apply, sink),
                ((3, 3), 1) => tile.image::<P>(simd, ((3, 3), 1), bands, &apply, sink),
                (kernel, stride) => tile.image::<P>(simd, (kernel, stride), bands, &apply, sink),
            }
        }
    }
}

/// One image's output, made `band_rows` rows at a time.
struct Bands<'a> {
    band_rows: usize,
    /// The image's index in the batch.
    index: usize,
    output: &'a mut [f32],
}

/// Lanes `v · lanes..(v + 1) · lanes` of `len` values, cut at `len`.
#[inline(always)]
pub(crate) fn part<S: Simd>(v: usize, len: usize) -> Range<usize> {
    (v * S::F32_LANES).min(len)..((v + 1) * S::F32_LANES).min(len)
}

/// Each tap's `filters` weights padded to `vectors` whole vectors in `padded` (so that the inner
/// loops need no masked load), as vectors.
#[inline(always)]
fn pad_weights<'a, S: Simd>(
    weights: &[f32],
    filters: usize,
    vectors: usize,
    padded: &'a mut Vec<f32>,
) -> &'a [S::f32s] {
    let width = vectors * S::F32_LANES;
    padded.clear();
    padded.resize(weights.len() / filters * width, 0.0);
    for (padded, column) in padded.chunks_exact_mut(width).zip(weights.chunks_exact(filters)) {
        padded[..filters].copy_from_slice(column);
    }
    S::as_simd_f32s(padded).0
}

/// What a register tile of outputs reads.
struct Tile<'a, S: Simd, const V: usize> {
    geometry: Geometry,
    /// The weights of tap `k` are `w[k · V..(k + 1) · V]`.
    w: &'a [S::f32s],
    padded: &'a [f32],
    bias: [S::f32s; V],
    /// Whether a kernel row whose inputs are all zero for the tile's pixels may be left out:
    /// `fma(w, 0, z)` is `z` (up to the sign of a zero, which the store makes `+0`) unless `w`
    /// is infinite or NaN.
    skip_zeros: bool,
}

impl<S: Simd, const V: usize> Tile<'_, S, V> {
    /// The image's output, tile by tile, `apply` run on each band and the band then given to
    /// `sink`. `kernel` and `stride` are the geometry's.
    #[inline(always)]
    fn image<const P: usize>(
        &self,
        simd: S,
        (kernel, stride): ((usize, usize), usize),
        bands: Bands<'_>,
        apply: &impl Fn(&mut [f32]),
        sink: &mut impl RowSink,
    ) {
        let Bands { band_rows, index, output } = bands;
        let geometry = &self.geometry;
        let row_len = geometry.out_width * geometry.filters;
        for first_row in (0..geometry.out_height).step_by(band_rows) {
            let rows = first_row..(first_row + band_rows).min(geometry.out_height);
            for oy in rows.clone() {
                let mut ox = 0;
                while ox + P <= geometry.out_width {
                    self.forward::<P>(simd, (kernel, stride), oy, ox, output);
                    ox += P;
                }
                while ox < geometry.out_width {
                    self.forward::<1>(simd, (kernel, stride), oy, ox, output);
                    ox += 1;
                }
            }
            let band = &mut output[rows.start * row_len..rows.end * row_len];
            apply(band);
            sink.rows(simd, index, first_row, band);
        }
    }

    /// Output pixels `(oy, ox..ox + P)`.
    #[inline(always)]
    fn forward<const P: usize>(
        &self,
        simd: S,
        ((kernel_height, kernel_width), stride): ((usize, usize), usize),
        oy: usize,
        ox: usize,
        output: &mut [f32],
    ) {
        let geometry = &self.geometry;
        let filters = geometry.filters;
        let mut sums = [self.bias; P];
        let start = geometry.patch_start(oy, ox);
        // The inputs of one kernel row for the P pixels.
        let row_inputs = (P - 1) * stride + kernel_width;
        for ky in 0..kernel_height {
            let row_start = start + ky * geometry.padded_width;
            let row = &self.padded[row_start..row_start + row_inputs];
            // An image is mostly background: 81% of MNIST's pixels are zero.
            if self.skip_zeros && row.iter().fold(0, |any, x| any | (x.to_bits() << 1)) == 0 {
                continue;
            }
            let w_row = &self.w[ky * kernel_width * V..][..kernel_width * V];
            for kx in 0..kernel_width {
                let w_k = &w_row[kx * V..][..V];
                for (i, sum) in sums.iter_mut().enumerate() {
                    // z = fma(W[:, k], x_k, z)
                    let x_k = simd.splat_f32s(row[kx + i * stride]);
                    for (s, &w) in sum.iter_mut().zip(w_k) {
                        *s = simd.mul_add_e_f32s(w, x_k, *s);
                    }
                }
            }
        }
        // Stored as z + 0, as the affine kernel does.
        let zero = simd.splat_f32s(0.0);
        for (i, sum) in sums.iter().enumerate() {
            let out = &mut output[(oy * geometry.out_width + ox + i) * filters..][..filters];
            for (v, &s) in sum.iter().enumerate() {
                store(simd, &mut out[part::<S>(v, filters)], simd.add_f32s(s, zero));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Shape;
    use crate::affine::affine;
    use crate::im2col::im2col;

    /// A convolution of one channel, its weights, and a batch whose values are zero two times
    /// in three (`+0` or `-0`), as images and pooled gradients are.
    pub(crate) fn case(
        seed: u64,
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        side: usize,
        batch: usize,
    ) -> (Conv2dParams, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let params =
            Conv2dParams::new_at(Shape::new(1, side, side), filters, (kernel, kernel), stride, padding, 0).unwrap();
        let mut next = crate::test_cases::uniform(seed);
        let weights: Vec<f32> = (0..filters * kernel * kernel).map(|_| next()).collect();
        let bias: Vec<f32> = (0..filters).map(|_| next()).collect();
        let mut sparse = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    let v = next();
                    if v > 0.33 {
                        v
                    } else if v < -0.66 {
                        -0.0
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let input = sparse(side * side * batch);
        let delta = sparse(params.output_shape().len() * batch);
        (params, weights, bias, input, delta)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The bits of im2col followed by the affine kernel, whatever the shape.
        #[test]
        fn the_forward_pass_gives_the_bits_of_im2col(
            seed in any::<u64>(), filters in 1usize..70, kernel in 1usize..6, stride in 1usize..3,
            padding in 0usize..3, extra in 0usize..8, batch in 1usize..4,
        ) {
            let (params, weights, bias, input, _) = case(seed, filters, kernel, stride, padding, kernel + extra, batch);
            prop_assume!(applies(&params));
            let len = params.output_shape().len() * batch;
            let mut direct = vec![f32::NAN; len];
            forward(&params, &weights, &bias, &input, batch, &mut direct, |_| ());
            let mut columns = vec![0.0; params.patch_len() * params.patches() * batch];
            im2col(&params, &input, &mut columns, &mut Vec::new());
            let mut unfolded = vec![f32::NAN; len];
            affine(&weights, &bias, &columns, params.patches() * batch, &mut unfolded);
            for (i, (a, b)) in direct.iter().zip(&unfolded).enumerate() {
                prop_assert_eq!(a.to_bits(), b.to_bits(), "output {}: {} vs {}", i, a, b);
            }
        }
    }

    #[test]
    fn an_infinite_weight_still_meets_every_zero_input() {
        let (params, mut weights, bias, input, _) = case(3, 16, 3, 1, 1, 9, 2);
        weights[5] = f32::INFINITY;
        let len = params.output_shape().len() * 2;
        let (mut direct, mut unfolded) = (vec![0.0; len], vec![0.0; len]);
        forward(&params, &weights, &bias, &input, 2, &mut direct, |_| ());
        let mut columns = vec![0.0; params.patch_len() * params.patches() * 2];
        im2col(&params, &input, &mut columns, &mut Vec::new());
        affine(&weights, &bias, &columns, params.patches() * 2, &mut unfolded);
        assert!(direct.iter().any(|z| z.is_nan()));
        assert!(direct.iter().zip(&unfolded).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
