//! What a network computes inside for one sample: each layer's output, and how the input
//! moves the chosen class (a saliency map).

use crate::{Gradients, Mode, Network, NnError, Targets, Workspace};

/// One sample seen from inside the network, by [`Network::look_inside`].
#[derive(Debug, Clone, PartialEq)]
pub struct Inside {
    /// The output of every layer in inference mode (feature maps channels last), in order.
    pub layer_outputs: Vec<Vec<f32>>,
    /// The class the saliency is computed for.
    pub class: usize,
    /// `−∂C/∂x` for the target `class`, laid out like the input: where more input raises the
    /// class (for softmax cross-entropy, `∂ ln p_class / ∂x`; for the quadratic cost, the
    /// descent direction of `½‖σ(z) − e_class‖²`; for the mean squared error of identity
    /// outputs, that of `½‖z − e_class‖²`).
    pub saliency: Vec<f32>,
}

impl Network {
    /// Runs one sample `input` forward and back in inference mode, keeping each layer's output
    /// and the gradient with respect to the input for the target `class`.
    pub fn look_inside(&self, input: &[f32], class: usize) -> Result<Inside, NnError> {
        crate::batch::check_finite_inputs(input, self.input_size())?;
        let mut workspace = Workspace::new().with_input_gradient().keeping_layer_outputs();
        let mut gradients = Gradients::zeros_like(self);
        self.loss_and_gradients(input, Targets::Classes(&[class]), Mode::Inference, &mut workspace, &mut gradients)?;
        let layer_outputs =
            (0..self.layers().len()).map(|i| workspace.layer_output(i).unwrap_or_default().to_vec()).collect();
        let saliency = workspace.input_gradient().unwrap_or_default().iter().map(|g| -g).collect();
        Ok(Inside { layer_outputs, class, saliency })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Activation, Init, Loss, Network};

    #[test]
    fn saliency_points_where_the_class_grows() {
        let net = Network::dense(&[4, 5, 3], Activation::Tanh, Loss::SoftmaxCrossEntropy, Init::GLOROT, 9).unwrap();
        let input = [0.2, 0.7, 0.1, 0.5];
        let inside = net.look_inside(&input, 2).unwrap();
        assert_eq!(inside.layer_outputs.iter().map(Vec::len).collect::<Vec<_>>(), [5, 3]);
        assert_eq!(inside.saliency.len(), 4);
        // A small step along the saliency raises the class's log-probability.
        let log_p = |x: &[f32]| net.predict(x).unwrap()[2].ln();
        let stepped: Vec<f32> = input.iter().zip(&inside.saliency).map(|(x, g)| x + 0.01 * g).collect();
        assert!(log_p(&stepped) > log_p(&input));
        assert!(net.look_inside(&input, 3).is_err(), "a class the network lacks");
        assert!(net.look_inside(&input[..3], 0).is_err(), "a short input");
    }
}
