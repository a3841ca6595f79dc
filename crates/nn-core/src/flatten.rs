//! Flattening an image-shaped sample into a vector, in channels-first order.

use std::any::Any;

use nalgebra::DMatrix;

use crate::transpose::transpose;
use crate::{Layer, LayerSpec, Mode, Shape};

/// Turns `channels × height × width` into a vector of as many values, in the channels-first
/// order of PyTorch's `Flatten` and NumPy's `reshape` (channel by channel, then row by row), so
/// that the dense layer after it has the weights the books and PyTorch give it. Inside the
/// network images are stored channels last (see [`Shape`]): flattening is that transpose.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten {
    input: Shape,
}

impl Flatten {
    /// Flattens samples of `input`.
    pub fn new(input: Shape) -> Self {
        Flatten { input }
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }

    fn input_shape(&self) -> Shape {
        self.input
    }

    fn output_shape(&self) -> Shape {
        Shape::flat(self.input.len())
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::Flatten
    }

    fn describe(&self) -> String {
        String::new()
    }

    /// `a[c · H·W + p] = x[p · C + c]` for pixel `p` and channel `c`.
    fn forward(&self, input: &[f32], _batch: usize, output: &mut [f32], _mode: Mode) {
        let (channels, pixels) = (self.input.channels, self.input.height * self.input.width);
        let len = self.input.len();
        for (x, a) in input.chunks_exact(len).zip(output.chunks_exact_mut(len)) {
            transpose(x, pixels, channels, a);
        }
    }

    /// The same transpose, backwards.
    fn backward(
        &self,
        _input: &[f32],
        _output: &[f32],
        _batch: usize,
        output_grad: &mut [f32],
        input_grad: Option<&mut [f32]>,
        _gradients: &mut [DMatrix<f32>],
        _mode: Mode,
    ) {
        let Some(input_grad) = input_grad else { return };
        let (channels, pixels) = (self.input.channels, self.input.height * self.input.width);
        let len = self.input.len();
        for (gx, ga) in input_grad.chunks_exact_mut(len).zip(output_grad.chunks_exact(len)) {
            transpose(ga, channels, pixels, gx);
        }
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

    /// Channel counts around the vector widths and one-pixel rows, forward and back, against
    /// the definition.
    #[test]
    fn flattening_is_the_channels_first_order_and_back() {
        for (channels, height, width) in [(1, 3, 3), (3, 5, 7), (16, 4, 4), (30, 12, 12), (17, 1, 33)] {
            let shape = Shape::new(channels, height, width);
            let flatten = Flatten::new(shape);
            let batch = 3;
            let input: Vec<f32> = (0..batch * shape.len()).map(|i| i as f32).collect();
            let mut output = vec![f32::NAN; input.len()];
            flatten.forward(&input, batch, &mut output, Mode::Inference);
            let pixels = height * width;
            for (j, (x, a)) in input.chunks(shape.len()).zip(output.chunks(shape.len())).enumerate() {
                for (p, c) in (0..pixels).flat_map(|p| (0..channels).map(move |c| (p, c))) {
                    assert_eq!(a[c * pixels + p], x[p * channels + c], "{shape}, image {j}, pixel {p}, channel {c}");
                }
            }
            let mut input_grad = vec![f32::NAN; input.len()];
            let mut output_grad = output.clone();
            flatten.backward(&input, &output, batch, &mut output_grad, Some(&mut input_grad), &mut [], Mode::Inference);
            assert_eq!(input_grad, input, "{shape}: backward undoes forward");
        }
    }
}
