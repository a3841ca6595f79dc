//! `∂W = δ Xᵀ` over the nonzero inputs only, for layers whose inputs are mostly zero (images,
//! or what a ReLU and pooling leave), and `∂X = Wᵀ δ` at those inputs alone.
//!
//! 81% of an MNIST image's pixels are zero, and a term `δ · 0` adds nothing to `∂W`. Column `k`
//! of `∂W` (the gradient of the weights leaving input `k`) is `Σⱼ x[k, j] · δⱼ` over the
//! samples `j` where input `k` is nonzero. The samples of each input are listed first
//! ([`NonzeroByInput`]); then, for a block of outputs at a time, each column's sum is kept in
//! registers while its samples go by, and written once. The block's rows of `δ` are first copied
//! side by side, so that they stay in the L1 cache: in place, 64 samples of 512 outputs lie 2 KB
//! apart, and the cache would keep only a few of them.
//!
//! A layer on dense inputs (hidden layers, mostly) does not pass the test of
//! [`weight_gradient_of_nonzero_inputs`] and keeps `gemm`.
//!
//! A layer behind a ReLU needs `∂X` only where its input is nonzero (everywhere else the ReLU's
//! derivative multiplies it by zero): [`gradients_at_nonzero_inputs`] computes it there alone, from
//! the same list. pytorch-example's dense layer sees 11% of its 9,216 inputs nonzero.

use pulp::{Simd, WithSimd};

use crate::vector_slices::{all_finite, dense_from_start, for_each_nonzero, store};

/// Vectors of outputs summed at once, in registers (128 outputs with AVX-512, 64 with AVX2):
/// with the broadcast input, they fill AVX2's 16 registers.
const BLOCK_VECTORS: usize = 8;

/// `f32` values in a cache line of 64 bytes.
const CACHE_LINE_VALUES: usize = 16;

/// The nonzero inputs of a batch, input by input: for input `k`, the `(sample, value)` pairs
/// `entries[starts[k]..ends[k]]`, samples in increasing order.
#[derive(Default)]
pub(crate) struct NonzeroByInput {
    starts: Vec<u32>,
    ends: Vec<u32>,
    entries: Vec<(u32, f32)>,
}

impl NonzeroByInput {
    /// Lists the nonzero values of `x` (`columns` samples of `inputs` values, one after the
    /// other) input by input, and returns how many there are; or `None`, listing nothing, when
    /// more than a quarter of `x` is nonzero (the full products are then faster). `+0` and `-0`
    /// are left out.
    ///
    /// Two passes along the samples as they lie in memory: the first counts each input's
    /// nonzero values, which places each input's list; the second visits each sample's nonzero
    /// values alone (found 64 at a time as the bits of a mask) and appends each to its input's
    /// list. Reading down each input's values instead (one sample's row apart) made a chain of
    /// dependent steps through every value, zeros included, and took a fifth of a training
    /// step of pytorch-example's dense layer.
    pub(crate) fn list(&mut self, x: &[f32], inputs: usize, columns: usize) -> Option<usize> {
        let x = &x[..inputs * columns];
        pulp::Arch::new().dispatch(List { by_input: self, x, inputs })
    }

    /// The `(sample, value)` pairs of input `k`.
    fn of_input(&self, k: usize) -> &[(u32, f32)] {
        &self.entries[self.starts[k] as usize..self.ends[k] as usize]
    }
}

/// The arguments of [`NonzeroByInput::list`], for `pulp` to compile its loops for the
/// processor's vectors.
struct List<'a> {
    by_input: &'a mut NonzeroByInput,
    x: &'a [f32],
    inputs: usize,
}

