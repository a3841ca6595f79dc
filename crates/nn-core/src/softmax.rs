//! Softmax, log-softmax and argmax over a vector or over each sample (column) of a batch.

use crate::NnError;
use crate::shape::samples_in;

/// Replaces `z` by `softmax(z)_i = e^(z_i − m) / Σ_j e^(z_j − m)` with `m = max z`.
///
/// Subtracting the maximum does not change the result but keeps every exponent ≤ 0, so
/// `exp` never overflows: the logits `[1010, 1000, 990]` of Saitō's overflow example give
/// finite probabilities that sum to 1.
///
/// ```
/// let mut z = [1010.0_f32, 1000.0, 990.0];
/// nn_core::softmax::softmax_in_place(&mut z);
/// assert!(z.iter().all(|p| p.is_finite()));
/// assert!((z.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// ```
pub fn softmax_in_place(z: &mut [f32]) {
    let max = max_or_zero(z);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    // The largest term is e^0 = 1, so sum ≥ 1 and the division is safe.
    let inverse = 1.0 / sum;
    z.iter_mut().for_each(|v| *v *= inverse);
}

/// Replaces `z` by `log softmax(z)_i = z_i − m − ln Σ_j e^(z_j − m)` with `m = max z`.
///
/// Computed directly rather than as `ln(softmax)`, so a tiny probability gives a large negative
/// number instead of `ln 0 = −∞`.
pub fn log_softmax_in_place(z: &mut [f32]) {
    let shift = log_sum_exp(z);
    z.iter_mut().for_each(|v| *v -= shift);
}

/// `ln Σ_j e^(z_j)`, computed as `m + ln Σ_j e^(z_j − m)` so that it cannot overflow.
pub fn log_sum_exp(z: &[f32]) -> f32 {
    let max = max_or_zero(z);
    max + z.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

/// The softmax of a vector, as a new vector.
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let mut out = z.to_vec();
    softmax_in_place(&mut out);
    out
}

/// The log-softmax of a vector, as a new vector.
pub fn log_softmax(z: &[f32]) -> Vec<f32> {
    let mut out = z.to_vec();
    log_softmax_in_place(&mut out);
    out
}

/// Softmax of each sample of a batch stored as consecutive runs of `classes` values
/// (the columns of a column-major `classes × batch` matrix).
///
/// Refuses `classes == 0` ([`NnError::EmptySample`]) and values that are not a whole number of
/// samples ([`NnError::RaggedInput`]), leaving them untouched.
pub fn softmax_columns(values: &mut [f32], classes: usize) -> Result<(), NnError> {
    samples_in(values, classes)?;
    values.chunks_exact_mut(classes).for_each(softmax_in_place);
    Ok(())
}

/// Log-softmax of each sample of a batch, laid out and checked as in [`softmax_columns`].
pub fn log_softmax_columns(values: &mut [f32], classes: usize) -> Result<(), NnError> {
    samples_in(values, classes)?;
    values.chunks_exact_mut(classes).for_each(log_softmax_in_place);
    Ok(())
}

/// Index of the largest value; the first one on ties, and NaN never wins. 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The maximum, or 0 when it is not finite (all −∞, or a +∞ that would turn `z − m` into NaN).
fn max_or_zero(z: &[f32]) -> f32 {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max.is_finite() { max } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overflow_example_of_the_book_stays_finite() {
        let p = softmax(&[1010.0, 1000.0, 990.0]);
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[0] - 0.999_954_6).abs() < 1e-6, "{p:?}");
        let log_p = log_softmax(&[1010.0, 1000.0, 990.0]);
        assert!((log_p[2] - (-20.000_002)).abs() < 1e-4, "{log_p:?}");
    }

    #[test]
    fn log_softmax_is_the_log_of_softmax() {
        let z = [0.3, -1.2, 2.5, 0.0];
        for (p, lp) in softmax(&z).iter().zip(log_softmax(&z)) {
            assert!((p.ln() - lp).abs() < 1e-6);
        }
    }

    #[test]
    fn columns_are_independent_samples() {
        let mut v = [1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0];
        softmax_columns(&mut v, 3).unwrap();
        assert_eq!(&v[..3], softmax(&[1.0, 2.0, 3.0]).as_slice());
        assert!(v[3..].iter().all(|&p| (p - 1.0 / 3.0).abs() < 1e-7));
    }

    #[test]
    fn bad_sizes_are_refused_and_change_nothing() {
        let mut v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(softmax_columns(&mut v, 0), Err(NnError::EmptySample));
        assert_eq!(log_softmax_columns(&mut v, 3), Err(NnError::RaggedInput { len: 4, features: 3 }));
        assert_eq!(v, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5, 0.2]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
