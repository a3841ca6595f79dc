//! The RBF kernel `K(x, y) = exp(-γ ‖x − y‖²)` between blocks of points, from one matrix
//! product: `‖x − y‖² = ‖x‖² + ‖y‖² − 2 x·y`, the dot products of a block of rows against all
//! the columns by `gemm` (nalgebra's, i.e. `matrixmultiply`'s cache-blocked kernels).
//!
//! The columns, the many points (the training set, the support vectors), are stored feature
//! after feature ([`Columns`]): `gemm` copies them into its panels with one `memcpy` a panel
//! row, where points stored one after the other would be gathered value by value (43% of the
//! time of a training on 10,000 MNIST images, measured with perf). The rows, a block of a few
//! points, are stored point after point.
//!
//! A value never depends on the block it was computed in: `matrixmultiply` sums each dot
//! product over the features in the same order whatever the sizes of the product, and every
//! block goes to it (one of fewer than [`MIN_GEMM_ROWS`] rows is padded to that many). So a
//! kernel row is the same bits whether the solver computed it alone, with others, or again after
//! its cache let it go, and the solution does not depend on the cache's size or the threads.

use nalgebra::{DMatrixView, DMatrixViewMut};

/// nalgebra hands a product to `matrixmultiply` only when each of its sizes exceeds 5 (and its
/// own loop mishandles strided views): blocks have at least this many rows, columns and
/// features go to `gemm`, smaller ones to [`plain_dots`] whatever the block.
pub(crate) const MIN_GEMM_ROWS: usize = 6;

/// Points stored one after the other, `features` values each, with their squared norms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Points<'a> {
    /// `len × features` values, point after point.
    pub values: &'a [f32],
    /// `‖x‖²` of each point.
    pub norms: &'a [f64],
    /// Values per point.
    pub features: usize,
}

impl Points<'_> {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.norms.len()
    }
}

/// Points stored feature after feature: value `k` of point `c` at `values[k * stride + c]`, for
/// the points `start..start + norms.len()` of a store of `stride` points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns<'a> {
    /// `features × stride` values, feature after feature.
    pub values: &'a [f32],
    /// Points in the store: the distance between two values of a point.
    pub stride: usize,
    /// The first point.
    pub start: usize,
    /// `‖y‖²` of each point from `start` on.
    pub norms: &'a [f64],
    /// Values per point.
    pub features: usize,
}

impl<'a> Columns<'a> {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    /// Points `range` (relative to these) only.
    pub fn range(&self, range: std::ops::Range<usize>) -> Columns<'a> {
        Columns { start: self.start + range.start, norms: &self.norms[range], ..*self }
    }
}

/// `‖x‖² = Σ_k x_k²` of each point of `values` (`features` values each), summed in f64 in order.
pub(crate) fn squared_norms(values: &[f32], features: usize) -> Vec<f64> {
    values.chunks_exact(features).map(|x| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()).collect()
}

/// `γ = 1 / (features · Var(X))`, scikit-learn's `gamma='scale'`: the variance of every value of
/// every point, `Var(X) = Σ (x − x̄)² / (n · features)` (two passes in f64); 1 when it is 0.
pub(crate) fn scale_gamma(values: &[f32], features: usize) -> f64 {
    let count = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
    let variance = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / count;
    if variance > 0.0 && variance.is_finite() { 1.0 / (features as f64 * variance) } else { 1.0 }
}

/// Writes `K(row_r, column_c) = exp(-γ max(0, ‖x_r‖² + ‖y_c‖² − 2 x_r·y_c))` at
/// `out[r * stride + offset + c]`: a block of kernel rows, whose columns `offset..offset +
/// columns.len()` are these columns (a row's other columns may come from another call).
pub(crate) fn rbf_block(
    gamma: f64,
    rows: Points<'_>,
    columns: Columns<'_>,
    out: &mut [f32],
    stride: usize,
    offset: usize,
) {
    let (count, width, features) = (rows.len(), columns.len(), rows.features);
    debug_assert_eq!(features, columns.features);
    if count == 0 || width == 0 {
        return;
    }
    if count < MIN_GEMM_ROWS && width >= MIN_GEMM_ROWS && features >= MIN_GEMM_ROWS {
        // Padded with copies of the first row, so that these rows go through `gemm` as in any
        // larger block.
        let mut values = rows.values.to_vec();
        let mut norms = rows.norms.to_vec();
        for _ in count..MIN_GEMM_ROWS {
            values.extend_from_slice(&rows.values[..features]);
            norms.push(rows.norms[0]);
        }
        let padded = Points { values: &values, norms: &norms, features };
        let mut block = vec![0.0; MIN_GEMM_ROWS * width];
        rbf_block(gamma, padded, columns, &mut block, width, 0);
        for (r, row) in block.chunks_exact(width).take(count).enumerate() {
            out[r * stride + offset..][..width].copy_from_slice(row);
        }
        return;
    }
    let end = (count - 1) * stride + offset + width;
    assert!(out.len() >= end && offset + width <= stride, "kernel block out of its buffer");
    if count >= MIN_GEMM_ROWS && width >= MIN_GEMM_ROWS && features >= MIN_GEMM_ROWS {
        // Column-major, the block is `width × count` with the kernel rows as its columns:
        // `D = Y Xᵀ`, `Y` the columns' points (`width × features`, columns `stride` apart) and
        // `Xᵀ` the rows' (`features × count`, columns `features` apart).
        let y =
            DMatrixView::from_slice_with_strides(&columns.values[columns.start..], width, features, 1, columns.stride);
        let x_transposed = DMatrixView::from_slice_with_strides(rows.values, features, count, 1, features);
        let mut dots = DMatrixViewMut::from_slice_with_strides_mut(&mut out[offset..end], width, count, 1, stride);
        dots.gemm(1.0, &y, &x_transposed, 0.0);
    } else {
        plain_dots(rows, columns, out, stride, offset);
    }
    for (r, &row_norm) in rows.norms.iter().enumerate() {
        let row = &mut out[r * stride + offset..][..width];
        for (value, &column_norm) in row.iter_mut().zip(columns.norms) {
            let squared_distance = (row_norm + column_norm - 2.0 * f64::from(*value)).max(0.0);
            *value = ((-gamma * squared_distance) as f32).exp();
        }
    }
}

