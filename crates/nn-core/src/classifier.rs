//! What every model that classifies offers: one network, a committee of networks, or either
//! ([`Model`](crate::Model)), so that a program that only predicts needs one code path.

use nalgebra::DMatrix;

use crate::softmax::argmax;
use crate::{Evaluation, Loss, Network, NnError, Predictions, Shape};

/// Inference through one interface, whatever the model: a [`Network`], a
/// [`Committee`](crate::Committee) of networks, or a [`Model`](crate::Model) loaded from either
/// kind of file.
///
/// Inputs are laid out as for a network: samples of [`input_size`](Classifier::input_size)
/// values one after the other, image-shaped ones channels last ([`Shape`]);
/// [`predict_nchw`](Classifier::predict_nchw) takes PyTorch's order. Every method gives the same bits with any number of threads, and
/// a sample's outputs never depend on the other samples of its batch.
///
/// ```
/// use nn_core::{Activation, Classifier, Committee, Init, Loss, Network};
///
/// let net = |seed| Network::dense(&[4, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed);
/// let committee = Committee::new(vec![net(1)?, net(2)?])?;
/// // One function for both.
/// fn digit(model: &dyn Classifier, input: &[f32]) -> Result<usize, nn_core::NnError> {
///     model.classify(input)
/// }
/// let input = [0.1, 0.2, 0.3, 0.4];
/// assert_eq!(digit(&net(1)?, &input)?, net(1)?.classify(&input)?);
/// assert!(digit(&committee, &input)? < 3);
/// # Ok::<(), nn_core::NnError>(())
/// ```
pub trait Classifier {
    /// The shape of one input sample.
    fn input_shape(&self) -> Shape;

    /// Values per input sample.
    fn input_size(&self) -> usize;

    /// Values per output sample (the number of classes).
    fn output_size(&self) -> usize;

    /// The output function of the outputs (`softmax`, `sigmoid` or `identity`) and the loss that
    /// [`evaluate`](Classifier::evaluate) reports.
    fn loss(&self) -> Loss;

    /// Trainable scalars, all networks together.
    fn parameter_count(&self) -> usize;

    /// The outputs (probabilities, or the logits for [`Loss::IdentityMeanSquared`]) for one
    /// sample of [`input_size`](Classifier::input_size) values.
    fn predict(&self, input: &[f32]) -> Result<Vec<f32>, NnError>;

    /// The outputs of every sample of `inputs`, as an **`outputs × samples` matrix: column `j`
    /// is sample `j`**, equal bit for bit to [`predict`](Classifier::predict) on it. This is
    /// the transpose of NumPy's `predict(x)`, of shape `(samples, outputs)`: see
    /// [`predict_rows`](Classifier::predict_rows).
    fn predict_batch(&self, inputs: &[f32]) -> Result<DMatrix<f32>, NnError>;

    /// The outputs of every sample of `inputs`, one row per sample as NumPy's `predict(x)`:
    /// [`predict_batch`](Classifier::predict_batch) transposed, the same bits, no copy.
    /// [`Predictions::argmax`] is `np.argmax(y, axis=1)`.
    fn predict_rows(&self, inputs: &[f32]) -> Result<Predictions, NnError> {
        self.predict_batch(inputs).map(Predictions::from_columns)
    }

    /// [`predict_rows`](Classifier::predict_rows) for samples in PyTorch's and NumPy's order
    /// (NCHW: each channel a whole plane, [`Layout::ChannelsFirst`](crate::Layout)), reordered
    /// channels last first: row `j` is sample `j`, as `model(x)` in PyTorch (whose outputs are
    /// logits where these are probabilities: take `softmax(model(x), dim=1)` to compare).
    ///
    /// ```
    /// use nn_core::{Architecture, Classifier, Init, Layout, Loss, Shape};
    /// let arch: Architecture = "conv(4,3) relu flatten dense(10)".parse()?;
    /// let net = arch.with_input(Shape::new(2, 5, 5)).build(Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
    /// let nchw: Vec<f32> = (0..3 * 50).map(|v| (v % 7) as f32 / 7.0).collect(); // (3, 2, 5, 5)
    /// let rows = net.predict_nchw(&nchw)?;
    /// let ours = Layout::ChannelsFirst.to_channels_last(&nchw, net.input_shape())?;
    /// assert_eq!(rows, net.predict_rows(&ours)?);
    /// assert_eq!(rows.shape(), (3, 10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn predict_nchw(&self, inputs: &[f32]) -> Result<Predictions, NnError> {
        let ours = crate::Layout::ChannelsFirst.to_channels_last(inputs, self.input_shape())?;
        self.predict_rows(&ours)
    }

    /// The most probable class of one sample (the first one on a tie).
    fn classify(&self, input: &[f32]) -> Result<usize, NnError> {
        Ok(argmax(&self.predict(input)?))
    }

    /// The most probable class of every sample, computed `batch_size` samples at a time.
    fn classify_batch(&self, inputs: &[f32], batch_size: usize) -> Result<Vec<usize>, NnError>;

    /// Mean loss and accuracy over a data set, `batch_size` samples at a time.
    fn evaluate(&self, inputs: &[f32], labels: &[usize], batch_size: usize) -> Result<Evaluation, NnError> {
        Ok(self.evaluate_and_classify(inputs, labels, batch_size)?.0)
    }

    /// [`evaluate`](Classifier::evaluate) and [`classify_batch`](Classifier::classify_batch)
    /// from one pass over the set.
    fn evaluate_and_classify(
        &self,
        inputs: &[f32],
        labels: &[usize],
        batch_size: usize,
    ) -> Result<(Evaluation, Vec<usize>), NnError>;
}

/// Every method is the network's own method of the same name.
impl Classifier for Network {
    fn input_shape(&self) -> Shape {
        Network::input_shape(self)
    }

    fn input_size(&self) -> usize {
        Network::input_size(self)
    }

    fn output_size(&self) -> usize {
        Network::output_size(self)
    }

    fn loss(&self) -> Loss {
        Network::loss(self)
    }

    fn parameter_count(&self) -> usize {
        Network::parameter_count(self)
    }

    fn predict(&self, input: &[f32]) -> Result<Vec<f32>, NnError> {
        Network::predict(self, input)
    }

    fn predict_batch(&self, inputs: &[f32]) -> Result<DMatrix<f32>, NnError> {
        Network::predict_batch(self, inputs)
    }

    fn classify(&self, input: &[f32]) -> Result<usize, NnError> {
        Network::classify(self, input)
    }

    fn classify_batch(&self, inputs: &[f32], batch_size: usize) -> Result<Vec<usize>, NnError> {
        Network::classify_batch(self, inputs, batch_size)
    }

    fn evaluate(&self, inputs: &[f32], labels: &[usize], batch_size: usize) -> Result<Evaluation, NnError> {
        Network::evaluate(self, inputs, labels, batch_size)
    }

    fn evaluate_and_classify(
        &self,
        inputs: &[f32],
        labels: &[usize],
        batch_size: usize,
    ) -> Result<(Evaluation, Vec<usize>), NnError> {
        Network::evaluate_and_classify(self, inputs, labels, batch_size)
    }
}
