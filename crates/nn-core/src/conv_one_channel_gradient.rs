//! The gradient of a one-channel convolution's weights (a first layer on MNIST), summed from the
//! padded image itself, as its forward pass (`conv_one_channel.rs`) is computed:
//! `∂W[:, k] = Σ_p δ_p · x_{p,k}` over the pixels `p` whose `δ` is not all zero (after max
//! pooling, three pixels in four), pixel by pixel, image by image. Which pixels, and their `δ`,
//! come from a [`ListPixels`]: the layer's own `δ` ([`weight_gradient`]: every pixel, where its
//! `δ` lies, when the filters fill whole vectors), or the max-pooling after it (`conv_pool.rs`).
//! A pixel whose `δ` is zero adds nothing: leaving it out or not gives the same bits.

use std::ops::Range;

use pulp::{Simd, WithSimd};

use crate::Conv2dParams;
use crate::conv_one_channel::{BUFFERS, Buffers, Geometry, part};
use crate::vector_slices::{all_finite, load, store};

/// `∂W = Σ_p δ_p · x_pᵀ` over the patches `x_p` of `batch` one-channel images (overwritten,
/// `filters × (kh · kw)` column-major), given `δ` in `output_grad` once `to_delta(range, δ)` has
/// made it so, image by image (the conv layer turns `∂A` into `∂Z` there, see
/// `Conv2d::to_delta`). Returns `false`, having touched nothing, when an input is infinite or
/// NaN: the pixels whose `δ` is zero are left out, and `0 · ∞` must still reach `∂W`.
pub(crate) fn weight_gradient(
    params: &Conv2dParams,
    input: &[f32],
    batch: usize,
    output_grad: &mut [f32],
    weight_grad: &mut [f32],
    to_delta: impl FnMut(Range<usize>, &mut [f32]),
) -> bool {
    let output_len = params.output_shape().len();
    let mut from_delta = FromDelta { output_grad, output_len, to_delta };
    weight_gradient_of_listed(params, input, batch, weight_grad, &mut from_delta)
}

/// Lists the pixels of one image whose `δ` is not all zero, in order (row by row): where each
/// one's patch starts in the padded image (and the pixel) in `starts`, its `δ` padded to `width`
/// lanes in `deltas`, which may hold stale values past what is listed. Or answers that every
/// pixel is to be taken, with its `δ` where it lies.
pub(crate) trait ListPixels {
    fn list<'a, S: Simd>(
        &'a mut self,
        simd: S,
        image: usize,
        geometry: &Geometry,
        width: usize,
        starts: &mut Vec<(u32, u32)>,
        deltas: &mut Vec<f32>,
    ) -> Listed<'a>;
}

/// What a [`ListPixels`] listed.
pub(crate) enum Listed<'a> {
    /// How many pixels, in `starts` and `deltas`.
    Some(usize),
    /// Every pixel of the image, in order; their `δ` (`filters` values each, whole vectors).
    All(&'a [f32]),
}

/// `∂W` of [`weight_gradient`], the pixels and their `δ` listed by `lister` image by image:
/// `false`, having touched nothing, when an input is not finite.
pub(crate) fn weight_gradient_of_listed(
    params: &Conv2dParams,
    input: &[f32],
    batch: usize,
    weight_grad: &mut [f32],
    lister: &mut impl ListPixels,
) -> bool {
    let geometry = Geometry::of(params);
    let image_len = params.input.len();
    let input = &input[..batch * image_len];
    if !all_finite(input) {
        return false;
    }
    weight_grad.fill(0.0);
    BUFFERS.with_borrow_mut(|buffers| {
        for (image, pixels) in input.chunks_exact(image_len).enumerate() {
            geometry.pad(pixels, &mut buffers.padded);
            pulp::Arch::new().dispatch(WeightGradient {
                geometry,
                image,
                lister: &mut *lister,
                buffers: &mut *buffers,
                weight_grad: &mut *weight_grad,
            });
        }
    });
    true
}

/// The lister of [`weight_gradient`]: each image's `δ` as `to_delta` makes it.
struct FromDelta<'a, D> {
    output_grad: &'a mut [f32],
    output_len: usize,
    to_delta: D,
}

impl<D: FnMut(Range<usize>, &mut [f32])> ListPixels for FromDelta<'_, D> {
    #[inline(always)]
    fn list<'a, S: Simd>(
        &'a mut self,
        _simd: S,
        image: usize,
        geometry: &Geometry,
        width: usize,
        starts: &mut Vec<(u32, u32)>,
        deltas: &mut Vec<f32>,
    ) -> Listed<'a> {
        let range = image * self.output_len..(image + 1) * self.output_len;
        let delta = &mut self.output_grad[range.clone()];
        (self.to_delta)(range, delta);
        // Filters in whole vectors: every pixel where its δ lies. A pixel whose δ is zero adds
        // `0 · x` to sums that start at `+0`, which changes no bit (the inputs are finite), and
        // costs less than the listing (saito-deep's first layer: a δ of 16 filters all zero in
        // few pixels, as it is not pooled).
        if width == geometry.filters {
            return Listed::All(delta);
        }
        Listed::Some(list_nonzero_pixels(delta, geometry, width, starts, deltas))
    }
}

