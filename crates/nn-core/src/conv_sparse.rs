//! A convolution's backward pass that visits only the nonzero output gradients.
//!
//! Behind a convolution come ReLU, max-pooling and dropout: a pooled gradient reaches one pixel
//! of its window, only where that pixel was positive and dropout kept it. In PyTorch's MNIST
//! example 97% of conv2's `δZ` is zero. Each nonzero `δ` at output pixel `p` of filter `f`
//! contributes `δ · patch(p)` to `∂W[f]` and `δ · W[f]` to the patch's place in `∂X` (the two
//! sums of `∂W = δ Pᵀ` and `∂P = Wᵀ δ`); the dense passes compute the same sums over every
//! pixel, zeros included. The sums run image by image, pixel by pixel, filter by filter: a fixed
//! order, so the bits do not depend on the threads.

use pulp::{Simd, WithSimd};

use crate::Conv2dParams;
use crate::im2col::{Geometry, pad};

/// Below this share of nonzero values in `δZ` the sparse pass is taken. At 5% it costs about a
/// tenth of the dense product of `δ Pᵀ` and `Wᵀ δ`, which Winograd's method cuts by 2 to 3 times.
pub(crate) const MAX_DENSITY: f64 = 0.05;

/// Whether `delta` has few enough nonzero values for [`backward`].
pub(crate) fn is_sparse(delta: &[f32]) -> bool {
    let nonzero = delta.iter().filter(|&&d| d != 0.0).count();
    (nonzero as f64) < MAX_DENSITY * delta.len() as f64
}

/// `∂W = Σ δ · patch` (written) and, when asked, `∂X` (written) from the nonzero values of
/// `delta` (`δZ`, after the activation's derivative) alone. `weights` and `weight_grad` are
/// column-major `filters × patch_len`, as a [`Conv2d`](crate::Conv2d) keeps them.
pub(crate) fn backward(
    params: &Conv2dParams,
    weights: &[f32],
    input: &[f32],
    batch: usize,
    delta: &[f32],
    input_grad: Option<&mut [f32]>,
    weight_grad: &mut [f32],
) {
    let (filters, patch_len) = (params.filters, params.patch_len());
    // One filter's weights after another: the rows the sums read and write.
    let weight_rows = transposed(weights, filters, patch_len);
    let mut grad_rows = vec![0.0; filters * patch_len];
    pulp::Arch::new().dispatch(Backward {
        params,
        weight_rows: &weight_rows,
        input,
        batch,
        delta,
        input_grad,
        grad_rows: &mut grad_rows,
    });
    for (f, row) in grad_rows.chunks_exact(patch_len).enumerate() {
        for (j, &value) in row.iter().enumerate() {
            weight_grad[j * filters + f] = value;
        }
    }
}

/// `values` (column-major `rows × columns`) row by row.
fn transposed(values: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (j, column) in values.chunks_exact(rows).enumerate() {
        for (i, &value) in column.iter().enumerate() {
            out[i * columns + j] = value;
        }
    }
    out
}

struct Backward<'a> {
    params: &'a Conv2dParams,
    weight_rows: &'a [f32],
    input: &'a [f32],
    batch: usize,
    delta: &'a [f32],
    input_grad: Option<&'a mut [f32]>,
    grad_rows: &'a mut [f32],
}

impl WithSimd for Backward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Backward { params, weight_rows, input, batch, delta, mut input_grad, grad_rows } = self;
        let geometry = Geometry::of(params);
        let (filters, patch_len, patch_row) = (params.filters, params.patch_len(), geometry.patch_row);
        let (kernel_height, image_len) = (params.kernel.0, params.input.len());
        let output_len = params.output_shape().len();
        let mut padded = Vec::new();
        let mut padded_grad = vec![0.0; geometry.padded_len];
        for n in 0..batch {
            let image = pad(&geometry, &input[n * image_len..(n + 1) * image_len], &mut padded);
            let deltas = &delta[n * output_len..(n + 1) * output_len];
            if input_grad.is_some() {
                padded_grad.fill(0.0);
            }
            for (pixel, start) in geometry.patch_starts().enumerate() {
                for (f, &value) in deltas[pixel * filters..(pixel + 1) * filters].iter().enumerate() {
                    if value == 0.0 {
                        continue;
                    }
                    let grad_row = &mut grad_rows[f * patch_len..(f + 1) * patch_len];
                    let weight_row = &weight_rows[f * patch_len..(f + 1) * patch_len];
                    for ky in 0..kernel_height {
                        let from = start + ky * geometry.padded_row;
                        let part = ky * patch_row..(ky + 1) * patch_row;
                        // ∂W[f] += δ · patch
                        axpy(simd, value, &image[from..from + patch_row], &mut grad_row[part.clone()]);
                        if input_grad.is_some() {
                            // ∂patch += δ · W[f]
                            axpy(simd, value, &weight_row[part], &mut padded_grad[from..from + patch_row]);
                        }
                    }
                }
            }
            if let Some(input_grad) = input_grad.as_deref_mut() {
                let row = geometry.width * geometry.channels;
                let target = &mut input_grad[n * image_len..(n + 1) * image_len];
                for (y, target) in target.chunks_exact_mut(row).enumerate() {
                    let start = geometry.padded_start(y);
                    target.copy_from_slice(&padded_grad[start..start + row]);
                }
            }
        }
    }
}

