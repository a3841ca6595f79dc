//! The logistic function `σ(z) = 1 / (1 + e^−z)`, with an `exp` of our own that vectorises.
//!
//! Sigmoid layers spend most of their non-product time in `exp`; the C library's `expf` is
//! called one value at a time. [`exp_of_non_positive`] is Cephes' single-precision `exp`
//! (range reduction by `ln 2`, a degree-5 polynomial, the exponent put back through the bits),
//! written without branches so that a loop over a slice compiles to AVX-512 or AVX2 vectors.
//! It uses plain multiplications and additions only, so every instruction set gives the same
//! bits, and [`sigmoid`] on one value equals [`sigmoid_in_place`] on a slice.

use crate::map_in_place::map_in_place;

/// The logistic function `1 / (1 + e^−z)`, evaluated so that `exp` never overflows: with
/// `e = e^−|z|`, it is `1 / (1 + e)` for `z ≥ 0` and the equal `e / (1 + e)` for `z < 0`.
/// Relative error below 3·10⁻⁷ (two units in the last place); below −87.3, where σ would be a
/// subnormal number (under 1.2·10⁻³⁸), the result is 0.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    let e = exp_of_non_positive(-z.abs());
    let numerator = if z >= 0.0 { 1.0 } else { e };
    numerator / (1.0 + e)
}

/// [`sigmoid`] of every value, in place, with the processor's widest vectors.
pub(crate) fn sigmoid_in_place(values: &mut [f32]) {
    map_in_place(values, sigmoid);
}

/// `e^t` for `t ≤ 0` (NaN gives NaN): Cephes `expf`. `t = n ln 2 + r` with `|r| ≤ ln 2 / 2`,
/// `e^r ≈ 1 + r + r²·P(r)`, then `e^t = 2ⁿ e^r`. Below −87.3, where `2ⁿ` would leave the normal
/// numbers, the result is 0.
#[inline(always)]
pub(crate) fn exp_of_non_positive(t: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, so that n·LN2_HIGH is exact for the n that occur.
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    // Adding then subtracting 1.5·2²³ rounds to the nearest integer (ties to even).
    const ROUND: f32 = 12_582_912.0;
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];
    let n = (t * LOG2_E + ROUND) - ROUND;
    let r = (t - n * LN2_HIGH) - n * LN2_LOW;
    let polynomial = P.iter().fold(0.0, |acc, &p| acc * r + p);
    let e_r = (polynomial * r * r + r) + 1.0;
    // 2ⁿ built from its bits, with n ≥ −126 so that the exponent field n + 127 stays in range.
    // Adding 2²³ puts the integer n + 127 in the low bits of a float; shifting them into the
    // exponent field avoids a float-to-integer conversion, which Rust defines for NaN and
    // out-of-range values and so does not vectorise.
    let biased = n.max(-126.0) + (127.0 + 8_388_608.0);
    let two_to_n = f32::from_bits(biased.to_bits() << 23);
    if t < -87.3 { 0.0 } else { e_r * two_to_n }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    #[test]
    fn within_two_units_in_the_last_place_down_to_the_subnormals() {
        let mut z = -87.3_f32;
        while z <= 20.0 {
            let (got, want) = (f64::from(sigmoid(z)), exact(f64::from(z)));
            assert!((got - want).abs() <= 3e-7 * want, "sigmoid({z}) = {got}, exactly {want}");
            z += 0.001_7;
        }
    }

    #[test]
    fn finite_and_saturating_for_huge_inputs_and_nan_for_nan() {
        for z in [-1e30_f32, -1000.0, -88.8, -87.0, 88.8, 1000.0, 1e30, f32::MAX, f32::MIN] {
            let s = sigmoid(z);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "sigmoid({z}) = {s}");
        }
        assert_eq!((sigmoid(-1000.0), sigmoid(0.0), sigmoid(1000.0)), (0.0, 0.5, 1.0));
        assert!(sigmoid(f32::NAN).is_nan());
    }

    #[test]
    fn a_slice_gets_the_bits_of_one_value_at_a_time() {
        crate::map_in_place::assert_slice_gets_the_bits_of_one_value(sigmoid_in_place, sigmoid, 0.173);
    }
}
