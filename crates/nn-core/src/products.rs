//! The two products of a backward pass through an affine map `Z = W X + b`:
//! `∂W = δ Xᵀ` and `∂X = Wᵀ δ`, shared by dense and convolutional layers.
//!
//! `W` is `outputs × inputs` column-major, `X` holds `columns` columns of `inputs` values and
//! `δ` as many columns of `outputs` values. Large products go to nalgebra's `gemm` (the
//! cache-blocked `matrixmultiply` kernels), the transposes being views with swapped strides;
//! small ones to plain loops. A wide layer whose inputs are mostly zero (a first layer on
//! images) computes `∂W` from its nonzero inputs alone (`nonzero_inputs.rs`).

use nalgebra::{DMatrixView, DMatrixViewMut};
use pulp::{Simd, WithSimd};

use std::cell::RefCell;

use crate::affine::{Columns, affine};
use crate::aligned_buffer::AlignedBuffer;
use crate::nonzero_inputs::{self, weight_gradient_of_nonzero_inputs};
use crate::transpose::transpose;
use crate::vector_slices::all_finite;

/// nalgebra sends a product to `matrixmultiply` only when every dimension exceeds this; its
/// fallback loop mishandles the strided transpose views, so small products use plain loops.
const BLOCKED_PRODUCT_MIN: usize = 5;

/// Weights from which `∂X = Wᵀ δ` runs as `∂Xᵀ = δᵀ W` on the affine kernel (1 MB, as much as
/// the L2 cache). `gemm` first copies the whole of `Wᵀ`, reading `W` across its columns; the
/// affine kernel reads `W` in place and only `δ` and `∂X` are transposed. pytorch-example's dense
/// layer (9216 → 128, 32 samples a thread): `∂X` in 1.3-1.9 ms instead of 2.3-2.6 ms.
/// saito-simple's (4320 → 100, 432,000 weights), `nn-cli bench --profile saito-simple` four times
/// each, alternated (AMD EPYC): 0.69-0.80 s an epoch instead of 0.72-0.99, `gemm`'s copy taking
/// more than half of its time; 1024 → 50 stays on `gemm` (within the noise). The `cnn`
/// recipe's 3136 → 128 (401,408 weights) loses a little: 0.59 s an epoch instead of 0.56, 0.2%
/// of its 18.7 s on one thread.
const TRANSPOSED_PRODUCT_MIN: usize = 1 << 18;

/// `∂W = δ Xᵀ`, or `∂W += δ Xᵀ` when `accumulate` (a convolution sums it over chunks of images).
pub(crate) fn weight_gradient(
    delta: &[f32],
    x: &[f32],
    (outputs, inputs, columns): (usize, usize, usize),
    weight_grad: &mut [f32],
    accumulate: bool,
) {
    if !accumulate && lists_nonzero_inputs(outputs, columns) {
        let done = NONZERO_INPUTS.with_borrow_mut(|buffers| {
            weight_gradient_of_nonzero_inputs(delta, x, (outputs, inputs, columns), weight_grad, buffers)
        });
        if done {
            return;
        }
    }
    let (delta, x) = (Columns { values: delta, stride: outputs }, Columns { values: x, stride: inputs });
    weight_gradient_strided(delta, x, (outputs, inputs, columns), weight_grad, accumulate);
}

/// Layers from this many outputs compute `∂W` from their nonzero inputs alone when few enough
/// are nonzero (see `nonzero_inputs.rs`).
const NONZERO_INPUTS_MIN_OUTPUTS: usize = 128;

/// Whether a product of this shape computes `∂W` from a list of the nonzero inputs, when the
/// inputs and `δ` suit it (`nonzero_inputs::weight_gradient_of_nonzero_inputs`).
fn lists_nonzero_inputs(outputs: usize, columns: usize) -> bool {
    outputs >= NONZERO_INPUTS_MIN_OUTPUTS && columns > BLOCKED_PRODUCT_MIN
}

thread_local! {
    static NONZERO_INPUTS: RefCell<nonzero_inputs::Buffers> = RefCell::new(nonzero_inputs::Buffers::default());
}

