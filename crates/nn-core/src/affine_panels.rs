//! Panels: the inputs of a block that are nonzero in at least one sample of a tile, gathered
//! side by side with their values, so that the affine kernel (`affine.rs`) multiplies those
//! alone. A term `W[i, k] x[k, j]` with `x[k, j] = 0` adds nothing to the sum, and an image's
//! pixels are mostly zero.

use std::ops::Range;

use pulp::Simd;

use crate::affine_tiles::{INPUT_BLOCK, TILE_SAMPLES, TILE_VECTORS, WIDE_TILE, tiles};
use crate::vector_slices::mark_nonzero;

/// The samples' inputs of one block of inputs, gathered tile of samples by tile (see
/// [`Panels::gather`]), without the inputs that are zero in every sample of the tile.
#[derive(Default)]
pub(crate) struct Panels {
    /// Tile after tile: for each kept input, its value in each sample of the tile.
    pub(crate) values: Vec<f32>,
    /// Tile `t`'s kept inputs (their places in the block) start at `inputs[t * INPUT_BLOCK]`.
    pub(crate) inputs: Vec<u8>,
    /// For tile `t`: where its values start, and how many inputs it keeps; `None` where its
    /// inputs are read where they lie (see `gather_tile`).
    pub(crate) tiles: Vec<Option<(usize, usize)>>,
    /// For each input of the block, nonzero when some sample of the tile has it nonzero.
    pub(crate) nonzero: Vec<u32>,
    /// Whether the current block's tiles have panels.
    pub(crate) in_use: bool,
}

impl Panels {
    pub(crate) const fn new() -> Self {
        Panels { values: Vec::new(), inputs: Vec::new(), tiles: Vec::new(), nonzero: Vec::new(), in_use: false }
    }

    /// Gathers, for each tile of the `batch` samples of `x` (each `x_stride` values after the
    /// last; the tiles in the order of [`tiles`]), the inputs of the block `inputs` that are not
    /// zero in every sample of the tile, and their values (see `affine.rs`'s `tile` for the sign
    /// of zero). 53% of an MNIST input block are zero in all 8 images of a tile. The panel also
    /// puts a tile's values side by side, so that the kernel reads one stream of them instead of
    /// one per sample. `outputs` is the layer's: a layer of few bands gains less from each input
    /// left out. Returns whether any tile gathered its inputs.
    #[inline(always)]
    pub(crate) fn gather<S: Simd>(
        &mut self,
        x: &[f32],
        x_stride: usize,
        batch: usize,
        outputs: usize,
        inputs: Range<usize>,
    ) -> bool {
        let bands = outputs.div_ceil(TILE_VECTORS * S::F32_LANES);
        self.tiles.clear();
        self.inputs.resize(tiles::<S>(batch).count() * INPUT_BLOCK, 0);
        self.values.clear();
        for (tile, (sample, samples)) in tiles::<S>(batch).enumerate() {
            let columns = |c: usize| {
                let start = (sample + c) * x_stride;
                &x[start + inputs.start..start + inputs.end]
            };
            let kept_inputs = &mut self.inputs[tile * INPUT_BLOCK..(tile + 1) * INPUT_BLOCK];
            let values_start = self.values.len();
            let (nonzero, values) = (&mut self.nonzero, &mut self.values);
            let kept = match samples {
                WIDE_TILE => {
                    gather_tile::<WIDE_TILE>(std::array::from_fn(columns), bands, nonzero, kept_inputs, values)
                }
                TILE_SAMPLES => {
                    gather_tile::<TILE_SAMPLES>(std::array::from_fn(columns), bands, nonzero, kept_inputs, values)
                }
                _ => gather_tile::<1>(std::array::from_fn(columns), bands, nonzero, kept_inputs, values),
            };
            self.tiles.push(kept.map(|kept| (values_start, kept)));
        }
        self.tiles.iter().any(Option::is_some)
    }
}

