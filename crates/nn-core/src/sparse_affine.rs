//! `Z = W X + b` for inputs that are mostly zero (images, what a ReLU leaves), each sample over
//! its own nonzero inputs alone.
//!
//! The affine kernel (`affine.rs`) shares each load of `W` between the 8 samples of a tile, so it
//! can leave out only the inputs that are zero in all 8: about half of an MNIST image's. Here
//! each sample visits only its own nonzero inputs (about one pixel in five), a block of inputs
//! at a time: the block's weights for a band of 8 vectors of outputs (128 with AVX-512, 32 KB)
//! stay in the L1 cache while the samples go by, each sample's sums of the band in registers
//! for the block and in `z` between blocks. A weight loaded serves one multiply-add instead of
//! 8, but there are 2.6 times fewer of them.
//!
//! It pays for layers of 64 to 256 outputs: one training step of 784-128-10 on 64 MNIST images
//! takes 0.89-0.91 times as long as with the affine kernel alone, 784-256-10 0.93, while
//! 784-512-10 took 1.0-1.1 times as long (its 16 bands share each tile's gathered inputs in
//! the affine kernel) and 784-30-10 at 10 images 1.05 (one thread, Intel Xeon, 2026-12-06).
//!
//! The sums are those of the affine kernel term for term: `z = b`, then `z = fma(W[i, k], x[k, j],
//! z)` over the nonzero `k` in increasing order, stored as `z + 0` after each block. Leaving out
//! a term whose input is zero changes no value (see `Affine::tile`), so either kernel gives the
//! same bits, for one sample as for a batch. Weights that are not all finite, where `∞ · 0` must
//! make a NaN, go to the affine kernel, which then computes every term. They are found without a
//! pass over all the weights (100,352 for 784-128-10, 1.2 million for pytorch-example's dense
//! layer, each call): a weight whose input is nonzero in some sample makes that sample's sum
//! infinite or NaN, so finite sums leave only the weights of inputs that are zero in every
//! sample to check.

use std::ops::RangeInclusive;

use pulp::{Simd, WithSimd};

use crate::vector_slices::{Lanes, SetBits, all_finite, dense_from_start, load, nonzero_mask, store};

/// The layers that take this path, by their number of outputs (see the measurements above).
const OUTPUTS: RangeInclusive<usize> = 64..=256;

/// Vectors of outputs a band holds in registers with AVX-512 (128 outputs); half as many with
/// AVX2 or without vectors (not measured: both hosts have AVX-512).
const BAND_VECTORS: usize = 8;

/// Weights of a band's block of inputs, in values (32 KB): they stay in the L1 cache (48 KB)
/// while the samples go by.
const BLOCK_VALUES: usize = 8 * 1024;

/// `Z = W X + b` as [`affine`](crate::affine::affine) computes it (`weights`: `outputs ×
/// inputs` column-major; `x`: `batch` samples of `inputs` values; `z`: `batch` columns of
/// `outputs` values), over each sample's nonzero inputs alone, for layers of [`OUTPUTS`].
/// Returns `false` for other layers, when more than a quarter of the first block of `x` (4,096
/// values) is nonzero (dense inputs, on which the tiles of the affine kernel are faster) or when a
/// weight is infinite or NaN; `z` is then to be overwritten by the affine kernel (it may hold sums
/// of this one).
pub(crate) fn affine_of_nonzero_inputs(weights: &[f32], bias: &[f32], x: &[f32], batch: usize, z: &mut [f32]) -> bool {
    OUTPUTS.contains(&bias.len()) && sums_of_nonzero_inputs(weights, bias, x, batch, z)
}