/// [`weight_gradient`] on columns of `δ` and `X` that lie their strides apart.
pub(crate) fn weight_gradient_strided(
    delta: Columns<'_>,
    x: Columns<'_>,
    (outputs, inputs, columns): (usize, usize, usize),
    weight_grad: &mut [f32],
    accumulate: bool,
) {
    if outputs.min(inputs).min(columns) > BLOCKED_PRODUCT_MIN {
        let delta = DMatrixView::from_slice_with_strides(delta.values, outputs, columns, 1, delta.stride);
        let x_transposed = DMatrixView::from_slice_with_strides(x.values, columns, inputs, x.stride, 1);
        let mut weight_grad = DMatrixViewMut::from_slice(weight_grad, outputs, inputs);
        weight_grad.gemm(1.0, &delta, &x_transposed, if accumulate { 1.0 } else { 0.0 });
        return;
    }
    if !accumulate {
        weight_grad.fill(0.0);
    }
    for j in 0..columns {
        let (x, d) = (x.column(j, inputs), delta.column(j, outputs));
        // ∂W[:, i] += δ_j · x_j[i]
        for (column, &xi) in weight_grad.chunks_exact_mut(outputs).zip(x) {
            column.iter_mut().zip(d).for_each(|(g, &dj)| *g += dj * xi);
        }
    }
}

/// `∂X = Wᵀ δ`, overwritten.
pub(crate) fn input_gradient(
    weights: &[f32],
    delta: &[f32],
    (outputs, inputs, columns): (usize, usize, usize),
    input_grad: &mut [f32],
) {
    if weights.len() >= TRANSPOSED_PRODUCT_MIN && columns > BLOCKED_PRODUCT_MIN {
        TRANSPOSED.with_borrow_mut(|(delta_t, input_grad_t)| {
            // ∂Xᵀ = δᵀ W: the affine kernel reads W's columns where they lie, where `gemm` would
            // first copy all of W, transposed.
            let delta_t = delta_t.sized(delta.len());
            // Column-major `outputs × columns` is row-major `columns × outputs`.
            transpose(delta, columns, outputs, delta_t);
            let input_grad_t = input_grad_t.sized(input_grad.len());
            affine(delta_t, &vec![0.0; columns], weights, inputs, input_grad_t);
            transpose(input_grad_t, inputs, columns, input_grad);
        });
        return;
    }
    if outputs.min(inputs).min(columns) > BLOCKED_PRODUCT_MIN {
        let delta = DMatrixView::from_slice(delta, outputs, columns);
        let weights_transposed = DMatrixView::from_slice_with_strides(weights, inputs, outputs, outputs, 1);
        let mut input_grad = DMatrixViewMut::from_slice(input_grad, inputs, columns);
        input_grad.gemm(1.0, &weights_transposed, &delta, 0.0);
        return;
    }
    // ∂X[i, j] = W[:, i] · δ_j
    for (gx, d) in input_grad.chunks_exact_mut(inputs).zip(delta.chunks_exact(outputs)) {
        for (g, w_column) in gx.iter_mut().zip(weights.chunks_exact(outputs)) {
            *g = w_column.iter().zip(d).map(|(w, dj)| w * dj).sum();
        }
    }
}

/// `∂W = δ Xᵀ` and `∂X = Wᵀ δ` for a layer whose input gradient is read only where its input
/// `X` is nonzero: when at most a quarter of `X` is nonzero, `∂X` there alone (zero elsewhere),
/// both from one list of the nonzero inputs; else as [`weight_gradient`] and [`input_gradient`]
/// compute them. `∂W` has the same bits either way. A `δ` holding an infinity or a NaN takes the
/// full products, so that it spreads as it always has.
pub(crate) fn gradients_where_inputs_nonzero(
    weights: &[f32],
    delta: &[f32],
    x: &[f32],
    (outputs, inputs, columns): (usize, usize, usize),
    weight_grad: &mut [f32],
    input_grad: &mut [f32],
) {
    let sizes = (outputs, inputs, columns);
    // `gemm` or loops for `∂W` when the shape fails the test that would have it listed.
    let weight_grad_listed = lists_nonzero_inputs(outputs, columns);
    // Listed when at most a quarter of `X` is nonzero, decided on the whole of `X`: `∂X` at the
    // listed inputs and the full `∂X` differ in the last bits, so the choice must not move.
    let listed = all_finite(&delta[..outputs * columns])
        && NONZERO_INPUTS.with_borrow_mut(|buffers| {
            let weight_grad = weight_grad_listed.then_some(&mut *weight_grad);
            nonzero_inputs::gradients_at_nonzero_inputs(weights, delta, x, sizes, weight_grad, input_grad, buffers)
        });
    if !listed {
        input_gradient(weights, delta, sizes, input_grad);
    }
    if !listed || !weight_grad_listed {
        weight_gradient(delta, x, sizes, weight_grad, false);
    }
}