impl WithSimd for List<'_> {
    type Output = Option<usize>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> Option<usize> {
        let List { by_input, x, inputs } = self;
        let NonzeroByInput { starts, ends, entries } = by_input;
        // The counts, in `ends` for now.
        ends.clear();
        ends.resize(inputs, 0);
        for sample in x.chunks_exact(inputs) {
            ends.iter_mut().zip(sample).for_each(|(count, v)| *count += u32::from(v.to_bits() << 1 != 0));
        }
        if ends.iter().map(|&count| count as usize).sum::<usize>() > x.len() / 4 {
            return None;
        }
        starts.clear();
        let mut total = 0;
        for end in ends.iter_mut() {
            starts.push(total);
            total += *end;
            // From here on, the next free slot of the input's list.
            *end = total - *end;
        }
        entries.resize(total as usize, (0, 0.0));
        for (j, sample) in x.chunks_exact(inputs).enumerate() {
            for_each_nonzero(sample, |k, value| {
                let next = &mut ends[k];
                entries[*next as usize] = (j as u32, value);
                *next += 1;
            });
        }
        Some(total as usize)
    }
}

/// The buffers of [`weight_gradient_of_nonzero_inputs`], reused from call to call.
#[derive(Default)]
pub(crate) struct Buffers {
    by_input: NonzeroByInput,
    packed_delta: Vec<f32>,
}

/// `∂W = δ Xᵀ` (`δ`: `columns` columns of `outputs` values; `X`: `columns` samples of `inputs`
/// values; `∂W`: `outputs × inputs` column-major, overwritten) from the nonzero inputs alone.
/// Returns `false`, having written nothing, when more than a quarter of `X` is nonzero, or of its
/// first block (then `gemm`, which runs closer to the processor's peak, is faster; `∂W` has the
/// same bits either way), or when `δ` holds an infinity or a NaN (which must reach every column of
/// `∂W`, as `∞ · 0` would).
pub(crate) fn weight_gradient_of_nonzero_inputs(
    delta: &[f32],
    x: &[f32],
    (outputs, inputs, columns): (usize, usize, usize),
    weight_grad: &mut [f32],
    buffers: &mut Buffers,
) -> bool {
    assert!(delta.len() >= outputs * columns && x.len() >= inputs * columns && weight_grad.len() == outputs * inputs);
    let (delta, x) = (&delta[..outputs * columns], &x[..inputs * columns]);
    // A layer on dense inputs (pytorch-example's 9216 → 128) pays one block of `x`, not the
    // listing.
    if dense_from_start(x) || !all_finite(delta) || buffers.by_input.list(x, inputs, columns).is_none() {
        return false;
    }
    pulp::Arch::new().dispatch(WeightGradient { delta, outputs, weight_grad, buffers });
    true
}

/// The arguments of [`weight_gradient_of_nonzero_inputs`], for `pulp` to run with the
/// processor's instruction set.
struct WeightGradient<'a> {
    delta: &'a [f32],
    outputs: usize,
    weight_grad: &'a mut [f32],
    buffers: &'a mut Buffers,
}

impl WithSimd for WeightGradient<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let WeightGradient { delta, outputs, weight_grad, buffers } = self;
        let Buffers { by_input, packed_delta } = buffers;
        let width = BLOCK_VECTORS * S::F32_LANES;
        let columns = delta.len() / outputs.max(1);
        for first in (0..outputs).step_by(width) {
            let rows = width.min(outputs - first);
            // The block's rows of δ, sample after sample, padded with zeros to whole vectors.
            // Aligned to a cache line: a vector that straddles two lines is read twice, and the
            // kernel ran 30% slower (512 × 784 over 64 MNIST images: 134-183 µs against 238 µs).
            packed_delta.clear();
            packed_delta.resize(columns * width + CACHE_LINE_VALUES, 0.0);
            let aligned = packed_delta.as_ptr().align_offset(64).min(CACHE_LINE_VALUES);
            let packed_delta = &mut packed_delta[aligned..aligned + columns * width];
            for (packed, column) in packed_delta.chunks_exact_mut(width).zip(delta.chunks_exact(outputs)) {
                packed[..rows].copy_from_slice(&column[first..first + rows]);
            }
            let (packed, _) = S::as_simd_f32s(packed_delta);
            for (k, column) in weight_grad.chunks_exact_mut(outputs).enumerate() {
                // ∂W[:, k] = Σⱼ x[k, j] · δⱼ, over the samples j where x[k, j] ≠ 0
                let mut sums = [simd.splat_f32s(0.0); BLOCK_VECTORS];
                for &(j, x_kj) in by_input.of_input(k) {
                    let delta_j = &packed[j as usize * BLOCK_VECTORS..][..BLOCK_VECTORS];
                    let x_kj = simd.splat_f32s(x_kj);
                    for (sum, &d) in sums.iter_mut().zip(delta_j) {
                        *sum = simd.mul_add_e_f32s(d, x_kj, *sum);
                    }
                }
                let column = &mut column[first..first + rows];
                match S::as_mut_simd_f32s(column) {
                    (whole, []) if whole.len() == BLOCK_VECTORS => whole.copy_from_slice(&sums),
                    _ => {
                        for (part, sum) in column.chunks_mut(S::F32_LANES).zip(sums) {
                            store(simd, part, sum);
                        }
                    }
                }
            }
        }
    }
}

