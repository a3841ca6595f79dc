//! Per-feature standardisation of a network's inputs: the mean and deviation of the training
//! images, kept with the network so that every program that loads it prepares inputs the same
//! way.
//!
//! Saitō (ch. 6.2 and 8) names normalisation and whitening as the usual preprocessing beyond
//! scaling pixels to [0, 1]; scikit-learn's `StandardScaler` and Keras's `Normalization` layer
//! compute this one. It is not a trainable layer: optimizers, weight decay and max-norm never
//! see it, and the parameters of the layers keep their numbering in NumPy and PyTorch files.

use crate::NnError;

/// A feature whose deviation is below this is constant in the training set (the border pixels
/// of MNIST are 0 in every image): it is centred but not scaled, as scikit-learn's
/// `StandardScaler` does, rather than divided by almost nothing.
pub const CONSTANT_FEATURE: f32 = 1e-6;

/// The mean `μ` and deviation `σ` of each input feature; inputs become `(x − μ) / σ`.
///
/// ```
/// use nn_core::Standardization;
/// // Two samples of three features, one after the other.
/// let scaler = Standardization::of_samples(&[0.0, 2.0, 5.0, 1.0, 4.0, 5.0], 3)?;
/// assert_eq!(scaler.mean(), [0.5, 3.0, 5.0]);
/// assert_eq!(scaler.deviation(), [0.5, 1.0, 1.0]); // the third feature is constant
/// let mut inputs = [1.0, 2.0, 5.0];
/// scaler.apply_in_place(&mut inputs);
/// assert_eq!(inputs, [1.0, -1.0, 0.0]);
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    mean: Vec<f32>,
    deviation: Vec<f32>,
}

impl Standardization {
    /// From a mean and a deviation per feature, as a model file holds them. Refuses lengths that
    /// differ, values that are not finite and deviations that are not positive.
    pub fn new(mean: Vec<f32>, deviation: Vec<f32>) -> Result<Self, NnError> {
        let invalid = |detail: String| NnError::InvalidStandardization { detail };
        if mean.is_empty() || mean.len() != deviation.len() {
            return Err(invalid(format!(
                "{} means and {} deviations: give one of each per input feature",
                mean.len(),
                deviation.len()
            )));
        }
        if let Some(index) = mean.iter().position(|m| !m.is_finite()) {
            return Err(invalid(format!("the mean of feature {index} is {}", mean[index])));
        }
        if let Some(index) = deviation.iter().position(|d| !(d.is_finite() && *d > 0.0)) {
            return Err(invalid(format!(
                "the deviation of feature {index} is {}: deviations must be positive numbers",
                deviation[index]
            )));
        }
        Ok(Standardization { mean, deviation })
    }

    /// The mean and the population deviation (`ddof = 0`, as NumPy's `x.std(axis=0)`) of each
    /// of `features` features over `samples`, one sample after the other. Sums run in `f64` in
    /// sample order, so the result does not depend on threads. A constant feature gets a
    /// deviation of 1 (see [`CONSTANT_FEATURE`]).
    pub fn of_samples(samples: &[f32], features: usize) -> Result<Self, NnError> {
        let count = crate::batch::batch_samples(samples, features)?;
        crate::batch::check_finite_inputs(samples, features)?;
        Standardization::of_each(features, count, |index, out| {
            out.copy_from_slice(&samples[index * features..(index + 1) * features]);
        })
    }

    /// [`of_samples`](Standardization::of_samples) over `count` samples that `sample(index,
    /// out)` writes one at a time into `out` (`features` values), for a data set that is not
    /// one slice of `f32` (bytes turned into values as they are read, say). Reads each sample
    /// twice, in index order.
    pub fn of_each(features: usize, count: usize, sample: impl Fn(usize, &mut [f32])) -> Result<Self, NnError> {
        let (mean, variance) = moments(features, count, sample)?;
        Standardization::new(mean.iter().map(|&m| m as f32).collect(), variance.iter().map(|&v| deviation(v)).collect())
    }

    /// One mean and one deviation over every value of every sample, repeated for each feature:
    /// what PyTorch's MNIST example hard-codes as `transforms.Normalize((0.1307,), (0.3081,))`.
    /// Read like [`of_each`](Standardization::of_each).
    pub fn pooled_of_each(features: usize, count: usize, sample: impl Fn(usize, &mut [f32])) -> Result<Self, NnError> {
        let (mean, variance) = moments(features, count, sample)?;
        let overall = mean.iter().sum::<f64>() / features as f64;
        // Every feature has as many values: the variance of the union is the mean of each
        // feature's variance plus the spread of their means, Σ (σᵢ² + (μᵢ − μ)²) / features.
        let pooled = mean.iter().zip(&variance).map(|(m, v)| v + (m - overall).powi(2)).sum::<f64>() / features as f64;
        Standardization::new(vec![overall as f32; features], vec![deviation(pooled); features])
    }

    /// Values per sample.
    pub fn features(&self) -> usize {
        self.mean.len()
    }

    /// The mean `μ` of each feature.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The deviation `σ` of each feature (1 for a constant one).
    pub fn deviation(&self) -> &[f32] {
        &self.deviation
    }

    /// `x ← (x − μ) / σ` for every sample of `values` (a whole number of samples).
    pub fn apply_in_place(&self, values: &mut [f32]) {
        for sample in values.chunks_exact_mut(self.features()) {
            for ((x, m), d) in sample.iter_mut().zip(&self.mean).zip(&self.deviation) {
                *x = (*x - m) / d;
            }
        }
    }

