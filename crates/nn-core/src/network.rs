//! A feed-forward network: layers, an output function with its loss, inference and backpropagation.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::batch_parts;
use crate::softmax::argmax;
use crate::{
    Activation, Architecture, Dense, Gradients, Init, Layer, LayerSpec, Loss, Mode, NnError, Predictions, Shape,
    Standardization, Targets,
};

/// A feed-forward network: a chain of [`Layer`]s whose last output (the logits) goes through the
/// output function of its [`Loss`].
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// let net = Network::dense(&[784, 30, 10], Activation::Sigmoid, Loss::SoftmaxCrossEntropy, Init::NIELSEN, 1)?;
/// let image = vec![0.5; 784];
/// let probabilities = net.predict(&image)?;
/// assert_eq!(probabilities.len(), 10);
/// assert_eq!(net.predict_batch(&image)?.as_slice(), probabilities.as_slice());
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Network {
    layers: Vec<Box<dyn Layer>>,
    loss: Loss,
    /// Each parameter matrix's shape as built: a matrix replaced through
    /// [`parameters_mut`](Network::parameters_mut) by one of another shape is refused by every
    /// pass, never read out of bounds.
    shapes: Vec<(usize, usize)>,
    /// Applied to every input before the first layer, when the network has one.
    standardization: Option<Standardization>,
}

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

/// Buffers for [`Network::loss_and_gradients`], kept between batches so that the hot path
/// allocates nothing once the largest batch has been seen. One per thread.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    outputs: Vec<Vec<f32>>,
    deltas: Vec<Vec<f32>>,
    input_gradient: Vec<f32>,
    want_input_gradient: bool,
    input_gradient_len: usize,
    /// The batch's inputs after the network's standardisation, when it has one.
    standardized: Vec<f32>,
    /// Values of each layer's output for the last batch.
    output_lens: Vec<usize>,
    /// For each layer, the parameter gradients of the parts of a batch after the first, when a
    /// network with batch normalisation cuts its layers' work into parts (`batch_parts.rs`).
    part_gradients: Vec<Vec<Vec<DMatrix<f32>>>>,
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
    /// after the other; `None` for a layer it does not have.
    pub fn layer_output(&self, index: usize) -> Option<&[f32]> {
        let len = *self.output_lens.get(index)?;
        Some(&self.outputs[index][..len])
    }
}

/// Two networks are equal when they have the same loss, the same architecture (input shape and
/// layers) and the same parameters, bit for bit up to `-0.0 == 0.0` (NaN never equals: a
/// network holds none).
impl PartialEq for Network {
    fn eq(&self, other: &Self) -> bool {
        self.loss == other.loss
            && self.architecture() == other.architecture()
            && self.standardization == other.standardization
            && self.parameters() == other.parameters()
            && self.layers.iter().zip(&other.layers).all(|(a, b)| a.running_statistics() == b.running_statistics())
    }
}

/// `Err` if the last layer ends in a sigmoid and `loss` applies one too, which would squeeze
/// every output into (0.5, 0.73). Trailing layers that leave values as they are in inference
/// (flatten, dropout), or keep them between the least and the largest (a pooling's maximum or
/// mean), are looked through.
fn check_output_function(layers: &[Box<dyn Layer>], loss: Loss) -> Result<(), NnError> {
    if loss != Loss::SigmoidQuadratic {
        return Ok(());
    }
    let last = layers.iter().map(|layer| layer.spec()).enumerate().rev().find(|(_, spec)| {
        !matches!(
            spec,
            LayerSpec::Flatten
                | LayerSpec::Dropout { .. }
                | LayerSpec::MaxPool { .. }
                | LayerSpec::AvgPool { .. }
                | LayerSpec::GlobalAvgPool
        )
    });
    match last {
        Some((
            layer,
            LayerSpec::Dense { activation, .. }
            | LayerSpec::Conv { activation, .. }
            | LayerSpec::Activation(activation),
        )) if activation == Activation::Sigmoid => Err(NnError::OutputFunctionTwice { layer, loss }),
        _ => Ok(()),
    }
}

