//! The two products of a backward pass through an affine map `Z = W X + b`:
//! `∂W = δ Xᵀ` and `∂X = Wᵀ δ`, shared by dense and convolutional layers.
//!
//! `W` is `outputs × inputs` column-major, `X` holds `columns` columns of `inputs` values and
//! `δ` as many columns of `outputs` values. Large products go to nalgebra's `gemm` (the
//! cache-blocked `matrixmultiply` kernels), the transposes being views with swapped strides;
//! small ones to plain loops.

use nalgebra::{DMatrixView, DMatrixViewMut};

use crate::affine::Columns;

/// nalgebra sends a product to `matrixmultiply` only when every dimension exceeds this; its
/// fallback loop mishandles the strided transpose views, so small products use plain loops.
const BLOCKED_PRODUCT_MIN: usize = 5;

/// `∂W = δ Xᵀ`, or `∂W += δ Xᵀ` when `accumulate` (a convolution sums it over chunks of images).
pub(crate) fn weight_gradient(
    delta: &[f32],
    x: &[f32],
    (outputs, inputs, columns): (usize, usize, usize),
    weight_grad: &mut [f32],
    accumulate: bool,
) {
    let (delta, x) = (Columns { values: delta, stride: outputs }, Columns { values: x, stride: inputs });
    weight_gradient_strided(delta, x, (outputs, inputs, columns), weight_grad, accumulate);
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

/// `∂b = Σ_columns δ`, overwritten.
pub(crate) fn bias_gradient(delta: &[f32], outputs: usize, bias_grad: &mut [f32]) {
    bias_grad.fill(0.0);
    for column in delta.chunks_exact(outputs) {
        bias_grad.iter_mut().zip(column).for_each(|(g, d)| *g += d);
    }
}
