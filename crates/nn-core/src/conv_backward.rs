//! The backward pass of [`Conv2d`]: `δZ = δA ⊙ f'(Z)`, `∂b = Σ δZ`, `∂W` and `∂X`, by the path
//! that fits the layer: the nonzero values of a mostly-zero `δZ` alone (`conv_sparse.rs`),
//! Winograd's method (`winograd.rs`), a first layer on one-channel images
//! (`conv_one_channel_gradient.rs`), or im2col's products a chunk of images at a time.

use std::ops::Range;

use nalgebra::DMatrix;

use super::Conv2d;
use crate::affine::affine;
use crate::conv_sparse::NonzeroDeltas;
use crate::conv_then_pool::Filled;
use crate::im2col::{col2im, im2row};
use crate::products::{add_bias_gradient, bias_gradient, input_gradient};
use crate::winograd::Winograd;
use crate::{conv_one_channel, conv_one_channel_gradient, conv_sparse};

/// Unfolded patches per chunk of the backward pass, in values (1 MB; the forward pass's are
/// `FORWARD_CHUNK`): its products run faster on longer sums (`∂W` sums over
/// every patch of the chunk) but slower once the patches leave the L2 cache (measured when both
/// products went to `gemm`, with `cargo bench -p nn-core --bench conv -- backward`:
/// pytorch-example's second convolution at batch 64, 37.9 ms with chunks of 4 MB, 34.3 ms with
/// 1 MB; 1 MB against 256 KB: saito-deep's convolutions 8-38% faster). Constants, so that the
/// order of every sum depends on the shapes alone.
pub(super) const BACKWARD_CHUNK: usize = 1 << 18;

