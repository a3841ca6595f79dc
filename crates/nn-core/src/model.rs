//! A model as a program receives it: one network or a committee of networks.

use nalgebra::DMatrix;

use crate::{Classifier, Committee, Evaluation, Loss, Network, NnError, Shape};

/// One network or a committee of networks, predicting through [`Classifier`] either way:
/// what [`load_any_model`](crate::load_any_model) reads from a model file or a committee file.
///
/// ```
/// use nn_core::{Activation, Classifier, Committee, Init, Loss, Model, Network};
///
/// let net = |seed| Network::dense(&[4, 3], Activation::Relu, Loss::SoftmaxCrossEntropy, Init::HE, seed);
/// let models = [Model::from(net(1)?), Model::from(Committee::new(vec![net(2)?, net(3)?])?)];
/// for model in &models {
///     assert_eq!(model.predict(&[0.5; 4])?.len(), 3);
/// }
/// assert_eq!(models[1].members().len(), 2);
/// assert!(models[1].as_network().is_none());
/// # Ok::<(), nn_core::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// One network.
    Network(Network),
    /// Networks whose outputs are averaged.
    Committee(Committee),
}

impl Model {
    /// The model as the inference interface both kinds share.
    pub fn classifier(&self) -> &dyn Classifier {
        match self {
            Model::Network(network) => network,
            Model::Committee(committee) => committee,
        }
    }

    /// Its networks: the network itself, or the committee's members.
    pub fn members(&self) -> &[Network] {
        match self {
            Model::Network(network) => std::slice::from_ref(network),
            Model::Committee(committee) => committee.members(),
        }
    }

    /// The network, when the model is one network.
    pub fn as_network(&self) -> Option<&Network> {
        match self {
            Model::Network(network) => Some(network),
            Model::Committee(_) => None,
        }
    }

    /// The committee, when the model is one.
    pub fn as_committee(&self) -> Option<&Committee> {
        match self {
            Model::Network(_) => None,
            Model::Committee(committee) => Some(committee),
        }
    }
}

impl From<Network> for Model {
    fn from(network: Network) -> Self {
        Model::Network(network)
    }
}

impl From<Committee> for Model {
    fn from(committee: Committee) -> Self {
        Model::Committee(committee)
    }
}

/// Every method is the network's or the committee's.
impl Classifier for Model {
    fn input_shape(&self) -> Shape {
        self.classifier().input_shape()
    }

    fn input_size(&self) -> usize {
        self.classifier().input_size()
    }

    fn output_size(&self) -> usize {
        self.classifier().output_size()
    }

    fn loss(&self) -> Loss {
        self.classifier().loss()
    }

    fn parameter_count(&self) -> usize {
        self.classifier().parameter_count()
    }

    fn predict(&self, input: &[f32]) -> Result<Vec<f32>, NnError> {
        self.classifier().predict(input)
    }

    fn predict_batch(&self, inputs: &[f32]) -> Result<DMatrix<f32>, NnError> {
        self.classifier().predict_batch(inputs)
    }

    fn classify(&self, input: &[f32]) -> Result<usize, NnError> {
        self.classifier().classify(input)
    }

    fn classify_batch(&self, inputs: &[f32], batch_size: usize) -> Result<Vec<usize>, NnError> {
        self.classifier().classify_batch(inputs, batch_size)
    }

    fn evaluate(&self, inputs: &[f32], labels: &[usize], batch_size: usize) -> Result<Evaluation, NnError> {
        self.classifier().evaluate(inputs, labels, batch_size)
    }

    fn evaluate_and_classify(
        &self,
        inputs: &[f32],
        labels: &[usize],
        batch_size: usize,
    ) -> Result<(Evaluation, Vec<usize>), NnError> {
        self.classifier().evaluate_and_classify(inputs, labels, batch_size)
    }
}