/// `∂X = Wᵀ δ` at the nonzero inputs of `X` alone, zero elsewhere (`W`: `outputs × inputs`
/// column-major; `δ` and `∂X` as in [`weight_gradient_of_nonzero_inputs`]), for a layer whose
/// input gradient is read only where its input is nonzero (behind a ReLU, see
/// `Network::zero_inputs_stop_gradients`); and, from the same list of nonzero inputs, `∂W` when
/// `weight_grad` is given. Each value of `∂X` is the dot product of a column of `W` with a
/// sample's `δ`, in a fixed order: the same bits for any batch that holds the sample. Returns
/// `false`, having written nothing, when more than a quarter of `X` is nonzero.
pub(crate) fn gradients_at_nonzero_inputs(
    weights: &[f32],
    delta: &[f32],
    x: &[f32],
    (outputs, inputs, columns): (usize, usize, usize),
    weight_grad: Option<&mut [f32]>,
    input_grad: &mut [f32],
    buffers: &mut Buffers,
) -> bool {
    assert!(weights.len() == outputs * inputs && delta.len() >= outputs * columns);
    assert!(x.len() >= inputs * columns && input_grad.len() >= inputs * columns);
    let delta = &delta[..outputs * columns];
    if buffers.by_input.list(x, inputs, columns).is_none() {
        return false;
    }
    if let Some(weight_grad) = weight_grad {
        assert_eq!(weight_grad.len(), outputs * inputs);
        pulp::Arch::new().dispatch(WeightGradient { delta, outputs, weight_grad, buffers: &mut *buffers });
    }
    let input_grad = &mut input_grad[..inputs * columns];
    input_grad.fill(0.0);
    let by_input = &buffers.by_input;
    pulp::Arch::new().dispatch(InputGradient { weights, delta, outputs, inputs, by_input, input_grad });
    true
}

/// The `∂X` of [`gradients_at_nonzero_inputs`], for `pulp`.
struct InputGradient<'a> {
    weights: &'a [f32],
    delta: &'a [f32],
    outputs: usize,
    inputs: usize,
    by_input: &'a NonzeroByInput,
    input_grad: &'a mut [f32],
}

impl WithSimd for InputGradient<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let InputGradient { weights, delta, outputs, inputs, by_input, input_grad } = self;
        for (k, w) in weights.chunks_exact(outputs).enumerate() {
            let entries = by_input.of_input(k);
            // Four samples at a time: four independent sums hide the latency of the multiply-adds,
            // and each vector of W[:, k] is loaded once for the four.
            // A last group of fewer than four repeats its last sample, whose sums are not kept.
            for group in entries.chunks(4) {
                let samples: [usize; 4] = std::array::from_fn(|i| group[i.min(group.len() - 1)].0 as usize);
                let deltas = samples.map(|j| &delta[j * outputs..(j + 1) * outputs]);
                // ∂X[k, j] = W[:, k] · δⱼ
                for (&(j, _), sum) in group.iter().zip(dot4(simd, w, deltas)) {
                    input_grad[j as usize * inputs + k] = sum;
                }
            }
        }
    }
}