impl Conv2d {
    /// `δZ = δA ⊙ f'(Z)` in place and `∂b = Σ δZ` (zeroed here), for the passes that take `δA`
    /// a chunk of images at a time (outputs `range`) and call this just before they read it,
    /// while it is in the cache: the same sums in the same order as one pass over the batch.
    /// The first `converted` values of the batch's `δ` are `δZ` already (`conv_sparse.rs`).
    fn to_delta<'a>(
        &'a self,
        output: &'a [f32],
        converted: usize,
        bias_grad: &'a mut [f32],
    ) -> impl FnMut(Range<usize>, &mut [f32]) + 'a {
        bias_grad.fill(0.0);
        move |range, delta| {
            let from = converted.clamp(range.start, range.end);
            // A `δZ` converted already needs no output (it may be given none).
            if from < range.end {
                self.activation.backprop(&output[from..range.end], &mut delta[from - range.start..]);
            }
            add_bias_gradient(delta, self.params.filters, bias_grad);
        }
    }

    /// The backward pass from the nonzero values of `δZ` alone (`conv_sparse.rs`): `list` writes
    /// them, in order, into this thread's list; if it answers `Ok`, `∂W`, `∂b` and, when asked,
    /// `∂X` (taken from `input_grad`) are made from them. Returns what `list` answered: on `Err`
    /// nothing else is done and `input_grad` is left.
    pub(crate) fn backward_from_listed<E>(
        &self,
        input: &[f32],
        input_grad: &mut Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        list: impl FnOnce(&mut NonzeroDeltas) -> Result<(), E>,
    ) -> Result<(), E> {
        conv_sparse::with_nonzero_deltas(|nonzero| {
            list(nonzero)?;
            let (weight_grad, bias_grad) = gradients.split_at_mut(1);
            let (weight_grad, bias_grad) = (weight_grad[0].as_mut_slice(), bias_grad[0].as_mut_slice());
            let input_grad = input_grad.take();
            conv_sparse::backward(&self.params, &self.weights, input, nonzero, input_grad, weight_grad, bias_grad);
            Ok(())
        })
    }

    /// [`Layer::backward`] for an output gradient `δA` that `filled` writes a chunk of images at
    /// a time, just before each is read (`conv_then_pool.rs`: the max-pooling's backward pass);
    /// every pass reads the same values as if it had been written whole before.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_filled(
        &self,
        input: &[f32],
        output: &[f32],
        batch: usize,
        output_grad: &mut [f32],
        mut input_grad: Option<&mut [f32]>,
        gradients: &mut [DMatrix<f32>],
        mut filled: Filled<impl FnMut(Range<usize>, &mut [f32])>,
    ) {
        // With `∂X` to compute, a `δZ` that looks mostly zero (behind ReLU, max-pooling and
        // dropout) is made first while its nonzero values are listed, and then only those are
        // visited (`conv_sparse.rs`); if it turns out dense after all, the listing stops and the
        // dense passes convert the rest while in the cache.
        // A `δZ` filled as such is converted already, all of it.
        let mut converted = if filled.delta_z { output_grad.len() } else { 0 };
        let may_be_sparse = input_grad.is_some() && !filled.dense;
        if may_be_sparse {
            filled.up_to_value(conv_sparse::looked_at(output_grad.len()), output_grad);
        }
        if may_be_sparse && conv_sparse::looks_sparse(self.activation, output, output_grad) {
            filled.up_to_value(output_grad.len(), output_grad);
            let listed = self.backward_from_listed(input, &mut input_grad, gradients, |nonzero| {
                conv_sparse::sparse_delta(self.activation, output, output_grad, nonzero)
            });
            match listed {
                Ok(()) => return,
                Err(done) => converted = done,
            }
        }
        let (filters, patch_len, patches) = (self.params.filters, self.params.patch_len(), self.params.patches());
        let (weight_grad, bias_grad) = gradients.split_at_mut(1);
        let (weight_grad, bias_grad) = (weight_grad[0].as_mut_slice(), bias_grad[0].as_mut_slice());
        let weights = self.weights.as_slice();
        if let Some(winograd) = Winograd::plan(&self.params) {
            // A `δA` that `filled` writes whole, chunk by chunk, is read nowhere else: each chunk
            // goes to a scratch that stays in the cache rather than to `output_grad`.
            let output_grad = if filled.writes_all() { None } else { Some(output_grad) };
            let mut to_delta = self.to_delta(output, converted, bias_grad);
            let to_delta = |range: Range<usize>, delta: &mut [f32]| {
                filled.chunk(range.clone(), delta);
                to_delta(range, delta);
            };
            winograd.backward(weights, input, batch, output_grad, input_grad, weight_grad, to_delta);
            return;
        }
        filled.up_to_value(output_grad.len(), output_grad);
        if input_grad.is_none() && conv_one_channel::applies(&self.params) {
            let to_delta = self.to_delta(output, converted, bias_grad);
            if conv_one_channel_gradient::weight_gradient(
                &self.params,
                input,
                batch,
                output_grad,
                weight_grad,
                to_delta,
            ) {
                return;
            }
        }
        let from = converted.min(output.len());
        self.activation.backprop(&output[from..], &mut output_grad[from..]);
        bias_gradient(output_grad, filters, bias_grad);
        let output_len = self.params.output_shape().len();
        let image_len = self.params.input.len();
        let zeros = vec![0.0; filters];
        self.for_each_chunk(input, batch, BACKWARD_CHUNK, im2row, |first, images, rows, scratch| {
            let delta = &output_grad[first * output_len..(first + images) * output_len];
            // ∂W = δ Pᵀ on the affine kernel, δ as its weights (read in place) and the rows of P
            // as its samples: `gemm` would copy both first, more work than the product when
            // patches are short (a first layer's 9 or 25 values).
            let chunk_grad =
                if first == 0 { &mut *weight_grad } else { scratch.chunk_weight_grad.sized(weight_grad.len()) };
            affine(delta, &zeros, rows, patch_len, chunk_grad);
            if first > 0 {
                weight_grad.iter_mut().zip(scratch.chunk_weight_grad.iter()).for_each(|(g, c)| *g += c);
            }
            if let Some(input_grad) = input_grad.as_deref_mut() {
                let sizes = (filters, patch_len, images * patches);
                let column_grad = scratch.column_grad.sized(rows.len());
                input_gradient(self.weights.as_slice(), delta, sizes, column_grad);
                let images = &mut input_grad[first * image_len..(first + images) * image_len];
                col2im(&self.params, column_grad, images, &mut scratch.padded);
            }
        });
    }
}
