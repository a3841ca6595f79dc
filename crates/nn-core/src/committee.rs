//! A committee of networks (Ciresan, Meier & Schmidhuber 2012; Nielsen, *Neural Networks and
//! Deep Learning*, chapter 6): several trained networks that classify together by averaging
//! their outputs.

use nalgebra::DMatrix;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::softmax::{argmax, log_sum_exp};
use crate::{Classifier, Evaluation, Loss, Network, NnError, Shape, Targets};

/// Most members a committee holds, and a committee file may list.
pub const MAX_COMMITTEE_MEMBERS: usize = 1000;

/// Networks that classify together: the committee's outputs for a sample are the mean of its
/// members' outputs, and its class the most probable one of that mean.
///
/// Each member's outputs are those of [`Network::predict`]: for softmax networks, probabilities
/// that sum to 1, so the mean is a probability distribution too. Sigmoid-output networks
/// (Nielsen's quadratic cost) are averaged the same way, output by output, as they are: each mean
/// output lies in (0, 1), but they need not sum to 1. Members must share their output function,
/// so the two kinds are never mixed.
///
/// The mean is summed member 0 first, then member 1, and so on, and divided by the number of
/// members, so the result is the same bits on any machine and any number of threads; a committee
/// of one member gives that member's outputs bit for bit. A member whose outputs are NaN or
/// infinite makes the committee fail with [`NnError::NonFiniteOutput`], as the network itself
/// would. Batches are computed in parallel with the feature `parallel`, each batch's members one
/// after the other.
///
/// It predicts through [`Classifier`], like a network; a committee file (feature `serde`) is
/// read by [`load_committee`](crate::load_committee) or [`load_any_model`](crate::load_any_model).
///
/// ```
/// use nn_core::{Activation, Classifier, Committee, Init, Loss, Network};
///
/// let net = |seed| Network::dense(&[4, 8, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed);
/// let committee = Committee::new(vec![net(1)?, net(2)?, net(3)?])?;
/// let probabilities = committee.predict(&[0.1, 0.2, 0.3, 0.4])?;
/// assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// assert_eq!(committee.parameter_count(), 3 * net(1)?.parameter_count());
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Committee {
    members: Vec<Network>,
    /// The members' input shape; an image shape when members read it flat and as an image.
    input: Shape,
}

impl Committee {
    /// A committee of `members`, which must take the same inputs, give the same number of
    /// outputs through the same output function, and number 1 to [`MAX_COMMITTEE_MEMBERS`].
    ///
    /// A flat input of `n` values and a one-channel image of `n` pixels are the same samples (a
    /// dense network beside a convolutional one on MNIST): such members fit together, and the
    /// committee's input shape is the image's. The error names the first member that differs
    /// from the ones before it ([`NnError::CommitteeInput`], [`NnError::CommitteeOutputs`],
    /// [`NnError::CommitteeOutputFunction`], [`NnError::CommitteeSize`]).
    pub fn new(members: Vec<Network>) -> Result<Self, NnError> {
        if members.is_empty() || members.len() > MAX_COMMITTEE_MEMBERS {
            return Err(NnError::CommitteeSize { members: members.len() });
        }
        let (loss, outputs) = (members[0].loss(), members[0].output_size());
        let mut input = members[0].input_shape();
        for (member, network) in members.iter().enumerate().skip(1) {
            let found = network.input_shape();
            if !same_samples(input, found) {
                return Err(NnError::CommitteeInput { member, expected: input, found });
            }
            if network.output_size() != outputs {
                return Err(NnError::CommitteeOutputs { member, expected: outputs, found: network.output_size() });
            }
            if network.loss() != loss {
                return Err(NnError::CommitteeOutputFunction { member, expected: loss, found: network.loss() });
            }
            if input.is_flat() && !found.is_flat() {
                input = found;
            }
        }
        Ok(Committee { members, input })
    }

    /// The networks, member 0 first.
    pub fn members(&self) -> &[Network] {
        &self.members
    }

    /// The networks, given back.
    pub fn into_members(self) -> Vec<Network> {
        self.members
    }

    /// Number of members (at least 1).
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    fn batch_len(&self, inputs: &[f32]) -> Result<usize, NnError> {
        let batch = crate::batch::batch_samples(inputs, self.input_size())?;
        crate::batch::check_finite_inputs(inputs, self.input_size())?;
        Ok(batch)
    }

