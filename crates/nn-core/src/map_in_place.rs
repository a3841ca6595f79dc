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

/// `v = f(v, other)` for every value and the value of `other` at the same place (`other` at
/// least as long), compiled as [`map_in_place`] is.
#[inline(always)]
pub(crate) fn zip_map_in_place(values: &mut [f32], other: &[f32], f: impl Fn(f32, f32) -> f32) {
    pulp::Arch::new().dispatch(ZipMapInPlace { values, other, f });
}

struct ZipMapInPlace<'a, F> {
    values: &'a mut [f32],
    other: &'a [f32],
    f: F,
}

impl<F: Fn(f32, f32) -> f32> WithSimd for ZipMapInPlace<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        self.values.iter_mut().zip(self.other).for_each(|(v, &o)| *v = (self.f)(*v, o));
    }
}

/// Asserts that `in_place` on a slice of 1,000 values `(i − 500)·step` gives the bits of `f` on
/// each value: the promise of every function mapped through [`map_in_place`].
#[cfg(test)]
pub(crate) fn assert_slice_gets_the_bits_of_one_value(in_place: fn(&mut [f32]), f: fn(f32) -> f32, step: f32) {
    let mut values: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * step).collect();
    let one_at_a_time: Vec<f32> = values.iter().map(|&z| f(z)).collect();
    in_place(&mut values);
    assert_eq!(values, one_at_a_time);
}