/// [`affine_of_nonzero_inputs`] for a layer of any number of outputs.
fn sums_of_nonzero_inputs(weights: &[f32], bias: &[f32], x: &[f32], batch: usize, z: &mut [f32]) -> bool {
    let outputs = bias.len();
    let inputs = weights.len() / outputs.max(1);
    assert!(x.len() == inputs * batch && z.len() == outputs * batch && weights.len() == outputs * inputs);
    // Dense inputs (a hidden layer's) pay one block of `x`.
    if batch == 0 || dense_from_start(x) {
        return false;
    }
    let mut listed = vec![0; inputs.div_ceil(64)];
    let lanes = pulp::Arch::new().dispatch(Lanes);
    let registers = if lanes >= 16 { BAND_VECTORS } else { BAND_VECTORS / 2 };
    let mut first = 0;
    while first < outputs {
        let left = outputs - first;
        let band = Band { weights, bias, outputs, first, x, listed: &mut listed, z: &mut *z };
        if left >= registers * lanes {
            if registers == BAND_VECTORS {
                pulp::Arch::new().dispatch(Whole::<BAND_VECTORS>(band));
            } else {
                pulp::Arch::new().dispatch(Whole::<{ BAND_VECTORS / 2 }>(band));
            }
            first += registers * lanes;
        } else {
            // The last outputs, in the fewest vectors that hold them (a power of two), the last
            // partly filled; vectors past the layer's outputs compute zeros that are not stored.
            let vectors = left.div_ceil(lanes).next_power_of_two();
            match (vectors, left == vectors * lanes) {
                (1, true) => pulp::Arch::new().dispatch(Whole::<1>(band)),
                (2, true) => pulp::Arch::new().dispatch(Whole::<2>(band)),
                (4, true) => pulp::Arch::new().dispatch(Whole::<4>(band)),
                (1, false) => pulp::Arch::new().dispatch(Tail::<1>(band)),
                (2, false) => pulp::Arch::new().dispatch(Tail::<2>(band)),
                (4, false) => pulp::Arch::new().dispatch(Tail::<4>(band)),
                // Fewer than a band holds: at most 8 vectors.
                _ => pulp::Arch::new().dispatch(Tail::<8>(band)),
            }
            first = outputs;
        }
    }
    pulp::Arch::new().dispatch(FiniteWeights { listed: &listed, weights, outputs, z })
}

/// Whether every weight is finite, given the sums: `z` all finite, and the weights of the inputs
/// that are zero in every sample (which no sum has met) all finite. `listed` holds the inputs
/// nonzero in some sample as bits (input `k` is bit `k % 64` of word `k / 64`).
///
/// A weight `W[i, k]` that is infinite or NaN, where input `k` is nonzero in sample `j`, makes
/// `z[i, j]` infinite or NaN: `fma(∞, x, s)` is `±∞` or NaN for a nonzero `x`, and no finite term
/// brings a sum back from there. Sums that overflow with finite weights also fail the test and
/// go to the affine kernel, which gives them the same bits.
struct FiniteWeights<'a> {
    listed: &'a [u64],
    weights: &'a [f32],
    outputs: usize,
    z: &'a [f32],
}

impl WithSimd for FiniteWeights<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> bool {
        let FiniteWeights { listed, weights, outputs, z } = self;
        let inputs = weights.len() / outputs;
        let unlisted = listed.iter().enumerate().flat_map(|(word, &bits)| SetBits(!bits).map(move |i| word * 64 + i));
        all_finite(z)
            && unlisted.take_while(|&k| k < inputs).all(|k| all_finite(&weights[k * outputs..(k + 1) * outputs]))
    }
}

/// Outputs `first..` of every sample: as many as `V` vectors hold, or the layer's last ones.
struct Band<'a> {
    weights: &'a [f32],
    bias: &'a [f32],
    outputs: usize,
    first: usize,
    x: &'a [f32],
    /// The inputs nonzero in some sample, as bits, filled in as the band finds them.
    listed: &'a mut [u64],
    z: &'a mut [f32],
}

/// A band of exactly `V` whole vectors: its row count is a constant of the compiled loop.
struct Whole<'a, const V: usize>(Band<'a>);

/// The layer's last outputs, fewer than `V` vectors hold.
struct Tail<'a, const V: usize>(Band<'a>);

impl<const V: usize> WithSimd for Whole<'_, V> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        self.0.sums::<S, V>(simd, V * S::F32_LANES);
    }
}

impl<const V: usize> WithSimd for Tail<'_, V> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let rows = self.0.outputs - self.0.first;
        self.0.sums::<S, V>(simd, rows);
    }
}

/// Words of 64 inputs in a block of the smallest band (one vector of one lane): `BLOCK_VALUES`
/// inputs.
const BLOCK_WORDS: usize = BLOCK_VALUES / 64;