/// Most values of one layer's outputs that batched inference computes at once (16 MB).
const INFERENCE_VALUES: usize = 1 << 22;

/// Ping-pong buffers of the inference path.
#[derive(Default)]
struct InferenceBuffers {
    front: Vec<f32>,
    back: Vec<f32>,
    standardized: Vec<f32>,
}

/// `buffer[..len]`, growing the buffer if needed but never shrinking it.
pub(crate) fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

impl Network {
    /// A network from its layers; each layer's inputs must equal the previous layer's outputs.
    ///
    /// Refuses a last layer that ends in a sigmoid with [`Loss::SigmoidQuadratic`], which
    /// applies the sigmoid itself ([`NnError::OutputFunctionTwice`]).
    pub fn new(layers: Vec<Box<dyn Layer>>, loss: Loss) -> Result<Self, NnError> {
        if layers.is_empty() {
            return Err(NnError::TooFewSizes(0));
        }
        for (index, pair) in layers.windows(2).enumerate() {
            let (found, expected) = (pair[0].output_shape(), pair[1].input_shape());
            // A flat layer may read an image whose values are already in channels-first order.
            let fits = found == expected
                || (expected.is_flat() && found.len() == expected.len() && found.is_channels_first_too());
            if !fits {
                return Err(NnError::LayerMismatch {
                    layer: index + 1,
                    kind: pair[1].kind(),
                    expected,
                    previous: pair[0].kind(),
                    found,
                });
            }
        }
        check_output_function(&layers, loss)?;
        let shapes = layers.iter().flat_map(|l| l.parameters()).map(|m| m.shape()).collect();
        Ok(Network { layers, loss, shapes, standardization: None })
    }

    /// A network of dense layers.
    pub fn from_dense(layers: Vec<Dense>, loss: Loss) -> Result<Self, NnError> {
        Network::new(layers.into_iter().map(|l| Box::new(l) as Box<dyn Layer>).collect(), loss)
    }

    /// A fully connected network with the given layer sizes (`[784, 30, 10]`: 784 inputs, one
    /// hidden layer of 30, 10 outputs), `hidden` after every hidden layer, an affine last layer
    /// whose logits go to `loss`, and parameters drawn by `init` from a ChaCha8 generator seeded
    /// with `seed`.
    pub fn dense(sizes: &[usize], hidden: Activation, loss: Loss, init: Init, seed: u64) -> Result<Self, NnError> {
        Network::check_dense_sizes(sizes)?;
        hidden.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let last = sizes.len() - 2;
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        for (index, pair) in sizes.windows(2).enumerate() {
            let (inputs, outputs) = (pair[0], pair[1]);
            let (weights, bias) = init.draw(inputs, outputs, &mut rng);
            let activation = if index == last { Activation::Identity } else { hidden };
            layers.push(Dense::new_at(weights, bias, activation, index)?);
        }
        Network::from_dense(layers, loss)
    }

