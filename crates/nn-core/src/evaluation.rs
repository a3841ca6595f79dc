//! Evaluation: a data set's mean loss, accuracy and classes, its batches computed in parallel.

#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::inference::{INFERENCE_VALUES, InferenceBuffers, check_finite_outputs};
use crate::softmax::argmax;
use crate::{Network, NnError, Targets};

/// Loss and accuracy over a data set, from [`Network::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample.
    pub loss: f32,
    /// Samples whose most probable class is the label.
    pub correct: usize,
    /// Samples evaluated.
    pub total: usize,
}

impl Evaluation {
    /// `correct / total`, 0 for an empty set.
    pub fn accuracy(&self) -> f32 {
        if self.total == 0 { 0.0 } else { self.correct as f32 / self.total as f32 }
    }
}

impl Network {
    /// The most probable class of every sample, computed `batch_size` samples at a time (the
    /// batches in parallel, see [`evaluate`](Network::evaluate)).
    pub fn classify_batch(&self, inputs: &[f32], batch_size: usize) -> Result<Vec<usize>, NnError> {
        let classes = self.output_size();
        let per_batch = self.map_batches(inputs, batch_size, |logits, _| {
            logits.chunks_exact(classes).map(argmax).collect::<Vec<_>>()
        })?;
        Ok(per_batch.concat())
    }

    /// Mean loss and accuracy over a data set, `batch_size` samples at a time (Saitō uses 100).
    ///
    /// Batches are computed in parallel on rayon's thread pool (feature `parallel`, on by
    /// default); each batch's results do not depend on the thread that computed it, and they
    /// are added up in order, so the result is the same with any number of threads, or none.
    pub fn evaluate(&self, inputs: &[f32], labels: &[usize], batch_size: usize) -> Result<Evaluation, NnError> {
        Ok(self.evaluate_and_classify(inputs, labels, batch_size)?.0)
    }

    /// [`evaluate`](Network::evaluate) and [`classify_batch`](Network::classify_batch) from one
    /// forward pass over the set: the evaluation and each sample's most probable class.
    pub fn evaluate_and_classify(
        &self,
        inputs: &[f32],
        labels: &[usize],
        batch_size: usize,
    ) -> Result<(Evaluation, Vec<usize>), NnError> {
        let total = self.inference_batch_len(inputs)?;
        Targets::Classes(labels).validate(self.output_size(), total)?;
        let classes = self.output_size();
        let per_batch = self.map_batches(inputs, batch_size, |logits, first| {
            let labels = &labels[first..first + logits.len() / classes];
            let mean = self.loss.loss_and_delta_unchecked(logits, classes, Targets::Classes(labels), None);
            let predicted: Vec<usize> = logits.chunks_exact(classes).map(argmax).collect();
            (f64::from(mean) * labels.len() as f64, predicted)
        })?;
        let loss_sum: f64 = per_batch.iter().map(|(loss, _)| loss).sum();
        let predicted: Vec<usize> = per_batch.into_iter().flat_map(|(_, predicted)| predicted).collect();
        let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok((Evaluation { loss: (loss_sum / total as f64) as f32, correct, total }, predicted))
    }

    /// The fraction of samples whose most probable class is the label.
    pub fn accuracy(&self, inputs: &[f32], labels: &[usize], batch_size: usize) -> Result<f32, NnError> {
        Ok(self.evaluate(inputs, labels, batch_size)?.accuracy())
    }

    /// `visit(logits, index of the first sample)` for each batch of `batch_size` samples, in
    /// parallel with the feature `parallel`, results in batch order. It gets the *logits*: argmax and losses are taken on
    /// them, which is both cheaper and exact (the output functions are increasing).
    fn map_batches<T: Send>(
        &self,
        inputs: &[f32],
        batch_size: usize,
        visit: impl Fn(&[f32], usize) -> T + Sync,
    ) -> Result<Vec<T>, NnError> {
        if batch_size == 0 {
            return Err(NnError::EmptyBatch);
        }
        self.inference_batch_len(inputs)?;
        let size = self.input_size();
        let classes = self.output_size();
        // A batch's activations are computed a slice of samples at a time, at most
        // INFERENCE_VALUES values per layer (a convolution's outputs for 1,000 images would take
        // 100 MB); each sample's logits are the same bits whatever slice it is in.
        let widest = self.layers.iter().map(|l| l.output_size()).max().unwrap_or(1);
        let slice = (INFERENCE_VALUES / widest).max(1);
        let run = |(buffers, logits): &mut (InferenceBuffers, Vec<f32>), (index, chunk): (usize, &[f32])| {
            let samples = chunk.len() / size;
            let first = index * batch_size;
            if samples <= slice {
                let logits = self.forward_logits(chunk, samples, buffers);
                return check_finite_outputs(logits, classes, first).map(|()| visit(logits, first));
            }
            logits.clear();
            for part in chunk.chunks(slice * size) {
                logits.extend_from_slice(self.forward_logits(part, part.len() / size, buffers));
            }
            let logits = &logits[..samples * classes];
            check_finite_outputs(logits, classes, first).map(|()| visit(logits, first))
        };
        // Rayon hands each thread runs of consecutive batches, so the buffers are reused.
        #[cfg(feature = "parallel")]
        let results = inputs.par_chunks(batch_size * size).enumerate().map_init(Default::default, run).collect();
        #[cfg(not(feature = "parallel"))]
        let results = {
            let mut scratch = Default::default();
            inputs.chunks(batch_size * size).enumerate().map(|batch| run(&mut scratch, batch)).collect()
        };
        results
    }
}
