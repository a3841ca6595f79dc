//! The 2-D convolution layer, `a = f(W ⋆ x + b)`, computed as one matrix product on unfolded
//! patches (im2col, Saitō ch. 7), or for 3x3 kernels of stride 1 by Winograd's method
//! (`winograd.rs`). The backward pass is in `conv_backward.rs`.

use std::any::Any;
use std::cell::RefCell;
use std::ops::Range;

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::affine::affine;
use crate::aligned_buffer::AlignedBuffer;
use crate::conv_then_pool::Filled;
use crate::error::check_finite;
use crate::im2col::im2col;
use crate::winograd::Winograd;
use crate::{Activation, Init, Layer, LayerSpec, Mode, NnError, Shape};
use crate::{Conv2dParams, conv_one_channel};

#[path = "conv_backward.rs"]
mod backward;
#[path = "conv_pooled.rs"]
mod pooled;

/// Unfolded patches per chunk of the forward pass, in values (256 KB): a convolution unfolds as
/// many whole images at a time as fit (at least one), so that the patches stay in the core's L2
/// cache while the affine kernel reads them once per band of outputs.
const FORWARD_CHUNK: usize = 1 << 16;

/// A 2-D convolution: for each output pixel, `a = f(W p + b)` where `p` is the input patch under
/// the kernel (zeros in the padding).
///
/// `W` is `filters × (kh · kw · channels)`: row `o` holds filter `o`, its columns in the order
/// `(ky, kx, channel)` of an unfolded patch. (PyTorch and Saitō store a kernel as `(filters,
/// channels, kh, kw)`; [`from_channels_first`](Conv2d::from_channels_first) and
/// [`weights_channels_first`](Conv2d::weights_channels_first) convert.) Images come and go
/// channels last (see [`Shape`]), so the output of a patch, its `filters` values, is one column
/// of the product `W P` of the affine kernel the dense layers use: each output is computed by
/// the same operations whatever the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    params: Conv2dParams,
    weights: DMatrix<f32>,
    bias: DMatrix<f32>,
    activation: Activation,
}

thread_local! {
    /// Unfolded patches, their gradients and a padded image, reused by every convolution run on
    /// this thread.
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            columns: AlignedBuffer::new(),
            column_grad: AlignedBuffer::new(),
            padded: Vec::new(),
            chunk_weight_grad: AlignedBuffer::new(),
        })
    };
}

impl Conv2d {
    /// A convolution from its sizes, weights (`filters × patch_len`, see the type's
    /// documentation), bias (`filters × 1`) and activation.
    pub fn new(
        params: Conv2dParams,
        weights: DMatrix<f32>,
        bias: DMatrix<f32>,
        activation: Activation,
    ) -> Result<Self, NnError> {
        Conv2d::new_at(params, weights, bias, activation, 0)
    }

    /// [`Conv2d::new`] for the layer at position `index` of a network, which its errors name.
    pub(crate) fn new_at(
        params: Conv2dParams,
        weights: DMatrix<f32>,
        bias: DMatrix<f32>,
        activation: Activation,
        index: usize,
    ) -> Result<Self, NnError> {
        let expected = (params.filters, params.patch_len());
        for (name, expected, found) in
            [("weights", expected, weights.shape()), ("bias", (params.filters, 1), bias.shape())]
        {
            if found != expected {
                return Err(NnError::ParameterShape { layer: index, name, expected, found });
            }
        }
        activation.validate()?;
        check_finite(index, [("weights", &weights), ("bias", &bias)])?;
        Ok(Conv2d { params, weights, bias, activation })
    }

    /// A convolution with parameters drawn by `init` (fan-in: the patch length; fan-out: the
    /// filters) from a ChaCha8 generator seeded with `seed`.
    ///
    /// ```
    /// use nn_core::{Activation, Conv2d, Conv2dParams, Init, Layer, Shape};
    /// let params = Conv2dParams::new(Shape::new(1, 28, 28), 8, (5, 5), 1, 0)?;
    /// let conv = Conv2d::random(params, Activation::Relu, Init::HE, 1)?;
    /// assert_eq!(conv.output_shape().to_string(), "8x24x24");
    /// # Ok::<(), nn_core::NnError>(())
    /// ```
    pub fn random(params: Conv2dParams, activation: Activation, init: Init, seed: u64) -> Result<Self, NnError> {
        let (weights, bias) = init.draw(params.patch_len(), params.filters, &mut ChaCha8Rng::seed_from_u64(seed));
        Conv2d::new(params, weights, bias, activation)
    }