/// The pixels of one image whose `δ` (in `delta`) is not all zero, as [`ListPixels`] lists
/// them: listed without a branch, then their `δ` side by side. Returns how many.
fn list_nonzero_pixels(
    delta: &[f32],
    geometry: &Geometry,
    width: usize,
    starts: &mut Vec<(u32, u32)>,
    deltas: &mut Vec<f32>,
) -> usize {
    let filters = geometry.filters;
    starts.clear();
    starts.resize(geometry.out_height * geometry.out_width + 1, (0, 0));
    let (mut listed, mut pixel) = (0, 0);
    for oy in 0..geometry.out_height {
        for ox in 0..geometry.out_width {
            starts[listed] = (geometry.patch_start(oy, ox) as u32, pixel as u32);
            listed += usize::from(any_nonzero(&delta[pixel * filters..][..filters]));
            pixel += 1;
        }
    }
    deltas.clear();
    deltas.resize(listed * width, 0.0);
    for (packed, &(_, p)) in deltas.chunks_exact_mut(width).zip(&starts[..listed]) {
        let p = p as usize;
        packed[..filters].copy_from_slice(&delta[p * filters..(p + 1) * filters]);
    }
    listed
}

/// Whether a value of `values` is not zero (`-0` counts as zero).
#[inline(always)]
fn any_nonzero(values: &[f32]) -> bool {
    values.iter().fold(0, |any, d| any | (d.to_bits() << 1)) != 0
}

struct WeightGradient<'a, L> {
    geometry: Geometry,
    image: usize,
    lister: &'a mut L,
    buffers: &'a mut Buffers,
    weight_grad: &'a mut [f32],
}

impl<L: ListPixels> WithSimd for WeightGradient<'_, L> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let vectors = self.geometry.filters.div_ceil(S::F32_LANES);
        // As many taps at a time as their sums fit in the registers (AVX-512 has 32, AVX2 16):
        // a whole 3x3 kernel, else a kernel row, else one tap. Each sum is a chain of
        // multiply-adds that waits for the last; fewer than 8 chains left the FMA units idle
        // half the time (3 chains: saito-deep's first layer).
        let room = if S::F32_LANES >= 16 { 24 } else { 12 };
        let (rows, row) = self.geometry.kernel;
        let taps = if (row == 3 || row == 5) && row * vectors <= room { row } else { 1 };
        let whole = rows == 3 && taps == 3 && 9 * vectors <= room;
        match (vectors, taps, whole) {
            (1, 3, true) => self.run::<S, 1, 3, 3>(simd),
            (1, 3, false) => self.run::<S, 1, 1, 3>(simd),
            (1, 5, _) => self.run::<S, 1, 1, 5>(simd),
            (1, _, _) => self.run::<S, 1, 1, 1>(simd),
            (2, 3, true) => self.run::<S, 2, 3, 3>(simd),
            (2, 3, false) => self.run::<S, 2, 1, 3>(simd),
            (2, 5, _) => self.run::<S, 2, 1, 5>(simd),
            (2, _, _) => self.run::<S, 2, 1, 1>(simd),
            (3, 3, _) => self.run::<S, 3, 1, 3>(simd),
            (3, _, _) => self.run::<S, 3, 1, 1>(simd),
            (_, 3, _) => self.run::<S, 4, 1, 3>(simd),
            _ => self.run::<S, 4, 1, 1>(simd),
        }
    }
}

