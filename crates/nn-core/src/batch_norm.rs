//! Batch normalisation (Ioffe and Szegedy 2015; Saitō ch. 6.3): each channel normalised by the
//! mean and variance of the batch in training, by running estimates of them in inference.

use std::any::Any;
use std::ops::Range;

use nalgebra::DMatrix;

use crate::{Layer, LayerSpec, Mode, NnError, Shape, batch_parts};

/// PyTorch's default `momentum`: each training batch moves the running statistics a tenth of
/// the way to its own.
pub const BATCH_NORM_MOMENTUM: f32 = 0.1;

/// PyTorch's default `eps`, added to the variance before its square root.
pub const BATCH_NORM_EPSILON: f32 = 1e-5;

/// The running mean and variance of each channel that a batch normalisation uses in inference,
/// and how many training batches have moved them: PyTorch's `running_mean`, `running_var` and
/// `num_batches_tracked` buffers. They are not parameters: no gradient reaches them, and
/// optimizers never see them.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningStatistics {
    /// Running mean of each channel; 0 at the start.
    pub mean: Vec<f32>,
    /// Running (unbiased) variance of each channel; 1 at the start.
    pub variance: Vec<f32>,
    /// Training batches that have updated them.
    pub batches_tracked: u64,
}

impl RunningStatistics {
    /// The statistics of a layer that has seen no batch: means 0, variances 1, as PyTorch starts.
    pub fn fresh(channels: usize) -> Self {
        RunningStatistics { mean: vec![0.0; channels], variance: vec![1.0; channels], batches_tracked: 0 }
    }

    /// `r ← (1 − m)·r + m·s` for the mean and the variance, with `m` = [`BATCH_NORM_MOMENTUM`],
    /// and one batch more. `variance` is the batch's unbiased one (divided by `n − 1`).
    fn update(&mut self, mean: &[f64], variance: &[f64]) {
        let m = f64::from(BATCH_NORM_MOMENTUM);
        for (running, &batch) in self.mean.iter_mut().zip(mean).chain(self.variance.iter_mut().zip(variance)) {
            *running = ((1.0 - m) * f64::from(*running) + m * batch) as f32;
        }
        self.batches_tracked += 1;
    }
}

/// Batch normalisation of every channel: `y = γ·(x − μ)/√(σ² + ε) + β`.
///
/// After a dense layer (a flat input of `n` values) each value is its own channel, as PyTorch's
/// `BatchNorm1d(n)`; after a convolution (an image of `C` channels) each channel's mean and
/// variance run over every pixel of every sample, as `BatchNorm2d(C)`. In training, `μ` and
/// `σ²` are the batch's (its biased variance, divided by `n`), and the trainer moves the
/// [`RunningStatistics`] towards them after each step; in inference, `μ` and `σ²` are the
/// running ones, so a sample's output does not depend on its batch. `γ` (`scale`, PyTorch's
/// `weight`) and `β` (`shift`, `bias`) are the trainable parameters, 1 and 0 at the start. Weight
/// decay and max-norm leave them alone, as Saitō's `MultiLayerNetExtend` does.
///
/// Sums over the batch run in `f64`, sample after sample, so a batch gives the same bits whatever
/// the thread that computes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    shape: Shape,
    scale: DMatrix<f32>,
    shift: DMatrix<f32>,
    statistics: RunningStatistics,
}

impl BatchNorm {
    /// A fresh batch normalisation of samples of `shape`: `γ = 1`, `β = 0`, running means 0 and
    /// variances 1.
    ///
    /// ```
    /// use nn_core::{BatchNorm, Layer, Mode, Shape};
    /// let norm = BatchNorm::new(Shape::flat(2))?;
    /// // In training, each value is normalised by its batch: here two samples of two values.
    /// let mut output = [0.0; 4];
    /// norm.forward(&[1.0, 10.0, 3.0, 30.0], 2, &mut output, Mode::training(1));
    /// assert!((output[0] + 1.0).abs() < 1e-4 && (output[3] - 1.0).abs() < 1e-4);
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    pub fn new(shape: Shape) -> Result<Self, NnError> {
        BatchNorm::new_at(shape, 0)
    }

