//! Element-wise functions over slices, compiled for the processor's widest vectors.

use pulp::{Simd, WithSimd};

/// `v = f(v)` for every value, with `f` compiled for the best instruction set the processor
/// offers (AVX-512, AVX2), chosen at run time by `pulp`, so that a branch-free `f` vectorises 16
/// or 8 lanes wide. `f` and what it calls must be `#[inline(always)]` to be compiled there.
#[inline(always)]
pub(crate) fn map_in_place(values: &mut [f32], f: impl Fn(f32) -> f32) {
    pulp::Arch::new().dispatch(MapInPlace { values, f });
}

struct MapInPlace<'a, F> {
    values: &'a mut [f32],
    f: F,
}

impl<F: Fn(f32) -> f32> WithSimd for MapInPlace<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        self.values.iter_mut().for_each(|v| *v = (self.f)(*v));
    }
}
