//! The `Layer` trait: what the network and a trainer need from any kind of layer.

use std::any::Any;
use std::fmt;

use nalgebra::DMatrix;

use crate::NnError;

/// One stage of a feed-forward network, seen by the network and the trainer only through this
/// trait, so that new kinds (dropout, convolution, ...) plug in without changing either.
///
/// # Batch layout
///
/// Batches are column-major `features × batch` matrices passed as plain slices: sample `j`
/// occupies `data[j * features..(j + 1) * features]`. See the crate documentation for why
/// samples are columns. Implementations must not allocate per sample; they may allocate nothing
/// at all, since the network hands them every buffer.
///
/// # Parameters
///
/// [`parameters`](Layer::parameters) and [`parameters_mut`](Layer::parameters_mut) list the
/// trainable matrices in a fixed order, and [`backward`](Layer::backward) writes gradients of the
/// same shapes in the same order.
pub trait Layer: fmt::Debug + Send + Sync {
    /// Short name of the kind, for summaries and error messages (`"dense"`).
    fn kind(&self) -> &'static str;

    /// Values per input sample.
    fn input_size(&self) -> usize;

    /// Values per output sample.
    fn output_size(&self) -> usize;

    /// Details for the summary table (for example the activation).
    fn describe(&self) -> String;

    /// `Err` if this layer cannot be trained (it holds an inference-only function); `index` is its
    /// position in the network, for the message.
    fn check_trainable(&self, index: usize) -> Result<(), NnError>;

    /// Computes the outputs of `batch` samples: `input` has `input_size × batch` values,
    /// `output` exactly `output_size × batch`, fully overwritten. Each sample's outputs must not
    /// depend on the other samples of the batch, bit for bit: [`Network::predict`] and
    /// [`Network::predict_batch`] promise the same results.
    ///
    /// [`Network::predict`]: crate::Network::predict
    /// [`Network::predict_batch`]: crate::Network::predict_batch
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32]);

    /// Backpropagates through the layer.
    ///
    /// `input` and `output` are those of the last [`forward`](Layer::forward) on this batch.
    /// On entry `output_grad` holds `∂C/∂output`; the layer may overwrite it. On return
    /// `gradients` (shaped like [`parameters`](Layer::parameters)) hold `∂C/∂parameter`,
    /// overwritten, not accumulated, and `input_grad`, when asked for, holds `∂C/∂input`.
    fn backward(
        &self,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
    );

    /// The trainable matrices, in a fixed order.
    fn parameters(&self) -> Vec<&DMatrix<f32>>;

    /// The trainable matrices, mutable, in the order of [`parameters`](Layer::parameters).
    fn parameters_mut(&mut self) -> Vec<&mut DMatrix<f32>>;

    /// A boxed copy, so that networks can be cloned.
    fn clone_box(&self) -> Box<dyn Layer>;

    /// The concrete layer, for code that handles some kinds specially (model files, NumPy
    /// export) through `downcast_ref`.
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
