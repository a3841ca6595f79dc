//! An activation function as a layer of its own, where an architecture puts one after a layer
//! that has none (a pooling, a dropout).

use std::any::Any;

use nalgebra::DMatrix;

use crate::{Activation, Layer, LayerSpec, Mode, NnError, Shape};

/// `a = f(x)` for each value. After a dense or convolutional layer, the architecture folds the
/// function into that layer instead (the same values, one pass fewer).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationLayer {
    shape: Shape,
    activation: Activation,
}

impl ActivationLayer {
    /// `activation` on values of `shape`.
    pub fn new(shape: Shape, activation: Activation) -> Result<Self, NnError> {
        activation.validate()?;
        Ok(ActivationLayer { shape, activation })
    }

    /// The function.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

impl Layer for ActivationLayer {
    fn kind(&self) -> &'static str {
        "activation"
    }

    fn input_shape(&self) -> Shape {
        self.shape
    }

    fn output_shape(&self) -> Shape {
        self.shape
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::Activation(self.activation)
    }

    fn describe(&self) -> String {
        self.activation.to_string()
    }

    fn check_trainable(&self, index: usize) -> Result<(), NnError> {
        if self.activation.is_trainable() { Ok(()) } else { Err(NnError::StepNotTrainable { layer: index }) }
    }

    fn forward(&self, input: &[f32], _batch: usize, output: &mut [f32], _mode: Mode) {
        output.copy_from_slice(input);
        self.activation.apply(output);
    }

    /// `∂x = ∂a ⊙ f'(x)`, `f'` computed from the output.
    fn backward(
        &self,
        _input: &[f32],
        output: &[f32],
        _batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        _gradients: &mut [DMatrix<f32>],
        _mode: Mode,
    ) {
        let Some(input_grad) = input_grad else { return };
        self.activation.backprop(output, output_grad);
        input_grad.copy_from_slice(output_grad);
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