    /// [`BatchNorm::new`] for the layer at position `index` of a network, which its errors name.
    pub(crate) fn new_at(shape: Shape, index: usize) -> Result<Self, NnError> {
        if !shape.is_allowed() {
            return Err(NnError::InvalidLayer {
                layer: index,
                kind: "batchnorm",
                detail: format!("its input {shape} is empty or too large"),
            });
        }
        let channels = shape.channels;
        Ok(BatchNorm {
            shape,
            scale: DMatrix::from_element(channels, 1, 1.0),
            shift: DMatrix::zeros(channels, 1),
            statistics: RunningStatistics::fresh(channels),
        })
    }

    /// A batch normalisation with the given `scale` (γ) and `shift` (β), each `channels × 1`, and
    /// running statistics; refuses other sizes, values that are not finite and negative
    /// variances.
    pub fn with_values(
        shape: Shape,
        scale: DMatrix<f32>,
        shift: DMatrix<f32>,
        statistics: RunningStatistics,
    ) -> Result<Self, NnError> {
        BatchNorm::with_values_at(shape, scale, shift, statistics, 0)
    }

    pub(crate) fn with_values_at(
        shape: Shape,
        scale: DMatrix<f32>,
        shift: DMatrix<f32>,
        statistics: RunningStatistics,
        index: usize,
    ) -> Result<Self, NnError> {
        let mut norm = BatchNorm::new_at(shape, index)?;
        let channels = shape.channels;
        for (name, found) in [("weights", scale.shape()), ("bias", shift.shape())] {
            if found != (channels, 1) {
                return Err(NnError::ParameterShape { layer: index, name, expected: (channels, 1), found });
            }
        }
        crate::error::check_finite(index, [("weights", &scale), ("bias", &shift)])?;
        norm.scale = scale;
        norm.shift = shift;
        norm.set_statistics(statistics).map_err(|detail| NnError::InvalidLayer {
            layer: index,
            kind: "batchnorm",
            detail,
        })?;
        Ok(norm)
    }

    /// Replaces the running statistics, refusing ones of another size, values that are not
    /// finite and negative variances (the reason, as text).
    fn set_statistics(&mut self, statistics: RunningStatistics) -> Result<(), String> {
        let channels = self.shape.channels;
        if statistics.mean.len() != channels || statistics.variance.len() != channels {
            return Err(format!(
                "its running mean and variance hold {} and {} values, but it has {channels} channels",
                statistics.mean.len(),
                statistics.variance.len()
            ));
        }
        if let Some(v) = statistics.mean.iter().chain(&statistics.variance).find(|v| !v.is_finite()) {
            return Err(format!("its running statistics hold {v}"));
        }
        if let Some(v) = statistics.variance.iter().find(|&&v| v < 0.0) {
            return Err(format!("its running variance holds {v}, below 0"));
        }
        self.statistics = statistics;
        Ok(())
    }

    /// The channels normalised one by one.
    pub fn channels(&self) -> usize {
        self.shape.channels
    }

    /// `γ`, one per channel (`channels × 1`).
    pub fn scale(&self) -> &DMatrix<f32> {
        &self.scale
    }

    /// `β`, one per channel (`channels × 1`).
    pub fn shift(&self) -> &DMatrix<f32> {
        &self.shift
    }

    /// The running statistics used in inference.
    pub fn statistics(&self) -> &RunningStatistics {
        &self.statistics
    }

    /// The values of `batch` samples, and the parts of the batch that are summed and computed
    /// in parallel (`batch_parts.rs`: they depend on the batch size only).
    fn parts(&self, batch: usize) -> Vec<Range<usize>> {
        batch_parts::part_ranges(batch, batch_parts::batch_parts(batch))
    }

    /// Values that each channel's statistics run over: every pixel of every sample.
    fn count(&self, batch: usize) -> f64 {
        (batch * self.shape.len() / self.shape.channels) as f64
    }