/// `[a · b₀, a · b₁, a · b₂, a · b₃]`, vector lanes first, then the tail, in a fixed order.
#[inline(always)]
fn dot4<S: Simd>(simd: S, a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    let (a_head, a_tail) = S::as_simd_f32s(a);
    let heads = b.map(|b| S::as_simd_f32s(b).0);
    let mut sums = [simd.splat_f32s(0.0); 4];
    for (i, &a) in a_head.iter().enumerate() {
        for (sum, head) in sums.iter_mut().zip(&heads) {
            *sum = simd.mul_add_e_f32s(a, head[i], *sum);
        }
    }
    let tail_start = a.len() - a_tail.len();
    let mut totals = sums.map(|sum| simd.reduce_sum_f32s(sum));
    for (total, b) in totals.iter_mut().zip(b) {
        for (x, y) in a_tail.iter().zip(&b[tail_start..]) {
            *total += x * y;
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::test_cases::uniform;
    use crate::vector_slices::few_nonzero;

    /// `Σⱼ δ[i, j] x[k, j]` in f64, the definition.
    fn reference(
        delta: &[f32],
        x: &[f32],
        (outputs, inputs, columns): (usize, usize, usize),
        i: usize,
        k: usize,
    ) -> f64 {
        (0..columns).map(|j| f64::from(delta[j * outputs + i]) * f64::from(x[j * inputs + k])).sum()
    }

    /// An input from a uniform value: nonzero one time in eight, the zeros `+0` or `-0`.
    fn sparse(v: f32) -> f32 {
        if v > 0.75 {
            v
        } else if v < 0.0 {
            -0.0
        } else {
            0.0
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any shape, whole blocks of outputs or not, with `+0` and `-0` inputs left out.
        #[test]
        fn weight_gradients_of_sparse_inputs_match_the_definition(
            outputs in 1usize..300,
            inputs in 1usize..40,
            columns in 1usize..70,
            seed in any::<u64>(),
        ) {
            let mut next = uniform(seed);
            let delta: Vec<f32> = (0..outputs * columns).map(|_| next()).collect();
            let x: Vec<f32> = (0..inputs * columns).map(|_| sparse(next())).collect();
            let mut weight_grad = vec![f32::NAN; outputs * inputs];
            let dims = (outputs, inputs, columns);
            let nonzero = x.iter().filter(|v| **v != 0.0).count();
            let done = weight_gradient_of_nonzero_inputs(&delta, &x, dims, &mut weight_grad, &mut Buffers::default());
            prop_assert_eq!(done, 4 * nonzero <= inputs * columns);
            if done {
                for k in 0..inputs {
                    for i in 0..outputs {
                        let (got, want) = (weight_grad[k * outputs + i], reference(&delta, &x, dims, i, k));
                        prop_assert!((f64::from(got) - want).abs() < 1e-5 * (1.0 + want.abs()), "[{}, {}]: {} vs {}", i, k, got, want);
                        // An input zero in every sample has a column of +0.
                        prop_assert!(got != 0.0 || got.is_sign_positive());
                    }
                }
            }
        }

        /// `∂X` at the nonzero inputs is `Wᵀ δ` there and `+0` elsewhere, and `∂W` from the same
        /// list is the definition, for any shape.
        #[test]
        fn gradients_at_nonzero_inputs_match_the_definition(
            outputs in 1usize..300,
            inputs in 1usize..40,
            columns in 1usize..70,
            with_weights in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut next = uniform(seed);
            let weights: Vec<f32> = (0..outputs * inputs).map(|_| next()).collect();
            let delta: Vec<f32> = (0..outputs * columns).map(|_| next()).collect();
            let x: Vec<f32> = (0..inputs * columns).map(|_| sparse(next())).collect();
            let dims = (outputs, inputs, columns);
            let mut weight_grad = vec![f32::NAN; outputs * inputs];
            let mut input_grad = vec![f32::NAN; inputs * columns];
            let mut buffers = Buffers::default();
            let weight_grad_given = with_weights.then_some(&mut weight_grad[..]);
            let listed = gradients_at_nonzero_inputs(&weights, &delta, &x, dims, weight_grad_given, &mut input_grad, &mut buffers);
            prop_assert_eq!(listed, few_nonzero(&x));
            if !listed {
                prop_assert!(input_grad.iter().chain(&weight_grad).all(|v| v.is_nan()), "written though not listed");
                return Ok(());
            }
            for j in 0..columns {
                for k in 0..inputs {
                    let got = input_grad[j * inputs + k];
                    if x[j * inputs + k] == 0.0 {
                        prop_assert!(got == 0.0 && got.is_sign_positive(), "∂X[{}, {}] = {} at a zero input", k, j, got);
                    } else {
                        let want: f64 = (0..outputs)
                            .map(|o| f64::from(weights[k * outputs + o]) * f64::from(delta[j * outputs + o]))
                            .sum();
                        prop_assert!((f64::from(got) - want).abs() < 1e-5 * (1.0 + want.abs()), "∂X[{}, {}]: {} vs {}", k, j, got, want);
                    }
                }
            }
            for k in 0..inputs {
                for i in 0..outputs {
                    let got = weight_grad[k * outputs + i];
                    if with_weights {
                        let want = reference(&delta, &x, dims, i, k);
                        prop_assert!((f64::from(got) - want).abs() < 1e-5 * (1.0 + want.abs()), "∂W[{}, {}]: {} vs {}", i, k, got, want);
                    } else {
                        prop_assert!(got.is_nan(), "∂W written though not asked for");
                    }
                }
            }
        }
    }

    #[test]
    fn dense_inputs_and_infinite_deltas_are_left_to_gemm() {
        let (outputs, inputs, columns) = (200, 10, 8);
        let mut buffers = Buffers::default();
        let mut weight_grad = vec![f32::NAN; outputs * inputs];
        let delta = vec![0.5; outputs * columns];
        let dense = vec![1.0; inputs * columns];
        assert!(!weight_gradient_of_nonzero_inputs(
            &delta,
            &dense,
            (outputs, inputs, columns),
            &mut weight_grad,
            &mut buffers
        ));
        let mut sparse = vec![0.0; inputs * columns];
        sparse[3] = 1.0;
        assert!(weight_gradient_of_nonzero_inputs(
            &delta,
            &sparse,
            (outputs, inputs, columns),
            &mut weight_grad,
            &mut buffers
        ));
        assert!(weight_grad.iter().all(|&g| g == 0.0 || g == 0.5));
        // ∞ · 0 is NaN: a column of zero inputs must see it.
        let mut infinite = delta.clone();
        infinite[7] = f32::INFINITY;
        assert!(!weight_gradient_of_nonzero_inputs(
            &infinite,
            &sparse,
            (outputs, inputs, columns),
            &mut weight_grad,
            &mut buffers
        ));
    }

    #[test]
    fn inputs_list_their_nonzero_samples_in_order() {
        // 5 of 24 values nonzero: at most a quarter, listed.
        let mut x = [0.0; 24];
        x[..15].copy_from_slice(&[0.0, 1.0, -0.0, 2.0, 0.0, 3.0, 4.0, 5.0, 0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut by_input = NonzeroByInput::default();
        assert_eq!(by_input.list(&x, 3, 8), Some(5));
        assert_eq!(by_input.of_input(0), [(1, 2.0), (2, 4.0)]);
        assert_eq!(by_input.of_input(1), [(0, 1.0), (2, 5.0)]);
        assert_eq!(by_input.of_input(2), [(1, 3.0)]);
        // A second, smaller batch reuses the buffers.
        assert_eq!(by_input.list(&x[9..], 3, 5), Some(0));
        assert!((0..3).all(|k| by_input.of_input(k).is_empty()));
        // More than a quarter.
        assert_eq!(by_input.list(&x[..9], 3, 3), None);
    }
}
