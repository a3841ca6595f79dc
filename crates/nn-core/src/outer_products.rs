//! `C = Σₜ aₜ bₜᵀ`, a sum of outer products of columns that lie their strides apart: the gradient
//! of Winograd's transformed kernel, `∂U_ξ = Σ_tiles ∂M_ξ V_ξᵀ` (`winograd.rs`), a product of two
//! thin matrices (16 to 64 rows, a few hundred columns), 36 of them per chunk of images.
//!
//! Why not nalgebra's `gemm` (`matrixmultiply`): it copies ("packs") both operands before every
//! product, and for these shapes the copies cost about two thirds as much as the multiply-adds
//! (`perf` on saito-deep's second convolution, 16 → 16 channels: packing 9.7% of its backward
//! pass, the kernel 14.4%). Here a block of `C`, 16 vectors, stays in registers while the
//! columns go by once, read where they lie.
//!
//! Every value of `C` is summed the same way whatever the width of the machine's vectors: from
//! `0` (or from its value, when accumulating), one fused multiply-add per column, `t = 0, 1, …` in
//! order (on a processor without them, a multiply then an add, as in the affine kernel).

use pulp::{Simd, WithSimd};

use crate::affine::Columns;
use crate::vector_slices::{load, store};

/// Rows must be a multiple of this: a whole number of vectors on every instruction set `pulp`
/// offers (16, 8, 4 or 1 lanes), so the same shapes take this path on every machine.
const ROW_MULTIPLE: usize = 16;

/// Whether [`sum_outer_products`] computes products of `rows` rows.
pub(crate) fn applies(rows: usize) -> bool {
    rows > 0 && rows.is_multiple_of(ROW_MULTIPLE)
}

/// `c = Σₜ aₜ bₜᵀ` (or `c += …` when `accumulate`) over `count` columns: `aₜ` holds `rows`
/// values, `bₜ` `cols`, and `c` is `rows × cols` column-major. Requires [`applies`]`(rows)`.
pub(crate) fn sum_outer_products(
    a: Columns<'_>,
    b: Columns<'_>,
    (rows, cols, count): (usize, usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(applies(rows) && c.len() == rows * cols && a.stride >= rows && b.stride >= cols);
    assert!(
        count == 0
            || (a.values.len() >= (count - 1) * a.stride + rows && b.values.len() >= (count - 1) * b.stride + cols)
    );
    pulp::Arch::new().dispatch(OuterProducts { a, b, rows, cols, count, c, accumulate });
}

struct OuterProducts<'a> {
    a: Columns<'a>,
    b: Columns<'a>,
    rows: usize,
    cols: usize,
    count: usize,
    c: &'a mut [f32],
    accumulate: bool,
}

impl WithSimd for OuterProducts<'_> {
    type Output = ();

    /// Blocks of `C` of 16 vectors: one vector of rows × 16 columns, or two × 8, so that 16 sums
    /// are in flight (an FMA's latency times the processor's two FMA units); the last columns
    /// one at a time.
    #[inline(always)]
    fn with_simd<S: Simd>(mut self, simd: S) {
        let lanes = S::F32_LANES;
        let vectors = self.rows / lanes;
        let mut first_vector = 0;
        while first_vector < vectors {
            let wide = vectors - first_vector >= 2;
            let block = if wide { 8 } else { 16 };
            let mut first_col = 0;
            while first_col < self.cols {
                let whole = self.cols - first_col >= block;
                match (wide, whole) {
                    (true, true) => self.block::<S, 2, 8>(simd, first_vector, first_col),
                    (false, true) => self.block::<S, 1, 16>(simd, first_vector, first_col),
                    (true, false) => self.block::<S, 2, 1>(simd, first_vector, first_col),
                    (false, false) => self.block::<S, 1, 1>(simd, first_vector, first_col),
                }
                first_col += if whole { block } else { 1 };
            }
            first_vector += if wide { 2 } else { 1 };
        }
    }
}

