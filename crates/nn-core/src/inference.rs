//! Inference: a network's outputs for one sample or a batch, and its most probable class.

use nalgebra::DMatrix;

use crate::aligned_buffer::AlignedBuffer;
use crate::batch::check_finite_inputs;
use crate::softmax::argmax;
use crate::{Mode, Network, NnError, Predictions};

/// Most values of one layer's outputs that batched inference computes at once (16 MB).
pub(crate) const INFERENCE_VALUES: usize = 1 << 22;

/// Ping-pong buffers of the inference path.
#[derive(Default)]
pub(crate) struct InferenceBuffers {
    front: AlignedBuffer,
    back: AlignedBuffer,
    standardized: AlignedBuffer,
}

impl Network {
    /// [`batch_len`](Self::batch_len) for the entries of inference, which also refuse an input
    /// that is not a finite number (training reads its data from checked samples, and its hot
    /// path is spared the pass).
    pub(crate) fn inference_batch_len(&self, inputs: &[f32]) -> Result<usize, NnError> {
        let batch = self.batch_len(inputs)?;
        check_finite_inputs(inputs, self.input_size())?;
        Ok(batch)
    }

    /// The logits of `batch` samples, in `buffers.front`. Every layer computes each sample on
    /// its own (see `affine.rs`), so a sample's logits do not depend on the batch around it.
    pub(crate) fn forward_logits<'b>(
        &self,
        inputs: &[f32],
        batch: usize,
        buffers: &'b mut InferenceBuffers,
    ) -> &'b [f32] {
        let inputs = match &self.standardization {
            Some(standardization) => {
                let standardized = buffers.standardized.sized(inputs.len());
                standardization.apply(inputs, standardized);
                &buffers.standardized[..inputs.len()]
            }
            None => inputs,
        };
        for (index, layer) in self.layers.iter().enumerate() {
            let output = buffers.back.sized(layer.output_size() * batch);
            layer.forward(
                if index == 0 { inputs } else { &buffers.front[..layer.input_size() * batch] },
                batch,
                output,
                Mode::Inference,
            );
            std::mem::swap(&mut buffers.front, &mut buffers.back);
        }
        &buffers.front[..self.output_size() * batch]
    }

    /// The outputs for one sample of [`input_size`](Network::input_size) values (channels last,
    /// see [`Layout`](crate::Layout)): probabilities
    /// (softmax or sigmoid outputs), or the logits themselves for
    /// [`Loss::IdentityMeanSquared`](crate::Loss::IdentityMeanSquared).
    pub fn predict(&self, input: &[f32]) -> Result<Vec<f32>, NnError> {
        self.check_parameter_shapes()?;
        if input.len() != self.input_size() {
            return Err(NnError::InputSize { expected: self.input_size(), found: input.len() });
        }
        Ok(self.predict_batch(input)?.as_slice().to_vec())
    }

    /// The outputs of every sample of `inputs` (samples one after the other, channels last), as an
    /// **`outputs × samples` matrix: column `j` is sample `j`**. Equal, bit for bit, to
    /// [`predict`](Network::predict) on each sample.
    ///
    /// This is the *transpose* of NumPy's `y = predict(x)` in Saitō's code (and of PyTorch's
    /// `model(x)`), whose shape is `(samples, outputs)`. A port of `np.argmax(y, axis=1)` is
    /// `y.column_iter().map(|c| argmax(c.as_slice()))` here, or, samples first as NumPy has
    /// them, [`predict_rows`](Network::predict_rows)`(x)?.argmax()`; `y[j]` is `y.column(j)`
    /// here and `predict_rows(x)?.row(j)` there.
    ///
    /// ```
    /// use nn_core::softmax::argmax;
    /// use nn_core::{Activation, Init, Loss, Network};
    /// let net = Network::dense(&[3, 5, 4], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 2)?;
    /// let x = [0.5, -0.2, 0.1, 0.9, 0.3, -0.7]; // two samples
    /// let y = net.predict_batch(&x)?;
    /// assert_eq!(y.shape(), (4, 2)); // outputs × samples; NumPy's y.shape is (2, 4)
    /// let classes: Vec<usize> = y.column_iter().map(|sample| argmax(sample.as_slice())).collect();
    /// assert_eq!(classes, net.predict_rows(&x)?.argmax()); // np.argmax(y, axis=1)
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    pub fn predict_batch(&self, inputs: &[f32]) -> Result<DMatrix<f32>, NnError> {
        let batch = self.inference_batch_len(inputs)?;
        let mut buffers = InferenceBuffers::default();
        let mut outputs = self.forward_logits(inputs, batch, &mut buffers).to_vec();
        check_finite_outputs(&outputs, self.output_size(), 0)?;
        self.loss.apply_output_unchecked(&mut outputs, self.output_size());
        Ok(DMatrix::from_vec(self.output_size(), batch, outputs))
    }

    /// The outputs of every sample of `inputs` laid out samples first, one row per sample, as
    /// NumPy's `predict(x)` of shape `(samples, outputs)`: the transpose of
    /// [`predict_batch`](Network::predict_batch), with the same bits and no copy.
    /// [`Predictions::argmax`] is `np.argmax(y, axis=1)`.
    pub fn predict_rows(&self, inputs: &[f32]) -> Result<Predictions, NnError> {
        self.predict_batch(inputs).map(Predictions::from_columns)
    }

    /// The logits of every sample of `inputs` (a whole number of samples, checked), computed a
    /// slice of samples at a time as [`evaluate`](Network::evaluate) does, so a large batch
    /// never holds a whole layer's outputs for all of it; `Err(NonFiniteOutput)` names a sample
    /// counted from `first`. A committee reads its members' outputs here: the same bits as
    /// [`predict_batch`](Network::predict_batch) once the output function is applied.
    pub(crate) fn checked_logits(&self, inputs: &[f32], first: usize) -> Result<Vec<f32>, NnError> {
        let batch = self.inference_batch_len(inputs)?;
        let (size, classes) = (self.input_size(), self.output_size());
        let widest = self.layers.iter().map(|l| l.output_size()).max().unwrap_or(1);
        let slice = (INFERENCE_VALUES / widest).max(1);
        let mut buffers = InferenceBuffers::default();
        let mut logits = Vec::with_capacity(batch * classes);
        for part in inputs.chunks(slice * size) {
            logits.extend_from_slice(self.forward_logits(part, part.len() / size, &mut buffers));
        }
        check_finite_outputs(&logits, classes, first)?;
        Ok(logits)
    }

    /// The most probable class of one sample.
    pub fn classify(&self, input: &[f32]) -> Result<usize, NnError> {
        Ok(argmax(&self.predict(input)?))
    }
}

/// `Err(NonFiniteOutput)` for the first sample whose logits hold a NaN or an infinity (weights
/// that overflow in the forward pass): its class and probabilities would be meaningless.
/// `first` is the index of the first sample in `logits`.
pub(crate) fn check_finite_outputs(logits: &[f32], classes: usize, first: usize) -> Result<(), NnError> {
    match logits.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(NnError::NonFiniteOutput { sample: first + at / classes.max(1), value: logits[at] }),
    }
}
