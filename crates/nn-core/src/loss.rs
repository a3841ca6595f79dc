//! The output function of a network paired with the loss that is optimised through it.

use std::fmt;
use std::str::FromStr;

use crate::NnError;
use crate::shape::samples_in;
use crate::sigmoid::{sigmoid, sigmoid_in_place};
use crate::softmax::{argmax, log_sum_exp, softmax_in_place};

/// The last step of a network and the loss minimised through it, chosen together.
///
/// The last [`Dense`](crate::Dense) layer is affine (identity activation): it produces logits
/// `z`, and the loss owns the output function, so that each pairing gets its simple fused
/// gradient with respect to `z`. Whatever is chosen here is what training minimises.
///
/// Losses and gradients are *means* over the samples of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Loss {
    /// Softmax outputs with the cross-entropy `C = −(1/n) Σ_x Σ_i t_i ln softmax(z)_i`.
    /// Fused gradient: `∂C/∂z = (softmax(z) − t) / n`. The usual choice for classification.
    SoftmaxCrossEntropy,
    /// Sigmoid outputs with Nielsen's quadratic cost `C = (1/2n) Σ_x ‖σ(z) − t‖²`.
    /// Gradient: `∂C/∂z = (σ(z) − t) ⊙ σ(z)(1 − σ(z)) / n` (chapter 2 of *Neural Networks and
    /// Deep Learning*, equation BP1).
    SigmoidQuadratic,
    /// Identity outputs (the logits as they are, Saitō's `identity_function` of chapter 3) with
    /// the mean squared error `C = (1/2n) Σ_x ‖z − t‖²`, for regression.
    /// Gradient: `∂C/∂z = (z − t) / n`.
    ///
    /// `n` counts samples, not values: `C` is the mean over the batch of Saitō's per-sample
    /// `½ Σ_i (y_i − t_i)²` (chapter 4) and the same formula as
    /// [`SigmoidQuadratic`](Loss::SigmoidQuadratic) without the sigmoid. PyTorch's
    /// `nn.MSELoss()` (and Keras' `"mse"`) has no ½ and averages over all `n·k` values of `k`
    /// outputs: `MSELoss = (2/k) C`, so its gradients are `2/k` times these, and plain SGD with
    /// a learning rate `η` there takes the steps of `2η/k` here.
    IdentityMeanSquared,
}

/// The expected outputs of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Targets<'a> {
    /// One class index per sample.
    Classes(&'a [usize]),
    /// One vector of `outputs` values per sample, one after the other (the columns of a
    /// column-major `outputs × batch` matrix): one-hot for a classifier, any real numbers for
    /// a regression ([`Loss::IdentityMeanSquared`]).
    OneHot(&'a [f32]),
}

impl Targets<'_> {
    /// Checks that there is one target per sample and that every class exists.
    pub fn validate(&self, outputs: usize, batch: usize) -> Result<(), NnError> {
        match *self {
            Targets::Classes(classes) => {
                if classes.len() != batch {
                    return Err(NnError::TargetCount { expected: batch, found: classes.len() });
                }
                match classes.iter().position(|&c| c >= outputs) {
                    Some(sample) => Err(NnError::ClassOutOfRange { sample, class: classes[sample], classes: outputs }),
                    None => Ok(()),
                }
            }
            Targets::OneHot(values) if values.len() != outputs * batch => Err(NnError::TargetShape {
                expected: (outputs, batch),
                found: (outputs, values.len() / outputs.max(1)),
            }),
            Targets::OneHot(_) => Ok(()),
        }
    }

    /// The class of sample `j`: its index, or the argmax of its target vector; `None` when there
    /// is no sample `j` (or `outputs` is 0).
    pub fn class(&self, sample: usize, outputs: usize) -> Option<usize> {
        match *self {
            Targets::Classes(classes) => classes.get(sample).copied(),
            Targets::OneHot(_) if outputs == 0 => None,
            Targets::OneHot(values) => values.get(sample * outputs..(sample + 1) * outputs).map(argmax),
        }
    }

    /// `t_i` for sample `j`.
    fn value(&self, sample: usize, outputs: usize, i: usize) -> f32 {
        match *self {
            Targets::Classes(classes) => f32::from(u8::from(classes[sample] == i)),
            Targets::OneHot(values) => values[sample * outputs + i],
        }
    }
}

