//! Element-wise loops compiled for the processor's widest vectors.

use pulp::{Simd, WithSimd};

/// Runs `work` compiled with the best instruction set the processor offers (AVX-512, AVX2),
/// chosen at run time by `pulp`, so that plain loops over slices in it vectorise 16 or 8 lanes
/// wide instead of the 4 of baseline x86-64. The functions `work` calls must be
/// `#[inline(always)]` to be compiled there. Only element-wise work goes through here: the
/// instruction set then cannot change a result.
pub(crate) fn vectorized<R>(work: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(Vectorized(work))
}

struct Vectorized<F>(F);

impl<R, F: FnOnce() -> R> WithSimd for Vectorized<F> {
    type Output = R;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> R {
        (self.0)()
    }
}