    /// A convolution from a kernel in PyTorch's and Saitō's layout: `(filters, channels, kh, kw)`
    /// in C order.
    pub fn from_channels_first(
        params: Conv2dParams,
        kernel: &[f32],
        bias: &[f32],
        activation: Activation,
    ) -> Result<Self, NnError> {
        let index = 0;
        let weights = params.weights_from_channels_first(kernel).ok_or(NnError::ParameterShape {
            layer: index,
            name: "weights",
            expected: (params.filters, params.patch_len()),
            found: (kernel.len(), 1),
        })?;
        Conv2d::new(params, weights, DMatrix::from_column_slice(bias.len(), 1, bias), activation)
    }

    /// The kernel in PyTorch's and Saitō's layout: `(filters, channels, kh, kw)` in C order.
    pub fn weights_channels_first(&self) -> Vec<f32> {
        let mut kernel = vec![0.0; self.weights.len()];
        for ((o, column), &w) in (0..self.params.patch_len())
            .flat_map(|c| (0..self.params.filters).map(move |o| (o, c)))
            .zip(self.weights.iter())
        {
            kernel[self.params.channels_first_index(o, column)] = w;
        }
        kernel
    }

    /// The sizes.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// The `filters × patch_len` weight matrix.
    pub fn weights(&self) -> &DMatrix<f32> {
        &self.weights
    }

    /// The `filters × 1` bias.
    pub fn bias(&self) -> &DMatrix<f32> {
        &self.bias
    }

    /// The activation applied after the convolution.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Runs `visit(first image, images, columns, scratch)` for each chunk of images, `columns`
    /// holding their unfolded patches.
    fn for_each_chunk(
        &self,
        input: &[f32],
        batch: usize,
        budget: usize,
        unfold: Unfold,
        mut visit: impl FnMut(usize, usize, &[f32], &mut Scratch),
    ) {
        let per_chunk = self.params.images_per_chunk(budget);
        let columns_per_image = self.params.patch_len() * self.params.patches();
        let image_len = self.params.input.len();
        SCRATCH.with_borrow_mut(|scratch| {
            let mut columns = std::mem::take(&mut scratch.columns);
            for first in (0..batch).step_by(per_chunk) {
                let images = per_chunk.min(batch - first);
                let chunk = columns.sized(images * columns_per_image);
                let input = &input[first * image_len..(first + images) * image_len];
                unfold(&self.params, input, chunk, &mut scratch.padded);
                visit(first, images, chunk, scratch);
            }
            scratch.columns = columns;
        });
    }
}

/// Scratch space of the convolutions run on one thread.
struct Scratch {
    columns: AlignedBuffer,
    column_grad: AlignedBuffer,
    padded: Vec<f32>,
    /// `∂W` of one chunk of images.
    chunk_weight_grad: AlignedBuffer,
}

