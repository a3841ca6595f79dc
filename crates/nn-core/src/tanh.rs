//! The hyperbolic tangent, through the `exp` of `sigmoid.rs`, so that it vectorises.
//!
//! The C library's `tanhf` is called one value at a time (0.12 G values/s on the machine of
//! `docs/benchmarks.md`, 30 times slower than our sigmoid). This is Cephes' single-precision
//! `tanh`, written without branches: a polynomial near zero, where `1 − e^−2|z|` would lose digits
//! to cancellation, and `(1 − e^−2|z|) / (1 + e^−2|z|)` elsewhere. Plain multiplications,
//! additions and one division, so every instruction set gives the same bits.

use crate::map_in_place::map_in_place;
use crate::sigmoid::exp_of_non_positive;

/// `tanh z`, within 2 units in the last place; ±1 beyond |z| ≈ 9, NaN for NaN.
#[inline(always)]
pub(crate) fn tanh(z: f32) -> f32 {
    // Cephes' boundary between the two forms.
    const SMALL: f32 = 0.625;
    const P: [f32; 5] = [-5.704_988_7e-3, 2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1];
    let magnitude = z.abs();
    // Near zero: tanh z ≈ z + z³·P(z²).
    let square = z * z;
    let polynomial = P.iter().fold(0.0, |acc, &p| acc * square + p);
    // copysign keeps the sign of −0, which the sum would lose.
    let near_zero = (polynomial * square * z + z).copysign(z);
    // Elsewhere: with e = e^−2|z| ≤ e^−1.25, tanh |z| = (1 − e) / (1 + e), and no digits are lost.
    let e = exp_of_non_positive(-2.0 * magnitude);
    let far = ((1.0 - e) / (1.0 + e)).copysign(z);
    if magnitude < SMALL { near_zero } else { far }
}

/// [`tanh`] of every value, in place, with the processor's widest vectors.
pub(crate) fn tanh_in_place(values: &mut [f32]) {
    map_in_place(values, tanh);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_two_units_in_the_last_place() {
        let mut z = -12.0_f32;
        while z <= 12.0 {
            let (got, want) = (f64::from(tanh(z)), f64::from(z).tanh());
            assert!((got - want).abs() <= 2.5e-7 * want.abs(), "tanh({z}) = {got}, exactly {want}");
            z += 0.000_73;
        }
        for z in [1e-30_f32, -1e-20, 1e-7, 3e-4, 0.624_999_9, 0.625, -0.625] {
            let (got, want) = (f64::from(tanh(z)), f64::from(z).tanh());
            assert!((got - want).abs() <= 2.5e-7 * want.abs(), "tanh({z}) = {got}, exactly {want}");
        }
    }

    #[test]
    fn odd_saturating_and_nan_for_nan() {
        assert_eq!(tanh(0.0).to_bits(), 0.0_f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0_f32).to_bits());
        for z in [10.0_f32, 100.0, 1e30, f32::MAX, f32::INFINITY] {
            assert_eq!((tanh(z), tanh(-z)), (1.0, -1.0), "tanh(±{z})");
        }
        assert!(tanh(f32::NAN).is_nan());
        for z in [0.1_f32, 0.7, 2.0, 5.0] {
            assert_eq!(tanh(-z), -tanh(z));
        }
    }

    #[test]
    fn a_slice_gets_the_bits_of_one_value_at_a_time() {
        crate::map_in_place::assert_slice_gets_the_bits_of_one_value(tanh_in_place, tanh, 0.0173);
    }
}
