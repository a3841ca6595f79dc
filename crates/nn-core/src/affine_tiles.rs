//! The tiling of the affine kernel (`affine.rs`): register tiles of outputs × samples, blocks of
//! inputs, and the order in which the tiles of a batch's samples go, which the kernel and its
//! panels (`affine_panels.rs`) both follow.

use pulp::Simd;

/// Vectors of outputs per register tile (32 outputs with AVX-512).
pub(crate) const TILE_VECTORS: usize = 2;
/// Samples per register tile with AVX2 (twice as many with AVX-512, see `affine.rs`'s `band`).
pub(crate) const TILE_SAMPLES: usize = 4;
/// Samples per register tile with AVX-512.
pub(crate) const WIDE_TILE: usize = 2 * TILE_SAMPLES;
/// Inputs per pass: the weights of a tile over this many inputs (16 KB with AVX-512) stay in
/// the L1 cache while every sample goes by. Partial sums wait in `z` between passes, stored
/// exactly, so the order of the sum over `k` is unchanged.
pub(crate) const INPUT_BLOCK: usize = 128;
// A panel keeps the places of its inputs in the block as bytes.
const _: () = assert!(INPUT_BLOCK <= 256);

/// The tiles of samples a band is cut into, in order: `(first sample, samples)`. AVX-512 takes
/// 8 samples at a time, then 4; AVX2 4; the last samples one by one.
#[inline(always)]
pub(crate) fn tiles<S: Simd>(batch: usize) -> impl Iterator<Item = (usize, usize)> {
    let wide = if S::F32_LANES >= 16 { WIDE_TILE } else { TILE_SAMPLES };
    let wide_end = batch / wide * wide;
    let narrow_end = wide_end + (batch - wide_end) / TILE_SAMPLES * TILE_SAMPLES;
    let wide_tiles = (0..wide_end).step_by(wide).map(move |s| (s, wide));
    let narrow_tiles = (wide_end..narrow_end).step_by(TILE_SAMPLES).map(|s| (s, TILE_SAMPLES));
    wide_tiles.chain(narrow_tiles).chain((narrow_end..batch).map(|s| (s, 1)))
}