/// How a chunk of images is unfolded: [`im2col`] (patches as columns) or [`im2row`] (their
/// transpose).
type Unfold = fn(&Conv2dParams, &[f32], &mut [f32], &mut Vec<f32>);

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "conv"
    }

    fn input_shape(&self) -> Shape {
        self.params.input
    }

    fn output_shape(&self) -> Shape {
        self.params.output_shape()
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::Conv {
            filters: self.params.filters,
            kernel: self.params.kernel,
            stride: self.params.stride,
            padding: self.params.padding,
            activation: self.activation,
        }
    }

    /// `16@3x3 pad 1, relu`: filters, kernel, stride and padding where not 1 and 0, activation.
    fn describe(&self) -> String {
        let p = &self.params;
        let mut text = format!("{}@{}x{}", p.filters, p.kernel.0, p.kernel.1);
        if p.stride != 1 {
            text += &format!(" stride {}", p.stride);
        }
        if p.padding != 0 {
            text += &format!(" pad {}", p.padding);
        }
        if self.activation != Activation::Identity {
            text += &format!(", {}", self.activation);
        }
        text
    }

    fn check_trainable(&self, index: usize) -> Result<(), NnError> {
        if self.activation.is_trainable() { Ok(()) } else { Err(NnError::StepNotTrainable { layer: index }) }
    }

    /// For each chunk of images: unfold the patches, `Z = W P + b` by the affine kernel, `f`
    /// (Winograd's method for 3x3 kernels on 4 channels or more; one-channel images read their
    /// patches in place, `conv_one_channel.rs`).
    fn forward(&self, input: &[f32], batch: usize, output: &mut [f32], _mode: Mode) {
        if let Some(winograd) = Winograd::plan(&self.params) {
            let (weights, bias) = (self.weights.as_slice(), self.bias.as_slice());
            winograd.forward(weights, bias, input, batch, Some(output), self.activation, |_, _| {});
            return;
        }
        if conv_one_channel::applies(&self.params) {
            let (weights, bias) = (self.weights.as_slice(), self.bias.as_slice());
            conv_one_channel::forward(&self.params, weights, bias, input, batch, output, |out| {
                self.activation.apply(out)
            });
            return;
        }
        let output_len = self.params.output_shape().len();
        let patches = self.params.patches();
        self.for_each_chunk(input, batch, FORWARD_CHUNK, im2col, |first, images, columns, _| {
            let out = &mut output[first * output_len..(first + images) * output_len];
            affine(self.weights.as_slice(), self.bias.as_slice(), columns, images * patches, out);
            self.activation.apply(out);
        });
    }

    /// `δZ = δA ⊙ f'(Z)`; then per chunk `∂W += δZ Pᵀ` and `∂P = Wᵀ δZ`, folded back into `∂X`;
    /// `∂b = Σ δZ` over every patch. A first layer on one-channel images (no `∂X`) sums `∂W`
    /// from the padded images in place (`conv_one_channel_gradient.rs`); a layer whose `δZ` is mostly
    /// zero visits only its nonzero values (`conv_sparse.rs`).
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
        let filled = Filled::new(self.params.output_shape().len(), batch, None::<fn(Range<usize>, &mut [f32])>);
        self.backward_filled(input, output, batch, output_grad, input_grad, gradients, filled);
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

impl Conv2d {
    /// [`Layer::forward`] by Winograd's method, `after_chunk(images, their outputs)` run on
    /// each chunk of images as soon as it is made (`conv_then_pool.rs`); without `output`, the
    /// outputs are not kept past it.
    ///
    /// # Panics
    ///
    /// If Winograd's method does not compute this convolution.
    pub(crate) fn forward_then(
        &self,
        input: &[f32],
        batch: usize,
        output: Option<&mut [f32]>,
        after_chunk: impl FnMut(Range<usize>, &[f32]),
    ) {
        let winograd = Winograd::plan(&self.params).expect("a convolution of Winograd's method");
        let (weights, bias) = (self.weights.as_slice(), self.bias.as_slice());
        winograd.forward(weights, bias, input, batch, output, self.activation, after_chunk);
    }
}

#[cfg(test)]
mod tests {

    use super::backward::BACKWARD_CHUNK;
    use super::*;

    /// A batch of 20 images of 8x30x30 runs in 20 forward chunks and 5 backward chunks.
    #[test]
    fn chunked_passes_match_image_by_image() {
        let params = Conv2dParams::new_at(Shape::new(8, 30, 30), 8, (3, 3), 1, 0, 0).unwrap();
        assert_eq!((params.images_per_chunk(FORWARD_CHUNK), params.images_per_chunk(BACKWARD_CHUNK)), (1, 4));
        let conv = Conv2d::random(params, Activation::Tanh, Init::GLOROT, 1).unwrap();
        let (image_len, output_len, batch) = (params.input.len(), params.output_shape().len(), 20);
        let input: Vec<f32> = (0..image_len * batch).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
        let mut output = vec![0.0; output_len * batch];
        conv.forward(&input, batch, &mut output, Mode::Inference);
        let mut whole = vec![DMatrix::zeros(8, params.patch_len()), DMatrix::zeros(8, 1)];
        let mut delta: Vec<f32> = (0..output.len()).map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0).collect();
        let mut input_grad = vec![0.0; input.len()];
        conv.backward(&input, &output, batch, &mut delta.clone(), Some(&mut input_grad), &mut whole, Mode::Inference);