    /// `Σ f(x, e, m)` per channel, two sums at once, over the values `x` of `input`, `e` of
    /// `extra` (laid out the same; `input` again when empty) and the channel's `centre` `m`, in
    /// `f64`: each part's sums in parallel, sample after sample, then the parts' in part order.
    fn channel_sums(
        &self,
        input: &[f32],
        extra: &[f32],
        batch: usize,
        centre: &[f64],
        f: impl Fn(f64, f64, f64) -> (f64, f64) + Sync + Send,
    ) -> (Vec<f64>, Vec<f64>) {
        let (channels, len) = (self.shape.channels, self.shape.len());
        let partial = batch_parts::map_parts(&self.parts(batch), |range| {
            let (mut first, mut second) = (vec![0.0_f64; channels], vec![0.0_f64; channels]);
            let input = &input[range.start * len..range.end * len];
            let extra = if extra.is_empty() { input } else { &extra[range.start * len..range.end * len] };
            for (pixel, other) in input.chunks_exact(channels).zip(extra.chunks_exact(channels)) {
                let sums = first.iter_mut().zip(second.iter_mut());
                for (((sums, &x), &e), &m) in sums.zip(pixel).zip(other).zip(centre) {
                    let (a, b) = f(f64::from(x), f64::from(e), m);
                    *sums.0 += a;
                    *sums.1 += b;
                }
            }
            (first, second)
        });
        let (mut first, mut second) = (vec![0.0_f64; channels], vec![0.0_f64; channels]);
        for (a, b) in partial {
            first.iter_mut().zip(a).for_each(|(t, s)| *t += s);
            second.iter_mut().zip(b).for_each(|(t, s)| *t += s);
        }
        (first, second)
    }

    /// The mean and biased variance of each channel over `batch` samples of `input`, in `f64`,
    /// in one pass: the sums of `x − k` and `(x − k)²` about the channel's first value `k`
    /// (the shifted-data formula, which keeps the subtraction small where a plain `Σx²` would
    /// cancel).
    fn batch_moments(&self, input: &[f32], batch: usize) -> (Vec<f64>, Vec<f64>) {
        let count = self.count(batch);
        let shift: Vec<f64> = input[..self.shape.channels].iter().map(|&x| f64::from(x)).collect();
        let (sums, squares) = self.channel_sums(input, &[], batch, &shift, |x, _, k| (x - k, (x - k) * (x - k)));
        let mean = sums.iter().zip(&shift).map(|(s, k)| k + s / count).collect();
        let variance = sums.iter().zip(&squares).map(|(s, q)| ((q - s * s / count) / count).max(0.0)).collect();
        (mean, variance)
    }

    /// The mean and `1/√(σ² + ε)` of each channel that `mode` normalises with: the batch's in
    /// training, the running ones in inference. They stay in `f64`: a mean rounded to `f32`
    /// leaves the normalised values of a batch summing to a little more than 0, which `1/σ`
    /// magnifies when the batch's values lie close together.
    fn normalisation(&self, input: &[f32], batch: usize, mode: Mode) -> (Vec<f64>, Vec<f64>) {
        let epsilon = f64::from(BATCH_NORM_EPSILON);
        let (mean, variance) = if mode.is_training() {
            self.batch_moments(input, batch)
        } else {
            let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
            (widen(&self.statistics.mean), widen(&self.statistics.variance))
        };
        let inverse_deviation = variance.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        (mean, inverse_deviation)
    }

    /// `out = a·v + b·e + c` for every value `v` of `input` and `e` of `extra` (laid out the
    /// same; `input` again when empty), with the channel's coefficients, in `f64`; the parts in
    /// parallel.
    fn affine(&self, input: &[f32], extra: &[f32], batch: usize, out: &mut [f32], [a, b, c]: [&[f64]; 3]) {
        let (channels, len) = (self.shape.channels, self.shape.len());
        let ranges = self.parts(batch);
        let parts: Vec<_> = ranges.iter().cloned().zip(batch_parts::split(out, len, &ranges)).collect();
        batch_parts::for_each(parts, |(range, out)| {
            let input = &input[range.start * len..range.end * len];
            let extra = if extra.is_empty() { input } else { &extra[range.start * len..range.end * len] };
            let pixels = input.chunks_exact(channels).zip(extra.chunks_exact(channels));
            for ((pixel, other), out) in pixels.zip(out.chunks_exact_mut(channels)) {
                let coefficients = a.iter().zip(b).zip(c);
                for (((o, &v), &e), ((a, b), c)) in out.iter_mut().zip(pixel).zip(other).zip(coefficients) {
                    *o = (a * f64::from(v) + b * f64::from(e) + c) as f32;
                }
            }
        });
    }