thread_local! {
    /// `δᵀ` and `∂Xᵀ` of [`input_gradient`], reused.
    static TRANSPOSED: RefCell<(AlignedBuffer, AlignedBuffer)> = const { RefCell::new((AlignedBuffer::new(), AlignedBuffer::new())) };
}

/// `∂b = Σ_columns δ`, overwritten.
pub(crate) fn bias_gradient(delta: &[f32], outputs: usize, bias_grad: &mut [f32]) {
    bias_grad.fill(0.0);
    add_bias_gradient(delta, outputs, bias_grad);
}

/// `∂b += Σ_columns δ`, column by column in order: calls on consecutive chunks of the columns
/// make the same sums as one call on all of them.
pub(crate) fn add_bias_gradient(delta: &[f32], outputs: usize, bias_grad: &mut [f32]) {
    assert_eq!(bias_grad.len(), outputs);
    pulp::Arch::new().dispatch(BiasSums { delta, bias_grad });
}

/// The sums of [`add_bias_gradient`], held in registers while the columns go by, up to 8
/// vectors of outputs at a time. Summed in memory, each column waited for the last one's
/// store: for a convolution of 16 filters, a loaded and stored vector per pixel, 15-18% of
/// saito-deep's first layer's backward pass (`perf`).
struct BiasSums<'a> {
    delta: &'a [f32],
    bias_grad: &'a mut [f32],
}

impl WithSimd for BiasSums<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let (outputs, lanes) = (self.bias_grad.len(), S::F32_LANES);
        let mut first = 0;
        while outputs - first >= lanes {
            let vectors = ((outputs - first) / lanes).min(8);
            let sums = &mut self.bias_grad[first..first + vectors * lanes];
            match vectors {
                1 => bias_sums::<S, 1>(simd, self.delta, outputs, first, sums),
                2 => bias_sums::<S, 2>(simd, self.delta, outputs, first, sums),
                3 => bias_sums::<S, 3>(simd, self.delta, outputs, first, sums),
                4 => bias_sums::<S, 4>(simd, self.delta, outputs, first, sums),
                5 => bias_sums::<S, 5>(simd, self.delta, outputs, first, sums),
                6 => bias_sums::<S, 6>(simd, self.delta, outputs, first, sums),
                7 => bias_sums::<S, 7>(simd, self.delta, outputs, first, sums),
                _ => bias_sums::<S, 8>(simd, self.delta, outputs, first, sums),
            }
            first += vectors * lanes;
        }
        // The last outputs, fewer than a vector.
        let tail = &mut self.bias_grad[first..];
        for column in self.delta.chunks_exact(outputs) {
            tail.iter_mut().zip(&column[first..]).for_each(|(g, d)| *g += d);
        }
    }
}