    /// Checks the layer sizes of [`Network::dense`] without allocating anything: an input and an
    /// output at least, no empty layer, and no layer larger than a `dense(N)` of an
    /// [`Architecture`] may be (its weights at most [`MAX_SAMPLE_VALUES`](crate::MAX_SAMPLE_VALUES)
    /// values), by the architecture's own check.
    pub fn check_dense_sizes(sizes: &[usize]) -> Result<(), NnError> {
        if sizes.len() < 2 {
            return Err(NnError::TooFewSizes(sizes.len()));
        }
        for (index, pair) in sizes.windows(2).enumerate() {
            let (inputs, outputs) = (pair[0], pair[1]);
            if inputs == 0 || outputs == 0 {
                return Err(NnError::EmptyLayer { layer: index, inputs, outputs });
            }
            LayerSpec::Dense { outputs, activation: Activation::Identity }
                .parameter_shapes(Shape::flat(inputs), index)?;
        }
        Ok(())
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// The output function and loss.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Changes the loss (and so the output function) without touching the layers; refused
    /// like in [`Network::new`] when the last layer already applies the loss's output function.
    pub fn set_loss(&mut self, loss: Loss) -> Result<(), NnError> {
        check_output_function(&self.layers, loss)?;
        self.loss = loss;
        Ok(())
    }

    /// The standardisation applied to every input before the first layer, if any.
    pub fn standardization(&self) -> Option<&Standardization> {
        self.standardization.as_ref()
    }

    /// Makes the network standardise every input, `x ← (x − μ) / σ` feature by feature, before
    /// its first layer, in every pass: prediction, evaluation and training. The values are not
    /// parameters: training leaves them as they are. `None` removes it. Refuses a
    /// standardisation of another size than the inputs.
    ///
    /// ```
    /// use nn_core::{Activation, Init, Loss, Network, Standardization};
    /// let images = [0.0, 0.2, 0.4, 0.0, 0.6, 0.8]; // two samples of three values
    /// let mut net = Network::dense(&[3, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
    /// let plain = net.clone();
    /// net.set_standardization(Some(Standardization::of_samples(&images, 3)?))?;
    /// let mut standardized = images[..3].to_vec();
    /// net.standardization().unwrap().apply_in_place(&mut standardized);
    /// assert_eq!(net.predict(&images[..3])?, plain.predict(&standardized)?);
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    pub fn set_standardization(&mut self, standardization: Option<Standardization>) -> Result<(), NnError> {
        if let Some(found) = standardization.as_ref().map(Standardization::features)
            && found != self.input_size()
        {
            return Err(NnError::StandardizationSize { expected: self.input_size(), found });
        }
        self.standardization = standardization;
        Ok(())
    }

    /// The shape of one input sample.
    pub fn input_shape(&self) -> Shape {
        self.layers[0].input_shape()
    }

    /// The layers as an [`Architecture`], whose text form is `conv(32,3) relu ... dense(10)`.
    pub fn architecture(&self) -> Architecture {
        Architecture { input: self.input_shape(), layers: self.layers.iter().map(|l| l.spec()).collect() }
    }

    /// Values per input sample.
    pub fn input_size(&self) -> usize {
        self.layers[0].input_size()
    }

    /// Values per output sample (the number of classes).
    pub fn output_size(&self) -> usize {
        self.layers[self.layers.len() - 1].output_size()
    }

    /// The layer sizes, inputs first: `[784, 30, 10]`.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.input_size()).chain(self.layers.iter().map(|l| l.output_size())).collect()
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.parameter_count()).sum()
    }

    /// Every parameter matrix, layer by layer (for a dense layer: weights, then bias).
    pub fn parameters(&self) -> Vec<&DMatrix<f32>> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }

    /// Every parameter matrix, mutable, in the order of [`parameters`](Network::parameters) and
    /// of [`Gradients::tensors`]. A matrix replaced by one of another shape makes every pass
    /// refuse to run ([`NnError::ParameterShape`]) until it is put back; values that are not
    /// finite are accepted here and show as [`NnError::NonFiniteOutput`].
    /// [`set_parameter`](Network::set_parameter) checks both.
    pub fn parameters_mut(&mut self) -> Vec<&mut DMatrix<f32>> {
        self.layers.iter_mut().flat_map(|l| l.parameters_mut()).collect()
    }

    /// Replaces parameter matrix `index` (in the order of [`parameters`](Network::parameters))
    /// with `values`, which must have its shape and hold finite numbers only.
    pub fn set_parameter(&mut self, index: usize, values: DMatrix<f32>) -> Result<(), NnError> {
        let (layer, name) = self.parameter_place(index).ok_or(NnError::ParameterCount {
            layer: self.layers.len(),
            expected: self.shapes.len(),
            found: index + 1,
        })?;
        let expected = self.shapes[index];
        if values.shape() != expected {
            return Err(NnError::ParameterShape { layer, name, expected, found: values.shape() });
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(NnError::NonFinite { layer, name, index: at, value: values.as_slice()[at] });
        }
        *self.parameters_mut().swap_remove(index) = values;
        Ok(())
    }

    /// The layer and the name (`weights`, `bias`) of parameter matrix `index`.
    fn parameter_place(&self, index: usize) -> Option<(usize, &'static str)> {
        let mut first = 0;
        for (layer, l) in self.layers.iter().enumerate() {
            let count = l.parameters().len();
            if index < first + count {
                return Some((layer, if index == first { "weights" } else { "bias" }));
            }
            first += count;
        }
        None
    }

    /// Refuses a network whose parameter matrices no longer have the shapes it was built with.
    fn check_parameter_shapes(&self) -> Result<(), NnError> {
        let mut index = 0;
        for (layer, l) in self.layers.iter().enumerate() {
            for (position, matrix) in l.parameters().into_iter().enumerate() {
                let expected = self.shapes.get(index).copied().unwrap_or_default();
                if matrix.shape() != expected {
                    let name = if position == 0 { "weights" } else { "bias" };
                    return Err(NnError::ParameterShape { layer, name, expected, found: matrix.shape() });
                }
                index += 1;
            }
        }
        Ok(())
    }

    /// Whether a layer normalises by its batch in training ([`BatchNorm`](crate::BatchNorm)):
    /// then a sample's training outputs depend on the batch around it, and a trainer computes
    /// each batch whole instead of in independent shards.
    pub fn normalises_batches(&self) -> bool {
        self.layers.iter().any(|layer| layer.running_statistics().is_some())
    }

    /// After a training step on `inputs`, moves the running statistics of every batch
    /// normalisation towards those of its input in that step, which `workspace` holds from the
    /// [`loss_and_gradients`](Network::loss_and_gradients) that computed it. Call it once per
    /// step, with the whole batch; nothing happens for a network without batch normalisation.
    pub fn update_running_statistics(&mut self, inputs: &[f32], workspace: &Workspace) -> Result<(), NnError> {
        if !self.normalises_batches() {
            return Ok(());
        }
        let batch = self.batch_len(inputs)?;
        if workspace.output_lens.len() != self.layers.len()
            || workspace.output_lens[0] != self.layers[0].output_size() * batch
        {
            return Err(NnError::WorkspaceMismatch);
        }
        let first = match &self.standardization {
            Some(_) => &workspace.standardized[..inputs.len()],
            None => inputs,
        };
        for (index, layer) in self.layers.iter_mut().enumerate() {
            if layer.running_statistics().is_some() {
                let input =
                    if index == 0 { first } else { &workspace.outputs[index - 1][..workspace.output_lens[index - 1]] };
                layer.update_running_statistics(input, batch);
            }
        }
        Ok(())
    }

    /// Replaces the running statistics of layer `index` (a batch normalisation), checked.
    pub fn set_running_statistics(
        &mut self,
        index: usize,
        statistics: crate::RunningStatistics,
    ) -> Result<(), NnError> {
        let layer = self.layers.get_mut(index).ok_or(NnError::InvalidLayer {
            layer: index,
            kind: "batchnorm",
            detail: "the network has no such layer".to_string(),
        })?;
        let kind = layer.kind();
        layer.set_running_statistics(statistics).map_err(|detail| NnError::InvalidLayer { layer: index, kind, detail })
    }

    /// `Err` naming the first layer that cannot be trained (a step activation).
    pub fn check_trainable(&self) -> Result<(), NnError> {
        self.layers.iter().enumerate().try_for_each(|(index, layer)| layer.check_trainable(index))
    }

    fn batch_len(&self, inputs: &[f32]) -> Result<usize, NnError> {
        self.check_parameter_shapes()?;
        batch_samples(inputs, self.input_size())
    }

    /// [`batch_len`](Self::batch_len) for the entries of inference, which also refuse an input
    /// that is not a finite number (training reads its data from checked samples, and its hot
    /// path is spared the pass).
    fn inference_batch_len(&self, inputs: &[f32]) -> Result<usize, NnError> {
        let batch = self.batch_len(inputs)?;
        check_finite_inputs(inputs, self.input_size())?;
        Ok(batch)
    }

    /// The logits of `batch` samples, in `buffers.front`. Every layer computes each sample on
    /// its own (see `affine.rs`), so a sample's logits do not depend on the batch around it.
    fn forward_logits<'b>(&self, inputs: &[f32], batch: usize, buffers: &'b mut InferenceBuffers) -> &'b [f32] {
        let inputs = match &self.standardization {
            Some(standardization) => {
                let standardized = sized(&mut buffers.standardized, inputs.len());
                standardization.apply(inputs, standardized);
                &buffers.standardized[..inputs.len()]
            }
            None => inputs,
        };
        for (index, layer) in self.layers.iter().enumerate() {
            let output = sized(&mut buffers.back, layer.output_size() * batch);
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
    /// [`Loss::IdentityMeanSquared`].
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

    /// Forward and backward pass over one batch: returns the mean loss and writes
    /// `∂C/∂parameter` into `gradients` (overwritten; see [`Gradients`] for combining shards).
    ///
    /// `inputs` holds the samples one after the other, channels last; `targets` one class or one vector per
    /// sample; `mode` is [`Mode::Training`] with the batch's seed to train (dropout draws its
    /// masks from it), or [`Mode::Inference`] for the gradients of the network as it predicts.
    /// Refuses networks with a step activation ([`NnError::StepNotTrainable`]).
    pub fn loss_and_gradients(
        &self,
        inputs: &[f32],
        targets: Targets<'_>,
        mode: Mode,
        workspace: &mut Workspace,
        gradients: &mut Gradients,
    ) -> Result<f32, NnError> {
        let batch = self.batch_len(inputs)?;
        targets.validate(self.output_size(), batch)?;
        self.check_trainable()?;
        gradients.fits(self)?;
        let depth = self.layers.len();
        workspace.outputs.resize_with(depth, Vec::new);
        workspace.deltas.resize_with(depth, Vec::new);
        workspace.output_lens.clear();
        let mut standardized = std::mem::take(&mut workspace.standardized);
        let raw_inputs = inputs;
        let inputs = match &self.standardization {
            Some(standardization) => {
                standardization.apply(raw_inputs, sized(&mut standardized, raw_inputs.len()));
                &standardized[..raw_inputs.len()]
            }
            None => raw_inputs,
        };

        // A network with batch normalisation goes through the batch whole, each layer's samples
        // cut into parts that run in parallel; any other network gives each layer the batch as
        // it is (a trainer cuts it into shards before).
        let parts = if self.normalises_batches() { batch_parts::batch_parts(batch) } else { 1 };
        let ranges = batch_parts::part_ranges(batch, parts);
        workspace.part_gradients.resize_with(depth, Vec::new);
        for (index, layer) in self.layers.iter().enumerate() {
            workspace.output_lens.push(layer.output_size() * batch);
            let (before, rest) = workspace.outputs.split_at_mut(index);
            let input = if index == 0 { inputs } else { &before[index - 1][..layer.input_size() * batch] };
            let output = sized(&mut rest[0], layer.output_size() * batch);
            if parts == 1 {
                layer.forward(input, batch, output, mode.for_layer(index));
            } else {
                batch_parts::forward(layer.as_ref(), input, batch, output, mode.for_layer(index), &ranges);
            }
        }

        let classes = self.output_size();
        let logits = &workspace.outputs[depth - 1][..classes * batch];
        let delta = sized(&mut workspace.deltas[depth - 1], classes * batch);
        let loss = self.loss.loss_and_delta_unchecked(logits, classes, targets, Some(delta));

        let mut tensors = gradients.tensors_mut();
        for index in (0..depth).rev() {
            let layer = &self.layers[index];
            let count = layer.parameters().len();
            let (rest, layer_gradients) = tensors.split_at_mut(tensors.len() - count);
            tensors = rest;
            let input = if index == 0 { inputs } else { &workspace.outputs[index - 1][..layer.input_size() * batch] };
            let output = &workspace.outputs[index][..layer.output_size() * batch];
            let (below, here) = workspace.deltas.split_at_mut(index);
            let input_grad = if index > 0 {
                Some(sized(&mut below[index - 1], layer.input_size() * batch))
            } else if workspace.want_input_gradient {
                workspace.input_gradient_len = inputs.len();
                Some(sized(&mut workspace.input_gradient, inputs.len()))
            } else {
                None
            };
            let output_grad = &mut here[0][..layer.output_size() * batch];
            if parts == 1 {
                layer.backward(input, output, batch, output_grad, input_grad, layer_gradients, mode.for_layer(index));
            } else {
                let scratch = &mut workspace.part_gradients[index];
                let buffers = batch_parts::Backward {
                    input,
                    output,
                    output_grad,
                    input_grad,
                    gradients: layer_gradients,
                    scratch,
                };
                batch_parts::backward(layer.as_ref(), batch, buffers, mode.for_layer(index), &ranges);
            }
        }
        if let (Some(standardization), true) = (&self.standardization, workspace.want_input_gradient) {
            standardization.backward_in_place(&mut workspace.input_gradient[..raw_inputs.len()]);
        }
        workspace.standardized = standardized;
        Ok(loss)
    }

    /// Plain gradient descent, `p ← p − η ∂C/∂p`: enough for examples; real optimisers live in
    /// the trainer and use [`parameters_mut`](Network::parameters_mut) the same way.
    pub fn sgd_step(&mut self, gradients: &Gradients, learning_rate: f32) -> Result<(), NnError> {
        gradients.fits(self)?;
        for (parameter, gradient) in self.parameters_mut().into_iter().zip(gradients.tensors()) {
            parameter.iter_mut().zip(gradient.iter()).for_each(|(p, g)| *p -= learning_rate * g);
        }
        Ok(())
    }

    /// A description of every layer, printable as a table.
    pub fn summary(&self) -> crate::Summary {
        crate::Summary::of(self)
    }
}

