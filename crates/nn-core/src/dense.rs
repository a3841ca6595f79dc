//! The fully connected layer `a = f(W x + b)`.

use std::any::Any;

use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut};
use rand::Rng;

use crate::affine::affine;
use crate::{Activation, Init, Layer, NnError};

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
    /// `index` is the layer's position, used in error messages only.
    pub fn new(
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
        for (name, matrix) in [("weights", &weights), ("bias", &bias)] {
            if let Some((i, &value)) = matrix.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(NnError::NonFinite { layer: index, name, index: i, value });
            }
        }
        Ok(Dense { weights, bias, activation })
    }

    /// A layer with parameters drawn by `init` from `rng`.
    pub fn random(
        inputs: usize,
        outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        if inputs == 0 || outputs == 0 {
            return Err(NnError::EmptyLayer { layer: 0, inputs, outputs });
        }
        let (weights, bias) = init.draw(inputs, outputs, rng);
        Dense::new(weights, bias, activation, 0)
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
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn input_size(&self) -> usize {
        self.weights.ncols()
    }

    fn output_size(&self) -> usize {
        self.weights.nrows()
    }

    fn describe(&self) -> String {
        self.activation.to_string()
    }

    fn check_trainable(&self, index: usize) -> Result<(), NnError> {
        if self.activation.is_trainable() { Ok(()) } else { Err(NnError::StepNotTrainable { layer: index }) }
    }

    /// `Z = W X + b` by the kernel of `affine.rs` (no packing, the same bits for any batch), then
    /// `f` on each value.
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32]) {
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
    ) {
        let (outputs, inputs) = self.weights.shape();
        self.activation.backprop(output, output_grad);
        let (weight_grad, bias_grad) = gradients.split_at_mut(1);
        let bias_grad = bias_grad[0].as_mut_slice();
        bias_grad.fill(0.0);
        for column in output_grad.chunks_exact(outputs) {
            bias_grad.iter_mut().zip(column).for_each(|(g, d)| *g += d);
        }
        if outputs.min(inputs).min(batch) > BLOCKED_PRODUCT_MIN {
            let delta = DMatrixView::from_slice(output_grad, outputs, batch);
            // Transposes are views with swapped strides: no copy, and still a blocked product.
            let input_transposed = DMatrixView::from_slice_with_strides(input, batch, inputs, inputs, 1);
            weight_grad[0].gemm(1.0, &delta, &input_transposed, 0.0);
            if let Some(input_grad) = input_grad {
                let weights = self.weights.as_slice();
                let weights_transposed = DMatrixView::from_slice_with_strides(weights, inputs, outputs, outputs, 1);
                let mut input_grad = DMatrixViewMut::from_slice(input_grad, inputs, batch);
                input_grad.gemm(1.0, &weights_transposed, &delta, 0.0);
            }
        } else {
            small_backward_products(&self.weights, input, output_grad, weight_grad[0].as_mut_slice(), input_grad);
        }
    }

    fn parameters(&self) -> Vec<&DMatrix<f32>> {
        vec![&self.weights, &self.bias]
    }

    fn parameters_mut(&mut self) -> Vec<&mut DMatrix<f32>> {
        vec![&mut self.weights, &mut self.bias]
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// nalgebra sends a product to `matrixmultiply` only when every dimension exceeds this; its
/// fallback loop mishandles the strided transpose views, so small products use
/// [`small_backward_products`] instead.
const BLOCKED_PRODUCT_MIN: usize = 5;

/// `∂W = δ Xᵀ` and `∂X = Wᵀ δ` as plain loops, for layers or batches too small for gemm to matter.
fn small_backward_products(
    weights: &DMatrix<f32>,
    input: &[f32],
    delta: &[f32],
    weight_grad: &mut [f32],
    input_grad: Option<&mut [f32]>,
) {
    let (outputs, inputs) = weights.shape();
    weight_grad.fill(0.0);
    for (x, d) in input.chunks_exact(inputs).zip(delta.chunks_exact(outputs)) {
        // ∂W[:, i] += δ_j · x_j[i]
        for (column, &xi) in weight_grad.chunks_exact_mut(outputs).zip(x) {
            column.iter_mut().zip(d).for_each(|(g, &dj)| *g += dj * xi);
        }
    }
    if let Some(input_grad) = input_grad {
        // ∂X[i, j] = W[:, i] · δ_j
        for (gx, d) in input_grad.chunks_exact_mut(inputs).zip(delta.chunks_exact(outputs)) {
            for (g, w_column) in gx.iter_mut().zip(weights.as_slice().chunks_exact(outputs)) {
                *g = w_column.iter().zip(d).map(|(w, dj)| w * dj).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_is_w_x_plus_b() {
        let w = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]);
        let b = DMatrix::from_column_slice(2, 1, &[0.5, -0.5]);
        let layer = Dense::new(w, b, Activation::Relu, 0).unwrap();
        let mut out = [0.0; 4];
        layer.forward(&[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 2, &mut out);
        assert_eq!(out, [6.5, 0.0, 1.5, 0.0]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let w = DMatrix::zeros(2, 3);
        assert!(matches!(
            Dense::new(w.clone(), DMatrix::zeros(3, 1), Activation::Relu, 4),
            Err(NnError::ParameterShape { layer: 4, name: "bias", .. })
        ));
        let mut bad = w.clone();
        bad[(1, 2)] = f32::NAN;
        assert!(matches!(
            Dense::new(bad, DMatrix::zeros(2, 1), Activation::Relu, 1),
            Err(NnError::NonFinite { layer: 1, name: "weights", index: 5, .. })
        ));
        assert!(Dense::new(DMatrix::zeros(0, 3), DMatrix::zeros(0, 1), Activation::Relu, 0).is_err());
    }
}
