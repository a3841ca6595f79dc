//! The `Layer` trait: what the network and a trainer need from any kind of layer.

use std::any::Any;
use std::fmt;

use nalgebra::DMatrix;

use crate::{LayerSpec, Mode, NnError, RunningStatistics, Shape};

/// One stage of a feed-forward network, seen by the network and the trainer only through this
/// trait, so that new kinds plug in without changing either. This is the boundary that outside
/// crates implement.
///
/// # Batch layout
///
/// Batches are column-major `features × batch` matrices passed as plain slices: sample `j`
/// occupies `data[j * features..(j + 1) * features]`. See the crate documentation for why
/// samples are columns, and [`Shape`] for how an image-shaped sample is laid out (channels
/// last). Implementations must not allocate per sample: the network hands them every buffer,
/// and scratch space, where a layer needs it, is kept per thread and reused.
///
/// # Modes
///
/// Both passes receive the [`Mode`]: inference, or training with a seed. A layer that draws
/// random numbers (dropout) draws them from the mode, per sample, and draws the same ones again
/// in the backward pass; every other layer ignores it.
///
/// # Parameters
///
/// [`parameters`](Layer::parameters) and [`parameters_mut`](Layer::parameters_mut) list the
/// trainable matrices in a fixed order, named by [`parameter_names`](Layer::parameter_names),
/// and [`backward`](Layer::backward) writes gradients of the same shapes in the same order.
pub trait Layer: fmt::Debug + Send + Sync {
    /// Short name of the kind, for summaries and error messages (`"dense"`, `"conv"`).
    fn kind(&self) -> &'static str;

    /// The shape of one input sample.
    fn input_shape(&self) -> Shape;

    /// The shape of one output sample.
    fn output_shape(&self) -> Shape;

    /// Values per input sample.
    fn input_size(&self) -> usize {
        self.input_shape().len()
    }

    /// Values per output sample.
    fn output_size(&self) -> usize {
        self.output_shape().len()
    }

    /// The layer's description in the architecture language (`conv(16,3,pad=1) relu`), from
    /// which [`LayerSpec::build`] makes a layer of the same kind and shapes.
    ///
    /// [`LayerSpec`] names nn-core's own kinds only, and every file rebuilds a network from its
    /// layers' specs: model files, checkpoints, committee files, `.npz` and safetensors exports.
    /// A layer of a kind of your own trains and predicts inside a [`Network`](crate::Network) like
    /// any other, but cannot be saved or exported that way; keep its parameters yourself
    /// ([`Network::parameters`](crate::Network::parameters) lists them in order, and
    /// [`Network::set_parameter`](crate::Network::set_parameter) puts them back): a file would
    /// describe the kind its spec names, not yours.
    fn spec(&self) -> LayerSpec;

    /// Details for the summary table.
    fn describe(&self) -> String {
        self.spec().to_string()
    }

    /// `Err` if this layer cannot be trained (it holds an inference-only function); `index` is its
    /// position in the network, for the message.
    fn check_trainable(&self, _index: usize) -> Result<(), NnError> {
        Ok(())
    }

    /// Computes the outputs of `batch` samples: `input` has `input_size × batch` values,
    /// `output` exactly `output_size × batch`, fully overwritten. In inference, each sample's
    /// outputs must not depend on the other samples of the batch, bit for bit:
    /// [`Network::predict`] and [`Network::predict_batch`] promise the same results. In training,
    /// only a layer with [`running_statistics`](Layer::running_statistics) may read the whole
    /// batch (batch normalisation); a network holding one is trained a whole batch at a time.
    ///
    /// [`Network::predict`]: crate::Network::predict
    /// [`Network::predict_batch`]: crate::Network::predict_batch
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], mode: Mode);

    /// Backpropagates through the layer.
    ///
    /// `input` and `output` are those of the last [`forward`](Layer::forward) on this batch, in
    /// the same `mode`. On entry `output_grad` holds `∂C/∂output`; the layer may overwrite it.
    /// On return `gradients` (shaped like [`parameters`](Layer::parameters)) hold
    /// `∂C/∂parameter`, overwritten, not accumulated, and `input_grad`, when asked for, holds
    /// `∂C/∂input`, overwritten.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        mode: Mode,
    );

    /// The trainable matrices, in a fixed order.
    fn parameters(&self) -> Vec<&DMatrix<f32>> {
        Vec::new()
    }

    /// The trainable matrices, mutable, in the order of [`parameters`](Layer::parameters).
    fn parameters_mut(&mut self) -> Vec<&mut DMatrix<f32>> {
        Vec::new()
    }

    /// The names of the trainable matrices, in the order of [`parameters`](Layer::parameters):
    /// `"weights"` (which weight decay applies to) and `"bias"` for dense and convolutional
    /// layers.
    fn parameter_names(&self) -> &'static [&'static str] {
        &[]
    }

    /// The running statistics of a layer that normalises by its batch in training and by them in
    /// inference ([`BatchNorm`](crate::BatchNorm)); `None` for every other layer.
    fn running_statistics(&self) -> Option<&RunningStatistics> {
        None
    }

    /// After a training step, moves the running statistics towards those of this layer's
    /// `input` of the step (`batch` samples); nothing for a layer without them.
    fn update_running_statistics(&mut self, _input: &[f32], _batch: usize) {}

    /// Replaces the running statistics (read from a file); `Err` with the reason for a layer
    /// without them, or statistics that do not fit.
    fn set_running_statistics(&mut self, _statistics: RunningStatistics) -> Result<(), String> {
        Err(format!("a {} layer keeps no running statistics", self.kind()))
    }

    /// A boxed copy, so that networks can be cloned.
    fn clone_box(&self) -> Box<dyn Layer>;

    /// The concrete layer, for code that handles some kinds specially through `downcast_ref`.
    fn as_any(&self) -> &dyn Any;

    /// Number of trainable scalars.
    fn parameter_count(&self) -> usize {
        self.parameters().iter().map(|p| p.len()).sum()
    }
}

impl Clone for Box<dyn Layer> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