impl Loss {
    /// Every loss, for tests and command-line help.
    pub const ALL: [Loss; 3] = [Loss::SoftmaxCrossEntropy, Loss::SigmoidQuadratic, Loss::IdentityMeanSquared];

    /// Name of the output function: `"softmax"`, `"sigmoid"` or `"identity"`.
    pub fn output_name(self) -> &'static str {
        match self {
            Loss::SoftmaxCrossEntropy => "softmax",
            Loss::SigmoidQuadratic => "sigmoid",
            Loss::IdentityMeanSquared => "identity",
        }
    }

    /// Whether each output is a probability, in `[0, 1]` (softmax: a distribution over the
    /// classes; sigmoid: one per class). Identity outputs are any real numbers: their argmax is
    /// still a class, but they are no confidence to show.
    pub fn outputs_are_probabilities(self) -> bool {
        self != Loss::IdentityMeanSquared
    }

    /// Turns the logits of each sample (runs of `outputs` values) into the network's outputs.
    ///
    /// Refuses `outputs == 0` and logits that are not a whole number of samples.
    pub fn apply_output(self, logits: &mut [f32], outputs: usize) -> Result<(), NnError> {
        samples_in(logits, outputs)?;
        self.apply_output_unchecked(logits, outputs);
        Ok(())
    }

    /// [`apply_output`](Loss::apply_output) on logits already checked.
    pub(crate) fn apply_output_unchecked(self, logits: &mut [f32], outputs: usize) {
        match self {
            Loss::SoftmaxCrossEntropy => logits.chunks_exact_mut(outputs).for_each(softmax_in_place),
            Loss::SigmoidQuadratic => sigmoid_in_place(logits),
            Loss::IdentityMeanSquared => {}
        }
    }

    /// The mean loss of a batch of logits and, when `delta` is given, `∂C/∂z` written into it.
    ///
    /// `logits` and `delta` hold `batch` runs of `outputs` values. Refuses an empty batch,
    /// `outputs == 0`, a `delta` of another length, and targets that do not fit (a class
    /// `≥ outputs`, not one target per sample): see [`Targets::validate`].
    pub fn loss_and_delta(
        self,
        logits: &[f32],
        outputs: usize,
        targets: Targets<'_>,
        delta: Option<&mut [f32]>,
    ) -> Result<f32, NnError> {
        let batch = samples_in(logits, outputs)?;
        if batch == 0 {
            return Err(NnError::EmptyBatch);
        }
        if let Some(found) = delta.as_deref().map(<[f32]>::len).filter(|&len| len != logits.len()) {
            return Err(NnError::BufferSize { name: "delta", expected: logits.len(), found });
        }
        targets.validate(outputs, batch)?;
        Ok(self.loss_and_delta_unchecked(logits, outputs, targets, delta))
    }

    /// [`loss_and_delta`](Loss::loss_and_delta) on a batch already checked: a non-empty whole
    /// number of samples, `delta` as long as `logits`, valid targets. The network checks once
    /// and calls this for every batch.
    pub(crate) fn loss_and_delta_unchecked(
        self,
        logits: &[f32],
        outputs: usize,
        targets: Targets<'_>,
        mut delta: Option<&mut [f32]>,
    ) -> f32 {
        let batch = logits.len() / outputs;
        let inverse_batch = 1.0 / batch as f32;
        let mut total = 0.0_f64;
        for (j, z) in logits.chunks_exact(outputs).enumerate() {
            let mut delta_j = delta.as_deref_mut().map(|d| &mut d[j * outputs..(j + 1) * outputs]);
            match self {
                Loss::SoftmaxCrossEntropy => {
                    // −Σ t_i ln p_i with ln p_i = z_i − ln Σ e^z, which stays finite when p_i underflows.
                    let lse = log_sum_exp(z);
                    for (i, &zi) in z.iter().enumerate() {
                        let t = targets.value(j, outputs, i);
                        let log_p = zi - lse;
                        if t != 0.0 {
                            total -= f64::from(t * log_p);
                        }
                        if let Some(d) = delta_j.as_deref_mut() {
                            d[i] = (log_p.exp() - t) * inverse_batch;
                        }
                    }
                }
                Loss::SigmoidQuadratic => {
                    // ½‖σ(z) − t‖², gradient (a − t) σ'(z) with σ'(z) = a (1 − a).
                    for (i, &zi) in z.iter().enumerate() {
                        let a = sigmoid(zi);
                        let error = a - targets.value(j, outputs, i);
                        total += 0.5 * f64::from(error * error);
                        if let Some(d) = delta_j.as_deref_mut() {
                            d[i] = error * a * (1.0 - a) * inverse_batch;
                        }
                    }
                }
                Loss::IdentityMeanSquared => {
                    // ½‖z − t‖², gradient z − t.
                    for (i, &zi) in z.iter().enumerate() {
                        let error = zi - targets.value(j, outputs, i);
                        total += 0.5 * f64::from(error * error);
                        if let Some(d) = delta_j.as_deref_mut() {
                            d[i] = error * inverse_batch;
                        }
                    }
                }
            }
        }
        (total / batch as f64) as f32
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Loss::SigmoidQuadratic => "sigmoid_quadratic",
            Loss::IdentityMeanSquared => "identity_mean_squared",
        })
    }
}