    /// `γ/√(σ² + ε)` per channel.
    fn factor(&self, inverse_deviation: &[f64]) -> Vec<f64> {
        self.scale.iter().zip(inverse_deviation).map(|(&g, inverse)| f64::from(g) * inverse).collect()
    }

    /// Moves the running statistics towards those of `batch` samples of `input`, this layer's
    /// input of a training step: what PyTorch does in every training forward pass.
    fn update_statistics(&mut self, input: &[f32], batch: usize) {
        let (mean, variance) = self.batch_moments(input, batch);
        let count = self.count(batch);
        // PyTorch keeps the unbiased variance, n/(n − 1) times the one it normalises with.
        let unbiased = if count > 1.0 { count / (count - 1.0) } else { 1.0 };
        let variance: Vec<f64> = variance.iter().map(|v| v * unbiased).collect();
        self.statistics.update(&mean, &variance);
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        "batchnorm"
    }

    fn input_shape(&self) -> Shape {
        self.shape
    }

    fn output_shape(&self) -> Shape {
        self.shape
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::BatchNorm
    }

    fn describe(&self) -> String {
        format!("{} channels", self.shape.channels)
    }

    /// `y = γ·(x − μ)/√(σ² + ε) + β`, channel by channel.
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], mode: Mode) {
        let (mean, inverse_deviation) = self.normalisation(input, batch, mode);
        // y = (γ/√(σ² + ε))·x + (β − μ·γ/√(σ² + ε)), in f64.
        let factor = self.factor(&inverse_deviation);
        let zeros = vec![0.0; factor.len()];
        let intercept: Vec<f64> =
            self.shift.iter().zip(&mean).zip(&factor).map(|((&b, m), f)| f64::from(b) - m * f).collect();
        self.affine(input, &[], batch, output, [&factor, &zeros, &intercept]);
    }

    /// `∂C/∂β = Σ ∂C/∂y`, `∂C/∂γ = Σ ∂C/∂y · x̂`; in training (μ and σ² depend on every input)
    /// `∂C/∂x = γ/(n·√(σ² + ε)) · (n·∂C/∂y − ∂C/∂β − x̂·∂C/∂γ)`, in inference `γ/√(σ² + ε) · ∂C/∂y`.
    fn backward(
        &self,
        input: &[f32],
        _output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        mode: Mode,
    ) {
        let (mean, inverse_deviation) = self.normalisation(input, batch, mode);
        let zeros = vec![0.0; mean.len()];
        // ∂C/∂β = Σ ∂C/∂y, and Σ ∂C/∂y · x̂ = (Σ ∂C/∂y · (x − μ)) / √(σ² + ε).
        let (shift_grad, centred_sums) =
            self.channel_sums(output_grad, input, batch, &mean, |dy, x, m| (dy, dy * (x - m)));
        let scale_grad: Vec<f64> = centred_sums.iter().zip(&inverse_deviation).map(|(s, i)| s * i).collect();
        if let [scale_gradient, shift_gradient] = gradients {
            scale_gradient.iter_mut().zip(&scale_grad).for_each(|(g, &s)| *g = s as f32);
            shift_gradient.iter_mut().zip(&shift_grad).for_each(|(g, &s)| *g = s as f32);
        }
        let Some(input_grad) = input_grad else { return };
        let factor = self.factor(&inverse_deviation);
        if mode.is_training() {
            // ∂C/∂x = f·∂C/∂y − (f/n)·(∂C/∂β + x̂·∂C/∂γ) with f = γ/√(σ² + ε), as
            // f·∂C/∂y − s·x + t. The terms nearly cancel, and 1/σ magnifies what is left: in f64,
            // the sum of a batch's input gradients stays 0 (as it must: a shift of every input
            // changes nothing) to the last bits of f32.
            let count = self.count(batch);
            let slope: Vec<f64> = factor
                .iter()
                .zip(&scale_grad)
                .zip(&inverse_deviation)
                .map(|((f, g), inverse)| -f * g * inverse / count)
                .collect();
            let intercept: Vec<f64> = factor
                .iter()
                .zip(&shift_grad)
                .zip(slope.iter().zip(&mean))
                .map(|((f, b), (s, m))| -f * b / count - s * m)
                .collect();
            self.affine(output_grad, input, batch, input_grad, [&factor, &slope, &intercept]);
        } else {
            self.affine(output_grad, &[], batch, input_grad, [&factor, &zeros, &zeros]);
        }
    }

    fn parameters(&self) -> Vec<&DMatrix<f32>> {
        vec![&self.scale, &self.shift]
    }

    fn parameters_mut(&mut self) -> Vec<&mut DMatrix<f32>> {
        vec![&mut self.scale, &mut self.shift]
    }

    /// Neither is `"weights"`: weight decay and max-norm leave them alone.
    fn parameter_names(&self) -> &'static [&'static str] {
        &["scale", "shift"]
    }

    fn running_statistics(&self) -> Option<&RunningStatistics> {
        Some(&self.statistics)
    }

    fn update_running_statistics(&mut self, input: &[f32], batch: usize) {
        self.update_statistics(input, batch);
    }

    fn set_running_statistics(&mut self, statistics: RunningStatistics) -> Result<(), String> {
        self.set_statistics(statistics)
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_normalises_each_channel_over_batch_and_pixels() {
        // Two samples of 2 channels on 1x2 pixels, channels last: channel 0 holds 1, 2, 3, 4
        // (mean 2.5, variance 1.25), channel 1 holds 10, 10, 10, 10 (variance 0).
        let norm = BatchNorm::new(Shape::new(2, 1, 2)).unwrap();
        let input = [1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 4.0, 10.0];
        let mut output = [f32::NAN; 8];
        norm.forward(&input, 2, &mut output, Mode::training(3));
        let deviation = (1.25_f32 + 1e-5).sqrt();
        for (i, x) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            assert!((output[2 * i] - (x - 2.5) / deviation).abs() < 1e-6, "{output:?}");
            assert_eq!(output[2 * i + 1], 0.0);
        }
        // Inference uses the fresh running statistics: mean 0, variance 1.
        norm.forward(&input, 2, &mut output, Mode::Inference);
        assert!((output[0] - 1.0 / (1.0_f32 + 1e-5).sqrt()).abs() < 1e-7);
    }

    #[test]
    fn the_running_statistics_move_as_pytorchs() {
        // PyTorch: bn = BatchNorm1d(1); bn(torch.tensor([[1.], [2.], [3.], [4.]])):
        // running_mean 0.25, running_var 0.9 + 0.1 * 5/3 = 1.0666667, num_batches_tracked 1.
        let mut norm = BatchNorm::new(Shape::flat(1)).unwrap();
        norm.update_statistics(&[1.0, 2.0, 3.0, 4.0], 4);
        let statistics = norm.statistics();
        assert_eq!(statistics.mean, [0.25]);
        assert!((statistics.variance[0] - 1.066_666_7).abs() < 1e-7);
        assert_eq!(statistics.batches_tracked, 1);
    }

    #[test]
    fn wrong_sizes_and_values_are_refused() {
        let shape = Shape::flat(2);
        let one = || DMatrix::from_element(2, 1, 1.0);
        let refused = |statistics: RunningStatistics| {
            BatchNorm::with_values_at(shape, one(), one(), statistics, 4).unwrap_err().to_string()
        };
        let fresh = RunningStatistics::fresh(2);
        assert!(refused(RunningStatistics { mean: vec![0.0], ..fresh.clone() }).contains("layer 4"));
        assert!(refused(RunningStatistics { variance: vec![1.0, -1.0], ..fresh.clone() }).contains("below 0"));
        assert!(refused(RunningStatistics { mean: vec![0.0, f32::NAN], ..fresh.clone() }).contains("NaN"));
        let wrong_scale = BatchNorm::with_values(shape, DMatrix::from_element(3, 1, 1.0), one(), fresh);
        assert!(matches!(wrong_scale, Err(NnError::ParameterShape { name: "weights", .. })));
        assert!(BatchNorm::new(Shape::new(0, 2, 2)).is_err());
    }
}