/// `Err(NonFiniteOutput)` for the first sample whose logits hold a NaN or an infinity (weights
/// that overflow in the forward pass): its class and probabilities would be meaningless.
/// `first` is the index of the first sample in `logits`.
fn check_finite_outputs(logits: &[f32], classes: usize, first: usize) -> Result<(), NnError> {
    match logits.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(NnError::NonFiniteOutput { sample: first + at / classes.max(1), value: logits[at] }),
    }
}

/// Refuses a batch holding a value that is not a finite number, naming the first one.
pub(crate) fn check_finite_inputs(inputs: &[f32], features: usize) -> Result<(), NnError> {
    if crate::affine::all_finite(inputs) {
        return Ok(());
    }
    let at = inputs.iter().position(|v| !v.is_finite()).expect("a non-finite value was seen");
    Err(NnError::NonFiniteInput { sample: at / features.max(1), index: at % features.max(1), value: inputs[at] })
}

/// Number of samples of `features` values in a batch, refusing an empty batch and a length that
/// is not a whole number of samples.
pub(crate) fn batch_samples(inputs: &[f32], features: usize) -> Result<usize, NnError> {
    if inputs.is_empty() {
        return Err(NnError::EmptyBatch);
    }
    crate::shape::samples_in(inputs, features)
}