/// Appends to `values`, for each input `k` of the block that is nonzero in one of `columns` at
/// least, the `C` values `columns[c][k]`, and writes `k` into `kept_inputs`; returns how many
/// inputs were kept, or `None` (having gathered nothing) when too few are left out for the
/// layer's `bands` to gain.
#[inline(always)]
fn gather_tile<const C: usize>(
    columns: [&[f32]; C],
    bands: usize,
    nonzero: &mut Vec<u32>,
    kept_inputs: &mut [u8],
    values: &mut Vec<f32>,
) -> Option<usize> {
    let block = columns[0].len();
    mark_nonzero(nonzero, block, columns);
    // Gathering costs about 1.5 steps of one band's loop per input; each input left out saves
    // one step per band. Inputs that are nonzero in some sample of most tiles (a hidden layer's,
    // or pytorch-example's 9216 features) are read where they lie: with panels, 128 × 9216 at
    // 32 samples, 40% of the inputs nonzero, took 1,437 µs instead of 1,059.
    let left_out = nonzero.iter().filter(|&&any| any == 0).count();
    if 2 * left_out * bands <= 3 * block {
        return None;
    }
    let start = values.len();
    values.resize(start + (block + 1) * C, 0.0);
    let panel = &mut values[start..];
    // Without branches: each input is written at the next place, which only moves on when the
    // input is kept (a branch would be mispredicted about half the time).
    let mut kept = 0;
    for (k, &any) in nonzero.iter().enumerate() {
        kept_inputs[kept.min(kept_inputs.len() - 1)] = k as u8;
        let x_k: [f32; C] = std::array::from_fn(|c| columns[c].get(k).copied().unwrap_or(0.0));
        panel[kept * C..kept * C + C].copy_from_slice(&x_k);
        kept += usize::from(any != 0);
    }
    values.truncate(start + kept * C);
    Some(kept)
}

#[cfg(test)]
mod tests {
    use crate::affine::affine;
    use crate::affine::tests::{reference, values};

    /// Samples of `inputs` values where two inputs in three are zero in every sample, as an
    /// image's background is, and others here and there, some of them `-0`.
    fn mostly_zero(inputs: usize, batch: usize, seed: f32) -> Vec<f32> {
        let zero = |i: usize, v: f32| !(i % inputs).is_multiple_of(3) || v < -0.5;
        let x = values(inputs * batch, seed).into_iter().enumerate();
        x.map(|(i, v)| {
            if zero(i, v) {
                0.0
            } else if v < -0.4 {
                -0.0
            } else {
                v
            }
        })
        .collect()
    }

    #[test]
    fn leaving_out_zero_inputs_changes_no_bit() {
        // 256 outputs: 8 bands with AVX-512, enough for panels; 40 samples make tiles of 8, 4
        // and 1 (also 4s with AVX2). 300 inputs: three blocks, the last a partial one.
        let (outputs, inputs, batch) = (256, 300, 45);
        let (w, b) = (values(outputs * inputs, 1.0), values(outputs, 2.0));
        let mut x = mostly_zero(inputs, batch, 3.0);
        // The first tile's samples are all zero: their sums are their biases, and a bias of -0
        // comes out +0, as it does for one image, whose terms `fma(w, 0, -0)` are computed.
        x[..8 * inputs].fill(0.0);
        let mut b_negative_zero = b.clone();
        b_negative_zero[0] = -0.0;
        let mut batched = vec![0.0; outputs * batch];
        affine(&w, &b_negative_zero, &x, batch, &mut batched);
        assert_eq!(batched[0].to_bits(), 0.0f32.to_bits());
        for (j, column) in batched.chunks_exact(outputs).enumerate() {
            let mut single = vec![0.0; outputs];
            affine(&w, &b_negative_zero, &x[j * inputs..(j + 1) * inputs], 1, &mut single);
            let bits = |z: &[f32]| z.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&single), bits(column), "sample {j}");
        }
        for (got, want) in batched.iter().zip(reference(&w, &b_negative_zero, &x, batch)) {
            assert!((f64::from(*got) - want).abs() < 1e-4 * (1.0 + inputs as f64), "{got} vs {want}");
        }
    }

    #[test]
    fn an_infinite_weight_still_meets_every_zero_input() {
        // inf · 0 is NaN: a band with a weight that is not finite keeps every input, so the
        // batch gives the NaN that one image gives.
        let (outputs, inputs, batch) = (256, 40, 40);
        let mut w = values(outputs * inputs, 1.0);
        let b = values(outputs, 2.0);
        let mut x = mostly_zero(inputs, batch, 3.0);
        x[..inputs].fill(0.0);
        // Input 5 is zero in every sample: in a panel it would be left out.
        x.chunks_exact_mut(inputs).for_each(|sample| sample[5] = 0.0);
        w[5 * outputs + 3] = f32::INFINITY;
        let mut batched = vec![0.0; outputs * batch];
        affine(&w, &b, &x, batch, &mut batched);
        assert!(batched[3].is_nan(), "{}", batched[3]);
        for (j, column) in batched.chunks_exact(outputs).enumerate() {
            let mut single = vec![0.0; outputs];
            affine(&w, &b, &x[j * inputs..(j + 1) * inputs], 1, &mut single);
            let bits = |z: &[f32]| z.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&single), bits(column), "sample {j}");
        }
    }
}