/// `sums += Σ_columns δ[first..first + V vectors]`, in order.
#[inline(always)]
fn bias_sums<S: Simd, const V: usize>(simd: S, delta: &[f32], outputs: usize, first: usize, sums: &mut [f32]) {
    let (vectors, _) = S::as_mut_simd_f32s(sums);
    let mut held: [S::f32s; V] = std::array::from_fn(|v| vectors[v]);
    for column in delta.chunks_exact(outputs) {
        let (column, _) = S::as_simd_f32s(&column[first..first + V * S::F32_LANES]);
        for (sum, &d) in held.iter_mut().zip(column) {
            *sum = simd.add_f32s(*sum, d);
        }
    }
    vectors[..V].copy_from_slice(&held);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `∂W = δ Xᵀ` on inputs that are mostly zero (from the nonzero inputs alone) and on dense
    /// ones (`gemm`), against the sum in f64.
    #[test]
    fn weight_gradients_match_the_definition() {
        let (outputs, inputs, columns) = (300, 200, 40);
        let delta: Vec<f32> = (0..outputs * columns).map(|i| ((i * 31 % 97) as f32 / 48.5) - 1.0).collect();
        let dense: Vec<f32> = (0..inputs * columns).map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0).collect();
        // Inputs 0..100 are zero in every sample; the others in about 3/4 of them.
        let sparse: Vec<f32> =
            dense.iter().enumerate().map(|(i, &v)| if i % inputs < 100 || v < 0.5 { 0.0 } else { v }).collect();
        for x in [sparse, dense] {
            let mut weight_grad = vec![f32::NAN; outputs * inputs];
            weight_gradient(&delta, &x, (outputs, inputs, columns), &mut weight_grad, false);
            for k in 0..inputs {
                for i in (0..outputs).step_by(7) {
                    let want: f64 =
                        (0..columns).map(|j| f64::from(delta[j * outputs + i]) * f64::from(x[j * inputs + k])).sum();
                    let got = f64::from(weight_grad[k * outputs + i]);
                    assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "[{i}, {k}]: {got} vs {want}");
                }
            }
        }
    }

    /// `∂b` has the bits of the sum column by column, for outputs that fill whole vectors, part
    /// of one, or blocks of eight and more, and when added in two calls.
    #[test]
    fn bias_gradients_are_sums_in_column_order() {
        for outputs in [1, 3, 10, 16, 17, 30, 64, 100, 130, 512] {
            let columns = 37;
            let delta: Vec<f32> = (0..outputs * columns).map(|i| ((i * 7919 % 1009) as f32 / 7.3) - 69.0).collect();
            let start: Vec<f32> = (0..outputs).map(|i| i as f32 * 0.1).collect();
            let mut want = start.clone();
            for column in delta.chunks_exact(outputs) {
                for (w, d) in want.iter_mut().zip(column) {
                    *w += d;
                }
            }
            let mut got = start.clone();
            add_bias_gradient(&delta[..outputs * 20], outputs, &mut got);
            add_bias_gradient(&delta[outputs * 20..], outputs, &mut got);
            assert_eq!(
                got.iter().map(|g| g.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|w| w.to_bits()).collect::<Vec<_>>(),
                "{outputs}"
            );
            bias_gradient(&delta, outputs, &mut got);
            let from_zero: Vec<f32> =
                (0..outputs).map(|i| delta.iter().skip(i).step_by(outputs).fold(0.0, |s, d| s + d)).collect();
            assert_eq!(got, from_zero, "{outputs}");
        }
    }

    /// Each way of computing `∂X = Wᵀ δ` (loops, `gemm`, the transposed affine product) against
    /// the sum in f64.
    #[test]
    fn input_gradients_match_the_definition() {
        for (outputs, inputs, columns) in [(3, 4, 5), (20, 30, 9), (1030, 1024, 7)] {
            let weights: Vec<f32> = (0..outputs * inputs).map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0).collect();
            let delta: Vec<f32> = (0..outputs * columns).map(|i| ((i * 31 % 97) as f32 / 48.5) - 1.0).collect();
            let mut input_grad = vec![f32::NAN; inputs * columns];
            input_gradient(&weights, &delta, (outputs, inputs, columns), &mut input_grad);
            for j in 0..columns {
                for i in (0..inputs).step_by(7) {
                    let want: f64 = (0..outputs)
                        .map(|o| f64::from(weights[i * outputs + o]) * f64::from(delta[j * outputs + o]))
                        .sum();
                    let got = f64::from(input_grad[j * inputs + i]);
                    assert!(
                        (got - want).abs() < 1e-3 * (1.0 + want.abs()),
                        "{outputs}x{inputs}x{columns} [{i}, {j}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}