    /// `output = (input − μ) / σ`, sample by sample.
    pub fn apply(&self, input: &[f32], output: &mut [f32]) {
        output.copy_from_slice(input);
        self.apply_in_place(output);
    }

    /// `∂C/∂x = ∂C/∂x' / σ`: carries a gradient with respect to the standardised inputs back to
    /// the raw ones.
    pub fn backward_in_place(&self, gradient: &mut [f32]) {
        for sample in gradient.chunks_exact_mut(self.features()) {
            sample.iter_mut().zip(&self.deviation).for_each(|(g, d)| *g /= d);
        }
    }
}

/// The mean and the population variance of each feature, summed in `f64` in sample order.
fn moments(features: usize, count: usize, sample: impl Fn(usize, &mut [f32])) -> Result<(Vec<f64>, Vec<f64>), NnError> {
    if features == 0 {
        return Err(NnError::EmptySample);
    }
    if count == 0 {
        return Err(NnError::EmptyBatch);
    }
    let mut values = vec![0.0_f32; features];
    let mut sum = vec![0.0_f64; features];
    for index in 0..count {
        sample(index, &mut values);
        crate::batch::check_finite_inputs(&values, features).map_err(|error| match error {
            NnError::NonFiniteInput { index: feature, value, .. } => {
                NnError::NonFiniteInput { sample: index, index: feature, value }
            }
            other => other,
        })?;
        sum.iter_mut().zip(&values).for_each(|(s, &x)| *s += f64::from(x));
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
    // σ² = Σ (x − μ)² / n, from the mean rather than Σx² − nμ², which cancels badly.
    let mut squares = vec![0.0_f64; features];
    for index in 0..count {
        sample(index, &mut values);
        squares.iter_mut().zip(&values).zip(&mean).for_each(|((s, &x), m)| *s += (f64::from(x) - m).powi(2));
    }
    Ok((mean, squares.iter().map(|s| s / count as f64).collect()))
}

/// `σ = √variance`, or 1 for a constant feature (see [`CONSTANT_FEATURE`]).
fn deviation(variance: f64) -> f32 {
    let deviation = variance.sqrt() as f32;
    if deviation < CONSTANT_FEATURE { 1.0 } else { deviation }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_mean_and_std_and_leaves_constant_features_unscaled() {
        // np.array([[0, 1, 7], [2, 1, 7], [4, 1, 7], [6, 1, 7]]).std(axis=0) == [2.236068, 0, 0]
        let samples = [0.0, 1.0, 7.0, 2.0, 1.0, 7.0, 4.0, 1.0, 7.0, 6.0, 1.0, 7.0];
        let scaler = Standardization::of_samples(&samples, 3).unwrap();
        assert_eq!(scaler.mean(), [3.0, 1.0, 7.0]);
        assert_eq!(scaler.deviation(), [5.0_f32.sqrt(), 1.0, 1.0]);
        let mut standardised = samples;
        scaler.apply_in_place(&mut standardised);
        let first: Vec<f32> = standardised.chunks(3).map(|s| s[0]).collect();
        let mean = first.iter().sum::<f32>() / 4.0;
        let variance = first.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-7 && (variance - 1.0).abs() < 1e-6, "{mean} {variance}");
        assert!(standardised.chunks(3).all(|s| s[1] == 0.0 && s[2] == 0.0));
    }

    #[test]
    fn the_pooled_form_is_the_mean_and_deviation_of_all_values() {
        // np.array([0, 1, 7, 2, 1, 7, 4, 1, 7, 6, 1, 7]): mean 3.75, std 2.8394...
        let samples = [0.0, 1.0, 7.0, 2.0, 1.0, 7.0, 4.0, 1.0, 7.0, 6.0, 1.0, 7.0];
        let pooled =
            Standardization::pooled_of_each(3, 4, |i, out| out.copy_from_slice(&samples[i * 3..i * 3 + 3])).unwrap();
        let values: Vec<f64> = samples.iter().map(|&x| f64::from(x)).collect();
        let mean = values.iter().sum::<f64>() / 12.0;
        let deviation = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
        assert_eq!(pooled.mean(), [mean as f32; 3]);
        assert_eq!(pooled.deviation(), [deviation as f32; 3]);
    }

    #[test]
    fn the_backward_pass_divides_by_the_deviation() {
        let scaler = Standardization::new(vec![1.0, -1.0], vec![2.0, 0.5]).unwrap();
        let mut gradient = [1.0, 1.0, -4.0, 3.0];
        scaler.backward_in_place(&mut gradient);
        assert_eq!(gradient, [0.5, 2.0, -2.0, 6.0]);
    }

    #[test]
    fn refuses_what_cannot_standardise() {
        for (mean, deviation, words) in [
            (vec![0.0], vec![1.0, 1.0], "1 means and 2 deviations"),
            (vec![], vec![], "0 means"),
            (vec![f32::NAN], vec![1.0], "mean of feature 0 is NaN"),
            (vec![0.0, 0.0], vec![1.0, 0.0], "deviation of feature 1 is 0"),
            (vec![0.0], vec![-2.0], "deviation of feature 0 is -2"),
            (vec![0.0], vec![f32::INFINITY], "deviation of feature 0 is inf"),
        ] {
            let error = Standardization::new(mean, deviation).unwrap_err().to_string();
            assert!(error.contains(words), "{error}");
        }
        assert!(matches!(Standardization::of_samples(&[], 3), Err(NnError::EmptyBatch)));
        assert!(Standardization::of_samples(&[1.0, 2.0], 3).is_err());
        assert!(Standardization::of_samples(&[1.0, f32::NAN, 2.0], 3).is_err());
    }
}
