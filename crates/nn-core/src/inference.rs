//! Inference: a network's outputs for one sample or a batch, and its most probable class.

use nalgebra::DMatrix;

use crate::aligned_buffer::AlignedBuffer;
use crate::batch::check_finite_inputs;
use crate::max_positions::MaxPositions;
use crate::softmax::argmax;
use crate::{Layer, Mode, Network, NnError, Predictions};
use crate::{conv_pool, conv_then_pool};

/// Most values of one layer's outputs that batched inference computes at once (16 MB).
pub(crate) const INFERENCE_VALUES: usize = 1 << 22;

/// Ping-pong buffers of the inference path.
#[derive(Default)]
pub(crate) struct InferenceBuffers {
    front: AlignedBuffer,
    back: AlignedBuffer,
    standardized: AlignedBuffer,
    /// Where a convolution's maxima lie, and its output where a pooling that follows needs it,
    /// when the two are computed together.
    positions: MaxPositions,
    conv_output: AlignedBuffer,
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
        let mut index = 0;
        while index < self.layers.len() {
            let layer = &self.layers[index];
            let input = if index == 0 { inputs } else { &buffers.front[..layer.input_size() * batch] };
            let first_pair = if index == 0 { self.first_conv_then_pool() } else { None };
            match (self.pooled_convolution(index, 1), first_pair) {
                // A convolution and the max-pooling after it in one pass, the full-resolution
                // output pooled while in the cache, or not written at all behind ReLU: the bits of
                // the two layers one after the other (`conv_then_pool.rs`, and `conv_pool.rs` for
                // a first convolution of one channel).
                (_, Some((conv, pool))) => {
                    let pooled = buffers.back.sized(pool.output_size() * batch);
                    let conv_output = buffers.conv_output.sized(conv.output_size() * batch);
                    conv_pool::forward(conv, pool, input, batch, conv_output, pooled, &mut buffers.positions);
                    index += 2;
                }
                (Some((conv, pool)), None) => {
                    let pooled = buffers.back.sized(pool.output_size() * batch);
                    let conv_output = (!conv_then_pool::keeps_positions(conv, pool))
                        .then(|| buffers.conv_output.sized(conv.output_size() * batch));
                    let positions = &mut buffers.positions;
                    conv_then_pool::forward(
                        conv,
                        pool,
                        (input, batch),
                        conv_output,
                        pooled,
                        positions,
                        Mode::Inference,
                    );
                    index += 2;
                }
                (None, None) => {
                    layer.forward(input, batch, buffers.back.sized(layer.output_size() * batch), Mode::Inference);
                    index += 1;
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_cases::{bits, uniform};
    use crate::{Architecture, Init, Loss};

    /// Each layer's forward pass in turn, each output whole.
    fn layer_by_layer(net: &Network, inputs: &[f32], batch: usize) -> Vec<f32> {
        let mut values = inputs.to_vec();
        for layer in net.layers() {
            let mut output = vec![f32::NAN; layer.output_size() * batch];
            layer.forward(&values, batch, &mut output, Mode::Inference);
            values = output;
        }
        values
    }

    #[test]
    fn convolutions_pooled_in_one_pass_give_the_bits_of_the_layers() {
        // Behind ReLU, 2x2 windows pooled from the tiles and other windows from a chunk of
        // outputs, the outputs not kept; behind tanh, kept; a pooling of overlapping windows
        // after a convolution, and a convolution with no pooling after it, layer by layer; a
        // first convolution of one channel pooled by rows.
        let texts = [
            "saito-deep",
            "saito-simple",
            "conv(16,5) relu maxpool(3) conv(16,3,pad=1) relu maxpool(2) flatten dense(10)",
            "conv(8,3,pad=1) relu conv(16,3,pad=1) relu maxpool(3,stride=3) flatten dense(10)",
            "conv(8,3) tanh conv(12,3,pad=2) tanh maxpool(2) conv(8,3) relu maxpool(3,stride=2) flatten dense(10)",
        ];
        for text in texts {
            let architecture = Architecture::named_or_parsed(text).unwrap();
            let net = architecture.build(Loss::SoftmaxCrossEntropy, Init::HE, 3).unwrap();
            let pairs = net.pooled_convolutions(1).iter().filter(|pair| pair.is_some()).count();
            assert!(pairs > 0 || net.first_conv_then_pool().is_some(), "{text}: no pair");
            let mut next = uniform(5);
            let mut buffers = InferenceBuffers::default();
            for batch in [1, 7, 2] {
                let inputs: Vec<f32> = (0..net.input_size() * batch).map(|_| next().max(0.0)).collect();
                let logits = net.forward_logits(&inputs, batch, &mut buffers).to_vec();
                assert_eq!(bits(&logits), bits(&layer_by_layer(&net, &inputs, batch)), "{text}, batch {batch}");
            }
        }
    }
}
