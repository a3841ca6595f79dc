//! The one-dimensional convolution that each pass of the augmentation's Gaussian blur runs, on
//! the processor's widest vectors with the bits of the plain sum.

use pulp::{Simd, WithSimd};

/// `out[i] = Σₖ kernel[k]·source[i + k·stride]` for every `i`, the taps added in order from
/// k = 0: one pass of the blur.
#[inline(always)]
pub(super) fn convolve(kernel: &[f32], source: &[f32], stride: usize, out: &mut [f32]) {
    pulp::Arch::new().dispatch(Convolve { taps: Taps { kernel, source, stride }, out });
}

/// [`convolve`] on explicit vectors. Loops left to the compiler ran at the speed of scalar
/// code here (about 7 multiply-adds per nanosecond whatever the vector width), so the sums are
/// kept in four vectors at a time, each tap's products added to them in order: a multiply
/// then an add, rounded as the scalar `sum += g * value` is, so the bits stay the same.
struct Convolve<'a> {
    taps: Taps<'a>,
    out: &'a mut [f32],
}

/// What each output of [`convolve`] sums.
#[derive(Clone, Copy)]
struct Taps<'a> {
    kernel: &'a [f32],
    source: &'a [f32],
    stride: usize,
}

impl Taps<'_> {
    /// Outputs `first..` into `out`, `N` whole vectors at a time, as many blocks as `out` holds;
    /// returns how many outputs that was.
    #[inline(always)]
    fn in_vectors<S: Simd, const N: usize>(self, simd: S, first: usize, out: &mut [f32]) -> usize {
        let block = N * std::mem::size_of::<S::f32s>() / std::mem::size_of::<f32>();
        let mut done = 0;
        for (start, chunk) in (first..).step_by(block).zip(out.chunks_exact_mut(block)) {
            let mut sums = [simd.splat_f32s(0.0); N];
            for (k, &g) in self.kernel.iter().enumerate() {
                let g = simd.splat_f32s(g);
                let from = start + k * self.stride;
                let (values, _) = S::as_simd_f32s(&self.source[from..from + block]);
                for (sum, &value) in sums.iter_mut().zip(values) {
                    *sum = simd.add_f32s(*sum, simd.mul_f32s(g, value));
                }
            }
            S::as_mut_simd_f32s(chunk).0.copy_from_slice(&sums);
            done += block;
        }
        done
    }

    /// Output `i`, one value.
    #[inline(always)]
    fn at(self, i: usize) -> f32 {
        let mut sum = 0.0;
        for (k, &g) in self.kernel.iter().enumerate() {
            sum += g * self.source[i + k * self.stride];
        }
        sum
    }
}

impl WithSimd for Convolve<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Convolve { taps, out } = self;
        // Four vectors at a time, then what is left one vector at a time, then one value at a time.
        let mut done = taps.in_vectors::<S, 4>(simd, 0, out);
        done += taps.in_vectors::<S, 1>(simd, done, &mut out[done..]);
        for (i, out) in (done..).zip(&mut out[done..]) {
            *out = taps.at(i);
        }
    }
}