impl Band<'_> {
    /// `z[i, j] = b[i] + Σₖ W[i, k] x[k, j]` over the nonzero `x[k, j]`, for the `rows` outputs
    /// from `first` (`rows ≤ V` vectors), a block of inputs at a time: the block's weights stay
    /// in the L1 cache while every sample's nonzero inputs in it go by, each sample's sums in
    /// registers for the block and in `z` between blocks. A sample's nonzero inputs are found 64
    /// at a time, as the bits of a mask.
    #[inline(always)]
    fn sums<S: Simd, const V: usize>(self, simd: S, rows: usize) {
        let Band { weights, bias, outputs, first, x, listed, z } = self;
        let lanes = S::F32_LANES;
        let part = |v: usize| (v * lanes).min(rows)..((v + 1) * lanes).min(rows);
        let zero = simd.splat_f32s(0.0);
        let inputs = weights.len() / outputs;
        // Every sum starts as `b + 0` (a `-0` bias becomes `+0`, as the affine kernel's final
        // `z + 0` makes it).
        let bias = &bias[first..first + rows];
        for column in z.chunks_exact_mut(outputs) {
            let column = &mut column[first..first + rows];
            for v in 0..V {
                let part = part(v);
                if !part.is_empty() {
                    store(simd, &mut column[part.clone()], simd.add_f32s(load(simd, &bias[part]), zero));
                }
            }
        }
        // A whole number of words: `V · lanes` is a power of two of at most 128 values.
        let block_words = (BLOCK_WORDS / (V * lanes)).max(1);
        let mut masks = [0u64; BLOCK_WORDS];
        for block_start in (0..listed.len()).step_by(block_words) {
            let words = block_start..(block_start + block_words).min(listed.len());
            for (sample, column) in x.chunks_exact(inputs).zip(z.chunks_exact_mut(outputs)) {
                let mut any = 0;
                for (word, mask) in words.clone().zip(&mut masks) {
                    *mask = nonzero_mask(&sample[word * 64..((word + 1) * 64).min(inputs)]);
                    any |= *mask;
                }
                if any == 0 {
                    continue;
                }
                let column = &mut column[first..first + rows];
                let mut sums: [S::f32s; V] = std::array::from_fn(|v| load(simd, &column[part(v)]));
                for (word, &mask) in words.clone().zip(&masks) {
                    listed[word] |= mask;
                    for i in SetBits(mask) {
                        let k = word * 64 + i;
                        let w = &weights[k * outputs + first..k * outputs + first + rows];
                        let x_kj = simd.splat_f32s(sample[k]);
                        for (v, s) in sums.iter_mut().enumerate() {
                            *s = simd.mul_add_e_f32s(load(simd, &w[part(v)]), x_kj, *s);
                        }
                    }
                }
                for (v, &s) in sums.iter().enumerate() {
                    let part = part(v);
                    if !part.is_empty() {
                        store(simd, &mut column[part], simd.add_f32s(s, zero));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::affine::tests::{reference, values};
    use crate::affine::{Columns, affine, affine_strided};
    use crate::test_cases::bits;

    /// Inputs of which about one in `one_in` is nonzero, some of them `-0`.
    fn sparse_inputs(n: usize, one_in: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let hash = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                if hash.is_multiple_of(one_in as u64) {
                    ((i as f32) * 0.37).sin()
                } else if hash % 7 == 1 {
                    -0.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The affine kernel's tiles alone (`affine` itself may take this path).
    fn tiles(w: &[f32], b: &[f32], x: &[f32], batch: usize) -> Vec<f32> {
        let inputs = w.len() / b.len();
        let mut z = vec![f32::NAN; b.len() * batch];
        affine_strided(w, b, Columns { values: x, stride: inputs }, batch, &mut z, b.len());
        z
    }

    /// Whole bands, tails of every size, one sample and many, the recipes' layers.
    fn check(outputs: usize, inputs: usize, batch: usize, one_in: usize) {
        let (w, b, x) = (values(outputs * inputs, 1.0), values(outputs, 2.0), sparse_inputs(inputs * batch, one_in));
        let mut sparse = vec![f32::NAN; outputs * batch];
        let taken = sums_of_nonzero_inputs(&w, &b, &x, batch, &mut sparse);
        // A few inputs may start more than a quarter nonzero.
        assert_eq!(taken, !dense_from_start(&x), "{outputs} × {inputs}");
        if !taken {
            return;
        }
        assert_eq!(bits(&sparse), bits(&tiles(&w, &b, &x, batch)), "{outputs} × {inputs}, batch {batch}");
        for (got, want) in sparse.iter().zip(reference(&w, &b, &x, batch)) {
            assert!((f64::from(*got) - want).abs() < 1e-4 * (1.0 + inputs as f64), "{got} vs {want}");
        }
    }

    #[test]
    fn gives_the_bits_of_the_affine_kernel_on_the_recipes_layers() {
        for (outputs, inputs, batch) in [(128, 784, 64), (128, 784, 16), (256, 784, 64), (100, 4320, 50), (512, 784, 3)]
        {
            check(outputs, inputs, batch, 5);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn gives_the_bits_of_the_affine_kernel(
            outputs in 1usize..300, inputs in 1usize..200, batch in 1usize..70, one_in in 3usize..40,
        ) {
            check(outputs, inputs, batch, one_in);
        }
    }

    #[test]
    fn zero_sums_are_positive_zeros() {
        // A sample with no nonzero input and a bias of -0: the sum is stored as +0.
        let (w, b, x) = (vec![1.0; 6], vec![-0.0; 2], vec![0.0, -0.0, 0.0]);
        let mut z = vec![f32::NAN; 2];
        assert!(sums_of_nonzero_inputs(&w, &b, &x, 1, &mut z));
        assert_eq!(bits(&z), [0, 0]);
    }

    #[test]
    fn leaves_dense_inputs_and_infinite_weights_to_the_affine_kernel() {
        let (outputs, inputs, batch) = (20, 40, 4);
        let (w, b) = (values(outputs * inputs, 1.0), values(outputs, 2.0));
        let mut z = vec![f32::NAN; outputs * batch];
        assert!(!sums_of_nonzero_inputs(&w, &b, &values(inputs * batch, 3.0), batch, &mut z));
        let (w, b) = (values(300 * inputs, 1.0), values(300, 2.0));
        let mut z = vec![f32::NAN; 300 * batch];
        assert!(!affine_of_nonzero_inputs(&w, &b, &sparse_inputs(inputs * batch, 5), batch, &mut z), "300 outputs");
        assert!(z.iter().all(|v| v.is_nan()), "nothing written");
    }

    #[test]
    fn weights_that_are_not_finite_give_the_affine_kernels_nans() {
        // Inputs 3 and 70 are nonzero in some sample, 5 and 99 in none; 130 inputs, so that the
        // last word of the listed inputs is partly past them.
        let (outputs, inputs, batch) = (128, 130, 6);
        let mut x = vec![0.0; inputs * batch];
        for j in 0..batch {
            for k in (0..inputs).filter(|k| (k + j) % 9 == 0 || *k == 3 || *k == 70) {
                if k != 5 && k != 99 {
                    x[j * inputs + k] = 0.25 + j as f32;
                }
            }
        }
        x[2 * inputs + 3] = 0.0;
        let b = values(outputs, 2.0);
        let finite = values(outputs * inputs, 1.0);
        let mut z = vec![f32::NAN; outputs * batch];
        assert!(sums_of_nonzero_inputs(&finite, &b, &x, batch, &mut z), "finite weights take this path");
        for (k, bad) in
            [(3, f32::INFINITY), (70, f32::NAN), (5, f32::NEG_INFINITY), (99, f32::NAN), (129, f32::INFINITY)]
        {
            for i in [0, 17, outputs - 1] {
                let mut w = finite.clone();
                w[k * outputs + i] = bad;
                let mut z = vec![f32::NAN; outputs * batch];
                assert!(!sums_of_nonzero_inputs(&w, &b, &x, batch, &mut z), "W[{i}, {k}] = {bad}");
                let mut z = vec![f32::NAN; outputs * batch];
                affine(&w, &b, &x, batch, &mut z);
                assert_eq!(bits(&z), bits(&tiles(&w, &b, &x, batch)), "W[{i}, {k}] = {bad}");
                assert!(z[i..].iter().step_by(outputs).all(|v| v.is_nan() || v.is_infinite()));
            }
        }
        // Finite weights whose sums overflow: the same bits as the affine kernel's, infinite.
        let mut w = finite.clone();
        w[3 * outputs..4 * outputs].fill(f32::MAX);
        let mut z = vec![f32::NAN; outputs * batch];
        affine(&w, &b, &x, batch, &mut z);
        assert_eq!(bits(&z), bits(&tiles(&w, &b, &x, batch)));
        assert!(z[outputs..2 * outputs].iter().all(|v| v.is_infinite()), "sample 1: f32::MAX × 1.25");
    }
}
