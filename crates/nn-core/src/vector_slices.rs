//! Slices of `f32` as the processor's vectors: how many lanes a vector has, one vector loaded
//! from or stored into a slice that may be shorter, and the element-wise checks that run in
//! vectors (which inputs are nonzero, whether too many of them are for a pass over the nonzero
//! ones alone, whether all values are finite). The kernels of the layers share them.

use pulp::{Simd, WithSimd};

/// Lanes of the processor's widest vector of `f32`.
pub(crate) struct Lanes;

impl WithSimd for Lanes {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> usize {
        S::F32_LANES
    }
}

/// Makes `nonzero[k]` nonzero where input `k` (of `len`) is nonzero in at least one of
/// `samples`, and zero where it is `+0` or `-0` in all of them. The loop runs in vectors (and
/// with the caller's instruction set).
#[inline(always)]
pub(crate) fn mark_nonzero<'a>(nonzero: &mut Vec<u32>, len: usize, samples: impl IntoIterator<Item = &'a [f32]>) {
    nonzero.clear();
    nonzero.resize(len, 0);
    for sample in samples {
        // The bits shifted left by one: zero for +0 and -0 only.
        nonzero.iter_mut().zip(sample).for_each(|(any, x)| *any |= x.to_bits() << 1);
    }
}

/// Calls `visit(index, value)` for each value of `values` that is neither `+0` nor `-0`, in
/// order. Each block of 64 values becomes the bits of a mask and only its set bits are visited:
/// a test per value would branch one way or the other at random on an image's pixels.
#[inline(always)]
pub(crate) fn for_each_nonzero(values: &[f32], mut visit: impl FnMut(usize, f32)) {
    for (block, values) in values.chunks(64).enumerate() {
        for i in SetBits(nonzero_mask(values)) {
            visit(block * 64 + i, values[i]);
        }
    }
}

/// The positions of the set bits of a mask, lowest first: each costs one count of trailing
/// zeros and clears its bit, so a mask with few bits set costs little whatever its width.
pub(crate) struct SetBits(pub(crate) u64);

impl Iterator for SetBits {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        (self.0 != 0).then(|| {
            let i = self.0.trailing_zeros() as usize;
            self.0 &= self.0 - 1;
            i
        })
    }
}

/// The bits of `values` (up to 64) that are neither `+0` nor `-0`, the first the lowest.
#[inline(always)]
pub(crate) fn nonzero_mask(values: &[f32]) -> u64 {
    // The bits shifted left by one: zero for +0 and -0 only.
    let nonzero = |v: f32| v.to_bits() << 1 != 0;
    match <&[f32; 64]>::try_from(values) {
        // A whole word: a loop of known length, which the compiler turns into vector compares.
        Ok(values) => (0..64).fold(0, |mask, i| mask | (u64::from(nonzero(values[i])) << i)),
        Err(_) => values.iter().enumerate().fold(0, |mask, (i, &v)| mask | (u64::from(nonzero(v)) << i)),
    }
}

/// Whether no value of `values` is infinite or NaN (exponent bits all ones), in one vectorised
/// pass with no early exit.
#[inline(always)]
pub(crate) fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    !values.iter().fold(false, |any, v| any | (v.to_bits() & EXPONENT == EXPONENT))
}

/// Values in a block of the counts of nonzero values.
const COUNT_BLOCK: usize = 4096;

/// Whether the first block of `values` (4096 of them, or all) is more than a quarter nonzero:
/// dense values (a hidden layer's) are turned away after one block, before a listing that would
/// find out only after a quarter of them. In vectors, with the processor's instruction set.
pub(crate) fn dense_from_start(values: &[f32]) -> bool {
    pulp::Arch::new().dispatch(DenseFromStart(values))
}

/// The argument of [`dense_from_start`], for `pulp`.
struct DenseFromStart<'a>(&'a [f32]);

impl WithSimd for DenseFromStart<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> bool {
        let block = &self.0[..self.0.len().min(COUNT_BLOCK)];
        count_nonzero(block) > block.len() / 4
    }
}

/// Whether at most a quarter of `values` are nonzero: the rule by which the listings take a
/// batch (they count as they list), as the tests state it.
#[cfg(test)]
pub(crate) fn few_nonzero(values: &[f32]) -> bool {
    values.chunks(COUNT_BLOCK).map(count_nonzero).sum::<usize>() <= values.len() / 4
}

/// How many values of a block (at most [`COUNT_BLOCK`]) are neither `+0` nor `-0`, in one
/// vectorised pass: counted in 32 bits, 16 to a vector with AVX-512 where counts of 64 bits go 8.
#[inline(always)]
fn count_nonzero(block: &[f32]) -> usize {
    debug_assert!(block.len() <= COUNT_BLOCK);
    block.iter().fold(0u32, |count, v| count + u32::from(v.to_bits() << 1 != 0)) as usize
}

/// One vector from `values` (at most one vector long; missing lanes read as zero).
#[inline(always)]
pub(crate) fn load<S: Simd>(simd: S, values: &[f32]) -> S::f32s {
    match S::as_simd_f32s(values) {
        ([vector], []) => *vector,
        _ => simd.partial_load_f32s(values),
    }
}

/// Writes the first `values.len()` lanes of `vector` into `values`.
#[inline(always)]
pub(crate) fn store<S: Simd>(simd: S, values: &mut [f32], vector: S::f32s) {
    match S::as_mut_simd_f32s(values) {
        ([slot], []) => *slot = vector,
        _ => simd.partial_store_f32s(values, vector),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value but `+0` and `-0` is visited, subnormals and NaNs included, in order, across
    /// whole words of 64 and a partial last one.
    #[test]
    fn nonzero_values_are_visited_in_order() {
        for len in [0, 1, 63, 64, 65, 128, 200] {
            let values: Vec<f32> = (0..len)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::from_bits(1),
                    3 => f32::NAN,
                    4 => -1.5,
                    _ => 0.0,
                })
                .collect();
            let mut visited = Vec::new();
            for_each_nonzero(&values, |i, v| visited.push((i, v.to_bits())));
            let expected: Vec<_> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.to_bits() << 1 != 0)
                .map(|(i, v)| (i, v.to_bits()))
                .collect();
            assert_eq!(visited, expected, "{len} values");
            for word in values.chunks(64) {
                let mask = nonzero_mask(word);
                assert_eq!(mask.count_ones() as usize, word.iter().filter(|v| v.to_bits() << 1 != 0).count());
            }
        }
    }

    #[test]
    fn dense_values_are_turned_away_after_their_first_block() {
        // 10,000 values, the nonzero ones first; -0 counts as zero.
        let mut values = vec![-0.0; 10_000];
        values[..1_024].fill(0.5);
        assert!(!dense_from_start(&values), "a quarter of the first 4,096");
        values[1_024] = 0.5;
        assert!(dense_from_start(&values));
        values[..4_096].fill(0.0);
        values[4_096..].fill(0.5);
        assert!(!dense_from_start(&values), "only the first block counts");
        assert!(!dense_from_start(&[]));
        assert!(dense_from_start(&[1.0, 0.0, 0.0]));
        assert!(!dense_from_start(&[1.0, 0.0, 0.0, -0.0]));
    }

    #[test]
    fn infinities_and_nans_are_not_finite() {
        assert!(all_finite(&[0.0, -1.0, f32::MAX, f32::MIN_POSITIVE / 2.0]));
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            assert!(!all_finite(&[1.0, bad, 2.0]));
        }
    }
}