/// `y += a · x`, in the processor's vectors.
#[inline(always)]
fn axpy<S: Simd>(simd: S, a: f32, x: &[f32], y: &mut [f32]) {
    let scale = simd.splat_f32s(a);
    let (x_head, x_tail) = S::as_simd_f32s(x);
    let (y_head, y_tail) = S::as_mut_simd_f32s(y);
    for (y, x) in y_head.iter_mut().zip(x_head) {
        *y = simd.mul_add_e_f32s(scale, *x, *y);
    }
    for (y, x) in y_tail.iter_mut().zip(x_tail) {
        *y += a * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shape;
    use crate::im2col::{col2im, im2row};

    /// `∂W = δ Pᵀ` and `∂X = col2im(Wᵀ δ)` computed densely, straight from the definitions.
    fn dense(
        params: &Conv2dParams,
        weights: &[f32],
        input: &[f32],
        batch: usize,
        delta: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let (filters, k, n) = (params.filters, params.patch_len(), batch * params.patches());
        let mut rows = vec![0.0; k * n];
        im2row(params, input, &mut rows, &mut Vec::new());
        let mut weight_grad = vec![0.0; filters * k];
        for f in 0..filters {
            for j in 0..k {
                weight_grad[j * filters + f] =
                    (0..n).map(|p| f64::from(delta[p * filters + f]) * f64::from(rows[j * n + p])).sum::<f64>() as f32;
            }
        }
        let mut columns = vec![0.0; k * n];
        for p in 0..n {
            for j in 0..k {
                columns[p * k + j] = (0..filters)
                    .map(|f| f64::from(weights[j * filters + f]) * f64::from(delta[p * filters + f]))
                    .sum::<f64>() as f32;
            }
        }
        let mut input_grad = vec![0.0; input.len()];
        col2im(params, &columns, &mut input_grad, &mut Vec::new());
        (weight_grad, input_grad)
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn the_sparse_sums_are_the_dense_ones() {
        // A pool window at the edge (padding 1), stride 2, one channel, a batch of one, a kernel
        // row longer than a vector; deltas where nothing is zero, where every fourth is, where
        // all are.
        for (input, filters, kernel, stride, padding, batch) in [
            (Shape::new(3, 7, 6), 4, (3, 3), 1, 1, 2),
            (Shape::new(2, 9, 8), 3, (2, 3), 2, 0, 1),
            (Shape::new(1, 6, 6), 5, (5, 5), 1, 2, 3),
            (Shape::new(40, 5, 5), 2, (3, 3), 1, 1, 2),
        ] {
            let params = Conv2dParams::new_at(input, filters, kernel, stride, padding, 0).unwrap();
            let weights = values(filters * params.patch_len(), 1);
            let images = values(batch * input.len(), 2);
            let out_len = batch * params.output_shape().len();
            for every in [1, 4, 0] {
                let delta: Vec<f32> = values(out_len, 3)
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if every != 0 && i % every == 0 { d } else { 0.0 })
                    .collect();
                let (want_w, want_x) = dense(&params, &weights, &images, batch, &delta);
                let mut weight_grad = vec![f32::NAN; want_w.len()];
                let mut input_grad = vec![f32::NAN; want_x.len()];
                backward(&params, &weights, &images, batch, &delta, Some(&mut input_grad), &mut weight_grad);
                for (got, want) in weight_grad.iter().zip(&want_w).chain(input_grad.iter().zip(&want_x)) {
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{input} every {every}: {got} against {want}"
                    );
                }
                let mut without = vec![f32::NAN; want_w.len()];
                backward(&params, &weights, &images, batch, &delta, None, &mut without);
                assert_eq!(without, weight_grad, "no input gradient: the same weight gradient");
            }
        }
    }

    #[test]
    fn density_decides() {
        let mut delta = vec![0.0; 1000];
        assert!(is_sparse(&delta));
        delta[..49].fill(1.0);
        assert!(is_sparse(&delta));
        delta[49] = -2.0;
        assert!(!is_sparse(&delta), "5% is not below 5%");
    }
}