/// `x_r·y_c` summed in order, for products too small for `gemm`.
fn plain_dots(rows: Points<'_>, columns: Columns<'_>, out: &mut [f32], stride: usize, offset: usize) {
    for (r, x) in rows.values.chunks_exact(rows.features).enumerate() {
        let row = &mut out[r * stride + offset..][..columns.len()];
        for (c, value) in row.iter_mut().enumerate() {
            let y = |k: usize| columns.values[k * columns.stride + columns.start + c];
            *value = x.iter().enumerate().fold(0.0, |sum, (k, &a)| a.mul_add(y(k), sum));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_points(count: usize, features: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let values: Vec<f32> = (0..count * features).map(|_| rng.random::<f32>()).collect();
        let norms = squared_norms(&values, features);
        (values, norms)
    }

    /// Points stored point after point (`features` values each), stored feature after feature.
    fn feature_major(values: &[f32], features: usize) -> Vec<f32> {
        let count = values.len() / features.max(1);
        let mut columns = vec![0.0; values.len()];
        for (c, point) in values.chunks_exact(features).enumerate() {
            for (k, &value) in point.iter().enumerate() {
                columns[k * count + c] = value;
            }
        }
        columns
    }

    fn columns<'a>(values: &'a [f32], norms: &'a [f64], features: usize) -> Columns<'a> {
        Columns { values, stride: norms.len(), start: 0, norms, features }
    }

    #[test]
    fn the_kernel_is_the_definition() {
        for (count, width, features) in [(9, 13, 20), (2, 7, 30), (3, 4, 3), (7, 1, 8)] {
            let (xv, xn) = random_points(count, features, 1);
            let (yv, yn) = random_points(width, features, 2);
            let gamma = 0.3;
            let mut out = vec![0.0; count * width];
            let yt = feature_major(&yv, features);
            let rows = Points { values: &xv, norms: &xn, features };
            rbf_block(gamma, rows, columns(&yt, &yn, features), &mut out, width, 0);
            for r in 0..count {
                for c in 0..width {
                    let x = &xv[r * features..][..features];
                    let y = &yv[c * features..][..features];
                    let distance: f64 = x.iter().zip(y).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
                    let expected = (-gamma * distance).exp();
                    assert!(
                        (f64::from(out[r * width + c]) - expected).abs() < 1e-5,
                        "{count}x{width}x{features}: {r},{c}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_row_is_the_same_bits_alone_or_in_any_block() {
        let features = 50;
        let (xv, xn) = random_points(40, features, 3);
        let (yv, yn) = random_points(70, features, 4);
        let yt = feature_major(&yv, features);
        let columns = columns(&yt, &yn, features);
        let rows = |range: std::ops::Range<usize>| Points {
            values: &xv[range.start * features..range.end * features],
            norms: &xn[range],
            features,
        };
        let mut all = vec![0.0; 40 * 70];
        rbf_block(0.1, rows(0..40), columns, &mut all, 70, 0);
        for (start, len) in [(0, 1), (5, 2), (17, 6), (3, 23), (39, 1)] {
            let mut block = vec![0.0; len * 70];
            // In two column ranges, as a binary problem's two classes.
            rbf_block(0.1, rows(start..start + len), columns.range(0..30), &mut block, 70, 0);
            rbf_block(0.1, rows(start..start + len), columns.range(30..70), &mut block, 70, 30);
            let expected = &all[start * 70..(start + len) * 70];
            assert!(block.iter().zip(expected).all(|(a, b)| a.to_bits() == b.to_bits()), "rows {start}..+{len}");
        }
    }

    #[test]
    fn gamma_scale_is_one_over_features_times_the_variance() {
        // Values 0, 1, 0, 1: mean 1/2, variance 1/4; two features: γ = 1 / (2 · 1/4) = 2.
        assert_eq!(scale_gamma(&[0.0, 1.0, 0.0, 1.0], 2), 2.0);
        assert_eq!(scale_gamma(&[0.5; 6], 3), 1.0, "no variance: 1, as scikit-learn");
    }
}
