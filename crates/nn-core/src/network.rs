//! A feed-forward network: its layers and output function, how it is built, and its parameters.
//! What it computes lives beside it: `inference.rs` (predictions), `evaluation.rs` (a data set's
//! loss and accuracy) and `training_pass.rs` (backpropagation).

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::batch::batch_samples;
use crate::{Activation, Architecture, Dense, Init, Layer, LayerSpec, Loss, NnError, Shape, Standardization};

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
    pub(crate) layers: Vec<Box<dyn Layer>>,
    pub(crate) loss: Loss,
    /// Each parameter matrix's shape as built: a matrix replaced through
    /// [`parameters_mut`](Network::parameters_mut) by one of another shape is refused by every
    /// pass, never read out of bounds.
    pub(crate) shapes: Vec<(usize, usize)>,
    /// Applied to every input before the first layer, when the network has one.
    pub(crate) standardization: Option<Standardization>,
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
    /// of [`Gradients::tensors`](crate::Gradients::tensors). A matrix replaced by one of another
    /// shape makes every pass refuse to run ([`NnError::ParameterShape`]) until it is put back;
    /// values that are not finite are accepted here and show as [`NnError::NonFiniteOutput`].
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
    pub(crate) fn check_parameter_shapes(&self) -> Result<(), NnError> {
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

    /// `Err` naming the first layer that cannot be trained (a step activation).
    pub fn check_trainable(&self) -> Result<(), NnError> {
        self.layers.iter().enumerate().try_for_each(|(index, layer)| layer.check_trainable(index))
    }

    pub(crate) fn batch_len(&self, inputs: &[f32]) -> Result<usize, NnError> {
        self.check_parameter_shapes()?;
        batch_samples(inputs, self.input_size())
    }

    /// A description of every layer, printable as a table.
    pub fn summary(&self) -> crate::Summary {
        crate::Summary::of(self)
    }
}