impl OuterProducts<'_> {
    /// Rows of vectors `first_vector..first_vector + V`, columns `first_col..first_col + B`.
    #[inline(always)]
    fn block<S: Simd, const V: usize, const B: usize>(&mut self, simd: S, first_vector: usize, first_col: usize) {
        let (lanes, rows) = (S::F32_LANES, self.rows);
        let first_row = first_vector * lanes;
        let c = &*self.c;
        let mut sums: [[S::f32s; V]; B] = std::array::from_fn(|j| {
            std::array::from_fn(|v| {
                if self.accumulate {
                    load(simd, &c[(first_col + j) * rows + first_row + v * lanes..][..lanes])
                } else {
                    simd.splat_f32s(0.0)
                }
            })
        });
        for t in 0..self.count {
            let a = &self.a.values[t * self.a.stride + first_row..][..V * lanes];
            let (a, _) = S::as_simd_f32s(a);
            let b = &self.b.values[t * self.b.stride + first_col..][..B];
            for (sum, &b) in sums.iter_mut().zip(b) {
                // C[:, j] += aₜ · bₜ[j]
                let b = simd.splat_f32s(b);
                for (s, &a) in sum.iter_mut().zip(a) {
                    *s = simd.mul_add_e_f32s(a, b, *s);
                }
            }
        }
        let c = &mut *self.c;
        for (j, sum) in sums.iter().enumerate() {
            for (v, &s) in sum.iter().enumerate() {
                store(simd, &mut c[(first_col + j) * rows + first_row + v * lanes..][..lanes], s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Against the sums in f64, with gaps between the columns, from zero and accumulated.
        #[test]
        fn sums_match_the_definition(
            seed in any::<u32>(), vectors in 1usize..5, cols in 1usize..40, count in 0usize..50,
            gap_a in 0usize..20, gap_b in 0usize..20, accumulate in any::<bool>(),
        ) {
            let rows = vectors * ROW_MULTIPLE;
            let value = |i: usize| ((i as f32 + seed as f32 * 0.37) * 0.731).sin();
            let (stride_a, stride_b) = (rows + gap_a, cols + gap_b);
            let a: Vec<f32> = (0..count * stride_a).map(value).collect();
            let b: Vec<f32> = (0..count * stride_b).map(|i| value(i + 7919)).collect();
            let start: Vec<f32> = (0..rows * cols).map(|i| value(i + 104_729)).collect();
            let mut c = start.clone();
            let (columns_a, columns_b) = (Columns { values: &a, stride: stride_a }, Columns { values: &b, stride: stride_b });
            sum_outer_products(columns_a, columns_b, (rows, cols, count), &mut c, accumulate);
            for j in 0..cols {
                for i in 0..rows {
                    let from = if accumulate { f64::from(start[j * rows + i]) } else { 0.0 };
                    let want = from + (0..count).map(|t| f64::from(a[t * stride_a + i]) * f64::from(b[t * stride_b + j])).sum::<f64>();
                    let got = f64::from(c[j * rows + i]);
                    prop_assert!((got - want).abs() < 1e-5 * (1.0 + count as f64), "[{}, {}]: {} vs {}", i, j, got, want);
                }
            }
        }
    }

    #[test]
    fn each_sum_is_fused_multiply_adds_in_order() {
        let (rows, cols, count) = (32, 9, 5);
        let a: Vec<f32> = (0..rows * count).map(|i| 1.0 + i as f32 * 1e-3).collect();
        let b: Vec<f32> = (0..cols * count).map(|i| 0.1 + i as f32 * 0.37).collect();
        let mut c = vec![f32::NAN; rows * cols];
        sum_outer_products(
            Columns { values: &a, stride: rows },
            Columns { values: &b, stride: cols },
            (rows, cols, count),
            &mut c,
            false,
        );
        for j in 0..cols {
            for i in 0..rows {
                let want = (0..count).fold(0.0_f32, |sum, t| a[t * rows + i].mul_add(b[t * cols + j], sum));
                assert_eq!(c[j * rows + i].to_bits(), want.to_bits(), "[{i}, {j}]");
            }
        }
    }

    #[test]
    fn rows_must_fill_whole_vectors() {
        assert!(applies(16) && applies(64) && !applies(0) && !applies(10) && !applies(24));
    }
}
