//! The passes of a ReLU [`Conv2d`] by Winograd's method with the max-pooling of 2x2 windows,
//! stride 2, after it taken from its tiles in registers (`winograd_pool.rs`): forward, the
//! windows' maxima and where they lie, the outputs never stored; backward, each tile's `δZ`
//! made from those positions, never stored either.

use nalgebra::DMatrix;

use super::Conv2d;
use crate::Activation;
use crate::max_positions::AfterPooling;
use crate::winograd::Winograd;

impl Conv2d {
    /// [`Layer::forward`](crate::Layer::forward) of a ReLU convolution by Winograd's method,
    /// max-pooled by 2x2 windows of stride 2 as each tile comes out (`winograd_pool.rs`), where
    /// each maximum lies into `positions`; the outputs themselves are not kept. Returns `false`, having done nothing,
    /// where that pass does not compute this convolution.
    pub(crate) fn forward_pooled(
        &self,
        input: &[f32],
        batch: usize,
        pooled: &mut [f32],
        positions: &mut [f32],
    ) -> bool {
        let Some(winograd) = self.pooling_plan() else { return false };
        let parameters = (self.weights.as_slice(), self.bias.as_slice());
        winograd.forward_pooled(parameters, input, batch, pooled, positions);
        true
    }

    /// The plan of a ReLU convolution that Winograd's method computes with 2x2 windows pooled
    /// from its tiles (`winograd_pool.rs`), forward and backward.
    fn pooling_plan(&self) -> Option<Winograd> {
        let plan = Winograd::plan(&self.params).filter(Winograd::pools_whole_vectors);
        plan.filter(|_| self.activation == Activation::Relu)
    }

    /// The backward pass of a ReLU convolution max-pooled by 2x2 windows of stride 2, from what
    /// the pooling gives (`winograd_pool.rs`): `∂W`, `∂b` and, when asked, `∂X`, the bits of the
    /// pooling's backward pass and then this layer's. Returns `false`, having done nothing,
    /// where Winograd's method does not pool this convolution's tiles.
    pub(crate) fn backward_pooled(
        &self,
        (input, batch): (&[f32], usize),
        after: AfterPooling<'_>,
        input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
    ) -> bool {
        let Some(winograd) = self.pooling_plan() else { return false };
        let (weight_grad, bias_grad) = gradients.split_at_mut(1);
        let (weight_grad, bias_grad) = (weight_grad[0].as_mut_slice(), bias_grad[0].as_mut_slice());
        let parameters = (self.weights.as_slice(), input, batch);
        winograd.backward_pooled(parameters, after, input_grad, weight_grad, bias_grad);
        true
    }
}
