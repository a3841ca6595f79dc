//! The buffers a training pass keeps between batches.

use nalgebra::DMatrix;

use crate::aligned_buffer::AlignedBuffer;

#[cfg(doc)]
use crate::Network;

/// Buffers for [`Network::loss_and_gradients`], kept between batches so that the hot path
/// allocates nothing once the largest batch has been seen. One per thread.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub(crate) outputs: Vec<AlignedBuffer>,
    pub(crate) deltas: Vec<AlignedBuffer>,
    pub(crate) input_gradient: AlignedBuffer,
    pub(crate) want_input_gradient: bool,
    pub(crate) input_gradient_len: usize,
    /// The batch's inputs after the network's standardisation, when it has one.
    pub(crate) standardized: AlignedBuffer,
    /// Values of each layer's output for the last batch.
    pub(crate) output_lens: Vec<usize>,
    /// Whether each layer's output of the last batch is kept (see [`Workspace::layer_output`]).
    pub(crate) output_kept: Vec<bool>,
    /// Whether every layer's output is to be kept.
    pub(crate) keep_layer_outputs: bool,
    /// For each layer, the parameter gradients of the parts of a batch after the first, when a
    /// network with batch normalisation cuts its layers' work into parts (`batch_parts.rs`).
    pub(crate) part_gradients: Vec<Vec<Vec<DMatrix<f32>>>>,
    /// For each layer, where the maxima of the max-pooling after it lie, when the training pass
    /// computes the two together (`conv_pool.rs` for a first one-channel convolution,
    /// `conv_then_pool.rs`).
    pub(crate) pooled_positions: Vec<crate::MaxPositions>,
}

impl Workspace {
    /// Empty buffers; they grow on first use.
    pub fn new() -> Self {
        Workspace::default()
    }

    /// Asks [`Network::loss_and_gradients`] to also compute `∂C/∂input` (off by default: the
    /// first layer's input gradient costs one more product and training does not need it).
    pub fn with_input_gradient(mut self) -> Self {
        self.want_input_gradient = true;
        self
    }

    /// Asks [`Network::loss_and_gradients`] to keep every layer's output for
    /// [`layer_output`](Workspace::layer_output) (off by default: a ReLU convolution whose
    /// max-pooling is computed with it is pooled a few images at a time, and its
    /// full-resolution output is not written whole).
    pub fn keeping_layer_outputs(mut self) -> Self {
        self.keep_layer_outputs = true;
        self
    }

    /// `∂C/∂input` of the last batch, laid out like the input, if it was asked for.
    pub fn input_gradient(&self) -> Option<&[f32]> {
        self.want_input_gradient.then(|| &self.input_gradient[..self.input_gradient_len])
    }

    /// The network's outputs (the logits, before the loss's output function) for the last batch
    /// given to [`Network::loss_and_gradients`], one sample after the other; empty before the
    /// first. A trainer reads its accuracy on the batch here without another forward pass.
    pub fn outputs(&self) -> &[f32] {
        self.layer_output(self.output_lens.len().saturating_sub(1)).unwrap_or(&[])
    }

    /// The output of layer `index` for the last batch given to
    /// [`Network::loss_and_gradients`] (activations, or feature maps channels last), one sample
    /// after the other; `None` for a layer it does not have, or whose output was not kept (see
    /// [`keeping_layer_outputs`](Workspace::keeping_layer_outputs)).
    pub fn layer_output(&self, index: usize) -> Option<&[f32]> {
        let len = *self.output_lens.get(index)?;
        if self.output_kept.get(index) == Some(&false) {
            return None;
        }
        Some(&self.outputs[index][..len])
    }
}