        let mut summed = DMatrix::<f32>::zeros(8, params.patch_len());
        for j in 0..batch {
            let (x, d) = (&input[j * image_len..(j + 1) * image_len], &mut delta[j * output_len..(j + 1) * output_len]);
            let mut single = vec![0.0; output_len];
            conv.forward(x, 1, &mut single, Mode::Inference);
            assert_eq!(single, output[j * output_len..(j + 1) * output_len], "image {j}: same bits alone");
            let mut grads = vec![DMatrix::zeros(8, params.patch_len()), DMatrix::zeros(8, 1)];
            let mut single_input_grad = vec![0.0; image_len];
            conv.backward(x, &single, 1, d, Some(&mut single_input_grad), &mut grads, Mode::Inference);
            assert_eq!(single_input_grad, input_grad[j * image_len..(j + 1) * image_len]);
            summed += &grads[0];
        }
        for (a, b) in whole[0].iter().zip(summed.iter()) {
            assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    /// A first layer's gradients (no `∂X`: `∂W` from the padded images in place, `δZ` and `∂b`
    /// image by image) against the same layer asked for `∂X` (im2col, one pass for `δZ` and
    /// `∂b`): the same `∂b` bit for bit, the same `∂W` up to the order of its sums.
    #[test]
    fn a_first_layer_gets_the_gradients_of_the_general_path() {
        let params = Conv2dParams::new_at(Shape::new(1, 9, 8), 20, (3, 3), 1, 1, 0).unwrap();
        let conv = Conv2d::random(params, Activation::Relu, Init::GLOROT, 3).unwrap();
        let batch = 5;
        let input: Vec<f32> =
            (0..params.input.len() * batch).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
        let mut output = vec![0.0; params.output_shape().len() * batch];
        conv.forward(&input, batch, &mut output, Mode::Inference);
        let delta: Vec<f32> = (0..output.len()).map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0).collect();
        let zeros = || vec![DMatrix::zeros(20, params.patch_len()), DMatrix::zeros(20, 1)];
        let (mut first, mut general) = (zeros(), zeros());
        conv.backward(&input, &output, batch, &mut delta.clone(), None, &mut first, Mode::Inference);
        let mut input_grad = vec![0.0; input.len()];
        conv.backward(&input, &output, batch, &mut delta.clone(), Some(&mut input_grad), &mut general, Mode::Inference);
        assert_eq!(first[1], general[1], "∂b");
        assert!(general[1].iter().any(|&g| g != 0.0) && general[0].iter().any(|&g| g != 0.0));
        for (a, b) in first[0].iter().zip(general[0].iter()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "∂W: {a} vs {b}");
        }
    }

    #[test]
    fn channels_first_kernels_round_trip() {
        let params = Conv2dParams::new_at(Shape::new(3, 6, 5), 4, (2, 3), 2, 1, 0).unwrap();
        let kernel: Vec<f32> = (0..4 * 3 * 2 * 3).map(|v| v as f32).collect();
        let conv = Conv2d::from_channels_first(params, &kernel, &[0.5; 4], Activation::Relu).unwrap();
        assert_eq!(conv.weights_channels_first(), kernel);
        // Weight (filter 1, channel 2, ky 1, kx 0) sits at row 1, column (ky·kw + kx)·C + c.
        assert_eq!(conv.weights()[(1, 3 * 3 + 2)], kernel[((3 + 2) * 2 + 1) * 3]);
    }

    #[test]
    fn impossible_sizes_are_refused_with_the_reason() {
        let error = Conv2dParams::new_at(Shape::new(1, 4, 4), 2, (7, 7), 1, 1, 3).unwrap_err();
        assert!(error.to_string().contains("layer 3 (conv)") && error.to_string().contains("does not fit"), "{error}");
        assert!(Conv2dParams::new_at(Shape::new(1, 4, 4), 0, (3, 3), 1, 0, 0).is_err());
        assert!(Conv2dParams::new_at(Shape::new(1, 4, 4), 2, (3, 3), 0, 0, 0).is_err());
        assert!(Conv2dParams::new_at(Shape::new(1, 4, 4), 2, (3, 3), 1, usize::MAX, 0).is_err());
        assert!(Conv2dParams::new_at(Shape::new(usize::MAX, 4, 4), 2, (3, 3), 1, 0, 0).is_err());
    }
}
