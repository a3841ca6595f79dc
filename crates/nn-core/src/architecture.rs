//! An architecture: a network's layers without their parameters, with the shape of its input,
//! built into networks with fresh or given parameters. Its text form is `architecture_text.rs`;
//! the architectures of the books, by name, are `named_architectures.rs`.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{Activation, Init, Layer, LayerSpec, Loss, Network, NnError, Shape};

/// A network's layers as text, with the shape of its input: what a user writes after
/// `--arch`, what a model file records.
///
/// ```
/// use nn_core::{Architecture, Init, Loss, Shape};
/// let arch: Architecture = "conv(32,3) relu conv(64,3) relu maxpool(2) dropout(0.25) flatten dense(128) relu \
///                           dropout(0.5) dense(10)".parse()?;
/// let net = arch.clone().with_input(Shape::new(1, 28, 28)).build(Loss::SoftmaxCrossEntropy, Init::HE, 1)?;
/// assert_eq!(net.parameter_count(), 1_199_882); // PyTorch's examples/mnist
/// assert_eq!(net.architecture().to_string(), arch.to_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// The shape of one input sample (MNIST: `1x28x28`, which is also what parsing assumes).
    pub input: Shape,
    /// The layers, an activation after a dense or convolutional layer folded into it.
    pub layers: Vec<LayerSpec>,
}
impl Architecture {
    /// An architecture from its layers, folding each activation that follows a dense or
    /// convolutional layer without one into that layer.
    pub fn new(input: Shape, layers: Vec<LayerSpec>) -> Self {
        let mut folded: Vec<LayerSpec> = Vec::with_capacity(layers.len());
        for layer in layers {
            match (folded.last_mut(), layer) {
                (
                    Some(
                        LayerSpec::Dense { activation: slot @ Activation::Identity, .. }
                        | LayerSpec::Conv { activation: slot @ Activation::Identity, .. },
                    ),
                    LayerSpec::Activation(activation),
                ) => *slot = activation,
                _ => folded.push(layer),
            }
        }
        Architecture { input, layers: folded }
    }

    /// The same layers for samples of `input`.
    pub fn with_input(mut self, input: Shape) -> Self {
        self.input = input;
        self
    }

    /// A network of these layers with parameters drawn by `init` from a ChaCha8 generator seeded
    /// with `seed`, layer by layer (for dense layers, the draws of [`Network::dense`]).
    pub fn build(&self, loss: Loss, init: Init, seed: u64) -> Result<Network, NnError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.assemble(loss, |spec, input, index| spec.build(input, init, &mut rng, index))
    }

    /// A network of these layers with the given parameters, in the order of
    /// [`Network::parameters`].
    pub fn with_parameters(&self, loss: Loss, parameters: Vec<DMatrix<f32>>) -> Result<Network, NnError> {
        let total = parameters.len();
        let mut parameters = parameters.into_iter();
        let network = self.assemble(loss, |spec, input, index| {
            let count = spec.parameter_count();
            let mine: Vec<_> = parameters.by_ref().take(count).collect();
            if mine.len() != count {
                return Err(NnError::ParameterCount { layer: index, expected: count, found: mine.len() });
            }
            spec.with_parameters(input, mine, index)
        })?;
        if parameters.len() > 0 {
            return Err(NnError::ParameterCount {
                layer: self.layers.len(),
                expected: total - parameters.len(),
                found: total,
            });
        }
        Ok(network)
    }

    fn assemble(
        &self,
        loss: Loss,
        mut make: impl FnMut(&LayerSpec, Shape, usize) -> Result<Box<dyn Layer>, NnError>,
    ) -> Result<Network, NnError> {
        let mut shape = self.input;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, spec) in self.layers.iter().enumerate() {
            let layer = make(spec, shape, index)?;
            shape = layer.output_shape();
            if !shape.is_allowed() {
                return Err(NnError::InvalidLayer {
                    layer: index,
                    kind: layer.kind(),
                    detail: format!("its output {shape} is empty or too large"),
                });
            }
            layers.push(layer);
        }
        Network::new(layers, loss)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Architecture, Init, LayerSpec, Loss, Shape};

    #[test]
    fn average_poolings_round_trip_and_fit_before_a_dense_layer() {
        let arch: Architecture =
            "conv(8,3) relu AvgPool2d(3, stride=2) avgpool(2,2) avgpool(2,stride=1) GlobalAvgPool dense(10)"
                .parse()
                .unwrap();
        assert_eq!(
            arch.layers[1..5],
            [
                LayerSpec::AvgPool { window: 3, stride: 2 },
                LayerSpec::AvgPool { window: 2, stride: 2 },
                LayerSpec::AvgPool { window: 2, stride: 1 },
                LayerSpec::GlobalAvgPool
            ]
        );
        let text = arch.to_string();
        assert_eq!(text, "conv(8,3) relu avgpool(3,stride=2) avgpool(2) avgpool(2,stride=1) globalavgpool dense(10)");
        assert_eq!(text.parse::<Architecture>().unwrap(), arch);
        // 28 -> 26 -> 12 -> 6 -> 5, then one value per channel: dense(10) reads 8 of them, with
        // or without a flatten.
        let net = arch.build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap();
        let shapes: Vec<String> = net.layers().iter().map(|l| l.output_shape().to_string()).collect();
        assert_eq!(shapes, ["8x26x26", "8x12x12", "8x6x6", "8x5x5", "8", "10"]);
        assert_eq!(net.parameter_count(), 8 * 9 + 8 + 8 * 10 + 10);
        let flattened: Architecture = "conv(8,3) relu globalavgpool flatten dense(10)".parse().unwrap();
        assert_eq!(flattened.build(Loss::SoftmaxCrossEntropy, Init::HE, 0).unwrap().parameter_count(), 170);
        for spec in &arch.layers[1..5] {
            assert_eq!(spec.parameter_count(), 0);
            assert_eq!(spec.parameter_shapes(Shape::new(8, 26, 26), 1).unwrap(), []);
        }
    }
}
