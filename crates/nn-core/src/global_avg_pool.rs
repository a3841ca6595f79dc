//! Global average pooling: the mean of each channel over the whole image.

use std::any::Any;

use nalgebra::DMatrix;

use crate::{Layer, LayerSpec, Mode, NnError, Shape};

/// The mean of each channel over all `H × W` pixels: PyTorch's `AdaptiveAvgPool2d(1)`, one
/// value per channel, as networks without a large dense layer end (a few channels, then
/// `dense(10)`).
///
/// Its output is the shape `C × 1 × 1` that PyTorch gives, which here is also a flat vector
/// of `C` values ([`Shape::flat`]): with one pixel, channels last and channels first are the
/// same order, so a dense layer may follow it directly, and a `flatten` after it changes
/// nothing (write one to number the modules as an `nn.Sequential` with `nn.Flatten()` does).
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalAvgPool {
    input: Shape,
}

impl GlobalAvgPool {
    /// Pooling of samples of `input`.
    pub fn new(input: Shape) -> Result<Self, NnError> {
        GlobalAvgPool::new_at(input, 0)
    }

    /// [`GlobalAvgPool::new`] for the layer at position `index` of a network, which its errors
    /// name.
    pub(crate) fn new_at(input: Shape, index: usize) -> Result<Self, NnError> {
        if !input.is_allowed() {
            return Err(NnError::InvalidLayer {
                layer: index,
                kind: "globalavgpool",
                detail: format!("its input {input} is empty or too large"),
            });
        }
        Ok(GlobalAvgPool { input })
    }

    /// Pixels per channel, as the divisor.
    fn count(&self) -> f32 {
        (self.input.height * self.input.width) as f32
    }
}

impl Layer for GlobalAvgPool {
    fn kind(&self) -> &'static str {
        "globalavgpool"
    }

    fn input_shape(&self) -> Shape {
        self.input
    }

    fn output_shape(&self) -> Shape {
        Shape::flat(self.input.channels)
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::GlobalAvgPool
    }

    /// The window: the whole image.
    fn describe(&self) -> String {
        format!("{}x{}", self.input.height, self.input.width)
    }

    /// `a[c] = (Σ over the pixels p of x[p, c]) / (H·W)`, summed row by row, then divided.
    fn forward(&self, input: &[f32], _batch: usize, output: &mut [f32], _mode: Mode) {
        let (channels, count) = (self.input.channels, self.count());
        for (x, a) in input.chunks_exact(self.input.len()).zip(output.chunks_exact_mut(channels)) {
            let mut pixels = x.chunks_exact(channels);
            a.copy_from_slice(pixels.next().expect("an allowed shape has a pixel"));
            for pixel in pixels {
                a.iter_mut().zip(pixel).for_each(|(a, &x)| *a += x);
            }
            a.iter_mut().for_each(|a| *a /= count);
        }
    }

    /// `∂C/∂x[p, c] = ∂C/∂a[c] / (H·W)` for every pixel `p`.
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
        let (channels, count) = (self.input.channels, self.count());
        for (gx, ga) in input_grad.chunks_exact_mut(self.input.len()).zip(output_grad.chunks_exact_mut(channels)) {
            ga.iter_mut().for_each(|d| *d /= count);
            gx.chunks_exact_mut(channels).for_each(|pixel| pixel.copy_from_slice(ga));
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

    #[test]
    fn each_channel_is_averaged_over_its_image() {
        // Two samples of 3 channels on 2x3 pixels, channels last. Sample 0: channel 0 holds
        // 1..=6, channel 1 holds 0, 0, 0, 0, 0, 3, channel 2 holds -1 everywhere; sample 1 twice
        // sample 0.
        let sample: Vec<f32> = (1..=6).flat_map(|p| [p as f32, if p == 6 { 3.0 } else { 0.0 }, -1.0]).collect();
        let input: Vec<f32> = sample.iter().copied().chain(sample.iter().map(|v| 2.0 * v)).collect();
        let pool = GlobalAvgPool::new_at(Shape::new(3, 2, 3), 0).unwrap();
        assert_eq!(pool.output_shape(), Shape::flat(3));
        let mut output = vec![f32::NAN; 6];
        pool.forward(&input, 2, &mut output, Mode::Inference);
        // 21 / 6, 3 / 6, -6 / 6.
        assert_eq!(output, [3.5, 0.5, -1.0, 7.0, 1.0, -2.0]);

        let mut output_grad = vec![6.0, 12.0, -3.0, 0.0, 1.5, 3.0];
        let mut input_grad = vec![f32::NAN; input.len()];
        pool.backward(&input, &output, 2, &mut output_grad, Some(&mut input_grad), &mut [], Mode::Inference);
        let expected: Vec<f32> =
            [[1.0, 2.0, -0.5], [0.0, 0.25, 0.5]].iter().flat_map(|share| share.repeat(6)).collect();
        assert_eq!(input_grad, expected);
    }

    #[test]
    fn an_image_of_one_pixel_is_passed_through() {
        let pool = GlobalAvgPool::new_at(Shape::flat(4), 0).unwrap();
        let input = [1.0, -2.0, 3.5, 0.25];
        let mut output = [f32::NAN; 4];
        pool.forward(&input, 1, &mut output, Mode::Inference);
        assert_eq!(output, input);
    }

    #[test]
    fn an_empty_input_is_refused() {
        assert!(GlobalAvgPool::new_at(Shape::new(3, 0, 4), 5).unwrap_err().to_string().contains("empty"));
    }
}
