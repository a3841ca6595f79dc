//! Transposing a matrix: `Flatten` between channels-last images and the books' channels-first
//! vectors, and the dense layer's `∂X`, computed transposed (`products.rs`).
//!
//! One value at a time, a transpose reads or writes with a stride and costs about two cycles a
//! value (three of them took 12% of a saito-simple epoch on one thread, measured by `perf`). With AVX2, blocks of 8 × 8
//! values go through eight registers: eight loads, 24 shuffles, eight stores. A side that is
//! not a multiple of 8 ends on a block moved back to end at the edge: it overlaps the one
//! before it and writes the same values there again, so every block is whole.

/// `out[c · rows + r] = values[r · columns + c]`: the row-major `rows × columns` matrix `values`
/// into `out`, row-major `columns × rows`.
///
/// # Panics
///
/// If `values` or `out` do not hold `rows · columns` values.
pub(crate) fn transpose(values: &[f32], rows: usize, columns: usize, out: &mut [f32]) {
    assert!(values.len() == rows * columns && out.len() == rows * columns);
    #[cfg(target_arch = "x86_64")]
    if rows >= 8
        && columns >= 8
        && let Some(simd) = pulp::x86::V3::try_new()
    {
        pulp::Simd::vectorize(simd, avx::Blocks { simd, values, rows, columns, out });
        return;
    }
    transpose_by_values(values, rows, columns, out);
}

/// [`transpose`] one value at a time, in runs of 16 rows whose values stay in the L1 cache.
fn transpose_by_values(values: &[f32], rows: usize, columns: usize, out: &mut [f32]) {
    const RUN: usize = 16;
    for first_row in (0..rows).step_by(RUN) {
        let run = first_row..(first_row + RUN).min(rows);
        // Each row of `out` is written a run at a time: written down its columns, a
        // power-of-two row length would send every store of a run to one cache set.
        for (c, target) in out.chunks_exact_mut(rows).enumerate() {
            for (t, r) in target[run.clone()].iter_mut().zip(run.clone()) {
                *t = values[r * columns + c];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::__m256;

    use pulp::x86::V3;
    use pulp::{Simd, WithSimd};

    /// The blocks of a transpose, run inside the function compiled for AVX2.
    pub(super) struct Blocks<'a> {
        pub(super) simd: V3,
        pub(super) values: &'a [f32],
        pub(super) rows: usize,
        pub(super) columns: usize,
        pub(super) out: &'a mut [f32],
    }

    /// `0, 8, 16, …` up to `len - 8`, and `len - 8` (`len ≥ 8`).
    fn block_starts(len: usize) -> impl Iterator<Item = usize> {
        (0..len - 7).step_by(8).chain((!len.is_multiple_of(8)).then_some(len - 8))
    }

    impl WithSimd for Blocks<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) {
            let Blocks { simd, values, rows, columns, out } = self;
            // Blocks along a row of `values`, then the next 8 rows: the 8 rows read stay in
            // the L1 cache, and the rows of `out` fill 8 values at a time, in order.
            for r in block_starts(rows) {
                for c in block_starts(columns) {
                    let block: [__m256; 8] = std::array::from_fn(|i| load(&values[(r + i) * columns + c..]));
                    for (i, row) in transpose_8x8(simd, block).into_iter().enumerate() {
                        store(&mut out[(c + i) * rows + r..], row);
                    }
                }
            }
        }
    }

    /// The first 8 values of `values`.
    #[inline(always)]
    fn load(values: &[f32]) -> __m256 {
        let eight: [f32; 8] = values[..8].try_into().expect("8 values");
        pulp::cast(eight)
    }

    /// `row` into the first 8 values of `out`.
    #[inline(always)]
    fn store(out: &mut [f32], row: __m256) {
        out[..8].copy_from_slice(&pulp::cast::<__m256, [f32; 8]>(row));
    }

    /// The columns of the 8 × 8 block whose rows are `r`.
    #[inline(always)]
    fn transpose_8x8(simd: V3, r: [__m256; 8]) -> [__m256; 8] {
        let avx = simd.avx;
        // Pairs of rows interleaved: (r0[0], r1[0], r0[1], r1[1] | r0[4], r1[4], …).
        let t: [__m256; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
            if i % 2 == 0 { avx._mm256_unpacklo_ps(a, b) } else { avx._mm256_unpackhi_ps(a, b) }
        });
        // Then quadruples: lane j of rows 0-3 (and of rows 4-7) side by side in each half.
        let u: [__m256; 8] = std::array::from_fn(|i| {
            let (group, k) = (i / 4 * 4, i % 4);
            let (a, b) = (t[group + k / 2], t[group + k / 2 + 2]);
            if k % 2 == 0 { avx._mm256_shuffle_ps::<0x44>(a, b) } else { avx._mm256_shuffle_ps::<0xEE>(a, b) }
        });
        // Then the halves of rows 0-3 and 4-7 joined: column i whole.
        std::array::from_fn(|i| {
            let (a, b) = (u[i % 4], u[i % 4 + 4]);
            if i < 4 { avx._mm256_permute2f128_ps::<0x20>(a, b) } else { avx._mm256_permute2f128_ps::<0x31>(a, b) }
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn by_definition(values: &[f32], rows: usize, columns: usize) -> Vec<f32> {
        let mut out = vec![0.0; values.len()];
        for r in 0..rows {
            for c in 0..columns {
                out[c * rows + r] = values[r * columns + c];
            }
        }
        out
    }

    /// Values that are all distinct, NaNs with payloads and `-0` among them, compared as bits.
    fn distinct(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| match i % 7 {
                3 => f32::from_bits(0x7fc0_0000 | i as u32),
                5 if i % 2 == 1 => -0.0,
                _ => i as f32 + 0.5,
            })
            .collect()
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    proptest! {
        /// Sides below, at and around multiples of 8 (the blocks and the last one moved back),
        /// transposed and transposed back.
        #[test]
        fn every_value_lands_where_the_definition_puts_it(rows in 1usize..40, columns in 1usize..40) {
            let values = distinct(rows * columns);
            let mut out = vec![f32::NAN; values.len()];
            transpose(&values, rows, columns, &mut out);
            prop_assert_eq!(bits(&out), bits(&by_definition(&values, rows, columns)));
            let mut back = vec![0.0; values.len()];
            transpose(&out, columns, rows, &mut back);
            prop_assert_eq!(bits(&back), bits(&values));
        }
    }

    #[test]
    fn the_shapes_of_the_recipes() {
        // saito-simple's and pytorch-example's flattened images, a dense layer's ∂X of a shard.
        for (rows, columns) in [(144, 30), (30, 144), (144, 64), (64, 144), (4320, 50), (50, 4320), (9216, 32)] {
            let values = distinct(rows * columns);
            let mut out = vec![0.0; values.len()];
            transpose(&values, rows, columns, &mut out);
            assert_eq!(bits(&out), bits(&by_definition(&values, rows, columns)), "{rows} x {columns}");
            let mut scalar = vec![0.0; values.len()];
            transpose_by_values(&values, rows, columns, &mut scalar);
            assert_eq!(bits(&scalar), bits(&out));
        }
    }
}