    /// The mean of the members' outputs for `inputs` (a whole number of samples, the first of
    /// which is sample `first` of the caller's set), one sample after the other; with `labels`
    /// and softmax outputs, also `ln` of the mean probability of each sample's label, computed
    /// from the members' log-softmax so that it stays finite when a probability underflows.
    fn mean_outputs(
        &self,
        inputs: &[f32],
        first: usize,
        labels: Option<&[usize]>,
    ) -> Result<(Vec<f32>, Vec<f32>), NnError> {
        let (classes, loss) = (self.output_size(), self.loss());
        let mut mean = Vec::new();
        let mut label_logs: Vec<Vec<f32>> = Vec::new();
        for (index, member) in self.members.iter().enumerate() {
            let mut outputs = member.checked_logits(inputs, first)?;
            if let (Loss::SoftmaxCrossEntropy, Some(labels)) = (loss, labels) {
                // ln p = z − ln Σ e^z, as the network's own cross-entropy computes it.
                let logs = outputs.chunks_exact(classes).zip(labels).map(|(z, &label)| z[label] - log_sum_exp(z));
                label_logs.push(logs.collect());
            }
            loss.apply_output_unchecked(&mut outputs, classes);
            if index == 0 {
                mean = outputs;
            } else {
                mean.iter_mut().zip(&outputs).for_each(|(sum, output)| *sum += output);
            }
        }
        let count = self.members.len() as f32;
        mean.iter_mut().for_each(|sum| *sum /= count);
        // ln((1/n) Σ_m p_m) = ln Σ_m e^(ln p_m) − ln n: exactly the member's ln p for one member.
        let samples = label_logs.first().map_or(0, Vec::len);
        let log_means = (0..samples)
            .map(|j| {
                let logs: Vec<f32> = label_logs.iter().map(|member| member[j]).collect();
                log_sum_exp(&logs) - count.ln()
            })
            .collect();
        Ok((mean, log_means))
    }

    /// The mean loss of one batch from its mean outputs, summed in the order and precision of
    /// the network's own loss, so that a committee of one evaluates as its member does.
    fn batch_loss(&self, mean: &[f32], log_means: &[f32], labels: &[usize]) -> f32 {
        let classes = self.output_size();
        let mut total = 0.0_f64;
        match self.loss() {
            Loss::SoftmaxCrossEntropy => log_means.iter().for_each(|&log_p| total -= f64::from(log_p)),
            // ½‖a − e_label‖² of the mean outputs: sigmoids, or the logits themselves.
            Loss::SigmoidQuadratic | Loss::IdentityMeanSquared => {
                for (outputs, &label) in mean.chunks_exact(classes).zip(labels) {
                    for (i, &a) in outputs.iter().enumerate() {
                        let error = a - f32::from(u8::from(label == i));
                        total += 0.5 * f64::from(error * error);
                    }
                }
            }
        }
        (total / labels.len() as f64) as f32
    }

    /// `visit(inputs of the batch, index of its first sample)` for each batch of `batch_size`
    /// samples, in parallel with the feature `parallel`, results in batch order.
    fn map_batches<T: Send>(
        &self,
        inputs: &[f32],
        batch_size: usize,
        visit: impl Fn(&[f32], usize) -> Result<T, NnError> + Sync,
    ) -> Result<Vec<T>, NnError> {
        if batch_size == 0 {
            return Err(NnError::EmptyBatch);
        }
        self.batch_len(inputs)?;
        let step = batch_size.saturating_mul(self.input_size());
        #[cfg(feature = "parallel")]
        let batches = inputs.par_chunks(step).enumerate();
        #[cfg(not(feature = "parallel"))]
        let batches = inputs.chunks(step).enumerate();
        batches.map(|(index, batch)| visit(batch, index * batch_size)).collect()
    }
}

/// Whether two input shapes are the same samples: equal, or a flat vector and a one-channel image
/// of as many values (whose channels-last and row-major orders agree).
fn same_samples(a: Shape, b: Shape) -> bool {
    let flat_and_image = |flat: Shape, image: Shape| flat.is_flat() && image.channels == 1 && flat.len() == image.len();
    a == b || flat_and_image(a, b) || flat_and_image(b, a)
}

impl Classifier for Committee {
    fn input_shape(&self) -> Shape {
        self.input
    }

    fn input_size(&self) -> usize {
        self.members[0].input_size()
    }

    fn output_size(&self) -> usize {
        self.members[0].output_size()
    }

    fn loss(&self) -> Loss {
        self.members[0].loss()
    }

    fn parameter_count(&self) -> usize {
        self.members.iter().map(Network::parameter_count).sum()
    }