/// The error of parsing a [`Loss`] from text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseLossError(pub String);

// Written by hand rather than derived with thiserror, so that the lean build (no default
// features) compiles neither thiserror's proc-macro nor syn.
impl fmt::Display for ParseLossError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown loss {:?}: expected softmax_cross_entropy (or softmax), sigmoid_quadratic (or sigmoid) or \
             identity_mean_squared (or identity, mse)",
            self.0
        )
    }
}

impl std::error::Error for ParseLossError {}

impl FromStr for Loss {
    type Err = ParseLossError;

    /// Accepts the `Display` names, the output names `softmax`, `sigmoid` and `identity`, and
    /// `cross_entropy`, `quadratic`, `mean_squared_error` and `mse`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "softmax_cross_entropy" | "softmax" | "cross_entropy" => Ok(Loss::SoftmaxCrossEntropy),
            "sigmoid_quadratic" | "sigmoid" | "quadratic" => Ok(Loss::SigmoidQuadratic),
            "identity_mean_squared" | "identity" | "mean_squared_error" | "mse" => Ok(Loss::IdentityMeanSquared),
            _ => Err(ParseLossError(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_one_hot_give_the_same_loss_and_delta() {
        let logits = [0.5, -1.0, 2.0, 1000.0, 990.0, -50.0];
        let one_hot = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        for loss in Loss::ALL {
            let (mut d1, mut d2) = ([0.0; 6], [0.0; 6]);
            let l1 = loss.loss_and_delta(&logits, 3, Targets::Classes(&[2, 1]), Some(&mut d1)).unwrap();
            let l2 = loss.loss_and_delta(&logits, 3, Targets::OneHot(&one_hot), Some(&mut d2)).unwrap();
            assert_eq!(l1, l2);
            assert_eq!(d1, d2);
            assert!(l1.is_finite() && d1.iter().all(|d| d.is_finite()));
        }
    }

    #[test]
    fn identity_outputs_are_the_logits_and_their_loss_is_half_the_mean_squared_distance() {
        // Two samples of two outputs: ½((0.5 − 1)² + (2 − 0)²) = 2.125, ½((−1 − (−1))² + (3 − 1)²) = 2.
        let logits = [0.5, 2.0, -1.0, 3.0];
        let targets = [1.0, 0.0, -1.0, 1.0];
        let mut delta = [0.0; 4];
        let loss = Loss::IdentityMeanSquared;
        let mean = loss.loss_and_delta(&logits, 2, Targets::OneHot(&targets), Some(&mut delta)).unwrap();
        assert_eq!(mean, (2.125 + 2.0) / 2.0);
        // (z − t) / n with n = 2 samples.
        assert_eq!(delta, [-0.25, 1.0, 0.0, 1.0]);
        let mut outputs = logits;
        loss.apply_output(&mut outputs, 2).unwrap();
        assert_eq!(outputs, logits);
        assert!(!loss.outputs_are_probabilities());
        assert!(
            Loss::SoftmaxCrossEntropy.outputs_are_probabilities() && Loss::SigmoidQuadratic.outputs_are_probabilities()
        );
    }

    #[test]
    fn every_loss_reads_back_its_name_and_its_output_name() {
        for loss in Loss::ALL {
            assert_eq!(loss.to_string().parse::<Loss>(), Ok(loss));
            assert_eq!(loss.output_name().parse::<Loss>(), Ok(loss));
        }
        assert_eq!("MSE".parse::<Loss>(), Ok(Loss::IdentityMeanSquared));
        let error = "huber".parse::<Loss>().unwrap_err().to_string();
        assert!(error.contains("identity_mean_squared"), "{error}");
    }

    #[test]
    fn cross_entropy_of_a_confident_wrong_answer_is_large_but_finite() {
        let loss = Loss::SoftmaxCrossEntropy.loss_and_delta(&[1000.0, 0.0], 2, Targets::Classes(&[1]), None).unwrap();
        assert_eq!(loss, 1000.0);
    }

    #[test]
    fn targets_are_checked() {
        assert!(matches!(Targets::Classes(&[0, 3]).validate(3, 2), Err(NnError::ClassOutOfRange { sample: 1, .. })));
        assert!(matches!(Targets::Classes(&[0]).validate(3, 2), Err(NnError::TargetCount { .. })));
        assert!(matches!(Targets::OneHot(&[0.0; 5]).validate(3, 2), Err(NnError::TargetShape { .. })));
        assert!(Targets::OneHot(&[0.0; 6]).validate(3, 2).is_ok());
    }

    #[test]
    fn bad_sizes_and_classes_are_errors_not_panics_or_zeros() {
        let loss = Loss::SoftmaxCrossEntropy;
        assert_eq!(loss.loss_and_delta(&[], 0, Targets::Classes(&[]), None), Err(NnError::EmptySample));
        assert_eq!(loss.loss_and_delta(&[], 3, Targets::Classes(&[]), None), Err(NnError::EmptyBatch));
        assert!(matches!(
            loss.loss_and_delta(&[0.0; 4], 3, Targets::Classes(&[0]), None),
            Err(NnError::RaggedInput { .. })
        ));
        // A class the outputs cannot hold is refused, not scored as a loss of 0.
        let out_of_range = loss.loss_and_delta(&[0.0; 3], 3, Targets::Classes(&[7]), None);
        assert!(matches!(out_of_range, Err(NnError::ClassOutOfRange { class: 7, .. })));
        let short = loss.loss_and_delta(&[0.0; 3], 3, Targets::Classes(&[0]), Some(&mut [0.0; 2]));
        assert_eq!(short, Err(NnError::BufferSize { name: "delta", expected: 3, found: 2 }));
        assert_eq!(loss.apply_output(&mut [1.0, 2.0], 0), Err(NnError::EmptySample));
        assert_eq!(Targets::Classes(&[4]).class(1, 10), None);
        assert_eq!(Targets::OneHot(&[0.0, 1.0]).class(0, 2), Some(1));
        assert_eq!(Targets::OneHot(&[0.0, 1.0]).class(1, 2), None);
        assert_eq!(Targets::OneHot(&[0.0, 1.0]).class(0, 0), None);
    }
}