impl<L: ListPixels> WeightGradient<'_, L> {
    /// `V` vectors of filters, `R` kernel rows of `T` taps at a time (`R` is 1 or the whole
    /// kernel; `T` is 1 or a whole row).
    #[inline(always)]
    fn run<S: Simd, const V: usize, const R: usize, const T: usize>(self, simd: S) {
        let WeightGradient { geometry, image, lister, buffers, weight_grad } = self;
        let Buffers { padded, starts, deltas, .. } = buffers;
        let filters = geometry.filters;
        let (out_height, out_width) = (geometry.out_height, geometry.out_width);
        let (starts, deltas) = match lister.list(simd, image, &geometry, V * S::F32_LANES, starts, deltas) {
            Listed::Some(listed) => (&starts[..listed], S::as_simd_f32s(&deltas[..listed * V * S::F32_LANES]).0),
            Listed::All(delta) => {
                // Row by row, without a division a pixel (it cost about as much as the pixel's
                // nine multiply-adds).
                let pixels = (0..out_height).flat_map(|oy| (0..out_width).map(move |ox| (oy, ox)));
                starts.clear();
                starts
                    .extend(pixels.map(|(oy, ox)| (geometry.patch_start(oy, ox) as u32, (oy * out_width + ox) as u32)));
                (&starts[..], S::as_simd_f32s(delta).0)
            }
        };
        let (kernel_width, padded_width) = (geometry.kernel.1, geometry.padded_width);
        for ky in (0..geometry.kernel.0).step_by(R) {
            for kx in (0..kernel_width).step_by(T) {
                // Taps (ky..ky + R, kx..kx + T).
                let column = |r: usize, t: usize| ((ky + r) * kernel_width + kx + t) * filters;
                let mut sums: [[[S::f32s; V]; T]; R] = std::array::from_fn(|r| {
                    std::array::from_fn(|t| {
                        let column = &weight_grad[column(r, t)..][..filters];
                        std::array::from_fn(|v| load(simd, &column[part::<S>(v, filters)]))
                    })
                });
                let offset = ky * padded_width + kx;
                for (delta_p, &(start, _)) in deltas.chunks_exact(V).zip(starts) {
                    let patch = &padded[start as usize + offset..];
                    for (r, row_sums) in sums.iter_mut().enumerate() {
                        let row = &patch[r * padded_width..][..T];
                        for (sum, &x) in row_sums.iter_mut().zip(row) {
                            // ∂W[:, k] += δ_p · x_{p,k}
                            let x = simd.splat_f32s(x);
                            for (s, &d) in sum.iter_mut().zip(delta_p) {
                                *s = simd.mul_add_e_f32s(d, x, *s);
                            }
                        }
                    }
                }
                for (r, row_sums) in sums.iter().enumerate() {
                    for (t, sum) in row_sums.iter().enumerate() {
                        let column = &mut weight_grad[column(r, t)..][..filters];
                        for (v, &s) in sum.iter().enumerate() {
                            store(simd, &mut column[part::<S>(v, filters)], s);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::conv_one_channel::{applies, tests::case};
    use crate::im2col::im2col;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// `∂W` against the sum over every patch in f64.
        #[test]
        fn weight_gradients_match_the_definition(
            seed in any::<u64>(), filters in 1usize..70, kernel in 1usize..6, stride in 1usize..3,
            padding in 0usize..3, extra in 0usize..8, batch in 1usize..4,
        ) {
            let (params, _, _, input, delta) = case(seed, filters, kernel, stride, padding, kernel + extra, batch);
            prop_assume!(applies(&params));
            let mut columns = vec![0.0; params.patch_len() * params.patches() * batch];
            im2col(&params, &input, &mut columns, &mut Vec::new());
            let mut weight_grad = vec![f32::NAN; filters * kernel * kernel];
            let computed = weight_gradient(&params, &input, batch, &mut delta.clone(), &mut weight_grad, |_, _| ());
            prop_assert!(computed);
            for k in 0..kernel * kernel {
                for f in 0..filters {
                    let want: f64 = columns.chunks_exact(kernel * kernel).zip(delta.chunks_exact(filters))
                        .map(|(patch, d)| f64::from(patch[k]) * f64::from(d[f])).sum();
                    let got = f64::from(weight_grad[k * filters + f]);
                    prop_assert!((got - want).abs() < 1e-5 * (1.0 + want.abs()), "[{}, {}]: {} vs {}", f, k, got, want);
                }
            }
        }
    }

    /// Lists every batch the way a layer of filters in part of a vector does.
    struct AlwaysListed<'a> {
        delta: &'a [f32],
        output_len: usize,
    }

    impl ListPixels for AlwaysListed<'_> {
        fn list<'a, S: Simd>(
            &'a mut self,
            _simd: S,
            image: usize,
            geometry: &Geometry,
            width: usize,
            starts: &mut Vec<(u32, u32)>,
            deltas: &mut Vec<f32>,
        ) -> Listed<'a> {
            let delta = &self.delta[image * self.output_len..][..self.output_len];
            Listed::Some(list_nonzero_pixels(delta, geometry, width, starts, deltas))
        }
    }

    #[test]
    fn every_pixel_gives_the_bits_of_the_pixels_listed() {
        // 16 and 32 filters are whole vectors (AVX-512 and AVX2): every pixel is taken, those
        // whose δ is ±0 included; 3x3 kernels sum all nine taps at once, 5x5 a row at a time.
        for (filters, kernel, stride, padding) in [(16, 3, 1, 1), (32, 3, 1, 0), (16, 5, 1, 2), (32, 3, 2, 1)] {
            let (params, _, _, input, delta) = case(7, filters, kernel, stride, padding, 12, 3);
            assert!(applies(&params));
            let mut every_pixel = vec![f32::NAN; filters * kernel * kernel];
            assert!(weight_gradient(&params, &input, 3, &mut delta.clone(), &mut every_pixel, |_, _| ()));
            let mut listed = vec![f32::NAN; every_pixel.len()];
            let mut lister = AlwaysListed { delta: &delta, output_len: params.output_shape().len() };
            assert!(weight_gradient_of_listed(&params, &input, 3, &mut listed, &mut lister));
            let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&every_pixel), bits(&listed), "{filters} filters, {kernel}x{kernel}, stride {stride}");
        }
    }

    #[test]
    fn an_infinite_input_is_left_to_im2col() {
        let (params, _, _, mut input, delta) = case(1, 16, 3, 1, 1, 6, 2);
        input[40] = f32::INFINITY;
        let mut weight_grad = vec![0.0; 16 * 9];
        assert!(!weight_gradient(&params, &input, 2, &mut delta.clone(), &mut weight_grad, |_, _| ()));
    }
}