    fn predict(&self, input: &[f32]) -> Result<Vec<f32>, NnError> {
        if input.len() != self.input_size() {
            return Err(NnError::InputSize { expected: self.input_size(), found: input.len() });
        }
        Ok(self.mean_outputs(input, 0, None)?.0)
    }

    fn predict_batch(&self, inputs: &[f32]) -> Result<DMatrix<f32>, NnError> {
        let batch = self.batch_len(inputs)?;
        let (mean, _) = self.mean_outputs(inputs, 0, None)?;
        Ok(DMatrix::from_vec(self.output_size(), batch, mean))
    }

    fn classify_batch(&self, inputs: &[f32], batch_size: usize) -> Result<Vec<usize>, NnError> {
        let classes = self.output_size();
        let per_batch = self.map_batches(inputs, batch_size, |batch, first| {
            let (mean, _) = self.mean_outputs(batch, first, None)?;
            Ok(mean.chunks_exact(classes).map(argmax).collect::<Vec<_>>())
        })?;
        Ok(per_batch.concat())
    }

    fn evaluate_and_classify(
        &self,
        inputs: &[f32],
        labels: &[usize],
        batch_size: usize,
    ) -> Result<(Evaluation, Vec<usize>), NnError> {
        let total = self.batch_len(inputs)?;
        let classes = self.output_size();
        Targets::Classes(labels).validate(classes, total)?;
        let per_batch = self.map_batches(inputs, batch_size, |batch, first| {
            let labels = &labels[first..first + batch.len() / self.input_size()];
            let (mean, log_means) = self.mean_outputs(batch, first, Some(labels))?;
            let loss = self.batch_loss(&mean, &log_means, labels);
            let predicted: Vec<usize> = mean.chunks_exact(classes).map(argmax).collect();
            Ok((f64::from(loss) * labels.len() as f64, predicted))
        })?;
        let loss_sum: f64 = per_batch.iter().map(|(loss, _)| loss).sum();
        let predicted: Vec<usize> = per_batch.into_iter().flat_map(|(_, predicted)| predicted).collect();
        let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok((Evaluation { loss: (loss_sum / total as f64) as f32, correct, total }, predicted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Architecture, Dense, Init};

    /// A one-layer network `z = W x + b` of two inputs and two outputs.
    fn tiny(weights: [f32; 4], bias: [f32; 2], loss: Loss) -> Network {
        let weights = DMatrix::from_row_slice(2, 2, &weights);
        let dense = Dense::new_at(weights, DMatrix::from_column_slice(2, 1, &bias), Activation::Identity, 0).unwrap();
        Network::from_dense(vec![dense], loss).unwrap()
    }

    fn dense(sizes: &[usize], seed: u64) -> Network {
        Network::dense(sizes, Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed).unwrap()
    }

    /// Inputs of `size` values per sample, varied.
    fn inputs(samples: usize, size: usize) -> Vec<f32> {
        (0..samples * size).map(|i| ((i * 37 % 101) as f32) / 101.0).collect()
    }

    #[test]
    fn the_mean_of_two_networks_by_hand() {
        let a = tiny([1.0, 0.0, 0.0, 1.0], [0.0, 0.0], Loss::SoftmaxCrossEntropy);
        let b = tiny([0.0, 0.0, 0.0, 0.0], [0.0, 2.0], Loss::SoftmaxCrossEntropy);
        let committee = Committee::new(vec![a, b]).unwrap();
        // x = (2, 0): a gives z = (2, 0), b gives (0, 2): mirrored probabilities, a mean of ½ each.
        let input = [2.0, 0.0];
        let e2 = 2.0_f64.exp();
        let (high, low) = (e2 / (1.0 + e2), 1.0 / (1.0 + e2));
        let expected = [(high + low) / 2.0, (low + high) / 2.0];
        let found = committee.predict(&input).unwrap();
        for (f, e) in found.iter().zip(expected) {
            assert!((f64::from(*f) - e).abs() < 1e-6, "{found:?} vs {expected:?}");
        }
        // x = (0, 1): a gives z = (0, 1), b gives (0, 2).
        let p = |z: f64| [1.0 / (1.0 + z.exp()), z.exp() / (1.0 + z.exp())];
        let (pa, pb) = (p(1.0), p(2.0));
        let found = committee.predict(&[0.0, 1.0]).unwrap();
        assert!((f64::from(found[1]) - (pa[1] + pb[1]) / 2.0).abs() < 1e-6, "{found:?}");
        assert_eq!(committee.classify(&[0.0, 1.0]).unwrap(), 1);
        // Exactly the sum member 0 first, then the division.
        let sum: Vec<f32> = committee.members()[0]
            .predict(&[0.0, 1.0])
            .unwrap()
            .iter()
            .zip(committee.members()[1].predict(&[0.0, 1.0]).unwrap())
            .map(|(x, y)| (x + y) / 2.0)
            .collect();
        assert_eq!(found, sum);
    }

    #[test]
    fn sigmoid_outputs_are_averaged_as_they_are() {
        let a = tiny([1.0, 0.0, 0.0, 1.0], [0.0, 0.0], Loss::SigmoidQuadratic);
        let b = tiny([0.0, 0.0, 0.0, 0.0], [0.0, 0.0], Loss::SigmoidQuadratic);
        let committee = Committee::new(vec![a, b]).unwrap();
        let found = committee.predict(&[1.0, -1.0]).unwrap();
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
        let expected = [(sigmoid(1.0) + 0.5) / 2.0, (sigmoid(-1.0) + 0.5) / 2.0];
        for (f, e) in found.iter().zip(expected) {
            assert!((f64::from(*f) - e).abs() < 1e-6, "{found:?} vs {expected:?}");
        }
        let evaluation = committee.evaluate(&[1.0, -1.0], &[0], 1).unwrap();
        let by_hand = 0.5 * ((expected[0] - 1.0).powi(2) + expected[1].powi(2));
        assert!((f64::from(evaluation.loss) - by_hand).abs() < 1e-6, "{evaluation:?}");
    }

    #[test]
    fn identity_outputs_are_averaged_and_scored_as_one_network_scores_them() {
        let a = tiny([1.0, 0.0, 0.0, 1.0], [0.0, 0.5], Loss::IdentityMeanSquared);
        let b = tiny([0.0, 2.0, 0.0, 0.0], [1.0, 0.0], Loss::IdentityMeanSquared);
        let committee = Committee::new(vec![a.clone(), b]).unwrap();
        let (pa, pb) = (a.predict(&[1.0, -1.0]).unwrap(), committee.members()[1].predict(&[1.0, -1.0]).unwrap());
        let expected: Vec<f32> = pa.iter().zip(&pb).map(|(x, y)| (x + y) / 2.0).collect();
        assert_eq!(committee.predict(&[1.0, -1.0]).unwrap(), expected);
        let evaluation = committee.evaluate(&[1.0, -1.0], &[1], 1).unwrap();
        let by_hand = 0.5 * (f64::from(expected[0]).powi(2) + (f64::from(expected[1]) - 1.0).powi(2));
        assert!((f64::from(evaluation.loss) - by_hand).abs() < 1e-6, "{evaluation:?}");
        let alone = Committee::new(vec![a.clone()]).unwrap();
        assert_eq!(alone.evaluate(&[1.0, -1.0], &[1], 1).unwrap(), a.evaluate(&[1.0, -1.0], &[1], 1).unwrap());
    }

    #[test]
    fn one_member_gives_its_outputs_and_evaluation_bit_for_bit() {
        let network = dense(&[6, 5, 4], 3);
        let committee = Committee::new(vec![network.clone()]).unwrap();
        let inputs = inputs(23, 6);
        let labels: Vec<usize> = (0..23).map(|i| i * 7 % 4).collect();
        assert_eq!(committee.predict_batch(&inputs).unwrap(), network.predict_batch(&inputs).unwrap());
        assert_eq!(committee.predict(&inputs[6..12]).unwrap(), network.predict(&inputs[6..12]).unwrap());
        assert_eq!(committee.evaluate(&inputs, &labels, 5).unwrap(), network.evaluate(&inputs, &labels, 5).unwrap());
        assert_eq!(committee.classify_batch(&inputs, 4).unwrap(), network.classify_batch(&inputs, 4).unwrap());
    }

    #[test]
    fn batches_of_any_size_give_the_same_bits() {
        let committee = Committee::new(vec![dense(&[6, 5, 4], 1), dense(&[6, 3, 4], 2), dense(&[6, 4], 3)]).unwrap();
        let inputs = inputs(17, 6);
        let labels: Vec<usize> = (0..17).map(|i| i % 4).collect();
        let all = committee.predict_batch(&inputs).unwrap();
        for (j, sample) in inputs.chunks(6).enumerate() {
            assert_eq!(all.column(j).as_slice(), committee.predict(sample).unwrap().as_slice());
        }
        let classes: Vec<usize> = all.column_iter().map(|c| argmax(c.as_slice())).collect();
        let first = committee.evaluate_and_classify(&inputs, &labels, 17).unwrap();
        assert_eq!(first.1, classes);
        for batch_size in [1, 2, 5, 100] {
            assert_eq!(committee.classify_batch(&inputs, batch_size).unwrap(), classes);
            let (evaluation, predicted) = committee.evaluate_and_classify(&inputs, &labels, batch_size).unwrap();
            assert_eq!(predicted, classes);
            assert_eq!(evaluation.correct, first.0.correct);
            assert!((evaluation.loss - first.0.loss).abs() < 1e-6);
        }
    }

    #[test]
    fn members_that_do_not_fit_are_refused_by_number() {
        let error = Committee::new(vec![dense(&[6, 4], 1), dense(&[6, 4], 2), dense(&[5, 4], 3)]).unwrap_err();
        assert_eq!(error, NnError::CommitteeInput { member: 2, expected: Shape::flat(6), found: Shape::flat(5) });
        assert!(error.to_string().contains("member 2"), "{error}");
        let error = Committee::new(vec![dense(&[6, 4], 1), dense(&[6, 3], 2)]).unwrap_err();
        assert_eq!(error, NnError::CommitteeOutputs { member: 1, expected: 4, found: 3 });
        let sigmoid = Network::dense(&[6, 4], Activation::Relu, Loss::SigmoidQuadratic, Init::HE, 1).unwrap();
        let error = Committee::new(vec![dense(&[6, 4], 1), sigmoid]).unwrap_err();
        assert!(matches!(error, NnError::CommitteeOutputFunction { member: 1, .. }), "{error}");
        assert_eq!(Committee::new(Vec::new()).unwrap_err(), NnError::CommitteeSize { members: 0 });
        let many = vec![dense(&[2, 2], 1); MAX_COMMITTEE_MEMBERS + 1];
        assert!(matches!(Committee::new(many), Err(NnError::CommitteeSize { .. })));
    }

    #[test]
    fn a_flat_input_and_a_one_channel_image_of_as_many_pixels_fit_together() {
        let cnn: Architecture = "conv(2,3) relu flatten dense(4)".parse().unwrap();
        let cnn = cnn.with_input(Shape::new(1, 5, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, 1).unwrap();
        let committee = Committee::new(vec![dense(&[25, 4], 2), cnn.clone()]).unwrap();
        assert_eq!(committee.input_shape(), Shape::new(1, 5, 5));
        assert_eq!(committee.predict(&inputs(1, 25)).unwrap().len(), 4);
        let two_channels: Architecture = "conv(2,3) relu flatten dense(4)".parse().unwrap();
        let two_channels = two_channels.with_input(Shape::new(2, 5, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, 1);
        let error = Committee::new(vec![dense(&[50, 4], 2), two_channels.unwrap()]).unwrap_err();
        assert!(matches!(error, NnError::CommitteeInput { member: 1, .. }), "{error}");
    }

    #[test]
    fn a_member_with_non_finite_outputs_is_an_error_naming_the_sample() {
        let overflowing = tiny([3e38, 3e38, 0.0, 0.0], [0.0, 0.0], Loss::SoftmaxCrossEntropy);
        let fine = tiny([1.0, 0.0, 0.0, 1.0], [0.0, 0.0], Loss::SoftmaxCrossEntropy);
        let committee = Committee::new(vec![fine, overflowing]).unwrap();
        let inputs = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        assert!(matches!(committee.predict_batch(&inputs), Err(NnError::NonFiniteOutput { sample: 2, .. })));
        assert!(matches!(committee.classify_batch(&inputs, 1), Err(NnError::NonFiniteOutput { sample: 2, .. })));
        assert!(matches!(committee.evaluate(&inputs, &[0, 0, 0], 2), Err(NnError::NonFiniteOutput { sample: 2, .. })));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let committee = Committee::new(vec![dense(&[3, 2], 1)]).unwrap();
        assert_eq!(committee.predict(&[0.0; 4]), Err(NnError::InputSize { expected: 3, found: 4 }));
        assert_eq!(committee.predict_batch(&[]), Err(NnError::EmptyBatch));
        assert!(matches!(committee.classify_batch(&[0.0; 4], 1), Err(NnError::RaggedInput { .. })));
        assert_eq!(committee.classify_batch(&[0.0; 3], 0), Err(NnError::EmptyBatch));
        assert!(matches!(committee.evaluate(&[0.0; 3], &[5], 1), Err(NnError::ClassOutOfRange { .. })));
        let nan = [0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0];
        assert!(matches!(committee.predict_batch(&nan), Err(NnError::NonFiniteInput { sample: 1, index: 1, .. })));
    }
}
