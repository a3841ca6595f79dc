//! The fully connected layer `a = f(W x + b)`.

use std::any::Any;

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::affine::affine;
use crate::error::check_finite;
use crate::products::{bias_gradient, gradients_where_inputs_nonzero, input_gradient, weight_gradient};
use crate::{Activation, Init, Layer, LayerSpec, Mode, NnError, Shape};

/// A fully connected layer: `a = f(W x + b)` for each sample `x`.
///
/// `W` is `outputs × inputs` (row `o` holds the weights into output `o`, as in Nielsen's book),
/// `b` is `outputs × 1`. In memory, column-major `W` is laid out exactly like NumPy's C-ordered
/// `inputs × outputs` kernel of the `x @ W + b` convention, which is why NumPy import and export
/// are plain copies.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    weights: DMatrix<f32>,
    bias: DMatrix<f32>,
    activation: Activation,
}

impl Dense {
    /// A layer from its weights (`outputs × inputs`), bias (`outputs × 1`) and activation.
    ///
    /// Refuses empty or mismatched shapes, non-finite values and invalid activation parameters.
    pub fn new(weights: DMatrix<f32>, bias: DMatrix<f32>, activation: Activation) -> Result<Self, NnError> {
        Dense::new_at(weights, bias, activation, 0)
    }

    /// [`Dense::new`] for the layer at position `index` of a network, which its errors name.
    pub(crate) fn new_at(
        weights: DMatrix<f32>,
        bias: DMatrix<f32>,
        activation: Activation,
        index: usize,
    ) -> Result<Self, NnError> {
        let (outputs, inputs) = weights.shape();
        if outputs == 0 || inputs == 0 {
            return Err(NnError::EmptyLayer { layer: index, inputs, outputs });
        }
        if bias.shape() != (outputs, 1) {
            return Err(NnError::ParameterShape {
                layer: index,
                name: "bias",
                expected: (outputs, 1),
                found: bias.shape(),
            });
        }
        activation.validate()?;
        check_finite(index, [("weights", &weights), ("bias", &bias)])?;
        Ok(Dense { weights, bias, activation })
    }

    /// A layer with parameters drawn by `init` from a ChaCha8 generator seeded with `seed`, as
    /// [`Network::dense`](crate::Network::dense) draws each of its layers.
    ///
    /// ```
    /// use nn_core::{Activation, Dense, Init, Layer};
    /// let layer = Dense::random(784, 30, Activation::Sigmoid, Init::NIELSEN, 7)?;
    /// assert_eq!((layer.input_size(), layer.output_size()), (784, 30));
    /// assert_eq!(layer, Dense::random(784, 30, Activation::Sigmoid, Init::NIELSEN, 7)?);
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    pub fn random(
        inputs: usize,
        outputs: usize,
        activation: Activation,
        init: Init,
        seed: u64,
    ) -> Result<Self, NnError> {
        if inputs == 0 || outputs == 0 {
            return Err(NnError::EmptyLayer { layer: 0, inputs, outputs });
        }
        let (weights, bias) = init.draw(inputs, outputs, &mut ChaCha8Rng::seed_from_u64(seed));
        Dense::new(weights, bias, activation)
    }

    /// The `outputs × inputs` weight matrix.
    pub fn weights(&self) -> &DMatrix<f32> {
        &self.weights
    }

    /// The `outputs × 1` bias.
    pub fn bias(&self) -> &DMatrix<f32> {
        &self.bias
    }

    /// The activation applied after the affine map.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// [`backward`](Layer::backward): `δZ = δA ⊙ f'(Z)`, then `∂W = δZ Xᵀ`, `∂b = Σ_columns δZ`,
    /// `∂X = Wᵀ δZ`; with `nonzero_inputs_only`, for a layer whose input gradient is read only
    /// where its input is nonzero (`Network::zero_inputs_stop_gradients`), `∂X` there alone and
    /// zero elsewhere when few inputs are nonzero.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_with(
        &self,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        nonzero_inputs_only: bool,
    ) {
        let (outputs, inputs) = self.weights.shape();
        self.activation.backprop(output, output_grad);
        let (weight_grad, bias_grad) = gradients.split_at_mut(1);
        bias_gradient(output_grad, outputs, bias_grad[0].as_mut_slice());
        let (sizes, weights, weight_grad) =
            ((outputs, inputs, batch), self.weights.as_slice(), weight_grad[0].as_mut_slice());
        match input_grad {
            Some(input_grad) if nonzero_inputs_only => {
                gradients_where_inputs_nonzero(weights, output_grad, input, sizes, weight_grad, input_grad);
            }
            Some(input_grad) => {
                weight_gradient(output_grad, input, sizes, weight_grad, false);
                input_gradient(weights, output_grad, sizes, input_grad);
            }
            None => weight_gradient(output_grad, input, sizes, weight_grad, false),
        }
    }
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn input_shape(&self) -> Shape {
        Shape::flat(self.weights.ncols())
    }

    fn output_shape(&self) -> Shape {
        Shape::flat(self.weights.nrows())
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::Dense { outputs: self.weights.nrows(), activation: self.activation }
    }

    fn describe(&self) -> String {
        self.activation.to_string()
    }

    fn check_trainable(&self, index: usize) -> Result<(), NnError> {
        if self.activation.is_trainable() { Ok(()) } else { Err(NnError::StepNotTrainable { layer: index }) }
    }

    /// `Z = W X + b` by the kernel of `affine.rs` (no packing, the same bits for any batch), then
    /// `f` on each value.
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], _mode: Mode) {
        affine(self.weights.as_slice(), self.bias.as_slice(), input, batch, output);
        for column in output.chunks_exact_mut(self.weights.nrows()) {
            self.activation.apply(column);
        }
    }

    /// `δZ = δA ⊙ f'(Z)`, then `∂W = δZ Xᵀ`, `∂b = Σ_columns δZ`, `∂X = Wᵀ δZ`.
    fn backward(
        &self,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        _mode: Mode,
    ) {
        self.backward_with(input, output, batch, output_grad, input_grad, gradients, false);
    }

    fn parameters(&self) -> Vec<&DMatrix<f32>> {
        vec![&self.weights, &self.bias]
    }

    fn parameters_mut(&mut self) -> Vec<&mut DMatrix<f32>> {
        vec![&mut self.weights, &mut self.bias]
    }

    fn parameter_names(&self) -> &'static [&'static str] {
        &["weights", "bias"]
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_is_w_x_plus_b() {
        let w = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]);
        let b = DMatrix::from_column_slice(2, 1, &[0.5, -0.5]);
        let layer = Dense::new_at(w, b, Activation::Relu, 0).unwrap();
        let mut out = [0.0; 4];
        layer.forward(&[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 2, &mut out, Mode::Inference);
        assert_eq!(out, [6.5, 0.0, 1.5, 0.0]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let w = DMatrix::zeros(2, 3);
        assert!(matches!(
            Dense::new_at(w.clone(), DMatrix::zeros(3, 1), Activation::Relu, 4),
            Err(NnError::ParameterShape { layer: 4, name: "bias", .. })
        ));
        let mut bad = w.clone();
        bad[(1, 2)] = f32::NAN;
        assert!(matches!(
            Dense::new_at(bad, DMatrix::zeros(2, 1), Activation::Relu, 1),
            Err(NnError::NonFinite { layer: 1, name: "weights", index: 5, .. })
        ));
        assert!(Dense::new_at(DMatrix::zeros(0, 3), DMatrix::zeros(0, 1), Activation::Relu, 0).is_err());
    }
}
